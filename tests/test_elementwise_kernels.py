"""Elementwise _C kernels (binary, binary_, unary, pow_scalar, clamp, clamp_backward, where,
masked_fill_) against NumPy, the plain-loop reference `binary_naive`, and PyTorch when installed.

The kernel tests run on each device (the `device` fixture): `io(device)` gives the input/output converters
(on the CPU NumPy views keep their strides; on CUDA inputs are device copies, and the strided cases are built
as device views). Tolerances (check_close): integers, bools, selections (clamp, where, masked_fill, min/max,
comparisons) exact on both; floating results on the CPU at float32 1e-5 / float64 1e-12, on CUDA at float32
rtol 1e-4 / atol 1e-5 and float64 rtol 1e-10 / atol 1e-12 (CUDA's exp/log/sin/pow differ from the CPU's libm
by a few ulp). CUDA-only cases (a grid-stride loop past the grid limit, 25+ unmergeable dims, mixed devices)
stay in tests/test_cuda_elementwise.py.
"""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_extras, cuda_only, is_cuda, on, runs_twin

RNG = np.random.default_rng(1234)

ARITH = ["add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum"]
PRED = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]
DIVISIONS = ("div", "floor_divide", "remainder")


def T(a):
    return _C.from_numpy(np.asarray(a))


def N(t):
    return np.asarray(t)


def io(device):
    """(to_tensor, to_numpy) for `device`: the CPU wraps the NumPy array itself (views and their strides
    included); CUDA gets a contiguous device copy (so does the CPU under CNNKIT_CUDA_TESTS_ON_CPU=1, which
    checks that path)."""
    if not cuda_extras(device):
        return T, N
    return (lambda a: on(np.asarray(a), device)), back


def rand(shape, dtype, positive=False, nonzero=False):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype == np.int64:
        a = RNG.integers(-9, 10, size=shape).astype(np.int64)
        if positive:
            a = np.abs(a)
        if nonzero:
            a[a == 0] = 3
        return a
    a = RNG.standard_normal(shape).astype(dtype)
    if positive:
        a = np.abs(a) + 0.1
    if nonzero:
        a[np.abs(a) < 1e-3] = 0.5
    return a


def trunc_div(a, b):
    q = np.floor_divide(a, b)
    return q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))


def ref_binary(op, a, b):
    if op == "div" and a.dtype == np.int64:
        return trunc_div(a, b)
    f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
         "floor_divide": np.floor_divide, "remainder": np.remainder, "pow": np.power,
         "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal, "ne": np.not_equal,
         "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
         "logical_and": np.logical_and, "logical_or": np.logical_or,
         "logical_xor": np.logical_xor}[op]
    with np.errstate(all="ignore"):
        r = f(a, b)
    if op == "mul" and a.dtype == np.bool_:
        r = r.astype(np.bool_)
    return r


def operands(op, sa, sb, dtype):
    a = rand(sa, dtype)
    b = rand(sb, dtype, nonzero=op in DIVISIONS, positive=op == "pow")
    if op == "pow" and dtype != np.int64:
        a = np.abs(a) + 0.1
    if op == "pow" and dtype == np.int64:
        b = b % 4
    return a, b


def check_close(got, want, dtype, device="cpu"):
    assert got.shape == want.shape
    if dtype in (np.float32, np.float64):
        if is_cuda(device):
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
        else:
            tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, want, equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(got, want)


