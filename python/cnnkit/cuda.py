"""``cnnkit.cuda``: NVIDIA GPU queries, memory statistics and synchronisation (``torch.cuda``).

Everything here answers sensibly on a machine without a GPU or driver, and in a build without
CUDA: ``is_available()`` is False, ``device_count()`` is 0, memory statistics are 0.
"""
from . import _C

_compiled = bool(_C.cuda_compiled())


class OutOfMemoryError(RuntimeError):
    """Raised when a CUDA allocation fails even after cnnkit's cache was emptied."""


if _compiled:
    # The C++ exception type, re-parented under this module's name for `except cnnkit.cuda.OutOfMemoryError`.
    OutOfMemoryError = _C.CudaOutOfMemoryError  # noqa: F811
    OutOfMemoryError.__module__ = __name__
    OutOfMemoryError.__qualname__ = OutOfMemoryError.__name__ = "OutOfMemoryError"


def is_built():
    """True when this cnnkit was compiled with its CUDA kernels."""
    return _compiled


def device_count():
    return _C.cuda_device_count() if _compiled else 0


def is_available():
    """True when CUDA tensors can be created: built with CUDA, a driver and at least one GPU."""
    return device_count() > 0


def _require():
    if not _compiled:
        raise RuntimeError("cnnkit was built without CUDA support (nvcc was not found at build time)")
    if device_count() == 0:
        err = _C.cuda_device_count_error() if _compiled else ""
        raise RuntimeError("Found no NVIDIA driver or CUDA device on your system. Please check that you have an "
                           "NVIDIA GPU and installed a driver" + (f" (cudaGetDeviceCount failed: {err})" if err else ""))


def _index(device):
    if device is None:
        return current_device()
    if isinstance(device, int):
        return device
    from ._dtype import _as_device

    d = _as_device(device)
    return d.index if d.index is not None else current_device()


def current_device():
    _require()
    return _C.cuda_current_device()


def set_device(device):
    _require()
    _C.cuda_set_device(_index(device))


def get_device_name(device=None):
    _require()
    return _C.cuda_device_name(_index(device))


def synchronize(device=None):
    """Waits until every kernel queued on the device has finished."""
    if is_available():
        _C.cuda_synchronize(_index(device))


def _stats(device):
    if not is_available():
        return {"allocated_bytes": 0, "peak_allocated_bytes": 0, "reserved_bytes": 0, "num_mallocs": 0}
    return _C.cuda_memory_stats(_index(device))


def memory_allocated(device=None):
    """Bytes held by live CUDA tensors (rounded to the allocator's block sizes)."""
    return _stats(device)["allocated_bytes"]


def max_memory_allocated(device=None):
    """The peak of ``memory_allocated`` since start or the last ``reset_peak_memory_stats``."""
    return _stats(device)["peak_allocated_bytes"]


def memory_reserved(device=None):
    """Bytes held from the driver: live tensors plus the allocator's cache."""
    return _stats(device)["reserved_bytes"]


def reset_peak_memory_stats(device=None):
    if is_available():
        _C.cuda_reset_peak_memory_stats(_index(device))


def empty_cache():
    """Returns the allocator's cached, unused blocks to the driver."""
    if is_available():
        _C.cuda_empty_cache()


def memory_stats(device=None):
    return dict(_stats(device))


def manual_seed(seed):
    """CUDA tensors draw their random numbers from cnnkit's default generator (on the CPU) and copy
    them over, so ``cnnkit.manual_seed`` already seeds them; this exists for PyTorch code."""


manual_seed_all = manual_seed
