"""cnnkit.vision: datasets and transforms in torchvision's style (``import cnnkit.vision as torchvision``)."""
from . import datasets, transforms

__all__ = ["datasets", "transforms"]
from . import models, utils  # noqa: E402

__all__ += ["models", "utils"]
