"""CUDA elementwise kernels (binary, binary_, binary_naive, unary, pow_scalar, clamp, clamp_backward,
where, masked_fill_) against their CPU twins on random odd-size data, broadcast and strided
operands, plus the bad-input cases (mixed devices, integer division by zero), and ranks up to and past the 25-dim kernel limit.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""

import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(2024)

ARITH = ["add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum"]
PRED = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]
BOOL_ARITH = ["mul", "maximum", "minimum"]
DIVISIONS = ("div", "floor_divide", "remainder")
FLOAT_UNARY = ["neg", "exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "sin", "cos",
               "floor", "ceil", "round", "trunc", "reciprocal", "square"]
INT_UNARY = ["neg", "abs", "sign", "square", "floor", "ceil", "round", "trunc"]
PRED_UNARY = ["logical_not", "isnan", "isinf", "isfinite"]

SHAPE_PAIRS = [((1,), (1,)), ((7,), (7,)), ((3, 1, 5), (4, 5)), ((1,), (33,)), ((), (3, 7)),
               ((2, 3, 4), (2, 3, 4)), ((33, 1), (1, 7)), ((5, 3, 1, 2), (3, 7, 1))]



def rand(shape, dtype, positive=False, nonzero=False):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        lo = 0 if (positive or dtype == np.uint8) else -9
        a = RNG.integers(lo, 10, size=shape).astype(dtype)
        if nonzero:
            a[a == 0] = 3
        return a
    a = RNG.standard_normal(shape).astype(dtype)
    if positive:
        a = np.abs(a) + 0.1
    if nonzero:
        a[np.abs(a) < 1e-3] = 0.5
    return a


def check(got, want, dtype=None):
    """got (NumPy, from the device) equals want (NumPy, from the CPU twin)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.floating):
        tol = dict(rtol=1e-4, atol=1e-5) if want.dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got, want, equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(got, want)


def ops_for(dtype):
    if dtype == np.bool_:
        return BOOL_ARITH + PRED
    return ARITH + PRED


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_binary_matches_cpu(dtype):
    for op in ops_for(dtype):
        for sa, sb in SHAPE_PAIRS:
            a = rand(sa, dtype, positive=(op == "pow"))
            b = rand(sb, dtype, nonzero=op in DIVISIONS)
            if op == "pow" and dtype in (np.int64, np.uint8):
                b = np.abs(b) % 4
            want = N(_C.binary(op, T(a), T(b)))
            check(H(_C.binary(op, G(a), G(b))), want)
            check(H(_C.binary_naive(op, G(a), G(b))), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_special_values(dtype):
    vals = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 7.0, -7.0, np.inf, -np.inf, np.nan], dtype=dtype)
    a, b = np.meshgrid(vals, vals)
    for op in ARITH + PRED:
        check(H(_C.binary(op, G(a), G(b))), N(_C.binary(op, T(a), T(b))))


