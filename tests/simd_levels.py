"""The SIMD levels of cnnkit's CPU kernels, for tests parametrised over every level this CPU supports.

``LEVELS`` lists them from the lowest; ``skip_reason(level)`` says why this CPU cannot run one ("" when
it can, e.g. "CPU lacks avx512f (grep avx512 /proc/cpuinfo)"); the ``simd_level`` fixture selects the
GEMM kernel family of each level in turn (skipping the levels this CPU lacks, with that reason) and
restores the automatic choice afterwards. ``GEMM_FAMILIES`` adds "portable-12x32", the portable kernel
at the AVX-512 tile shape, which runs that shape's packing, blocking and conv paths on any CPU.
Imported by tests/test_gemm.py (its ``kernel`` fixture) and tests/test_simd_levels.py.
"""
import pytest

from cnnkit import _C

LEVELS = ["portable", "avx2", "avx512"]
GEMM_FAMILIES = LEVELS + ["portable-12x32"]


def skip_reason(level):
    """Why this CPU/build cannot run ``level`` ("" when it can)."""
    if level in ("portable", "portable-12x32"):
        return ""
    available = _C.gemm_avx512_available() if level == "avx512" else _C.gemm_avx2_available()
    return "" if available else (_C.cpu_simd_missing(level) or f"the {level} kernels are not available")


def use_gemm_family(name):
    """Skips the calling test when ``name`` cannot run here, else selects it for later gemm calls."""
    reason = skip_reason(name)
    if reason:
        pytest.skip(f"{name}: {reason}")
    _C.set_gemm_kernel(name)


@pytest.fixture(params=LEVELS)
def simd_level(request):
    use_gemm_family(request.param)
    yield request.param
    _C.set_gemm_kernel("auto")


@pytest.fixture(params=GEMM_FAMILIES)
def gemm_family(request):
    use_gemm_family(request.param)
    yield request.param
    _C.set_gemm_kernel("auto")
