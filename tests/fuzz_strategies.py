"""Shared pieces of the property-based tests against PyTorch (tests/test_fuzz_*.py).

Each fuzz test draws shapes and options with hypothesis, builds the same data in cnnkit and in torch
(values come from a NumPy generator seeded by a drawn integer, so shrinking works on shapes and options
rather than on thousands of floats), runs the op in both, and compares the forward result and the
gradients of every input and parameter after a backward pass with the same upstream gradient.

Budget: the settings profile ``cnnkit-fuzz`` runs ``CNNKIT_FUZZ_EXAMPLES`` examples per test (default 25),
derandomized (the same examples on every run, so CI is reproducible), with no deadline. Set
``CNNKIT_FUZZ_EXAMPLES=500`` for a long run; ``CNNKIT_FUZZ_RANDOM=1`` draws fresh examples each run.
"""
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnkit  # noqa: E402

EXAMPLES = int(os.environ.get("CNNKIT_FUZZ_EXAMPLES", "25") or 25)

settings.register_profile(
    "cnnkit-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CNNKIT_FUZZ_RANDOM") != "1",
    database=None,
    print_blob=True,
    # no 'explain' phase: it reruns a failure hundreds of times to annotate it (minutes here)
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
fuzz = settings(settings.get_profile("cnnkit-fuzz"))
"""Decorator: ``@fuzz`` above ``@given(...)`` applies the fuzz profile to one test."""

torch.set_num_threads(1)

DTYPES = st.sampled_from(["float32", "float64"])
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-9, atol=1e-11)}
_CK = {"float32": cnnkit.float32, "float64": cnnkit.float64, "int64": cnnkit.int64, "bool": cnnkit.bool}
_TORCH = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool}
LAYOUTS = ["contiguous", "transposed", "strided", "offset"]


def seeds():
    return st.integers(0, 2**32 - 1)


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def ck_dtype(name):
    return _CK[name]


def torch_dtype(name):
    return _TORCH[name]


def rand(rng, shape, dtype="float64", low=-2.0, high=2.0):
    """Values of `dtype` in [low, high); float32 values are rounded once so both libraries see the same."""
    return rng.uniform(low, high, size=shape).astype(dtype)


def distinct(rng, shape, dtype="float64"):
    """Values without ties (a permutation scaled into [-2, 2)), for max/min/argmax whose gradient and index
    on ties is an implementation choice; spaced far enough apart that float32 rounding keeps them apart."""
    n = int(np.prod(shape)) if len(shape) else 1
    vals = (rng.permutation(n) - n / 2.0) * (4.0 / max(n, 1))
    return vals.reshape(shape).astype(dtype)


def _layout_base(arr, layout, rng):
    """A base array and a function `base -> view` (NumPy-style ops both libraries share) such that
    view(base) equals `arr` but is not contiguous for the non-'contiguous' layouts."""
    nd = arr.ndim
    if layout == "contiguous" or nd == 0:
        return arr.copy(), lambda b: b
    if layout == "transposed":
        if nd == 1:
            layout = "strided"
        else:
            perm = list(range(nd))[::-1]
            inv = list(np.argsort(perm))
            base = np.ascontiguousarray(arr.transpose(perm))
            return base, lambda b: b.permute(*inv)
    if layout == "strided":
        d = int(rng.integers(nd))
        shp = list(arr.shape)
        shp[d] *= 2
        base = rng.uniform(-2, 2, size=shp).astype(arr.dtype)
        idx = [slice(None)] * nd
        idx[d] = slice(None, None, 2)
        base[tuple(idx)] = arr
        return base, lambda b: b[tuple(idx)]
    # "offset": a narrow window into a larger buffer (storage offset != 0, last dim padded)
    shp = list(arr.shape)
    shp[-1] += 2
    base = rng.uniform(-2, 2, size=shp).astype(arr.dtype)
    base[..., 1:1 + arr.shape[-1]] = arr
    n = arr.shape[-1]
    return base, lambda b: b[..., 1:1 + n]


class Pair:
    """One input made in both libraries: ``ck``/``th`` are what the op receives (possibly a non-contiguous
    view), ``ck_leaf``/``th_leaf`` the leaves whose ``.grad`` is compared."""

    def __init__(self, arr, requires_grad=False, layout="contiguous", rng=None):
        rng = rng if rng is not None else np.random.default_rng(0)
        base, view = _layout_base(np.asarray(arr), layout, rng)
        self.ck_leaf = cnnkit.from_numpy(base.copy())
        self.th_leaf = torch.from_numpy(base.copy())
        if requires_grad:
            self.ck_leaf.requires_grad_(True)
            self.th_leaf.requires_grad_(True)
        self.ck = view(self.ck_leaf)
        self.th = view(self.th_leaf)
        self.requires_grad = requires_grad


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, cnnkit.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_close(ck_val, th_val, dtype="float64", what="output", scale=1.0, **tol):
    """Same shape, and values within the dtype's tolerance (an `atol` scaled by `scale`, for results that
    sum many terms)."""
    a, b = to_numpy(ck_val), to_numpy(th_val)
    assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {a.shape} != torch {b.shape}"
    kw = dict(TOL.get(dtype, TOL["float64"]))
    kw["atol"] *= scale
    kw.update(tol)
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), err_msg=what, equal_nan=True, **kw)


def check(ck_fn, th_fn, pairs, dtype="float64", rng=None, backward=True, scale=1.0, grad_scale=None, **tol):
    """Run `ck_fn(*[p.ck])` and `th_fn(*[p.th])`; compare outputs (a tensor or a tuple of tensors, the
    first is differentiated), then backpropagate the same random upstream gradient and compare the grads
    of every pair that requires grad. Returns the two outputs."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out_ck = ck_fn(*[p.ck for p in pairs])
    out_th = th_fn(*[p.th for p in pairs])
    outs_ck = out_ck if isinstance(out_ck, (tuple, list)) else (out_ck,)
    outs_th = out_th if isinstance(out_th, (tuple, list)) else (out_th,)
    assert len(outs_ck) == len(outs_th)
    for i, (a, b) in enumerate(zip(outs_ck, outs_th)):
        assert_close(a, b, dtype, what=f"output {i}", scale=scale, **tol)
    if backward and any(p.requires_grad for p in pairs) and outs_th[0].requires_grad:
        g = rng.uniform(-1, 1, size=tuple(outs_th[0].shape)).astype(to_numpy(outs_th[0]).dtype)
        outs_ck[0].backward(cnnkit.from_numpy(g.copy()))
        outs_th[0].backward(torch.from_numpy(g.copy()))
        for i, p in enumerate(pairs):
            if not p.requires_grad:
                continue
            gt = p.th_leaf.grad
            gc = p.ck_leaf.grad
            if gt is None:
                assert gc is None or not np.any(to_numpy(gc)), f"grad {i}: torch has none, cnnkit nonzero"
                continue
            assert gc is not None, f"grad {i}: cnnkit has no gradient"
            assert_close(gc, gt, dtype, what=f"grad of input {i}",
                         scale=grad_scale if grad_scale is not None else scale, **tol)
    return out_ck, out_th


ERRORS = (ValueError, TypeError, RuntimeError, IndexError)


def both_or_neither(ck_call, th_call):
    """Run both calls. If torch raises, cnnkit must raise one of the documented error types (returns None);
    otherwise returns (cnnkit result, torch result), cnnkit's exceptions propagating."""
    try:
        th = th_call()
    except Exception as e:  # torch rejects the input: cnnkit must too, with a clean error
        with pytest.raises(ERRORS):
            ck_call()
        return None, e
    return ck_call(), th
