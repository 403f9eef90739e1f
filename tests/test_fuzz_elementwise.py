"""Property-based tests: broadcasting elementwise ops (+ - * / pow, maximum/minimum, where, comparisons) with
tensors of different ranks, size-1 dims, 0-d tensors and Python scalars, in strided layouts, forward and
backward (gradients reduced over the broadcast dims)."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import torch  # noqa: E402

import cnnkit  # noqa: E402
from fuzz_strategies import DTYPES, LAYOUTS, Pair, assert_close, check, distinct, fuzz, seeds  # noqa: E402


@st.composite
def broadcast_pair(draw, max_dims=4):
    """Two shapes that broadcast: a common shape, then each side drops leading dims and sets some to 1."""
    full = draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_dims))
    out = []
    for _ in range(2):
        drop = draw(st.integers(0, len(full)))
        shp = [1 if draw(st.booleans()) and draw(st.booleans()) else s for s in full[drop:]]
        out.append(tuple(shp))
    return out


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "maximum": (cnnkit.maximum, torch.maximum),
    "minimum": (cnnkit.minimum, torch.minimum),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
    "rsub": (lambda a, b: cnnkit.sub(a, b, alpha=2), lambda a, b: torch.sub(a, b, alpha=2)),
    "atan2": (cnnkit.atan2, torch.atan2),
}


def _values(rng, op, shape, dtype, side):
    if op == "pow" and side == 0:
        return rng.uniform(0.5, 2.0, size=shape).astype(dtype)  # positive base: real result, finite grads
    if op == "div" and side == 1:
        return (rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1, 1], size=shape)).astype(dtype)
    if op in ("maximum", "minimum"):
        return distinct(rng, shape, dtype) + side * 0.5 / (np.prod(shape) + 1)  # no ties between sides
    return rng.uniform(-2, 2, size=shape).astype(dtype)


@fuzz
@given(shapes=broadcast_pair(), op=st.sampled_from(sorted(BINARY)), dtype=DTYPES,
       layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)), seed=seeds())
def test_binary_broadcast(shapes, op, dtype, layouts, seed):
    rng = np.random.default_rng(seed)
    a = Pair(_values(rng, op, shapes[0], dtype, 0), True, layouts[0], rng)
    b = Pair(_values(rng, op, shapes[1], dtype, 1), True, layouts[1], rng)
    ck_fn, th_fn = BINARY[op]
    check(ck_fn, th_fn, [a, b], dtype, rng, scale=4)


@fuzz
@given(shape=st.lists(st.integers(1, 4), max_size=3).map(tuple), op=st.sampled_from(["add", "sub", "mul", "div", "pow"]),
       scalar=st.one_of(st.integers(-3, 3), st.floats(-2.5, 2.5, allow_nan=False).map(lambda v: round(v, 3))),
       reflected=st.booleans(), dtype=DTYPES, seed=seeds())
def test_scalar_operands(shape, op, scalar, reflected, dtype, seed):
    """tensor op scalar and scalar op tensor (Python int/float): result dtype stays the tensor's."""
    rng = np.random.default_rng(seed)
    if op == "div" and not reflected and scalar == 0:
        scalar = 1.5
    if op == "pow" and reflected:
        scalar = abs(scalar) + 0.5  # positive base
    vals = rng.uniform(0.5, 2.0, size=shape) if op in ("pow", "div") else rng.uniform(-2, 2, size=shape)
    x = Pair(vals.astype(dtype), True)
    fns = {"add": lambda t, s: t + s, "sub": lambda t, s: t - s, "mul": lambda t, s: t * s,
           "div": lambda t, s: t / s, "pow": lambda t, s: t ** s}
    fn = fns[op]
    if reflected:
        rfns = {"add": lambda t, s: s + t, "sub": lambda t, s: s - t, "mul": lambda t, s: s * t,
                "div": lambda t, s: s / t, "pow": lambda t, s: s ** t}
        fn = rfns[op]
    out_ck, out_th = check(lambda t: fn(t, scalar), lambda t: fn(t, scalar), [x], dtype, rng, scale=4)
    assert str(out_ck.dtype).split(".")[-1] == str(out_th.dtype).split(".")[-1]


@fuzz
@given(shapes=broadcast_pair(max_dims=3), dtype=DTYPES, seed=seeds(),
       zero_d=st.sampled_from(["none", "a", "b"]))
