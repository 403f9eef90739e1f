"""``cnnkit.cpu``: the CPU device's small API (``torch.cpu``) plus cnnkit's CPU memory statistics.

``is_available``, ``device_count``, ``current_device`` and ``synchronize`` mirror ``torch.cpu``.
The memory functions are a cnnkit extension, named like their ``torch.cuda`` counterparts: they
report cnnkit's CPU caching allocator, which keeps freed large blocks (64 KiB and more) for reuse
so that steady-state training steps ask the operating system for no new memory. Smaller blocks
come straight from ``malloc``, which recycles them itself.

Environment variables, read once at the first CPU allocation (that is, at ``import cnnkit``: set
them before):

- ``CNNKIT_CPU_CACHING=0`` turns the cache off: every tensor is then a fresh ``malloc`` block of exactly
  its bytes (64-byte aligned), so memory checkers (AddressSanitizer, valgrind) see any overrun.
- ``CNNKIT_CPU_CACHE_LIMIT_MB=N`` caps the cached (freed, unused) bytes at N MiB; the default is a
  quarter of the physical memory. A freed block that would exceed the cap goes back to the system.
"""
from . import _C

# Creates the allocator now, so that the environment variables above are read at import whatever
# the first allocation is.
_C.cpu_memory_stats()


def is_available():
    """Always True: cnnkit always has its CPU kernels."""
    return True


def device_count():
    return 1


def current_device():
    return "cpu"


def synchronize(device=None):
    """CPU kernels run synchronously: every op has finished when it returns, so there is nothing to wait for."""


def memory_stats(device=None):
    """The CPU allocator's counters (cnnkit extension), a dict with:

    - ``allocated``, ``peak_allocated``: bytes in live blocks (tensors and kernels' scratch) and
      their peak; ``cached``: freed large blocks kept for reuse; ``reserved`` = allocated + cached,
      and ``peak_reserved``. The same four figures also under ``torch.cuda.memory_stats()``'s names
      (``allocated_bytes.all.current``, ``allocated_bytes.all.peak``, ``reserved_bytes.all.current``,
      ``reserved_bytes.all.peak``).
    - ``num_system_allocs`` / ``num_system_frees``: large blocks taken from / given back to the
      operating system (the steady state of a training loop takes none); ``num_cache_hits``: large
      requests served from the cache; ``num_small_allocs``: requests below ``small_threshold`` bytes,
      served by ``malloc``; ``num_alloc_retries``: requests the system refused once (the cache was
      then emptied and the request retried); ``num_ooms``: requests that failed even then.
    - ``cache_limit`` (bytes), ``caching_enabled``.

    Memory shared with NumPy (``from_numpy``) is not counted: cnnkit did not allocate it.
    """
    return dict(_C.cpu_memory_stats())


def memory_allocated(device=None):
    """Bytes held by live CPU tensors (rounded to the allocator's block sizes)."""
    return _C.cpu_memory_stats()["allocated"]


def max_memory_allocated(device=None):
    """The peak of ``memory_allocated`` since start or the last ``reset_peak_memory_stats``."""
    return _C.cpu_memory_stats()["peak_allocated"]


def memory_reserved(device=None):
    """Bytes held by the allocator: live tensors plus the cache of freed blocks."""
    return _C.cpu_memory_stats()["reserved"]


def max_memory_reserved(device=None):
    """The peak of ``memory_reserved`` since start or the last ``reset_peak_memory_stats``."""
    return _C.cpu_memory_stats()["peak_reserved"]


def reset_peak_memory_stats(device=None):
    """Sets the peaks (``peak_allocated``, ``peak_reserved``) to the current values."""
    _C.cpu_reset_peak_memory_stats()


def empty_cache():
    """Returns every cached, unused CPU block to the operating system."""
    _C.cpu_empty_cache()
