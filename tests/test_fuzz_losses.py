"""Property-based tests: losses with all their options against torch, forward and backward (grads of the
input, and of the target where torch differentiates it)."""
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
from fuzz_strategies import DTYPES, LAYOUTS, Pair, both_or_neither, check, fuzz, seeds  # noqa: E402

# torch warns about this case; the warning is torch's, not a failure
pytestmark = pytest.mark.filterwarnings("ignore:.*divides the total loss by both")

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def class_case(draw):
    """(N, C, d1..dk) logits with k in 0..2, or an unbatched (C,) input."""
    c = draw(st.integers(1, 5))
    unbatched = draw(st.integers(0, 5)) == 0
    if unbatched:
        return (c,), ()
    n = draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return (n, c) + extra, (n,) + extra


@fuzz
@given(case=class_case(), dtype=DTYPES, reduction=REDUCTIONS, use_weight=st.booleans(),
       ignore=st.sampled_from([None, "some", "all"]), smoothing=st.sampled_from([0.0, 0.0, 0.1, 0.35]),
       layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_cross_entropy_class_targets(case, dtype, reduction, use_weight, ignore, smoothing, layout, seed):
    rng = np.random.default_rng(seed)
    shape, tshape = case
    c = shape[0] if len(shape) == 1 else shape[1]
    x = Pair(rng.uniform(-3, 3, shape).astype(dtype), True, layout, rng)
    target = rng.integers(0, c, tshape)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if ignore is not None:
        ii = int(rng.integers(0, c)) if ignore == "some" else -100
        kw["ignore_index"] = ii
        if ignore == "all":
            target = np.full(tshape, -100)
    w = rng.uniform(0.2, 2.0, (c,)).astype(dtype) if use_weight else None
    t_ck, t_th = cnnkit.from_numpy(target.copy()), torch.from_numpy(target.copy())
    w_ck = cnnkit.from_numpy(w.copy()) if w is not None else None
    w_th = torch.from_numpy(w.copy()) if w is not None else None
    check(lambda a: F.cross_entropy(a, t_ck, weight=w_ck, **kw),
          lambda a: TF.cross_entropy(a, t_th, weight=w_th, **kw), [x], dtype, rng, scale=4)
    # nll_loss on log-probabilities, with the same options (no smoothing). Contiguous: torch's nll_loss2d
    # backward fails on a permuted input ("grad_input must be contiguous", a torch limitation).
    kw.pop("label_smoothing")
    logp = np.log(rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c))
    if len(shape) > 1:
        logp = np.moveaxis(logp.reshape((shape[0],) + shape[2:] + (c,)), -1, 1)
    x = Pair(np.ascontiguousarray(logp.reshape(shape)).astype(dtype), True)
    check(lambda a: F.nll_loss(a, t_ck, weight=w_ck, **kw),
          lambda a: TF.nll_loss(a, t_th, weight=w_th, **kw), [x], dtype, rng, scale=4)


@fuzz
@given(case=class_case(), dtype=DTYPES, reduction=REDUCTIONS, use_weight=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.2]), seed=seeds())
def test_cross_entropy_probability_targets(case, dtype, reduction, use_weight, smoothing, seed):
    rng = np.random.default_rng(seed)
    shape, _ = case
    c = shape[0] if len(shape) == 1 else shape[1]
    x = Pair(rng.uniform(-3, 3, shape).astype(dtype), True)
    probs = rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c)  # rows sum to 1
    probs = np.moveaxis(probs.reshape((shape[0],) + shape[2:] + (c,)), -1, 1) if len(shape) > 1 else probs[0]
    t = Pair(np.ascontiguousarray(probs).astype(dtype), True)
    w = rng.uniform(0.2, 2.0, (c,)).astype(dtype) if use_weight else None
    w_ck = cnnkit.from_numpy(w.copy()) if w is not None else None
    w_th = torch.from_numpy(w.copy()) if w is not None else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda a, b: F.cross_entropy(a, b, weight=w_ck, **kw),
          lambda a, b: TF.cross_entropy(a, b, weight=w_th, **kw), [x, t], dtype, rng, scale=4)


@fuzz
@given(shape=st.lists(st.integers(1, 4), max_size=4).map(tuple), dtype=DTYPES, reduction=REDUCTIONS,
       name=st.sampled_from(["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]),
       param=st.sampled_from([None, 0.0, 0.5, 2.0]), layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)),
       seed=seeds())
