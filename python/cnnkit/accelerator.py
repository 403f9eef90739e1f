"""``cnnkit.accelerator``: PyTorch 2's device-generic queries (``torch.accelerator``).

The one accelerator cnnkit knows is CUDA: ``current_accelerator()`` is ``device('cuda')`` when a GPU is
usable and ``None`` otherwise, so ``device = torch.accelerator.current_accelerator() or "cpu"`` (a common
tutorial idiom, spelled ``... .type if torch.accelerator.is_available() else "cpu"``) picks the right one.
"""
from . import cuda as _cuda
from ._dtype import device as _device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "current_device_idx",
           "set_device_index", "set_device_idx", "synchronize", "empty_cache", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "reset_peak_memory_stats"]


def is_available():
    return _cuda.is_available()


def current_accelerator(check_available=False):
    """``device('cuda')`` when CUDA is usable, else ``None`` (cnnkit is never built for another accelerator)."""
    return _device("cuda") if _cuda.is_available() else None


def device_count():
    return _cuda.device_count()


def current_device_index():
    return _cuda.current_device() if _cuda.is_available() else -1


current_device_idx = current_device_index


def set_device_index(device):
    _cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None):
    _cuda.synchronize(device)


def empty_cache():
    _cuda.empty_cache()


def memory_allocated(device=None):
    return _cuda.memory_allocated(device)


def max_memory_allocated(device=None):
    return _cuda.max_memory_allocated(device)


def memory_reserved(device=None):
    return _cuda.memory_reserved(device)


def reset_peak_memory_stats(device=None):
    _cuda.reset_peak_memory_stats(device)
