"""CUDA twins of max_pool2d / avg_pool2d (forward and backward) against the CPU kernels.

The forward kernels use the CPU's window arithmetic and summation order, and the average-pool
backward gathers the same additions in the same order, so those results (and the max-pool indices)
must equal the CPU's exactly. The max-pool backward adds with atomics: exact where windows do not
overlap, equal to rounding otherwise. Skipped without a GPU.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]

# (input shape, kernel, stride, padding, dilation, ceil_mode): several thousand planes of threads
CASES = [((8, 16, 32, 32), (3, 3), (2, 2), (1, 1), (1, 1), False)]


def _dense(a):
    """A C-contiguous array of a's shape (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def cuda(a):
    return cnnkit.from_numpy(_dense(a)).cuda()._t


def host(t):
    return _wrap(t).cpu().numpy()


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_max_pool_matches_cpu(case, dtype):
    shape, k, s, p, d, ceil = case
    x = rand(shape, dtype)
    out_c, idx_c = _C.max_pool2d_forward(_C.from_numpy(x), k, s, p, d, ceil)
    out_g, idx_g = _C.max_pool2d_forward(cuda(x), k, s, p, d, ceil)
    np.testing.assert_array_equal(host(out_g), np.asarray(out_c))
    np.testing.assert_array_equal(host(idx_g), np.asarray(idx_c))
    g = rand(np.asarray(out_c).shape, dtype, seed=1)
    dx_c = np.asarray(_C.max_pool2d_backward(_C.from_numpy(g), idx_c, list(shape)))
    dx_g = host(_C.max_pool2d_backward(cuda(g), idx_g, list(shape)))
    if s[0] >= (k[0] - 1) * d[0] + 1 and s[1] >= (k[1] - 1) * d[1] + 1:
        np.testing.assert_array_equal(dx_g, dx_c)  # one contributor per element: no atomics ordering
    else:
        np.testing.assert_allclose(dx_g, dx_c, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool_matches_cpu_exactly(case, dtype, count_include_pad, divisor_override):
    shape, k, s, p, _, ceil = case
    x = rand(shape, dtype, seed=2)
    args = (k, s, p, ceil, count_include_pad, divisor_override)
    out_c = np.asarray(_C.avg_pool2d_forward(_C.from_numpy(x), *args))
    out_g = host(_C.avg_pool2d_forward(cuda(x), *args))
    np.testing.assert_array_equal(out_g, out_c)
    g = rand(out_c.shape, dtype, seed=3)
    dx_c = np.asarray(_C.avg_pool2d_backward(_C.from_numpy(g), list(shape), *args))
    dx_g = host(_C.avg_pool2d_backward(cuda(g), list(shape), *args))
    np.testing.assert_array_equal(dx_g, dx_c)


@pytest.mark.parametrize("bad", [-1, 25, 1 << 40])
def test_bad_indices_raise_index_error(bad):
    g = rand((1, 2, 2, 2), np.float32)
    idx = np.zeros((1, 2, 2, 2), np.int64)
    idx[0, 1, 1, 0] = bad
    idx[0, 1, 1, 1] = -7  # a later bad value: the first one in memory order is reported
    with pytest.raises(IndexError, match=f"index {bad} is out of bounds for an input plane of 5x5"):
        _C.max_pool2d_backward(cuda(g), cuda(idx), [1, 2, 5, 5])
    # and the device keeps working afterwards
    out, _ = _C.max_pool2d_forward(cuda(rand((1, 1, 4, 4), np.float32)), (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert host(out).shape == (1, 1, 2, 2)


def test_mixed_devices_raise():
    g = rand((1, 1, 2, 2), np.float32)
    idx = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(RuntimeError, match="same device"):
        _C.max_pool2d_backward(cuda(g), _C.from_numpy(idx), [1, 1, 4, 4])
    with pytest.raises(RuntimeError, match="same device"):
        _C.max_pool2d_backward(_C.from_numpy(g), cuda(idx), [1, 1, 4, 4])