BCAST = [((3, 4), (3, 4)), ((3, 4), ()), ((), (3, 4)), ((3, 4), (4,)), ((3, 4), (3, 1)),
         ((2, 3, 4), (1, 3, 1)), ((3, 1), (1, 4)), ((1,), (7,)), ((33,), (33,)), ((2, 1, 3), (7, 1)),
         ((1, 1), (1, 1)), ((0, 3), (3,)), ((5, 0), (5, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("op", ARITH + PRED)
def test_binary_matches_numpy(op, dtype, device):
    T, N = io(device)
    for sa, sb in BCAST:
        a, b = operands(op, sa, sb, dtype)
        out = _C.binary(op, T(a), T(b))
        want = ref_binary(op, a, b)
        check_close(N(out), want, dtype, device)
        assert N(out).dtype == want.dtype
        check_close(N(_C.binary_naive(op, T(a), T(b))), want, dtype, device)


# Broadcast pairs the CUDA twin test had on top of BCAST (ranks 3-4, both operands broadcast).
CUDA_BCAST = [((3, 1, 5), (4, 5)), ((1,), (33,)), ((33, 1), (1, 7)), ((5, 3, 1, 2), (3, 7, 1))]


@cuda_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_binary_more_broadcasts(dtype, device):
    """[cuda] only: the CUDA twin test's extra broadcast pairs, every op, fast and naive kernels, against NumPy."""
    T, N = io(device)
    ops = (["mul", "maximum", "minimum"] + PRED) if dtype == np.bool_ else ARITH + PRED
    for op in ops:
        for sa, sb in CUDA_BCAST:
            a, b = operands(op, sa, sb, dtype) if dtype != np.bool_ else (rand(sa, dtype), rand(sb, dtype))
            want = ref_binary(op, a, b)
            check_close(N(_C.binary(op, T(a), T(b))), want, dtype, device)
            check_close(N(_C.binary_naive(op, T(a), T(b))), want, dtype, device)


@cuda_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_and_unary_special_values_like_cpu(dtype, device):
    """[cuda] only: signed zeros, infinities, NaN and halves through every op, against the CPU twin (whose
    IEEE / Python semantics the CPU tests pin down against NumPy and torch)."""
    T, N = io(device)
    vals = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 7.0, -7.0, np.inf, -np.inf, np.nan], dtype=dtype)
    a, b = np.meshgrid(vals, vals)
    for op in ARITH + PRED:
        want = np.asarray(_C.binary(op, _C.from_numpy(a), _C.from_numpy(b)))
        check_close(N(_C.binary(op, T(a), T(b))), want, dtype, device)
    special = np.array([0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, np.inf, -np.inf, np.nan], dtype=dtype)
    for op in sorted(UNARY_F) + ["logical_not", "isnan", "isinf", "isfinite"]:
        want = np.asarray(_C.unary(op, _C.from_numpy(special)))
        got = N(_C.unary(op, T(special)))
        assert got.dtype == want.dtype
        check_close(got, want, dtype if want.dtype != np.bool_ else np.bool_, device)


@cuda_only
def test_integer_edge_cases_like_cpu(device):
    """[cuda] only: INT64_MIN / INT64_MAX with -1 and +-2 through every arithmetic op, against the CPU twin."""
    T, N = io(device)
    a = np.array([np.iinfo(np.int64).min, -7, -7, 7, 7, np.iinfo(np.int64).max], dtype=np.int64)
    b = np.array([-1, 2, -2, 2, -2, 2], dtype=np.int64)
    for op in ARITH:
        want = np.asarray(_C.binary(op, _C.from_numpy(a), _C.from_numpy(b)))
        np.testing.assert_array_equal(N(_C.binary(op, T(a), T(b))), want)


@cuda_only
def test_binary_large_grid_stride(device):
    """[cuda] only: a million elements (many blocks of the grid-stride loop); one operation each: exact."""
    T, N = io(device)
    a = rand((1000, 1003), np.float32)
    b = rand((1003,), np.float32, nonzero=True)
    for op in ["add", "div", "ge"]:
        np.testing.assert_array_equal(N(_C.binary(op, T(a), T(b))), ref_binary(op, a, b))


def test_empty_tensors(device):
    T, N = io(device)
    a = np.zeros((0, 3), np.float32)
    assert N(_C.binary("add", T(a), T(a))).shape == (0, 3)
    assert N(_C.unary("exp", T(a))).shape == (0, 3)
    assert N(_C.where(T(a == 0), T(a), T(a))).shape == (0, 3)


@pytest.mark.parametrize("op", ["mul", "maximum", "minimum"] + PRED)
def test_binary_bool(op, device):
    T, N = io(device)
    for sa, sb in BCAST[:8]:
        a, b = rand(sa, np.bool_), rand(sb, np.bool_)
        got = N(_C.binary(op, T(a), T(b)))
        np.testing.assert_array_equal(got, ref_binary(op, a, b).astype(np.bool_))
        assert got.dtype == np.bool_


@pytest.mark.parametrize("op", ["add", "sub", "div", "floor_divide", "remainder", "pow"])
def test_binary_bool_arithmetic_rejected(op, device):
    T, N = io(device)
    a = T(np.array([True, False]))
    with pytest.raises(TypeError, match=op):
        _C.binary(op, a, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_binary_noncontiguous(dtype, device):
    T, N = io(device)
    base = rand((7, 33), dtype, nonzero=True)
    views = [base.T, base[::2, 1::3], base[:, ::-1], np.broadcast_to(base[:1], (7, 33))]
    other = rand((33, 7), dtype, nonzero=True)
    for op in ["add", "mul", "sub", "maximum", "lt", "remainder"]:
        for v in views:
            o = other if v.shape == other.shape else rand(v.shape, dtype, nonzero=True)
            for x, y in ((v, o), (o, v)):
                got = N(_C.binary(op, T(x), T(y)))
                check_close(got, ref_binary(op, x, y), dtype, device)
                check_close(N(_C.binary_naive(op, T(x), T(y))), ref_binary(op, x, y), dtype, device)
    # column vector of a transposed matrix against a strided row
    a = rand((5, 9), dtype).T[:, 1:2]
    b = rand((1, 20), dtype)[:, ::4]
    check_close(N(_C.binary("add", T(a), T(b))), a + b, dtype, device)
    if cuda_extras(device):  # the same kinds of views made on the device: transposed, step-sliced, expanded
        a, b = rand((7, 33), dtype), rand((33, 7), dtype, nonzero=True)
        col = rand((7, 1), dtype, nonzero=True)
        for op in ["add", "mul", "remainder", "maximum", "lt"]:
            check_close(N(_C.binary(op, T(a), T(b).transpose(0, 1))), ref_binary(op, a, b.T), dtype, device)
            got = N(_C.binary(op, T(a).slice(1, 0, 32, 2), T(b).transpose(0, 1).slice(1, 1, 33, 2)))
            check_close(got, ref_binary(op, a[:, 0:32:2], b.T[:, 1:33:2]), dtype, device)
            got = N(_C.binary(op, T(a), T(col).expand([7, 33])))
            check_close(got, ref_binary(op, a, np.broadcast_to(col, (7, 33))), dtype, device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_binary_odd_sizes(dtype, device):
    T, N = io(device)
    for n in (1, 3, 7, 33):
        a, b = rand((n, n + 2), dtype), rand((n + 2,), dtype, nonzero=True)
        for op in ("sub", "floor_divide", "ge"):
            check_close(N(_C.binary(op, T(a), T(b))), ref_binary(op, a, b), dtype, device)


def test_binary_large_parallel_is_thread_independent():
    a = rand((301, 257), np.float32)
    b = rand((257,), np.float32)
    c = rand((301, 1), np.float32)
    nt = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        r1 = [N(_C.binary(op, T(a), T(x))) for op in ("mul", "div") for x in (b, c)]
        _C.set_num_threads(max(2, nt))
        r2 = [N(_C.binary(op, T(a), T(x))) for op in ("mul", "div") for x in (b, c)]
    finally:
        _C.set_num_threads(nt)
    for x, y in zip(r1, r2):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(r1[0], a * b, rtol=1e-6)


def test_float_division_semantics_ieee_and_python(device):
    T, N = io(device)
    a = np.array([1.0, -1.0, 0.0, 5.5, -5.5, 7.0, -7.0, np.inf, np.nan], np.float64)
    b = np.array([0.0, 0.0, 0.0, 2.0, 2.0, -2.0, -2.0, 3.0, 1.0], np.float64)
    for op in ("div", "floor_divide", "remainder"):
        check_close(N(_C.binary(op, T(a), T(b))), ref_binary(op, a, b), np.float64, device)


def test_float_floor_divide_remainder_match_torch():
    torch = pytest.importorskip("torch")
    # fmod-based, exact like Python's %; (torch's vectorised path computes a - b*floor(a/b),
    # which differs only when a/b overflows, e.g. 1e300 % 1e-300)
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.0, -0.0, 5.3, 3.0, -1e-300, 1.0], np.float64)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, -3.0, 0.7, 0.1, 5.0, 0.3], np.float64)
    for op, tf in (("floor_divide", torch.floor_divide), ("remainder", torch.remainder)):
        want = tf(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_array_equal(N(_C.binary(op, T(a), T(b))), want)


def test_int_semantics(device):
    T, N = io(device)
    a = np.array([-7, 7, -7, 7, 0, -1, 9], np.int64)
    b = np.array([2, -2, -2, 2, 5, 3, -4], np.int64)
    np.testing.assert_array_equal(N(_C.binary("floor_divide", T(a), T(b))), a // b)
    np.testing.assert_array_equal(N(_C.binary("remainder", T(a), T(b))), a % b)
    np.testing.assert_array_equal(N(_C.binary("div", T(a), T(b))), trunc_div(a, b))
    # torch's integer pow: negative exponents give 0 except for bases 1 and -1
    p = N(_C.binary("pow", T(np.array([2, 1, -1, -1, 3], np.int64)), T(np.array([-1, -5, -3, -2, 4], np.int64))))
    np.testing.assert_array_equal(p, [0, 1, -1, 1, 81])
    # INT64_MIN / -1 wraps instead of trapping (SIGFPE)
    m = np.array([np.iinfo(np.int64).min], np.int64)
    neg1 = np.array([-1], np.int64)
    assert N(_C.binary("floor_divide", T(m), T(neg1)))[0] == np.iinfo(np.int64).min
    assert N(_C.binary("div", T(m), T(neg1)))[0] == np.iinfo(np.int64).min
    assert N(_C.binary("remainder", T(m), T(neg1)))[0] == 0
    big = np.array([np.iinfo(np.int64).max], np.int64)
    assert N(_C.binary("add", T(big), T(np.array([1], np.int64))))[0] == np.iinfo(np.int64).min


@pytest.mark.parametrize("op", DIVISIONS)
def test_int_division_by_zero_raises(op, device):
    T, N = io(device)
    a = T(np.array([[1, 2, 3]], np.int64))
    b = T(np.array([1, 0, 2], np.int64))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _C.binary(op, a, b)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _C.binary(op, a, T(np.array(0, np.int64)))
    x = T(np.array([4, 5, 6], np.int64))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _C.binary_(op, x, b)
    np.testing.assert_array_equal(N(x), [4, 5, 6])  # untouched


def test_binary_errors(device):
    T, N = io(device)
    f32 = T(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"binary\(add\).*\[2, 3\].*\[4\]"):
        _C.binary("add", f32, T(np.ones(4, np.float32)))
    with pytest.raises(TypeError, match="float32 and int64"):
        _C.binary("add", f32, T(np.ones((2, 3), np.int64)))
    with pytest.raises(TypeError, match="float64 and float32"):
        _C.binary("mul", T(np.ones(3)), T(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="unknown op 'plus'"):
        _C.binary("plus", f32, f32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_binary_inplace(dtype, device):
    T, N = io(device)
    for op in ARITH:
        for sa, sb in [((3, 4), (3, 4)), ((3, 4), ()), ((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1))]:
            a, b = operands(op, sa, sb, dtype)
            want = ref_binary(op, a, b)
            x = T(a.copy())
            r = _C.binary_(op, x, T(b))
            check_close(N(x), want, dtype, device)
            assert r.data_ptr == x.data_ptr
    # non-contiguous target: a transposed, step-sliced view, updated in place (on the CPU a view of a NumPy
    # array; elsewhere the same view of a device tensor)
    base = rand((6, 10), dtype)
    expect = base.copy()
    b = rand((3,), dtype, nonzero=True)
    if not cuda_extras(device):
        _C.binary_("mul", T(base[::2, 1::3].T), T(b))  # shape (3, 3), strided
        got = base
    else:
        bt = T(base)
        _C.binary_("mul", bt.slice(0, 0, 6, 2).slice(1, 1, 10, 3).transpose(0, 1), T(b))
        got = N(bt)
    expect[::2, 1::3] = (expect[::2, 1::3].T * b).T
    check_close(got, expect, dtype, device)
    # a transposed target and b a row of it (read before it is written)
    a = rand((5, 7), dtype)
    at = T(a.copy())
    view = at.transpose(0, 1)
    _C.binary_("add", view, view.slice(0, 0, 1, 1))
    check_close(N(at), (a.T + a.T[0:1]).T, dtype, device)


def test_binary_inplace_aliasing(device):
    T, N = io(device)
    a = rand((5, 5), np.float64)
    x = T(a.copy())
    _C.binary_("add", x, x.transpose(0, 1))  # b overlaps the target
    check_close(N(x), a + a.T, np.float64, device)
    x = T(a.copy())
    _C.binary_("sub", x, x.select(0, 2))  # row 2 would be zeroed before it is read
    check_close(N(x), a - a[2], np.float64, device)
    x = T(a.copy())
    _C.binary_("mul", x, x)
    check_close(N(x), a * a, np.float64, device)


def test_binary_inplace_errors(device):
    T, N = io(device)
    x = T(np.ones((3,), np.float32))
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        _C.binary_("add", x, T(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match="arithmetic"):
        _C.binary_("lt", x, x)
    with pytest.raises(TypeError, match="float32 and float64"):
        _C.binary_("add", x, T(np.ones(3)))
    e = T(np.ones((1, 3), np.float32)).expand([4, 3])
    with pytest.raises(RuntimeError, match="more than one element"):
        _C.binary_("add", e, T(np.ones(3, np.float32)))


UNARY_F = {"neg": np.negative, "exp": np.exp, "log": np.log, "log2": np.log2, "log1p": np.log1p,
           "expm1": np.expm1, "sqrt": np.sqrt, "rsqrt": lambda v: 1 / np.sqrt(v), "abs": np.abs,
           "sign": np.sign, "sin": np.sin, "cos": np.cos, "floor": np.floor, "ceil": np.ceil,
           "round": np.round, "trunc": np.trunc, "reciprocal": lambda v: 1 / v, "square": np.square}
POSITIVE = {"log", "log2", "log1p", "sqrt", "rsqrt"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(UNARY_F))
def test_unary_float(op, dtype, device):
    T, N = io(device)
    for shape in [(), (1,), (3, 7), (33,), (2, 3, 5), (0, 4)]:
        a = rand(shape, dtype, positive=op in POSITIVE, nonzero=op == "reciprocal") * 3
        got = N(_C.unary(op, T(a)))
        with np.errstate(all="ignore"):
            want = UNARY_F[op](a).astype(dtype)
        assert got.dtype == dtype
        check_close(got, want, dtype, device)
    # non-contiguous input
    base = rand((9, 8), dtype, positive=op in POSITIVE, nonzero=True)
    for v in (base.T, base[::3, 1::2]):
        with np.errstate(all="ignore"):
            check_close(N(_C.unary(op, T(v))), UNARY_F[op](v).astype(dtype), dtype, device)
    if cuda_extras(device):  # a transposed view of a device tensor
        with np.errstate(all="ignore"):
            check_close(N(_C.unary(op, T(base).transpose(0, 1))), UNARY_F[op](base.T).astype(dtype), dtype, device)


def test_round_half_to_even_and_sign_nan(device):
    T, N = io(device)
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, np.nan], np.float32)
    np.testing.assert_array_equal(N(_C.unary("round", T(a))), [0, 2, 2, -0, -2, -2, 2, np.nan])
    s = N(_C.unary("sign", T(np.array([np.nan, -0.0, 3.0, -2.0]))))
    np.testing.assert_array_equal(s, [0, 0, 1, -1])  # torch.sign(nan) == 0


def test_unary_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, np.nan, np.inf, -np.inf], np.float32)
    for op in ("round", "sign", "trunc", "floor", "ceil", "abs", "neg", "square", "reciprocal"):
        want = getattr(torch, op)(torch.from_numpy(a)).numpy()
        np.testing.assert_array_equal(N(_C.unary(op, T(a))), want, err_msg=op)


def test_unary_int_and_bool(device):
    T, N = io(device)
    a = rand((4, 7), np.int64)
    for op, f in [("neg", np.negative), ("abs", np.abs), ("sign", np.sign), ("square", np.square),
                  ("floor", lambda v: v), ("round", lambda v: v)]:
        got = N(_C.unary(op, T(a)))
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, f(a))
    for op in ("exp", "log", "sqrt", "sin", "reciprocal", "rsqrt"):
        with pytest.raises(TypeError, match=f"unary\\({op}\\).*int64"):
            _C.unary(op, T(a))
    b = rand((5,), np.bool_)
    np.testing.assert_array_equal(N(_C.unary("logical_not", T(b))), ~b)
    for op in ("neg", "abs", "exp"):
        with pytest.raises(TypeError, match="bool"):
            _C.unary(op, T(b))
    with pytest.raises(ValueError, match="unknown op"):
        _C.unary("tanh2", T(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_unary_predicates(dtype, device):
    T, N = io(device)
    a = rand((3, 5), dtype)
    if dtype in (np.float32, np.float64):
        a[0, :3] = [np.nan, np.inf, -np.inf]
    for op, f in [("logical_not", np.logical_not), ("isnan", np.isnan), ("isinf", np.isinf),
                  ("isfinite", np.isfinite)]:
        got = N(_C.unary(op, T(a)))
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, f(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_scalar_float(dtype, device):
    T, N = io(device)
    a = rand((3, 7), dtype, positive=True)
    for e in (0, 1, 2, 3, 0.5, -0.5, -1, -2, 1.7, -2.3, 2.0):
        check_close(N(_C.pow_scalar(T(a), e)), np.power(a, dtype(e)), dtype, device)
    check_close(N(_C.pow_scalar(T(a.T), 2)), a.T ** 2, dtype, device)
    z = np.array([np.nan, 0.0], dtype)
    np.testing.assert_array_equal(N(_C.pow_scalar(T(z), 0)), [1, 1])  # x**0 == 1, even for NaN


def test_pow_scalar_int(device):
    T, N = io(device)
    a = rand((4, 5), np.int64)
    for e in (0, 1, 2, 3, 5, 2.0):
        np.testing.assert_array_equal(N(_C.pow_scalar(T(a), e)), a ** int(e))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        _C.pow_scalar(T(a), -1)
    with pytest.raises(TypeError, match="integral"):
        _C.pow_scalar(T(a), 0.5)
    with pytest.raises(TypeError, match="bool"):
        _C.pow_scalar(T(np.array([True])), 2)


def test_clamp(device):
    T, N = io(device)
    a = rand((5, 7), np.float32) * 2
    a[0, 0] = np.nan
    for lo, hi in [(-0.5, 0.5), (None, 0.2), (-0.1, None), (1.0, -1.0)]:
        got = N(_C.clamp(T(a), lo, hi))
        want = a.copy()
        if lo is not None:
            want = np.maximum(want, np.float32(lo))
        if hi is not None:
            want = np.minimum(want, np.float32(hi))
        np.testing.assert_array_equal(got, want)  # NaN stays NaN, min > max gives max
    assert np.isnan(N(_C.clamp(T(a), float("nan"), None))).all()
    assert np.isnan(N(_C.clamp(T(a), None, float("nan")))).all()
    ai = rand((3, 4), np.int64)
    np.testing.assert_array_equal(N(_C.clamp(T(ai), -2, 3)), np.clip(ai, -2, 3))
    np.testing.assert_array_equal(N(_C.clamp(T(a.T), -0.5, 0.5)), np.clip(a.T, -0.5, 0.5))
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        _C.clamp(T(a))
    with pytest.raises(TypeError, match="integral"):
        _C.clamp(T(ai), 0.5, None)


def test_clamp_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan], np.float64)
    for lo, hi in [(-1.0, 1.0), (2.0, -2.0), (float("nan"), 1.0), (None, 0.0)]:
        want = torch.clamp(torch.from_numpy(a), lo, hi).numpy()
        np.testing.assert_array_equal(N(_C.clamp(T(a), lo, hi)), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamp_backward(dtype, device):
    T, N = io(device)
    x = rand((4, 9), dtype)
    x[0, :3] = [-0.5, 0.5, np.nan]  # on the bounds: gradient passes; NaN: none
    g = rand((4, 9), dtype)
    got = N(_C.clamp_backward(T(g), T(x), -0.5, 0.5))
    np.testing.assert_array_equal(got, np.where((x >= -0.5) & (x <= 0.5), g, 0).astype(dtype))
    got = N(_C.clamp_backward(T(g.T.copy().T), T(x), None, 0.1))
    np.testing.assert_array_equal(got, np.where(x <= 0.1, g, 0).astype(dtype))
    with pytest.raises(ValueError, match="clamp_backward"):
        _C.clamp_backward(T(g[:2]), T(x), -1.0, 1.0)


def test_clamp_backward_matches_torch():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.clamp(x, -1.0, 1.0).backward(torch.arange(1.0, 6.0, dtype=torch.float64))
    got = N(_C.clamp_backward(T(np.arange(1.0, 6.0)), T(x.detach().numpy()), -1.0, 1.0))
    np.testing.assert_array_equal(got, x.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_where(dtype, device):
    T, N = io(device)
    for sc, sa, sb in [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), ()), ((4,), (2, 3, 4), (3, 1)), ((), (5,), (5,))]:
        c, a, b = rand(sc, np.bool_), rand(sa, dtype), rand(sb, dtype)
        got = N(_C.where(T(c), T(a), T(b)))
        want = np.where(c, a, b)
        np.testing.assert_array_equal(got, want)
    base = rand((6, 5), dtype)
    c = rand((5, 6), np.bool_)
    np.testing.assert_array_equal(N(_C.where(T(c), T(base.T), T(base[::-1].T))), np.where(c, base.T, base[::-1].T))
    with pytest.raises(TypeError, match="boolean"):
        _C.where(T(np.ones(3)), T(np.ones(3)), T(np.ones(3)))
    with pytest.raises(TypeError, match="same dtype"):
        _C.where(T(np.ones(3, bool)), T(np.ones(3)), T(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="broadcast"):
        _C.where(T(np.ones(3, bool)), T(np.ones(4)), T(np.ones(4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_masked_fill(dtype, device):
    T, N = io(device)
    for sx, sm in [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((5,), ())]:
        a = rand(sx, dtype)
        m = rand(sm, np.bool_)
        x = T(a.copy())
        _C.masked_fill_(x, T(m), 1)
        want = a.copy()
        want[np.broadcast_to(m, sx)] = 1
        np.testing.assert_array_equal(N(x), want)
    base = rand((6, 8), dtype)
    want = base.copy()
    m = rand((4, 6), np.bool_)
    if not cuda_extras(device):  # a strided view of a NumPy array (CPU), or of a device tensor
        _C.masked_fill_(T(base[:, ::2].T), T(m), 0)
        got = base
    else:
        bt = T(base)
        _C.masked_fill_(bt.slice(1, 0, 8, 2).transpose(0, 1), T(m), 0)
        got = N(bt)
    want[:, ::2].T[m] = 0
    np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="bool"):
        _C.masked_fill_(T(np.ones(3)), T(np.ones(3)), 0.0)
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        _C.masked_fill_(T(np.ones(3)), T(np.ones((2, 3), bool)), 0.0)


def test_masked_fill_float_value(device):
    T, N = io(device)
    x = T(np.zeros(4, np.float32))
    _C.masked_fill_(x, T(np.array([True, False, True, False])), float("-inf"))
    np.testing.assert_array_equal(N(x), [-np.inf, 0, -np.inf, 0])


def test_uint8(device):
    T, N = io(device)
    a = RNG.integers(0, 256, (3, 5)).astype(np.uint8)
    b = RNG.integers(1, 256, (5,)).astype(np.uint8)
    for op in ("add", "sub", "mul", "floor_divide", "remainder", "maximum", "minimum", "lt", "eq", "logical_xor"):
        got = N(_C.binary(op, T(a), T(b)))
        np.testing.assert_array_equal(got, ref_binary(op, a, b))
        assert got.dtype == ref_binary(op, a, b).dtype
    np.testing.assert_array_equal(N(_C.binary("div", T(a), T(b))), a // b)
    np.testing.assert_array_equal(N(_C.unary("neg", T(a))), (0 - a.astype(np.int64)).astype(np.uint8))
    np.testing.assert_array_equal(N(_C.clamp(T(a), 10, 200)), np.clip(a, 10, 200))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _C.binary("remainder", T(a), T(np.zeros(5, np.uint8)))
    with pytest.raises(RuntimeError, match="uint8 without overflow"):
        _C.clamp(T(a), -1, None)
    with pytest.raises(RuntimeError, match="uint8 without overflow"):
        _C.masked_fill_(T(a.copy()), T(np.ones(5, bool)), 256)


def test_scalar_conversion_errors(device):
    T, N = io(device)
    x = T(np.zeros(3, np.int64))
    m = T(np.ones(3, bool))
    with pytest.raises(RuntimeError, match="int64 without overflow"):
        _C.masked_fill_(x, m, float("nan"))
    with pytest.raises(TypeError, match="integral"):
        _C.clamp(x, 1e30, None)
    with pytest.raises(TypeError, match="Python number"):
        _C.masked_fill_(x, m, "a")
    _C.masked_fill_(x, m, np.int64(5))  # NumPy scalars are numbers too
    np.testing.assert_array_equal(N(x), [5, 5, 5])
    _C.masked_fill_(x, m, 2.7)  # truncates like a C cast (torch does the same)
    np.testing.assert_array_equal(N(x), [2, 2, 2])