def test_regression_losses(shape, dtype, reduction, name, param, layouts, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-3, 3, shape)
    b = rng.uniform(-3, 3, shape)
    # keep |a - b| off the kinks (0 for l1, beta/delta for the smooth ones) where the subgradient is a convention
    d = a - b
    bad = np.abs(d) < 1e-2
    if param:
        bad |= np.abs(np.abs(d) - param) < 1e-2
    a = np.where(bad, b + 0.3 + (param or 0), a)
    x, y = Pair(a.astype(dtype), True, layouts[0], rng), Pair(b.astype(dtype), True, layouts[1], rng)
    kw = dict(reduction=reduction)
    if param is not None and name == "smooth_l1_loss":
        kw["beta"] = param
    if param is not None and name == "huber_loss":
        if param == 0.0:
            param = 0.5  # torch requires delta > 0
        kw["delta"] = param
    got = both_or_neither(lambda: getattr(F, name)(x.ck.detach(), y.ck.detach(), **kw),
                          lambda: getattr(TF, name)(x.th.detach(), y.th.detach(), **kw))
    if got[0] is None:
        return
    check(lambda p, q: getattr(F, name)(p, q, **kw), lambda p, q: getattr(TF, name)(p, q, **kw), [x, y], dtype,
          rng, scale=4)


@fuzz
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), dtype=DTYPES, reduction=REDUCTIONS,
       use_weight=st.booleans(), pos_weight=st.booleans(), seed=seeds())
def test_binary_cross_entropy(shape, dtype, reduction, use_weight, pos_weight, seed):
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-4, 4, shape)
    target = rng.uniform(0, 1, shape)
    wshape = shape[-1:] if rng.random() < 0.5 else shape  # weight broadcast from the last dim or full
    w = rng.uniform(0.2, 2, wshape).astype(dtype) if use_weight else None
    w_ck = cnnkit.from_numpy(w.copy()) if w is not None else None
    w_th = torch.from_numpy(w.copy()) if w is not None else None
    pw = rng.uniform(0.2, 3, shape[-1:]).astype(dtype) if pos_weight else None
    pw_ck = cnnkit.from_numpy(pw.copy()) if pw is not None else None
    pw_th = torch.from_numpy(pw.copy()) if pw is not None else None
    x, t = Pair(logits.astype(dtype), True), Pair(target.astype(dtype), True)
    check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w_ck, reduction=reduction, pos_weight=pw_ck),
          lambda a, b: TF.binary_cross_entropy_with_logits(a, b, weight=w_th, reduction=reduction, pos_weight=pw_th),
          [x, t], dtype, rng, scale=4)
    probs = 1 / (1 + np.exp(-logits))
    x, t = Pair(probs.astype(dtype), True, "transposed", rng), Pair(target.astype(dtype), True)
    check(lambda a, b: F.binary_cross_entropy(a, b, weight=w_ck, reduction=reduction),
          lambda a, b: TF.binary_cross_entropy(a, b, weight=w_th, reduction=reduction), [x, t], dtype, rng,
          scale=4, rtol=1e-3 if dtype == "float32" else 1e-9)


@fuzz
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), dtype=DTYPES,
       reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]), log_target=st.booleans(), seed=seeds())
def test_kl_div(shape, dtype, reduction, log_target, seed):
    rng = np.random.default_rng(seed)
    logp = np.log(rng.uniform(0.05, 1, shape))
    q = rng.uniform(0.05, 1, shape)
    tgt = np.log(q) if log_target else q
    x, t = Pair(logp.astype(dtype), True), Pair(tgt.astype(dtype), True)
    kw = dict(reduction=reduction, log_target=log_target)
    check(lambda a, b: F.kl_div(a, b, **kw), lambda a, b: TF.kl_div(a, b, **kw), [x, t], dtype, rng, scale=4)


@fuzz
@given(n=st.integers(1, 4), c=st.integers(1, 4), bad=st.sampled_from(["class", "shape", "dtype"]), seed=seeds())
def test_bad_targets_raise_like_torch(n, c, bad, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, c)).astype("float32")
    if bad == "class":
        target = rng.integers(0, c, (n,))
        target[0] = c + int(rng.integers(0, 3))
    elif bad == "shape":
        target = rng.integers(0, c, (n + 1,))
    else:
        target = rng.uniform(0, 1, (n,)).astype("float32")
    got = both_or_neither(lambda: F.cross_entropy(cnnkit.from_numpy(x), cnnkit.from_numpy(target.copy())),
                          lambda: TF.cross_entropy(torch.from_numpy(x), torch.from_numpy(target.copy())))
    assert got[0] is None  # each of these is an error in torch, so it is in cnnkit (checked inside)