def test_integer_edge_cases():
    a = np.array([np.iinfo(np.int64).min, -7, -7, 7, 7, np.iinfo(np.int64).max], dtype=np.int64)
    b = np.array([-1, 2, -2, 2, -2, 2], dtype=np.int64)
    for op in ARITH:
        check(H(_C.binary(op, G(a), G(b))), N(_C.binary(op, T(a), T(b))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_binary_strided_operands(dtype):
    a = rand((7, 33), dtype)
    b = rand((33, 7), dtype, nonzero=True)
    for op in ["add", "mul", "remainder", "maximum", "lt"]:
        # transposed, sliced (step 2), and expanded (stride 0) device views
        got = _C.binary(op, G(a), G(b).transpose(0, 1))
        want = _C.binary(op, T(a), T(b).transpose(0, 1))
        check(H(got), N(want))
        got = _C.binary(op, G(a).slice(1, 0, 32, 2), G(b).transpose(0, 1).slice(1, 1, 33, 2))
        want = _C.binary(op, T(a).slice(1, 0, 32, 2), T(b).transpose(0, 1).slice(1, 1, 33, 2))
        check(H(got), N(want))
        col = rand((7, 1), dtype, nonzero=True)
        got = _C.binary(op, G(a), G(col).expand([7, 33]))
        want = _C.binary(op, T(a), T(col).expand([7, 33]))
        check(H(got), N(want))


def test_binary_large_grid_stride():
    a = rand((1000, 1003), np.float32)
    b = rand((1003,), np.float32, nonzero=True)
    for op in ["add", "div", "ge"]:
        check(H(_C.binary(op, G(a), G(b))), N(_C.binary(op, T(a), T(b))))


@pytest.mark.skipif(ON_CPU, reason="a GPU grid limit: 2 GB of arrays for nothing on the CPU")
def test_binary_second_grid_stride_pass():
    # blocks_for caps the grid at 65,535 * 8 blocks of 256 threads = 134,215,680 elements: one more than that
    # makes the first threads take a second trip round the grid-stride loop (the case above fits in one).
    n = 65535 * 8 * 256 + 1001
    a = np.random.default_rng(3).standard_normal(n, dtype=np.float32)
    b = rand((1,), np.float32, nonzero=True)
    got = H(_C.binary("mul", G(a), G(b).expand([n])))
    np.testing.assert_array_equal(got, a * b[0])  # one multiply per element: exact


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_binary_inplace(dtype):
    for op in ARITH:
        a = rand((3, 7, 5), dtype, positive=(op == "pow"))
        b = rand((7, 1), dtype, nonzero=op in DIVISIONS)
        if op == "pow" and dtype == np.int64:
            b = np.abs(b) % 3
        out = G(a)
        r = _C.binary_(op, out, G(b))
        ref = T(a.copy())
        _C.binary_(op, ref, T(b))
        check(H(out), N(ref))
        check(H(r), N(ref))
    # strided target (a transposed view of a device tensor) and b aliasing the target
    a = rand((5, 7), dtype)
    base = G(a)
    view = base.transpose(0, 1)
    _C.binary_("add", view, view.slice(0, 0, 1, 1))
    ref = T(a.copy())
    rview = ref.transpose(0, 1)
    _C.binary_("add", rview, rview.slice(0, 0, 1, 1))
    check(H(base), N(ref))


def test_integer_division_by_zero_raises():
    a = rand((3, 7), np.int64)
    b = rand((3, 7), np.int64, nonzero=True)
    b[2, 5] = 0
    for op in DIVISIONS:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            _C.binary(op, G(a), G(b))
        out = G(a)
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            _C.binary_(op, out, G(b))
        np.testing.assert_array_equal(H(out), a)  # untouched
    # float division by zero is fine (inf/nan), as on the CPU
    af, bf = a.astype(np.float32), b.astype(np.float32)
    check(H(_C.binary("div", G(af), G(bf))), N(_C.binary("div", T(af), T(bf))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_float(dtype):
    for shape in [(), (1,), (7,), (3, 33), (2, 3, 5)]:
        x = rand(shape, dtype) * 3
        xp = np.abs(x) + 0.1
        for op in FLOAT_UNARY:
            src = xp if op in ("log", "log2", "sqrt", "rsqrt") else x
            check(H(_C.unary(op, G(src))), N(_C.unary(op, T(src))))
    special = np.array([0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, np.inf, -np.inf, np.nan], dtype=dtype)
    for op in FLOAT_UNARY + PRED_UNARY:
        check(H(_C.unary(op, G(special))), N(_C.unary(op, T(special))))
    # a non-contiguous input
    x = rand((7, 33), dtype)
    for op in ["exp", "neg", "isnan"]:
        check(H(_C.unary(op, G(x).transpose(0, 1))), N(_C.unary(op, T(x).transpose(0, 1))))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_unary_int_and_bool(dtype):
    x = rand((3, 7, 5), dtype)
    ops = PRED_UNARY + ([] if dtype == np.bool_ else INT_UNARY)
    for op in ops:
        check(H(_C.unary(op, G(x))), N(_C.unary(op, T(x))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_pow_scalar(dtype):
    x = rand((7, 33), dtype)
    if dtype == np.int64:
        exps = [0, 1, 2, 3, 5]
    else:
        x = np.abs(x) + 0.1
        exps = [0, 1, 2, 3, 0.5, -0.5, -1, -2, 1.7, -3, 2.0]
    for e in exps:
        check(H(_C.pow_scalar(G(x), e)), N(_C.pow_scalar(T(x), e)))
    check(H(_C.pow_scalar(G(x).transpose(0, 1), 2)), N(_C.pow_scalar(T(x).transpose(0, 1), 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_clamp_and_backward(dtype):
    x = rand((5, 33), dtype) * 2
    if dtype != np.int64:
        x[0, 3] = np.nan
    bounds = [(-1, 1), (None, 0), (0, None), (2, -2)]
    for lo, hi in bounds:
        check(H(_C.clamp(G(x), lo, hi)), N(_C.clamp(T(x), lo, hi)))
        if dtype != np.int64:
            d = rand((5, 33), dtype)
            check(H(_C.clamp_backward(G(d), G(x), lo, hi)), N(_C.clamp_backward(T(d), T(x), lo, hi)))
    if dtype != np.int64:
        check(H(_C.clamp(G(x), float("nan"), 1.0)), N(_C.clamp(T(x), float("nan"), 1.0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_where(dtype):
    for sc, sa, sb in [((7,), (7,), (7,)), ((3, 1), (1, 5), (3, 5)), ((), (2, 3), (1,)), ((33, 1, 2), (4, 1), (2,))]:
        c = rand(sc, np.bool_)
        a, b = rand(sa, dtype), rand(sb, dtype)
        check(H(_C.where(G(c), G(a), G(b))), N(_C.where(T(c), T(a), T(b))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_masked_fill(dtype):
    value = True if dtype == np.bool_ else 3
    for sx, sm in [((7,), (7,)), ((3, 5), (5,)), ((3, 5), (3, 1)), ((2, 3, 4), ())]:
        x = rand(sx, dtype)
        m = rand(sm, np.bool_)
        gx = G(x)
        r = _C.masked_fill_(gx, G(m), value)
        ref = T(x.copy())
        _C.masked_fill_(ref, T(m), value)
        check(H(gx), N(ref))
        check(H(r), N(ref))
    if dtype in (np.float32, np.float64):
        x = rand((4, 6), dtype)
        m = rand((6, 4), np.bool_)
        gx = G(x)
        _C.masked_fill_(gx.transpose(0, 1), G(m), -1.5)
        ref = T(x.copy())
        _C.masked_fill_(ref.transpose(0, 1), T(m), -1.5)
        check(H(gx), N(ref))


def test_empty_tensors():
    a = np.zeros((0, 3), np.float32)
    assert H(_C.binary("add", G(a), G(a))).shape == (0, 3)
    assert H(_C.unary("exp", G(a))).shape == (0, 3)
    assert H(_C.where(G(a == 0), G(a), G(a))).shape == (0, 3)


@pytest.mark.skipif(ON_CPU, reason="mixed devices need a real device")
def test_mixed_devices_raise():
    a = rand((3, 4), np.float32)
    with pytest.raises(RuntimeError, match="cuda:0"):
        _C.binary("add", T(a), G(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.binary_("add", G(a), T(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.where(T(a > 0), G(a), G(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.masked_fill_(G(a), T(a > 0), 1.0)
    with pytest.raises(RuntimeError, match="same device"):
        _C.clamp_backward(T(a), G(a), 0.0, 1.0)


@pytest.mark.parametrize("nd", [9, 13, 25])
def test_many_unmergeable_dims_work_like_the_cpu(nd):
    # nd dims of size 2, one operand in reversed stride order: no two dims can be merged for both operands.
    a = rand((2,) * nd, np.float32)
    b = rand((2,) * nd, np.float32)
    rev = list(range(nd - 1, -1, -1))
    want = N(_C.binary("add", T(a).permute(rev), T(b)))
    np.testing.assert_array_equal(H(_C.binary("add", G(a).permute(rev), G(b))), want)
    np.testing.assert_array_equal(H(G(a).permute(rev).contiguous()), N(T(a).permute(rev).contiguous()))


@pytest.mark.skipif(ON_CPU, reason="the CPU kernels have no dims limit")
def test_more_than_25_unmergeable_dims_raise_like_torch_cuda():
    # PyTorch's CUDA kernels stop at 25 dims as ours do; copies (contiguous) go on working beyond.
    a = rand((2,) * 26, np.float32)
    rev = list(range(25, -1, -1))
    with pytest.raises(RuntimeError, match="at most 25"):
        _C.binary("add", G(a).permute(rev), G(a))
    np.testing.assert_array_equal(H(G(a).permute(rev).contiguous()), np.ascontiguousarray(a.transpose(rev)))
