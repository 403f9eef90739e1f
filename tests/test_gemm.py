"""_C.gemm / _C.gemm_naive / _C.bmm against NumPy (float64 reference), gemm_naive and PyTorch.

Covers edge tiles (sizes 1, 3, 7, 33, 65, 127 against the portable 4x8 / 4x4 and the AVX2 6x16 / 6x8
register tiles), blocks beyond kc / mc / nc, every transpose combination, alpha/beta, strided and
aliased operands, empty sizes, thread-count independence, the kernel selection (set_gemm_kernel,
CNNKIT_GEMM_KERNEL) and the error messages. Tests taking the `kernel` fixture run once per micro-kernel
family (avx2 is skipped on CPUs without AVX2+FMA).

Tests marked @each_backend run once per CPU micro-kernel ([cpu-portable], [cpu-avx2], [cpu-avx512]; levels this CPU lacks are skipped, see tests/simd_levels.py) and once on CUDA
([cuda], kernel None), through the `device` fixture (tests/conftest.py) parametrised together with `kernel`;
tests taking only `device` run on each device once. The CPU-implementation tests (thread counts, the team,
the small-M path, the conv shapes) take `kernel` alone. Tolerance `tol` against the float64 NumPy reference on
every backend (float32 1e-4, float64 1e-10): CUDA's FMA contraction and tile order move the last bits only.
CUDA-only tests (128 x 128 tiles at sizes past one block per SM, grids past the launch limits, mixed devices)
are in tests/test_cuda_gemm.py.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, cuda_extras, is_cuda, on

from simd_levels import LEVELS as KERNELS  # the CPU micro-kernel families (set_gemm_kernel names)
from simd_levels import use_gemm_family


@pytest.fixture(params=KERNELS)
def kernel(request):
    """Select a CPU micro-kernel for the test; None (the [cuda] half of @each_backend) selects nothing."""
    if request.param is None:
        yield None
        return
    use_gemm_family(request.param)  # skips the families this CPU lacks, saying why
    yield request.param
    _C.set_gemm_kernel("auto")


# Every CPU kernel on the CPU, and CUDA once (not once per CPU kernel).
BACKENDS = [pytest.param("cpu", k, id=f"cpu-{k}") for k in KERNELS] + [
    pytest.param("cuda", None, id="cuda", marks=pytest.mark.cuda)]
each_backend = pytest.mark.parametrize("device,kernel", BACKENDS, indirect=True)

DTYPES = [np.float32, np.float64]
SIZES = [1, 3, 7, 17, 33, 65, 127]
# Square edge sizes plus mixed (M, N, K) triples that put a ragged edge in every dimension.
SHAPES = [(s, s, s) for s in SIZES] + [
    (1, 127, 3), (7, 1, 65), (33, 65, 1), (127, 7, 33), (65, 33, 127), (3, 129, 7), (130, 5, 257), (97, 260, 300),
]
# The CUDA kernel's tile edges (64 x 64 and 128 x 128 block tiles, BK = 8): [cuda] only.
CUDA_SHAPES = [(64, 64, 8), (128, 128, 16), (129, 131, 9)]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def operands(rng, M, N, K, ta, tb, dtype):
    a = rand(rng, (K, M) if ta else (M, K), dtype)
    b = rand(rng, (N, K) if tb else (K, N), dtype)
    return a, b


def reference(a, b, ta, tb, alpha=1.0, beta=0.0, c=None):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out = alpha * ((a64.T if ta else a64) @ (b64.T if tb else b64))
    if c is not None and beta != 0.0:
        out += beta * c.astype(np.float64)
    return out


def run(fn, a, b, ta=False, tb=False, alpha=1.0, beta=0.0, c=None, device="cpu"):
    if device == "cpu":
        ct = None if c is None else _C.from_numpy(c)
        return np.asarray(fn(_C.from_numpy(a), _C.from_numpy(b), ta, tb, alpha, beta, ct))
    ct = None if c is None else on(c, device)
    return back(fn(on(a, device), on(b, device), ta, tb, alpha, beta, ct))


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", SHAPES + [cuda_case(*s) for s in CUDA_SHAPES])
def test_gemm_all_transposes(M, N, K, dtype, device, kernel):
    rng = np.random.default_rng(M * 10007 + N * 101 + K)
    for ta in (False, True):
        for tb in (False, True):
            a, b = operands(rng, M, N, K, ta, tb, dtype)
            out_t = _C.gemm(on(a, device), on(b, device), ta, tb)
            assert out_t.device == device
            out = back(out_t)
            assert out.shape == (M, N) and out.dtype == dtype
            np.testing.assert_allclose(out, reference(a, b, ta, tb), **tol(dtype))
            if kernel is None:  # the [cuda] half also checks the naive CUDA kernel
                naive = run(_C.gemm_naive, a, b, ta, tb, device=device)
                np.testing.assert_allclose(naive, reference(a, b, ta, tb), **tol(dtype))


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 33, 3), (33, 7, 65), (65, 127, 33), (127, 65, 300),
                                   cuda_case(65, 33, 129)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.0), (0.0, 3.0), cuda_case(2.0, 0.0)])
def test_gemm_alpha_beta_in_place(M, N, K, alpha, beta, dtype, device, kernel):
    rng = np.random.default_rng(M + N + K)
    for ta, tb in [(False, False), (True, True), (False, True), (True, False)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        c = rand(rng, (M, N), dtype)
        ct = on(c, device)
        res = _C.gemm(on(a, device), on(b, device), ta, tb, alpha, beta, ct)
        assert res.data_ptr == ct.data_ptr  # c is returned and written in place
        np.testing.assert_allclose(back(ct), reference(a, b, ta, tb, alpha, beta, c), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 7, 33), (33, 65, 7), (65, 33, 127)])
def test_gemm_naive_matches_numpy(M, N, K, dtype, device):
    rng = np.random.default_rng(7)
    for ta in (False, True):
        for tb in (False, True):
            a, b = operands(rng, M, N, K, ta, tb, dtype)
            c = rand(rng, (M, N), dtype)
            out = run(_C.gemm_naive, a, b, ta, tb, 0.75, 0.5, c.copy(), device=device)
            np.testing.assert_allclose(out, reference(a, b, ta, tb, 0.75, 0.5, c), **tol(dtype))


@each_backend
def test_beta_zero_ignores_nan_in_c(device, kernel):
    rng = np.random.default_rng(0)
    a, b = rand(rng, (9, 5), np.float32), rand(rng, (5, 11), np.float32)
    c = np.full((9, 11), np.nan, np.float32)
    for fn in (_C.gemm, _C.gemm_naive):
        out = run(fn, a, b, beta=0.0, c=c.copy(), device=device)
        np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    if cuda_extras(device):  # the CUDA twin test's case: all-ones operands, an exact result
        ones = run(_C.gemm, np.ones((3, 4), np.float32), np.ones((4, 5), np.float32), beta=0.0,
                   c=np.full((3, 5), np.nan, np.float32), device=device)
        np.testing.assert_array_equal(ones, np.full((3, 5), 4.0, np.float32))


def test_c_none_ignores_beta(device):
    rng = np.random.default_rng(1)
    a, b = rand(rng, (4, 6), np.float64), rand(rng, (6, 3), np.float64)
    out = back(_C.gemm(on(a, device), on(b, device), beta=5.0))
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_operands(dtype, device, kernel):
    rng = np.random.default_rng(2)
    base_a = rand(rng, (70, 90), dtype)
    base_b = rand(rng, (90, 80), dtype)
    other = rand(rng, (17, 41), dtype)
    A, B, O = on(base_a, device), on(base_b, device), on(other, device)
    # (a view, b view, the same as NumPy arrays): views of device tensors by slice / transpose
    cases = [
        (A.slice(0, 0, 33, 1).slice(1, 0, 41, 1), B.slice(0, 0, 41, 1).slice(1, 0, 17, 1),
         base_a[:33, :41], base_b[:41, :17]),                            # row stride > number of columns
        (A.slice(0, 0, 33, 1).slice(1, 0, 82, 2), B.slice(0, 0, 41, 1).slice(1, 0, 34, 2),
         base_a[:33, :82:2], base_b[:41, :34:2]),                        # column step 2: copied first
        (A.slice(0, 0, 66, 2).slice(1, 0, 41, 1), O.transpose(0, 1),
         base_a[:66:2, :41], other.T),                                   # row step 2; a transposed view
        (A.slice(0, 0, 40, 2).slice(1, 0, 70, 3), B.slice(0, 0, 24, 1).slice(1, 1, 30, 1),
         base_a[:40:2, :70:3], base_b[:24, 1:30]),                       # no unit stride: copied
    ]
    if not is_cuda(device):  # negative strides: only NumPy views make them (from_numpy shares the memory)
        na, nb = base_a[::-1, :41][:33], base_b[:41, ::-1][:, :17]
        cases.append((_C.from_numpy(na), _C.from_numpy(nb), na, nb))
    for at, bt, a, b in cases:
        ref = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(back(_C.gemm(at, bt)), ref, **tol(dtype))
        # The same product from transposed views with the transpose flags set.
        np.testing.assert_allclose(back(_C.gemm(at.transpose(0, 1), bt.transpose(0, 1), True, True)), ref,
                                   **tol(dtype))
    # Rows broadcast with stride 0.
    row, col = rand(rng, (1, 41), dtype), rand(rng, (41, 1), dtype)
    a0 = on(row, device).expand([33, 41])
    b0 = on(col, device).expand([41, 17])
    ref = np.broadcast_to(row, (33, 41)).astype(np.float64) @ np.broadcast_to(col, (41, 17))
    np.testing.assert_allclose(back(_C.gemm(a0, b0)), ref, **tol(dtype))


@each_backend
def test_transposed_views_of_contiguous_matrices(device, kernel):
    # A transposed view of a contiguous matrix is used as is (transpose flag flipped); the result
    # must equal the product of the logical matrices.
    rng = np.random.default_rng(3)
    a = rand(rng, (40, 30), np.float32)
    b = rand(rng, (50, 40), np.float32)
    at = on(a, device).transpose(0, 1)  # (30, 40), unit row stride
    bt = on(b, device).transpose(0, 1)  # (40, 50)
    out = back(_C.gemm(at, bt))
    np.testing.assert_allclose(out, a.T.astype(np.float64) @ b.T, rtol=1e-4, atol=1e-4)


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_and_aliased_c(dtype, device, kernel):
    rng = np.random.default_rng(4)
    a, b = rand(rng, (13, 9), dtype), rand(rng, (9, 13), dtype)
    A, B = on(a, device), on(b, device)
    # c is a transposed view: written through a temporary and copied back.
    cbase = rand(rng, (13, 13), dtype)
    c0 = cbase.T.copy()
    cb = on(cbase, device)
    _C.gemm(A, B, alpha=2.0, beta=-1.0, c=cb.transpose(0, 1))
    np.testing.assert_allclose(back(cb).T, 2.0 * (a.astype(np.float64) @ b) - c0, **tol(dtype))
    # c is a column slice (row stride 20, unit columns): written in place; other columns untouched.
    wide = rand(rng, (13, 20), dtype)
    wt = on(wide, device)
    _C.gemm(A, B, beta=1.0, c=wt.slice(1, 2, 15, 1))
    got = back(wt)
    np.testing.assert_allclose(got[:, 2:15], a.astype(np.float64) @ b + wide[:, 2:15], **tol(dtype))
    np.testing.assert_array_equal(got[:, :2], wide[:, :2])
    np.testing.assert_array_equal(got[:, 15:], wide[:, 15:])
    # c aliases both operands (x = x @ x): the product must use the original x.
    sq = rand(rng, (13, 13), dtype)
    st = on(sq, device)
    _C.gemm(st, st, c=st)
    np.testing.assert_allclose(back(st), sq.astype(np.float64) @ sq, **tol(dtype))


def test_empty_sizes(device):
    z = lambda *shape, dtype=np.float64: on(np.zeros(shape, dtype), device)  # noqa: E731
    out = back(_C.gemm(z(0, 5, dtype=np.float32), z(5, 3, dtype=np.float32)))
    assert out.shape == (0, 3)
    out = back(_C.gemm(z(4, 0, dtype=np.float32), z(0, 3, dtype=np.float32)))
    np.testing.assert_array_equal(out, np.zeros((4, 3)))
    c = on(np.ones((4, 3), np.float64), device)
    _C.gemm(z(4, 0), z(0, 3), beta=2.5, c=c)
    np.testing.assert_array_equal(back(c), np.full((4, 3), 2.5))
    out = _C.bmm(z(0, 3, 4, dtype=np.float32), z(0, 4, 5, dtype=np.float32))
    assert tuple(out.shape) == (0, 3, 5) and out.device == device


@pytest.mark.parametrize("dtype", DTYPES)
def test_result_independent_of_thread_count(dtype, kernel):
    # K = 600 gives several k blocks (beta = 1 accumulation between them), M = 301 several mc blocks.
    rng = np.random.default_rng(5)
    a, b = rand(rng, (301, 600), dtype), rand(rng, (600, 263), dtype)
    c = rand(rng, (301, 263), dtype)
    old = _C.get_num_threads()
    outs = []
    try:
        for t in (1, 2, 3, 4):
            _C.set_num_threads(t)
            outs.append(run(_C.gemm, a, b, False, False, 0.5, 1.5, c.copy()))
            outs.append(run(_C.gemm, a.T.copy(), b.T.copy(), True, True))
    finally:
        _C.set_num_threads(old)
    for i in range(2, len(outs)):
        np.testing.assert_array_equal(outs[i], outs[i % 2])
    np.testing.assert_allclose(outs[0], reference(a, b, False, False, 0.5, 1.5, c), **tol(dtype))


# Multi-threaded products with B packed run on a team that shares the packed operands and hands out
# tasks dynamically (gemm_team, from 2^26 multiply-adds; smaller ones as independent blocks): either way
# the result must be exactly the serial one for any team size. Team cases: ragged M and N, a second N
# panel (N > nc = 2048 floats / 1024 doubles), several k blocks, row super-blocks (M > 2048), a few-row
# C (20 rows: 4 tiles); every transpose, alpha/beta and NaN in C with beta = 0.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(600, 17, 7), (595, 1, 1), (389, 2100, 90), (587, 33, 3500), (2500, 40, 700),
                                   (20, 300, 11200)])
def test_team_matches_serial(M, N, K, dtype, kernel):
    rng = np.random.default_rng(M + N + K)
    old = _C.get_num_threads()
    try:
        for ta, tb in [(False, False), (True, False), (False, True), (True, True)]:
            a, b = operands(rng, M, N, K, ta, tb, dtype)
            c = rand(rng, (M, N), dtype)
            outs = []
            for t in (1, 2, 3):
                _C.set_num_threads(t)
                outs.append(run(_C.gemm, a, b, ta, tb, 0.5, -1.25, c.copy()))
                outs.append(run(_C.gemm, a, b, ta, tb, 1.0, 0.0, np.full((M, N), np.nan, dtype)))
            np.testing.assert_allclose(outs[0], reference(a, b, ta, tb, 0.5, -1.25, c), **tol(dtype))
            np.testing.assert_allclose(outs[1], reference(a, b, ta, tb), **tol(dtype))
            for i in range(2, len(outs)):
                np.testing.assert_array_equal(outs[i], outs[i % 2])
    finally:
        _C.set_num_threads(old)


# Blocks of C at most 3 row tiles tall with B not transposed read B in place (no packing), with
# lane-masked loads on the last, partial column sliver; 19 rows (4 tiles of 6) takes the packed path.
# Several k blocks (K = 700), ragged N, alpha/beta, NaN in C with beta = 0, and 1 vs 2 threads (the
# 2-thread grid splits N, so each thread's block is a small-M block too).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M", [1, 6, 16, 17, 18, 19])
def test_small_m_direct_b(M, dtype, kernel):
    rng = np.random.default_rng(M)
    old = _C.get_num_threads()
    try:
        for N, K in [(25, 7), (150, 25), (1000, 150), (37, 700)]:
            for ta in (False, True):
                a, b = operands(rng, M, N, K, ta, False, dtype)
                c = rand(rng, (M, N), dtype)
                outs = []
                for t in (1, 2):
                    _C.set_num_threads(t)
                    outs.append(run(_C.gemm, a, b, ta, False, 0.5, -1.25, c.copy()))
                    nan_c = np.full((M, N), np.nan, dtype)
                    outs.append(run(_C.gemm, a, b, ta, False, 1.0, 0.0, nan_c))
                np.testing.assert_allclose(outs[0], reference(a, b, ta, False, 0.5, -1.25, c), **tol(dtype))
                np.testing.assert_allclose(outs[1], reference(a, b, ta, False), **tol(dtype))
                np.testing.assert_array_equal(outs[0], outs[2])
                np.testing.assert_array_equal(outs[1], outs[3])
    finally:
        _C.set_num_threads(old)


# The GEMM shapes conv2d runs (scaled-down channel counts, same structure): forward NN, weight
# gradient NT accumulating (beta = 1), input gradient TN, each against the naive loop.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(6, 1152, 25), (16, 200, 150), (64, 300, 27), (20, 256, 90)])
def test_conv_gemm_shapes(M, N, K, dtype, kernel):
    rng = np.random.default_rng(M + N + K)
    w, cols = rand(rng, (M, K), dtype), rand(rng, (K, N), dtype)
    dout = rand(rng, (M, N), dtype)
    np.testing.assert_allclose(run(_C.gemm, w, cols), run(_C.gemm_naive, w, cols), **tol(dtype))
    dw = rand(rng, (M, K), dtype)
    np.testing.assert_allclose(run(_C.gemm, dout, cols, False, True, 1.0, 1.0, dw.copy()),
                               run(_C.gemm_naive, dout, cols, False, True, 1.0, 1.0, dw.copy()), **tol(dtype))
    np.testing.assert_allclose(run(_C.gemm, w, dout, True, False), run(_C.gemm_naive, w, dout, True, False),
                               **tol(dtype))


# Beyond the blocking: K > kc (several k blocks), M > mc, N > nc (2048 float / 1024 double for avx2).
BIG_SHAPES = [(150, 37, 600), (7, 2100, 9), (13, 1100, 20), (290, 19, 5)]


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", SHAPES[:8] + BIG_SHAPES)
def test_kernels_match_naive(M, N, K, dtype, device, kernel):
    rng = np.random.default_rng(M * 31 + N * 7 + K)
    for ta, tb in [(False, False), (True, False), (False, True), (True, True)]:
        a, b = operands(rng, M, N, K, ta, tb, dtype)
        c = rand(rng, (M, N), dtype)
        fast = run(_C.gemm, a, b, ta, tb, -0.75, 0.25, c.copy(), device=device)
        naive = run(_C.gemm_naive, a, b, ta, tb, -0.75, 0.25, c.copy(), device=device)
        np.testing.assert_allclose(fast, naive, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_portable_and_avx2_agree(dtype):
    if not _C.gemm_avx2_available():
        pytest.skip("the AVX2+FMA gemm kernel is not available on this CPU/build")
    rng = np.random.default_rng(9)
    a, b = rand(rng, (97, 300), dtype), rand(rng, (300, 65), dtype)
    try:
        _C.set_gemm_kernel("portable")
        assert _C.gemm_kernel_name().startswith("portable (float 4x8, double 4x4)")
        p = run(_C.gemm, a, b)
        _C.set_gemm_kernel("avx2")
        assert _C.gemm_kernel_name().startswith("avx2 (float 6x16, double 6x8)")
        v = run(_C.gemm, a, b)
    finally:
        _C.set_gemm_kernel("auto")
    np.testing.assert_allclose(p, v, **tol(dtype))


def test_kernel_selection():
    name = _C.gemm_kernel_name()
    # The choice at first use: the CPU's best, unless CNNKIT_GEMM_KERNEL=portable asks otherwise.
    forced = os.environ.get("CNNKIT_GEMM_KERNEL") == "portable" or os.environ.get("CNNKIT_SIMD") == "portable"
    best = "avx512" if _C.gemm_avx512_available() else "avx2" if _C.gemm_avx2_available() else "portable"
    if os.environ.get("CNNKIT_SIMD") == "avx2" and best == "avx512":
        best = "avx2"
    assert name.split()[0] == ("portable" if forced else best)
    with pytest.raises(ValueError, match=r"set_gemm_kernel: expected 'portable', 'avx2', 'avx512' or 'auto', got 'sse9'"):
        _C.set_gemm_kernel("sse9")
    assert _C.gemm_kernel_name() == name
    if not _C.gemm_avx2_available():
        with pytest.raises(RuntimeError, match=r"set_gemm_kernel: the avx2 kernel is not available"):
            _C.set_gemm_kernel("avx2")


@pytest.mark.parametrize("value,expected", [("portable", "portable"), ("avx2", None), ("bogus", None)])
def test_kernel_environment_override(value, expected):
    # The variable is read once, at first use, so each value needs a fresh interpreter.
    code = "from cnnkit import _C; print(_C.gemm_kernel_name())"
    env = dict(os.environ, CNNKIT_GEMM_KERNEL=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    auto = "avx512" if _C.gemm_avx512_available() else "avx2" if _C.gemm_avx2_available() else "portable"
    if value == "avx2" and _C.gemm_avx2_available():
        auto = "avx2"  # the override is followed whenever the CPU has the family
    assert out.split()[0] == (expected or auto)
    if value == "bogus":
        assert "CNNKIT_GEMM_KERNEL=bogus ignored" in out


def test_gemm_errors(device):
    f32 = lambda *s: on(np.zeros(s, np.float32), device)  # noqa: E731
    with pytest.raises(ValueError, match=r"gemm: expected a to be 2-D, got 1-D"):
        _C.gemm(f32(3), f32(3, 3))
    with pytest.raises(ValueError, match=r"gemm: inner dimensions do not match.*\[2, 3\].*\[4, 5\]"):
        _C.gemm(f32(2, 3), f32(4, 5))
    with pytest.raises(ValueError, match=r"gemm_naive: inner dimensions"):
        _C.gemm_naive(f32(2, 3), f32(2, 3))
    with pytest.raises(TypeError, match=r"gemm: expected a and b to have the same dtype, got float32 and float64"):
        _C.gemm(f32(2, 3), on(np.zeros((3, 2)), device))
    with pytest.raises(TypeError, match=r"gemm: expected a to be float32 or float64, got int64"):
        _C.gemm(on(np.zeros((2, 2), np.int64), device), on(np.zeros((2, 2), np.int64), device))
    with pytest.raises(ValueError, match=r"gemm: expected c of shape \[2, 5\], got \[5, 2\]"):
        _C.gemm(f32(2, 3), f32(3, 5), c=f32(5, 2))
    with pytest.raises(TypeError, match=r"gemm: expected a and c to have the same dtype"):
        _C.gemm(f32(2, 3), f32(3, 5), c=on(np.zeros((2, 5)), device))


@each_backend
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,M,N,K", [(1, 1, 1, 1), (3, 7, 33, 5), (5, 33, 3, 65), (2, 65, 70, 127),
                                     cuda_case(5, 65, 3, 129), cuda_case(2, 130, 131, 17)])
def test_bmm(B, M, N, K, dtype, device, kernel):
    rng = np.random.default_rng(B * M * N * K)
    a, b = rand(rng, (B, M, K), dtype), rand(rng, (B, K, N), dtype)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    out = _C.bmm(on(a, device), on(b, device))
    assert out.device == device
    np.testing.assert_allclose(back(out), ref, **tol(dtype))
    # transposed matrices and a matrix broadcast over the batch (batch stride 0)
    at = on(np.ascontiguousarray(a.transpose(0, 2, 1)), device).transpose(1, 2)
    bb = on(b[:1], device).expand([B, K, N])
    ref2 = a.astype(np.float64) @ b[:1].astype(np.float64)
    np.testing.assert_allclose(back(_C.bmm(at, bb)), ref2, **tol(dtype))
    # a non-unit inner stride (every other column) is copied first
    wide = rand(rng, (B, M, 2 * K), dtype)
    ref3 = wide[:, :, ::2].astype(np.float64) @ b
    np.testing.assert_allclose(back(_C.bmm(on(wide, device).slice(2, 0, 2 * K, 2), on(b, device))), ref3,
                               **tol(dtype))


def test_bmm_errors(device):
    f32 = lambda *s: on(np.zeros(s, np.float32), device)  # noqa: E731
    with pytest.raises(ValueError, match=r"bmm: expected a to be 3-D"):
        _C.bmm(f32(2, 3), f32(2, 3, 4))
    with pytest.raises(ValueError, match=r"bmm: expected a and b to have the same batch size"):
        _C.bmm(f32(2, 3, 4), f32(3, 4, 5))
    with pytest.raises(ValueError, match=r"bmm: inner dimensions do not match"):
        _C.bmm(f32(2, 3, 4), f32(2, 5, 5))
    with pytest.raises(TypeError, match=r"bmm: expected a and b to have the same dtype"):
        _C.bmm(f32(2, 3, 4), on(np.zeros((2, 4, 5)), device))
    assert tuple(_C.bmm(f32(0, 3, 4), f32(0, 4, 5)).shape) == (0, 3, 5)


def test_gemm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for M, N, K in [(33, 65, 127), (128, 96, 200)]:
        a, b = rand(rng, (M, K), np.float32), rand(rng, (K, N), np.float32)
        ref = torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(run(_C.gemm, a, b), ref, rtol=1e-4, atol=1e-4)
        ref = torch.bmm(torch.from_numpy(a)[None].expand(3, M, K), torch.from_numpy(b)[None].expand(3, K, N))
        out = _C.bmm(_C.from_numpy(a).unsqueeze(0).expand([3, M, K]), _C.from_numpy(b).unsqueeze(0).expand([3, K, N]))
        np.testing.assert_allclose(np.asarray(out), ref.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Python layer: cnnkit.matmul / mm / bmm and the @ operator
# ---------------------------------------------------------------------------------------------
import cnnkit  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402

# Shapes whose backward needs no broadcast reduction (each operand already has the full batch).
MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 5, 3), (3,)), ((2, 5, 3), (3, 4)),
    ((4, 2, 3), (4, 3, 5)), ((2, 2, 5, 3), (2, 2, 3, 1)), ((1, 3), (3, 1)), ((0, 3), (3, 2)),
]
# Batch broadcasting: the backward sums gradients over the broadcast dims (needs the reduce kernels).
MATMUL_BROADCAST = [((3,), (2, 3, 4)), ((5, 1, 3, 4), (2, 4, 6)), ((2, 3, 4), (1, 4, 2)), ((1, 2, 3), (4, 1, 3, 2))]
needs_sum = pytest.mark.skipif(not hasattr(_C, "sum"), reason="needs the reduce kernels (another family)")


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES + [pytest.param(*s, marks=needs_sum) for s in MATMUL_BROADCAST])
def test_matmul_matches_torch(sa, sb):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(sa) * 7 + len(sb))
    arrays = [rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)]
    ours, theirs = compare_with_torch(cnnkit.matmul, torch.matmul, arrays)
    assert tuple(ours.shape) == tuple(theirs.shape)
    ours2, _ = compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b, arrays)
    assert tuple(ours2.shape) == tuple(theirs.shape)


@pytest.mark.parametrize("sa,sb", MATMUL_BROADCAST)
def test_matmul_broadcast_forward(sa, sb):
    rng = np.random.default_rng(len(sa) * 3 + len(sb))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = cnnkit.matmul(cnnkit.tensor(a), cnnkit.tensor(b))
    np.testing.assert_allclose(out.numpy(), np.matmul(a, b), rtol=1e-12, atol=1e-12)


def test_mm_bmm_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    compare_with_torch(cnnkit.mm, torch.mm, [rng.standard_normal((7, 33)).astype(np.float32),
                                             rng.standard_normal((33, 5)).astype(np.float32)])
    compare_with_torch(cnnkit.bmm, torch.bmm, [rng.standard_normal((3, 7, 33)).astype(np.float32),
                                               rng.standard_normal((3, 33, 5)).astype(np.float32)])
    # transposed (non-contiguous) operands
    compare_with_torch(lambda a, b: cnnkit.mm(a.t(), b.t()), lambda a, b: torch.mm(a.t(), b.t()),
                       [rng.standard_normal((9, 4)).astype(np.float32), rng.standard_normal((6, 9)).astype(np.float32)])


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3, 4)), ((4,), (4, 2)), ((2, 4, 3), (2, 3, 2)),
                                   ((2, 2, 3), (3,))])
def test_matmul_gradcheck(sa, sb):
    rng = np.random.default_rng(len(sa) + 5 * len(sb))
    a = cnnkit.tensor(rng.standard_normal(sa), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal(sb), requires_grad=True)
    assert gradcheck(cnnkit.matmul, (a, b))


def test_mm_bmm_gradcheck():
    rng = np.random.default_rng(10)
    a = cnnkit.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    assert gradcheck(F.mm, (a, b))
    a = cnnkit.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    assert gradcheck(F.bmm, (a, b))


def test_matmul_errors():
    z = cnnkit.zeros
    with pytest.raises(RuntimeError, match=r"both arguments to matmul need to be at least 1D, but they are 0D and 1D"):
        cnnkit.matmul(cnnkit.tensor(1.0), z(3))
    with pytest.raises(ValueError, match=r"matmul: shapes \[3\] and \[4\] cannot be multiplied"):
        cnnkit.matmul(z(3), z(4))
    with pytest.raises(ValueError, match=r"matmul: shapes \[2, 3\] and \[4, 5\] cannot be multiplied"):
        z(2, 3) @ z(4, 5)
    with pytest.raises(ValueError, match=r"matmul: batch dimensions of \[2, 3, 4\] and \[3, 4, 5\] do not broadcast"):
        cnnkit.matmul(z(2, 3, 4), z(3, 4, 5))
    with pytest.raises(TypeError, match=r"matmul: expected both operands to have the same dtype"):
        cnnkit.matmul(z(2, 3), z(3, 2, dtype=cnnkit.float64))
    with pytest.raises(TypeError, match=r"matmul: expected float32 or float64 operands, got .*int64"):
        cnnkit.matmul(z(2, 3, dtype=cnnkit.int64), z(3, 2, dtype=cnnkit.int64))
    with pytest.raises(ValueError, match=r"mm: expected 2-D tensors, got shapes \[3\] and \[3, 5\]"):
        cnnkit.mm(z(3), z(3, 5))
    with pytest.raises(ValueError, match=r"bmm: expected 3-D tensors"):
        cnnkit.bmm(z(3, 4), z(3, 4, 5))
    with pytest.raises(ValueError, match=r"bmm: expected the same batch size"):
        cnnkit.bmm(z(2, 3, 4), z(3, 4, 5))
    with pytest.raises(ValueError, match=r"bmm: shapes \[3, 3, 4\] and \[3, 5, 5\] cannot be multiplied"):
        cnnkit.bmm(z(3, 3, 4), z(3, 5, 5))
