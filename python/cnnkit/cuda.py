"""``cnnkit.cuda``: device queries. CUDA tensors and kernels arrive with step 2 (see the
issue tracker); until then ``is_available()`` is False even when a GPU is present, so code written
as ``device = "cuda" if torch.cuda.is_available() else "cpu"`` runs on the CPU."""
from . import _C


def _device_count_raw():
    return _C.cuda_device_count() if _C.cuda_compiled() else 0


def is_available():
    """True when CUDA tensors can be used. This version computes on the CPU only."""
    return False


def device_count():
    return 0


def is_built():
    return bool(_C.cuda_compiled())


def manual_seed(seed):
    """Seeds the CUDA generators (none yet: nothing to do, as torch does without a GPU)."""


manual_seed_all = manual_seed


def synchronize(device=None):
    """Waits for all CUDA work (none is ever queued in a CPU-only version)."""
