"""CUDA-only _C.gemm / _C.bmm tests against NumPy: the 128 x 128 tiles at sizes with at least one block per
SM (aligned and not), grids past the 65,535 launch limits (split launches), and the mixed-device errors.
Skipped without an NVIDIA GPU. The gemm / bmm cases that run on every device (ragged tile edges, every
transpose, alpha/beta, strided views and c, broadcast bmm, empty sizes, errors) are the [cuda] halves of the
device-parametrised tests in tests/test_gemm.py.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

# Large enough for the 128 x 128 tiles (at least one block per SM) with and without aligned operands.
BIG_SHAPES = [(1536, 1536, 64), (1537, 1531, 67), (2048, 1100, 33)]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def dev(a):
    """NumPy array -> CUDA _C tensor."""
    return None if a is None else _C.from_numpy(np.ascontiguousarray(a)).to_device("cuda:0")


def host(t):
    """CUDA (or CPU) _C tensor -> NumPy array."""
    return np.asarray(t.to_device("cpu"))


def operands(rng, M, N, K, ta, tb, dtype):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    return a, b


@pytest.mark.parametrize("M,N,K", BIG_SHAPES)
def test_gemm_large_tiles_float32(M, N, K):
    rng = np.random.default_rng(M + N + K)
    for ta in (False, True):
        for tb in (False, True):
            a, b = operands(rng, M, N, K, ta, tb, np.float32)
            ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            got = host(_C.gemm(dev(a), dev(b), ta, tb))
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


# Beyond the 65,535 limit of gridDim.y (row tiles) and gridDim.z (batch): the launches are split. Each case
# is just past a limit: 4,194,305 rows are 65,537 tiles of 64 (float64) and 32,769 of 128; the naive kernel
# has 16-row tiles (1,048,577 rows = 65,537 tiles).
@pytest.mark.parametrize("dtype,M", [(np.float64, 4194305), (np.float32, 8388609)])
@pytest.mark.parametrize("ta", [False, True])
def test_gemm_rows_beyond_grid_y_limit(dtype, M, ta):
    rng = np.random.default_rng(11)
    a = rng.standard_normal((1, M) if ta else (M, 1)).astype(dtype)
    b = rng.standard_normal((1, 3)).astype(dtype)
    ref = (a.T if ta else a) @ b
    np.testing.assert_allclose(host(_C.gemm(dev(a), dev(b), ta, False)), ref, **tol(dtype))
    if M <= 4194305:
        np.testing.assert_allclose(host(_C.gemm_naive(dev(a), dev(b), ta, False)), ref, **tol(dtype))


def test_bmm_batch_beyond_grid_z_limit():
    rng = np.random.default_rng(12)
    B = 65535 + 7
    a = rng.standard_normal((B, 3, 5)).astype(np.float32)
    b = rng.standard_normal((B, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(host(_C.bmm(dev(a), dev(b))), np.einsum("bmk,bkn->bmn", a, b), **tol(np.float32))


def test_gemm_mixed_devices_raise():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.gemm(dev(a), _C.from_numpy(b))
    with pytest.raises(RuntimeError, match="same device"):
        _C.gemm_naive(_C.from_numpy(a), dev(b))
    with pytest.raises(RuntimeError, match="same device"):
        _C.gemm(dev(a), dev(b), False, False, 1.0, 1.0, _C.from_numpy(np.zeros((3, 5), np.float32)))
    with pytest.raises(RuntimeError, match="same device"):
        _C.bmm(dev(a[None]), _C.from_numpy(b[None]))
