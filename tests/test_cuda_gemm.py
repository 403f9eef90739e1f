"""CUDA _C.gemm / _C.gemm_naive / _C.bmm against their CPU twins (same _C entry points, CPU tensors).

Sizes put ragged edges in every dimension of both tile shapes the CUDA kernel uses (64 x 64 and
128 x 128 block tiles, BK = 8), exercise the float4 tile loads (aligned leading dimensions and full
tiles) and the scalar edge loads, every transpose combination, alpha/beta, strided and transposed
views, broadcast bmm, empty sizes, and the mixed-device error. Skipped without an NVIDIA GPU.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]
SHAPES = [
    (1, 1, 1), (3, 3, 3), (7, 7, 7), (33, 33, 33), (1, 127, 3), (7, 1, 65), (33, 65, 1), (127, 7, 33),
    (65, 33, 127), (3, 129, 7), (130, 5, 257), (97, 260, 300), (64, 64, 8), (128, 128, 16), (129, 131, 9),
]
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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_matches_cpu_all_transposes(M, N, K, dtype):
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    for ta in (False, True):
        for tb in (False, True):
            a, b = operands(rng, M, N, K, ta, tb, dtype)
            cpu = np.asarray(_C.gemm(_C.from_numpy(a), _C.from_numpy(b), ta, tb))
            out = _C.gemm(dev(a), dev(b), ta, tb)
            got = host(out)
            assert got.shape == (M, N) and got.dtype == dtype
            np.testing.assert_allclose(got, cpu, **tol(dtype))
            naive = host(_C.gemm_naive(dev(a), dev(b), ta, tb))
            np.testing.assert_allclose(naive, cpu, **tol(dtype))


@pytest.mark.parametrize("M,N,K", BIG_SHAPES)
def test_gemm_large_tiles_float32(M, N, K):
    rng = np.random.default_rng(M + N + K)
    for ta in (False, True):
        for tb in (False, True):
            a, b = operands(rng, M, N, K, ta, tb, np.float32)
            ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            got = host(_C.gemm(dev(a), dev(b), ta, tb))
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (0.0, 3.0), (2.0, 0.0)])
def test_gemm_alpha_beta_c(alpha, beta, dtype):
    rng = np.random.default_rng(7)
    M, N, K = 65, 33, 129
    a, b = operands(rng, M, N, K, False, True, dtype)
    c = rng.standard_normal((M, N)).astype(dtype)
    cpu_c = _C.from_numpy(c.copy())
    _C.gemm(_C.from_numpy(a), _C.from_numpy(b), False, True, alpha, beta, cpu_c)
    cuda_c = dev(c)
    ret = _C.gemm(dev(a), dev(b), False, True, alpha, beta, cuda_c)
    np.testing.assert_allclose(host(cuda_c), np.asarray(cpu_c), **tol(dtype))
    np.testing.assert_allclose(host(ret), np.asarray(cpu_c), **tol(dtype))


def test_gemm_beta_zero_ignores_nan_in_c():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    c = dev(np.full((3, 5), np.nan, np.float32))
    _C.gemm(dev(a), dev(b), False, False, 1.0, 0.0, c)
    np.testing.assert_array_equal(host(c), np.full((3, 5), 4.0, np.float32))
    k0 = _C.gemm(dev(np.ones((3, 0), np.float32)), dev(np.ones((0, 5), np.float32)))
    np.testing.assert_array_equal(host(k0), np.zeros((3, 5), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_strided_views(dtype):
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((40, 70)).astype(dtype)
    big_b = rng.standard_normal((50, 90)).astype(dtype)
    ca, cb = _C.from_numpy(big_a), _C.from_numpy(big_b)
    ga, gb = dev(big_a), dev(big_b)
    views = [
        lambda t: t.slice(0, 3, 36, 1).slice(1, 5, 50, 1),    # row stride 70, unit columns
        lambda t: t.slice(1, 2, 35, 1).transpose(0, 1),       # transposed view
        lambda t: t.slice(0, 0, 40, 2).slice(1, 0, 70, 3),    # no unit stride: copied
    ]
    for va in views:
        x_cpu, x_gpu = va(ca), va(ga)
        K = x_cpu.shape[1]
        y_cpu = cb.slice(0, 0, K, 1).slice(1, 1, 30, 1)
        y_gpu = gb.slice(0, 0, K, 1).slice(1, 1, 30, 1)
        np.testing.assert_allclose(host(_C.gemm(x_gpu, y_gpu)), np.asarray(_C.gemm(x_cpu, y_cpu)), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_into_strided_c(dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((7, 9)).astype(dtype)
    b = rng.standard_normal((9, 5)).astype(dtype)
    c = rng.standard_normal((5, 7)).astype(dtype)
    c_cpu = _C.from_numpy(c.copy())
    c_gpu = dev(c)
    _C.gemm(_C.from_numpy(a), _C.from_numpy(b), False, False, 1.5, 0.5, c_cpu.transpose(0, 1))
    _C.gemm(dev(a), dev(b), False, False, 1.5, 0.5, c_gpu.transpose(0, 1))
    np.testing.assert_allclose(host(c_gpu), np.asarray(c_cpu), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,M,N,K", [(1, 1, 1, 1), (3, 7, 33, 5), (5, 65, 3, 129), (2, 130, 131, 17)])
def test_bmm_matches_cpu(B, M, N, K, dtype):
    rng = np.random.default_rng(B * M * N * K)
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    cpu = np.asarray(_C.bmm(_C.from_numpy(a), _C.from_numpy(b)))
    np.testing.assert_allclose(host(_C.bmm(dev(a), dev(b))), cpu, **tol(dtype))
    # b broadcast over the batch (stride 0) and a transposed per matrix.
    b0 = rng.standard_normal((1, K, N)).astype(dtype)
    at = np.ascontiguousarray(a.transpose(0, 2, 1))
    cpu = np.asarray(_C.bmm(_C.from_numpy(at).transpose(1, 2), _C.from_numpy(b0).expand([B, K, N])))
    got = host(_C.bmm(dev(at).transpose(1, 2), dev(b0).expand([B, K, N])))
    np.testing.assert_allclose(got, cpu, **tol(dtype))


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


def test_bmm_empty():
    out = _C.bmm(dev(np.zeros((0, 3, 4), np.float32)), dev(np.zeros((0, 4, 5), np.float32)))
    assert tuple(out.shape) == (0, 3, 5)


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


def test_gemm_bad_shapes_and_dtypes_on_cuda():
    with pytest.raises(ValueError, match="inner dimensions"):
        _C.gemm(dev(np.ones((3, 4), np.float32)), dev(np.ones((5, 2), np.float32)))
    with pytest.raises(TypeError):
        _C.gemm(dev(np.ones((3, 4), np.float32)), dev(np.ones((4, 2), np.float64)))