def test_zero_dim_and_int_promotion(shapes, dtype, seed, zero_d):
    """A 0-d float tensor does not promote a dimensioned one; an int64 tensor with a float one gives float."""
    rng = np.random.default_rng(seed)
    sa, sb = shapes
    if zero_d == "a":
        sa = ()
    elif zero_d == "b":
        sb = ()
    other = "float64" if dtype == "float32" else "float32"
    a = rng.uniform(-2, 2, size=sa).astype(dtype)
    b = rng.uniform(-2, 2, size=sb).astype(other)
    for fa, fb in ((a, b), (a, rng.integers(-3, 4, size=sb))):
        ck_out = cnnkit.from_numpy(fa.copy()) * cnnkit.from_numpy(np.asarray(fb).copy())
        th_out = torch.from_numpy(fa.copy()) * torch.from_numpy(np.asarray(fb).copy())
        assert str(ck_out.dtype).split(".")[-1] == str(th_out.dtype).split(".")[-1], (sa, sb, fb.dtype)
        assert_close(ck_out, th_out, "float32")


@fuzz
@given(shapes=broadcast_pair(max_dims=3), cshape=st.lists(st.integers(1, 4), max_size=3).map(tuple),
       dtype=DTYPES, scalar_b=st.booleans(), seed=seeds())
def test_where(shapes, cshape, dtype, scalar_b, seed):
    rng = np.random.default_rng(seed)
    try:
        np.broadcast_shapes(shapes[0], shapes[1], cshape)
    except ValueError:
        cshape = ()
    cond = rng.random(cshape) > 0.5
    c_ck, c_th = cnnkit.from_numpy(np.asarray(cond).copy()), torch.from_numpy(np.asarray(cond).copy())
    a = Pair(rng.uniform(-2, 2, shapes[0]).astype(dtype), True)
    if scalar_b:
        check(lambda x: cnnkit.where(c_ck, x, 0.5), lambda x: torch.where(c_th, x, 0.5), [a], dtype, rng)
        return
    b = Pair(rng.uniform(-2, 2, shapes[1]).astype(dtype), True, "transposed", rng)
    check(lambda x, y: cnnkit.where(c_ck, x, y), lambda x, y: torch.where(c_th, x, y), [a, b], dtype, rng)


CMP = ["eq", "ne", "lt", "le", "gt", "ge"]


@fuzz
@given(shapes=broadcast_pair(), op=st.sampled_from(CMP), dtype=DTYPES, seed=seeds())
def test_comparisons(shapes, op, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-2, 3, shapes[0]).astype(dtype)  # small integers: many ties for eq/le/ge
    b = rng.integers(-2, 3, shapes[1]).astype(dtype)
    got = getattr(cnnkit, op)(cnnkit.from_numpy(a), cnnkit.from_numpy(b))
    want = getattr(torch, op)(torch.from_numpy(a), torch.from_numpy(b))
    assert_close(got, want)


UNARY = ["exp", "log", "sqrt", "abs", "neg", "sin", "cos", "tanh", "sigmoid", "rsqrt", "reciprocal",
         "log1p", "expm1", "square", "erf"]


@fuzz
@given(shape=st.lists(st.integers(1, 4), max_size=4).map(tuple), op=st.sampled_from(UNARY), dtype=DTYPES,
       layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_unary_on_views(shape, op, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    low = 0.2 if op in ("log", "sqrt", "rsqrt", "reciprocal") else -2.0
    vals = rng.uniform(low, 2.0, size=shape)
    if op == "abs":
        vals = np.where(np.abs(vals) < 0.05, 0.5, vals)  # away from the kink
    x = Pair(vals.astype(dtype), True, layout, rng)
    check(lambda t: getattr(cnnkit, op)(t), lambda t: getattr(torch, op)(t), [x], dtype, rng, scale=4)


@fuzz
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       lo=st.one_of(st.none(), st.floats(-1.5, 0.0)), hi=st.one_of(st.none(), st.floats(0.1, 1.5)),
       dtype=DTYPES, seed=seeds())
def test_clamp(shape, lo, hi, dtype, seed):
    if lo is None and hi is None:
        lo = -0.5
    rng = np.random.default_rng(seed)
    vals = rng.uniform(-2, 2, size=shape)
    for bound in (lo, hi):  # keep values off the clamp boundaries, where the subgradient is a convention
        if bound is not None:
            vals = np.where(np.abs(vals - bound) < 1e-3, bound + 0.01, vals)
    x = Pair(vals.astype(dtype), True)
    check(lambda t: cnnkit.clamp(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x], dtype, rng)
