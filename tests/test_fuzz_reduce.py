"""Property-based tests: reductions over every dim form (None, int, negative int, tuple, keepdim) and
softmax/log_softmax over any dim, against torch, forward and backward, on strided views and 0-d tensors."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import cnnkit  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from fuzz_strategies import DTYPES, LAYOUTS, Pair, assert_close, check, distinct, fuzz, seeds  # noqa: E402


@st.composite
def shape_and_dim(draw, forms=("none", "int", "neg", "tuple"), max_dims=4):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_dims)))
    nd = len(shape)
    form = draw(st.sampled_from(forms))
    if form == "none":
        dim = None
    elif form == "int":
        dim = draw(st.integers(0, max(nd - 1, 0)))
    elif form == "neg":
        dim = -draw(st.integers(1, max(nd, 1)))
    else:
        k = draw(st.integers(1, max(nd, 1)))
        pool = list(range(nd)) if nd else [0]
        dims = draw(st.permutations(pool))[:k]
        dim = tuple(d - nd if nd and draw(st.booleans()) else d for d in dims)
    return shape, dim


def _call(lib, name, x, dim, keepdim, **extra):
    fn = getattr(lib, name)
    if dim is None:
        return fn(x, **extra) if not keepdim else fn(x, dim=None, keepdim=True, **extra)
    return fn(x, dim=dim, keepdim=keepdim, **extra)


@fuzz
@given(sd=shape_and_dim(), name=st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp", "nansum"]),
       keepdim=st.booleans(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_multi_dim_reductions(sd, name, keepdim, dtype, layout, seed):
    shape, dim = sd
    rng = np.random.default_rng(seed)
    if name == "logsumexp" and dim is None:
        dim = tuple(range(len(shape))) or 0  # torch's logsumexp needs a dim
    if name == "nansum" and not hasattr(cnnkit, "nansum"):
        name = "sum"
    vals = distinct(rng, shape, dtype) if name in ("amax", "amin") else rng.uniform(-2, 2, shape).astype(dtype)
    x = Pair(vals, True, layout, rng)
    if dim is None and keepdim and name in ("amax", "amin"):
        keepdim = False  # torch.amax(x, dim=None) is not accepted
    check(lambda t: _call(cnnkit, name, t, dim, keepdim), lambda t: _call(torch, name, t, dim, keepdim),
          [x], dtype, rng, scale=8)


@fuzz
@given(sd=shape_and_dim(forms=("none", "int", "neg")), name=st.sampled_from(["max", "min", "argmax", "argmin", "prod"]),
       keepdim=st.booleans(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_single_dim_reductions(sd, name, keepdim, dtype, layout, seed):
    shape, dim = sd
    rng = np.random.default_rng(seed)
    if name == "prod":
        vals = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
        vals = vals.astype(dtype)
    else:
        vals = distinct(rng, shape, dtype)
    x = Pair(vals, name in ("max", "min", "prod"), layout, rng)
    if dim is None:
        if name in ("max", "min", "prod"):
            keepdim = False  # torch.max(x) / prod(x) take no keepdim without a dim

        def ck_fn(t):
            return getattr(cnnkit, name)(t) if not keepdim else getattr(cnnkit, name)(t, dim=None, keepdim=True)

        def th_fn(t):
            return getattr(torch, name)(t) if not keepdim else getattr(torch, name)(t, dim=None, keepdim=True)
    else:
        def ck_fn(t):
            out = getattr(cnnkit, name)(t, dim, keepdim=keepdim)
            return tuple(out) if name in ("max", "min") else out

        def th_fn(t):
            out = getattr(torch, name)(t, dim, keepdim=keepdim)
            return tuple(out) if name in ("max", "min") else out
    check(ck_fn, th_fn, [x], dtype, rng, scale=8)


@fuzz
@given(sd=shape_and_dim(), name=st.sampled_from(["var", "std"]), keepdim=st.booleans(),
       correction=st.sampled_from([None, 0, 1, 2, "unbiased=False"]), dtype=DTYPES,
       layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_var_std(sd, name, keepdim, correction, dtype, layout, seed):
    shape, dim = sd
    rng = np.random.default_rng(seed)
    # reduced element count must exceed the correction (else torch gives inf/nan with a warning)
    nd = len(shape)
    dims = range(nd) if dim is None else ([dim] if isinstance(dim, int) else dim)
    n = int(np.prod([shape[d % nd] for d in dims])) if nd else 1
    corr = 1 if correction is None else (0 if correction == "unbiased=False" else correction)
    if n <= corr:
        correction, corr = 0, 0
    extra = {"unbiased": False} if correction == "unbiased=False" else (
        {} if correction is None else {"correction": correction})
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    if name == "std" and n == 1:
        return  # the gradient of sqrt at 0 is inf/nan in both; not informative
    check(lambda t: getattr(cnnkit, name)(t, dim=dim, keepdim=keepdim, **extra),
          lambda t: getattr(torch, name)(t, dim=dim, keepdim=keepdim, **extra), [x], dtype, rng, scale=8)


@fuzz
@given(sd=shape_and_dim(), dtype=DTYPES, seed=seeds())
def test_tensor_method_forms(sd, dtype, seed):
    """x.sum(dim), x.mean(dim, keepdim=True) and friends as methods, and int64 sums."""
    shape, dim = sd
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, shape).astype(dtype)
    ck, th = cnnkit.from_numpy(a.copy()), torch.from_numpy(a.copy())
    if dim is None:
        assert_close(ck.sum(), th.sum(), dtype, scale=8)
        assert_close(ck.mean(), th.mean(), dtype, scale=8)
    else:
        assert_close(ck.sum(dim, keepdim=True), th.sum(dim, keepdim=True), dtype, scale=8)
        assert_close(ck.mean(dim), th.mean(dim), dtype, scale=8)
    ints = rng.integers(-5, 6, shape)
    got = cnnkit.from_numpy(ints.copy()).sum() if dim is None else cnnkit.from_numpy(ints.copy()).sum(dim)
    want = torch.from_numpy(ints.copy()).sum() if dim is None else torch.from_numpy(ints.copy()).sum(dim)
    assert str(got.dtype) == "cnnkit.int64" and want.dtype == torch.int64
    assert_close(got, want)


@fuzz
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), data=st.data(),
       name=st.sampled_from(["softmax", "log_softmax", "softmin"]), dtype=DTYPES,
       layout=st.sampled_from(LAYOUTS), big=st.booleans(), seed=seeds())
def test_softmax_any_dim(shape, data, name, dtype, layout, big, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    scale = 30.0 if big else 2.0  # large logits exercise the max-subtraction
    x = Pair((rng.uniform(-1, 1, shape) * scale).astype(dtype), True, layout, rng)
    check(lambda t: getattr(F, name)(t, dim=dim), lambda t: getattr(TF, name)(t, dim=dim), [x], dtype, rng,
          scale=4)
    # the Tensor methods too
    if name != "softmin":
        check(lambda t: getattr(t, name)(dim), lambda t: getattr(t, name)(dim),
              [Pair(rng.uniform(-2, 2, shape).astype(dtype), True)], dtype, rng)


DIM_OPS = {
    "sum": (lambda lib, x, d: lib.sum(x, dim=d)), "mean": (lambda lib, x, d: lib.mean(x, dim=d)),
    "amax": (lambda lib, x, d: lib.amax(x, dim=d)), "max": (lambda lib, x, d: lib.max(x, dim=d)),
    "argmax": (lambda lib, x, d: lib.argmax(x, dim=d)), "prod": (lambda lib, x, d: lib.prod(x, dim=d)),
    "var": (lambda lib, x, d: lib.var(x, dim=d)), "logsumexp": (lambda lib, x, d: lib.logsumexp(x, dim=d)),
    "cumsum": (lambda lib, x, d: lib.cumsum(x, dim=d)), "softmax": (lambda lib, x, d: lib.softmax(x, dim=d)),
    "log_softmax": (lambda lib, x, d: lib.log_softmax(x, dim=d)), "squeeze": (lambda lib, x, d: lib.squeeze(x, d)),
    "unsqueeze": (lambda lib, x, d: lib.unsqueeze(x, d)), "flip": (lambda lib, x, d: lib.flip(x, d)),
    "transpose": (lambda lib, x, d: lib.transpose(x, d, 0)), "select": (lambda lib, x, d: lib.select(x, d, 0)),
    "narrow": (lambda lib, x, d: lib.narrow(x, d, 0, 1)), "cat": (lambda lib, x, d: lib.cat([x, x], dim=d)),
    "stack": (lambda lib, x, d: lib.stack([x, x], dim=d)), "index_select": (
        lambda lib, x, d: lib.index_select(x, d, lib.zeros(1, dtype=lib.int64))),
}


@fuzz
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), op=st.sampled_from(sorted(DIM_OPS)),
       dim=st.sampled_from([1.0, -1.0, 0.5, "0", (0.0,), 3, -4, 10]), seed=seeds())
def test_bad_dim_arguments_raise_like_torch(shape, op, dim, seed):
    """A float, str or out-of-range dim: torch raises TypeError/IndexError, so must cnnkit (never run)."""
    from fuzz_strategies import both_or_neither
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, shape).astype("float32")
    fn = DIM_OPS[op]
    if op == "softmax" or op == "log_softmax":
        ck_call, th_call = (lambda: getattr(F, op)(cnnkit.from_numpy(a), dim=dim)), (
            lambda: getattr(TF, op)(torch.from_numpy(a), dim=dim))
    else:
        ck_call, th_call = (lambda: fn(cnnkit, cnnkit.from_numpy(a), dim)), (lambda: fn(torch, torch.from_numpy(a), dim))
    got = both_or_neither(ck_call, th_call)
    if got[0] is not None:
        out_ck, out_th = got
        if isinstance(out_th, tuple):
            out_ck, out_th = out_ck[0], out_th[0]
        assert_close(out_ck, out_th, "float32", scale=4)


# Issue 15's "F.log_softmax(x, dim=1.0) runs": a non-int dim is a TypeError, as in torch.
@pytest.mark.parametrize("call", [
    lambda x: F.softmax(x, dim=1.0), lambda x: F.log_softmax(x, dim=1.0), lambda x: x.softmax(0.5),
    lambda x: x.log_softmax("0"), lambda x: cnnkit.squeeze(x, (0.0,)),
], ids=["softmax", "log_softmax", "softmax_method", "log_softmax_method", "squeeze_tuple"])
def test_non_int_dim_is_a_type_error(call):
    with pytest.raises(TypeError):
        call(cnnkit.ones(1, 3))
