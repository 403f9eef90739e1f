"""CUDA-only reduction checks: more outputs than the grid (sum, max_dim) against the CPU twin, and bad inputs on
the device. The reductions on both devices (sum, sum_naive, mean, max_dim, min_dim, max_all, min_all, argmax,
argmin; every dim list, dtypes with uint8 and bool, device views, ties and NaN, long rows, empty and 0-d inputs)
are the device-parametrised tests in tests/test_reduce_kernels.py.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""
import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import G, H, N, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(99)


def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        lo = 0 if dtype == np.uint8 else -5
        return RNG.integers(lo, 6, size=shape).astype(dtype)  # small range: many ties
    return RNG.standard_normal(shape).astype(dtype)


def check(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.floating):
        # Both accumulate in double; only the summation order differs.
        tol = dict(rtol=1e-5, atol=1e-6) if want.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, want, equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_more_outputs_than_the_grid(dtype):
    # The reductions launch one block per output up to 65,535 * 8 blocks and grid-stride beyond: 1,048,579
    # outputs make every block take two or three outputs (the 70,001 rows above fit in one pass).
    x = rand((65535 * 16 + 3, 3), dtype)
    check(H(_C.sum(G(x), [1], False)), N(_C.sum(T(x), [1], False)))
    gv, gi = _C.max_dim(G(x), 1, False)
    cv, ci = _C.max_dim(T(x), 1, False)
    check(H(gv), N(cv))
    check(H(gi), N(ci))


def test_bad_inputs():
    x = rand((3, 0), np.float32)
    with pytest.raises(IndexError, match="non-zero size"):
        _C.max_dim(G(x), 1, False)
    with pytest.raises(RuntimeError, match="numel"):
        _C.max_all(G(x))
    with pytest.raises(TypeError, match="mean"):
        _C.mean(G(rand((3,), np.int64)), [], False)
    with pytest.raises(ValueError, match="multiple times"):
        _C.sum(G(rand((3, 4), np.float32)), [0, -2], False)
    with pytest.raises(IndexError):
        _C.sum(G(rand((3, 4), np.float32)), [2], False)
