"""cnnkit.vision.transforms: torchvision.transforms (v1) for PIL images, NumPy HWC arrays and cnnkit
tensors ``(..., C, H, W)``; ``functional`` holds the functional forms and ``batch`` (a cnnkit
extension) the per-sample-random transforms of a whole ``(N, C, H, W)`` batch on its device."""
from . import functional
from .transforms import *  # noqa: F401,F403
from ._transforms_more import *  # noqa: F401,F403
from .transforms import __all__ as _transforms_all
from ._transforms_more import __all__ as _more_all
from . import batch  # noqa: E402

__all__ = list(_transforms_all) + list(_more_all) + ["functional", "batch"]
