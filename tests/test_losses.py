"""The losses of cnnkit.nn / cnnkit.nn.functional: the pointwise-loss kernels against NumPy float64
references and their naive twin, float64 central-difference gradchecks, and every loss and option
combination against PyTorch (forward and backward, errors and warnings) when it is installed. The kernel
test takes the `device` fixture: the forward against NumPy within TOL (CUDA_TOL on CUDA: sums in double in
another order, contracted multiply-adds), the backward against the CPU twin on CUDA."""
import math
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import back, cuda_case, is_cuda, on, runs_twin

try:  # the comparisons use tiny tensors: torch's intra-op thread pool only adds latency to them
    import torch as _torch

    _torch.set_num_threads(1)
except ImportError:
    pass


def rng(seed):
    return np.random.default_rng(seed)


def randn(shape, dtype=np.float32, seed=0, scale=1.5):
    return (rng(seed).standard_normal(shape) * scale).astype(dtype)


def uniform(shape, lo, hi, dtype=np.float32, seed=0):
    return rng(seed).uniform(lo, hi, shape).astype(dtype)


def T(a, grad=False):
    return ck.tensor(np.asarray(a), requires_grad=grad)


def A(t):
    return np.asarray(t.detach()._t) if isinstance(t, ck.Tensor) else np.asarray(t)


def C(a):
    return _C.from_numpy(np.ascontiguousarray(a))


TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}
GTOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
CUDA_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


# ------------------------------------------------------------------------------------------------
# NumPy float64 references of the pointwise family (PyTorch's formulas)
# ------------------------------------------------------------------------------------------------
def np_pointwise(op, x, y, w=None, pw=None, p=1.0):
    x, y = x.astype(np.float64), y.astype(np.float64)
    w = 1.0 if w is None else w.astype(np.float64)
    pw = 1.0 if pw is None else pw.astype(np.float64)
    d = x - y
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "l1":
            return np.abs(d)
        if op == "smooth_l1":
            return np.where(np.abs(d) < p, 0.5 * d * d / p, np.abs(d) - 0.5 * p)
        if op == "huber":
            return np.where(np.abs(d) < p, 0.5 * d * d, p * (np.abs(d) - 0.5 * p))
        if op == "bce":
            return -w * (y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))
        if op == "bce_with_logits":
            log_sig = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
            return w * ((1 - y) * x - (1 + (pw - 1) * y) * log_sig)
        if op == "kl_div":
            return np.where(y == 0, 0.0, y * np.log(np.where(y == 0, 1, y))) - y * x
        if op == "kl_div_log_target":
            return np.exp(y) * (y - x)
        if op == "soft_margin":
            return np.log1p(np.exp(-y * x))
    raise AssertionError(op)


def reduce_np(v, reduction):
    return {"none": v, "sum": v.sum(), "mean": v.mean() if v.size else np.nan}[reduction]


def pointwise_data(op, shape, dtype, seed):
    x = randn(shape, dtype, seed)
    y = randn(shape, dtype, seed + 1)
    if op == "bce":
        x = uniform(shape, 0.02, 0.98, dtype, seed)
        y = uniform(shape, 0.0, 1.0, dtype, seed + 1)
    elif op == "bce_with_logits":
        y = uniform(shape, 0.0, 1.0, dtype, seed + 1)
    elif op == "kl_div":
        y = uniform(shape, 0.05, 1.0, dtype, seed + 1)
    elif op == "soft_margin":
        y = np.where(rng(seed + 1).random(shape) < 0.5, -1.0, 1.0).astype(dtype)
    return x, y


OPS = ["l1", "smooth_l1", "huber", "bce", "bce_with_logits", "kl_div", "kl_div_log_target", "soft_margin"]
PARAM = {"smooth_l1": 0.7, "huber": 1.3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 33), (2, 3, 5, 4), (), (0, 3),  # cuda_case: the CUDA twin test's
                                   cuda_case((33,)), cuda_case((3, 7, 5)), cuda_case((4099,)), cuda_case((0,))])
def test_pointwise_kernel_matches_numpy_and_naive(op, shape, dtype, device):
    x, y = pointwise_data(op, shape, dtype, seed=3)
    w = uniform(shape, 0.5, 2.0, dtype, 5) if op in ("bce", "bce_with_logits") else None
    pw = uniform(shape, 0.5, 3.0, dtype, 6) if op == "bce_with_logits" else None
    p = PARAM.get(op, 0.0)
    ref_el = np_pointwise(op, x, y, w, pw, p if p else 1.0)
    tol = (CUDA_TOL if is_cuda(device) else TOL)[dtype]

    def D(a):
        return None if a is None else on(a, device)

    for red in ("none", "sum", "mean"):
        args = (op, C(x), C(y), None if w is None else C(w), None if pw is None else C(pw), red, p)
        out = back(_C.pointwise_loss_forward(op, D(x), D(y), D(w), D(pw), red, p))
        np.testing.assert_allclose(out, reduce_np(ref_el, red), equal_nan=True, **tol)
        naive = A(_C.pointwise_loss_forward_naive(*args))
        if is_cuda(device) or x.size > 1000:  # CUDA, or the CPU's blocked sum of a long input: another order
            np.testing.assert_allclose(out, naive, equal_nan=True, **tol)
        else:
            np.testing.assert_array_equal(out, naive)
        if not runs_twin(device):
            continue  # the CPU backward is checked by central differences below
        g = rng(2).standard_normal(shape if red == "none" else ()).astype(dtype)
        cdx, cdy = _C.pointwise_loss_backward(op, C(g), *args[1:], True)
        ddx, ddy = _C.pointwise_loss_backward(op, D(g), D(x), D(y), D(w), D(pw), red, p, True)
        np.testing.assert_allclose(back(ddx), A(cdx), equal_nan=True, **tol)
        np.testing.assert_allclose(back(ddy), A(cdy), equal_nan=True, **tol)
        ddx2, none = _C.pointwise_loss_backward(op, D(g), D(x), D(y), D(w), D(pw), red, p, False)
        assert none is None
        np.testing.assert_allclose(back(ddx2), A(cdx), equal_nan=True, **tol)


@pytest.mark.parametrize("op", OPS)
def test_pointwise_kernel_gradient_central_differences(op):
    """d loss / d input and d loss / d target of the kernels against float64 central differences."""
    x, y = pointwise_data(op, (3, 5), np.float64, seed=11)
    if op in ("l1", "smooth_l1", "huber"):  # keep |d| away from the kinks
        d = x - y
        x = np.where(np.abs(np.abs(d) - PARAM.get(op, 0.0)) < 0.05, x + 0.2, x)
        x = np.where(np.abs(x - y) < 0.05, x + 0.2, x)
    w = uniform((3, 5), 0.5, 2.0, np.float64, 12) if op in ("bce", "bce_with_logits") else None
    pw = uniform((3, 5), 0.5, 3.0, np.float64, 13) if op == "bce_with_logits" else None
    p = PARAM.get(op, 0.0)
    g = randn((3, 5), np.float64, 14)
    eps = 1e-6
    for red in ("none", "sum", "mean"):
        gout = g if red == "none" else np.array(1.7)
        dx, dy = _C.pointwise_loss_backward(op, C(gout), C(x), C(y), None if w is None else C(w),
                                            None if pw is None else C(pw), red, p, True)

        def f(xx, yy):
            v = np_pointwise(op, xx, yy, w, pw, p if p else 1.0)
            return (v * g).sum() if red == "none" else 1.7 * reduce_np(v, red)

        for which, analytic in ((0, A(dx)), (1, A(dy))):
            if op == "soft_margin" and which == 1:
                continue
            num = np.zeros_like(x)
            for i in range(x.size):
                a, b = [x.copy(), y.copy()], [x.copy(), y.copy()]
                a[which].ravel()[i] += eps
                b[which].ravel()[i] -= eps
                num.ravel()[i] = (f(*a) - f(*b)) / (2 * eps)
            np.testing.assert_allclose(analytic, num, rtol=1e-5, atol=1e-7, err_msg=f"{op} {red} input {which}")


def test_pointwise_kernel_validates():
    x = C(randn((3, 4)))
    with pytest.raises(ValueError, match="unknown loss 'cubic'"):
        _C.pointwise_loss_forward("cubic", x, x)
    with pytest.raises(ValueError, match="broadcast it first"):
        _C.pointwise_loss_forward("l1", x, C(randn((4,))))
    with pytest.raises(TypeError, match="same dtype"):
        _C.pointwise_loss_forward("l1", x, C(randn((3, 4), np.float64)))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        _C.pointwise_loss_forward("l1", x, x, None, None, "avg")
    with pytest.raises(RuntimeError, match="does not support non-positive values for delta"):
        _C.pointwise_loss_forward("huber", x, x, None, None, "mean", 0.0)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        _C.pointwise_loss_forward("bce", x, C(np.full((3, 4), 0.5, np.float32)))
    with pytest.raises(ValueError, match="one-element grad_output"):
        _C.pointwise_loss_backward("l1", C(np.ones(2, np.float32)), x, x, None, None, "sum")


def test_pointwise_thread_count_independent():
    x, y = pointwise_data("bce_with_logits", (50000,), np.float32, seed=20)
    n0 = _C.get_num_threads()
    res = []
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        res.append(A(_C.pointwise_loss_forward("bce_with_logits", C(x), C(y), None, None, "sum")).copy())
    _C.set_num_threads(n0)
    np.testing.assert_array_equal(res[0], res[1])


def test_bce_log_clamp_and_extremes():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5], np.float32)
    out = A(F.binary_cross_entropy(T(x), T(y), reduction="none"))
    np.testing.assert_allclose(out, [100.0, 100.0, 0.0, 0.0, math.log(2)], rtol=1e-6)
    # the stable with-logits form does not overflow for large |x|
    big = np.array([-200.0, 200.0, 80.0], np.float32)
    out = A(F.binary_cross_entropy_with_logits(T(big), T(np.array([1.0, 0.0, 1.0], np.float32)), reduction="none"))
    np.testing.assert_allclose(out, [200.0, 200.0, 0.0], atol=1e-6)


# ------------------------------------------------------------------------------------------------
# float64 gradchecks of the public functions (central differences through autograd)
# ------------------------------------------------------------------------------------------------
def _g64(shape, seed, lo=None, hi=None):
    a = uniform(shape, lo, hi, np.float64, seed) if lo is not None else randn(shape, np.float64, seed)
    return T(a, grad=True)


GRADCHECK_CASES = [
    ("l1", lambda x, y: F.l1_loss(x, y + 0.0)),
    ("smooth_l1", lambda x, y: F.smooth_l1_loss(x, y, beta=0.4)),
    ("huber", lambda x, y: F.huber_loss(x, y, delta=0.8, reduction="sum")),
    ("mse_broadcast", lambda x, y: F.mse_loss(x, y[:1])),
    ("bce", lambda x, y: F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), weight=T(np.linspace(0.5, 2, 4)))),
    ("bce_logits", lambda x, y: F.binary_cross_entropy_with_logits(x, y.sigmoid(), weight=T(np.linspace(0.5, 2, 4)),
                                                                   pos_weight=T(np.linspace(1, 3, 4)))),
    ("kl_div", lambda x, y: F.kl_div(x, y.exp(), reduction="batchmean")),
    ("kl_div_log", lambda x, y: F.kl_div(x, y, reduction="sum", log_target=True)),
    ("soft_margin", lambda x, y: F.soft_margin_loss(x, y.detach().sign(), reduction="none")),
    ("margin_ranking", lambda x, y: F.margin_ranking_loss(x, y, T(np.sign(randn((3, 4), np.float64, 9))), 0.3)),
    ("hinge", lambda x, y: F.hinge_embedding_loss(x, T(np.sign(randn((3, 4), np.float64, 9))), margin=0.7)),
    ("cosine", lambda x, y: F.cosine_embedding_loss(x, y, T(np.array([1.0, -1.0, 1.0])), margin=-0.5)),
    ("gaussian", lambda x, y: F.gaussian_nll_loss(x, y, T(uniform((3, 4), 0.3, 2.0, np.float64, 8)), full=True)),
    ("gaussian_var", lambda x, y: F.gaussian_nll_loss(y, y * 0.5, x.abs()[:, :1] + 0.1, reduction="sum")),
    ("poisson", lambda x, y: F.poisson_nll_loss(x, y.abs() * 3, full=True)),
    ("poisson_lin", lambda x, y: F.poisson_nll_loss(x.abs() + 0.5, y.abs(), log_input=False, reduction="sum")),
]


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("name,fn", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradcheck_float64(name, fn):
    x, y = _g64((3, 4), 1), _g64((3, 4), 2)
    if name in ("l1", "smooth_l1", "huber", "hinge", "margin_ranking"):
        # finite differences need distance from the kinks: move x off them
        a = A(x).copy()
        for _ in range(3):
            d = a - A(y)
            a = np.where((np.abs(d) < 0.05) | (np.abs(np.abs(d) - 0.4) < 0.05) | (np.abs(np.abs(d) - 0.8) < 0.05)
                         | (np.abs(a - 0.7) < 0.05) | (np.abs(d + 0.3) < 0.05) | (np.abs(d - 0.3) < 0.05), a + 0.11, a)
        x = T(a, grad=True)
    assert gradcheck(fn, (x, y), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_cross_entropy_nll_kdim():
    x = _g64((2, 3, 4, 2), 30)
    t = T(np.array([[[0, 2], [1, -100], [2, 2], [0, 1]], [[1, 1], [0, 2], [-100, 0], [2, 1]]]))
    w = T(np.array([0.7, 1.3, 2.0]))
    assert gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.2), (x,))
    assert gradcheck(lambda a: F.nll_loss(a.log_softmax(1), t, weight=w, reduction="sum"), (x,))
    p = _g64((2, 3, 4, 2), 31)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b.softmax(1), weight=w, label_smoothing=0.1), (x, p))


# ------------------------------------------------------------------------------------------------
# against PyTorch
# ------------------------------------------------------------------------------------------------
def _run(lib, fn, arrays, grads, dtype):
    """fn(*tensors) with lib (cnnkit or torch); returns (output, [grad per requires-grad input])."""
    if lib is ck:
        ts = [ck.tensor(a, requires_grad=(i in grads)) for i, a in enumerate(arrays)]
    else:
        ts = [lib.tensor(a, requires_grad=(i in grads)) for i, a in enumerate(arrays)]
    out = fn(*ts)
    g = randn(tuple(out.shape), dtype, 99)
    gs = []
    if grads and out.requires_grad:
        out.backward(lib.tensor(g))
        gs = [ts[i].grad for i in sorted(grads)]
    return out, gs


def _np_out(t):
    return np.asarray(t.detach()._t) if isinstance(t, ck.Tensor) else t.detach().numpy()


def compare(fn_ck, fn_t, arrays, grads=(0,), dtype=np.float32, rtol=None, atol=None):
    torch = pytest.importorskip("torch")
    tol = dict(TOL[dtype])
    gtol = dict(GTOL[dtype])
    if rtol is not None:
        tol["rtol"] = gtol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = gtol["atol"] = atol
    o1, g1 = _run(ck, fn_ck, arrays, set(grads), dtype)
    o2, g2 = _run(torch, fn_t, arrays, set(grads), dtype)
    a, b = _np_out(o1), _np_out(o2)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, equal_nan=True, **tol)
    assert len(g1) == len(g2)
    for k, (x, y) in enumerate(zip(g1, g2)):
        assert (x is None) == (y is None), k
        if y is not None:
            np.testing.assert_allclose(_np_out(x), _np_out(y), equal_nan=True, err_msg=f"grad {k}", **gtol)


CE_SHAPES = [  # (input shape, target shape)
    ((5, 4), (5,)), ((4,), ()), ((1, 1), (1,)), ((3, 5, 7), (3, 7)), ((2, 4, 3, 5), (2, 3, 5)),
    ((2, 3, 2, 3, 4), (2, 2, 3, 4)), ((0, 3), (0,)),
]


def _targets(shape, n_cls, seed, ignore=None, frac=0.3):
    t = rng(seed).integers(0, n_cls, shape).astype(np.int64)
    if ignore is not None:
        t = np.where(rng(seed + 1).random(shape) < frac, ignore, t)
    return np.asarray(t)


CE_CASES = [(xs, ts, np.float32) for xs, ts in CE_SHAPES] + [(CE_SHAPES[0] + (np.float64,)),
                                                              (CE_SHAPES[4] + (np.float64,))]


@pytest.mark.parametrize("xs,ts,dtype", CE_CASES, ids=[f"{c[0]}-{c[2].__name__}" for c in CE_CASES])
def test_cross_entropy_nll_match_torch(xs, ts, dtype):
    torch = pytest.importorskip("torch")
    n_cls = xs[1] if len(xs) > 1 else xs[0]
    x = randn(xs, dtype, 1, scale=2.0)
    w = uniform((n_cls,), 0.3, 2.0, dtype, 2)
    for ignore in (None, 1, "all"):
        if ignore == "all":
            t = np.full(ts, 2 if n_cls > 2 else 0, np.int64)
            ii = int(t.ravel()[0]) if t.size else -100
        else:
            t = _targets(ts, n_cls, 3, ignore=ignore)
            ii = -100 if ignore is None else ignore
        for red in ("mean", "sum", "none"):
            for wt in (None, w):
                for ls in (0.0, 0.25):
                    kw = dict(ignore_index=ii, reduction=red, label_smoothing=ls)
                    compare(lambda a, b: F.cross_entropy(a, b, None if wt is None else T(wt), **kw),
                            lambda a, b: torch.nn.functional.cross_entropy(
                                a, b, None if wt is None else torch.tensor(wt), **kw), [x, t], dtype=dtype)
                kw = dict(ignore_index=ii, reduction=red)
                lp = np.asarray(torch.log_softmax(torch.tensor(x), 1 if len(xs) > 1 else 0).numpy())
                compare(lambda a, b: F.nll_loss(a, b, None if wt is None else T(wt), **kw),
                        lambda a, b: torch.nn.functional.nll_loss(a, b, None if wt is None else torch.tensor(wt), **kw),
                        [lp, t], dtype=dtype)


@pytest.mark.parametrize("xs", [(5, 4), (4,), (3, 5, 7), (2, 4, 3, 5), (2, 3, 2, 3, 2)])
def test_cross_entropy_probability_targets_match_torch(xs):
    torch = pytest.importorskip("torch")
    cdim = 1 if len(xs) > 1 else 0
    x = randn(xs, np.float32, 4, scale=2.0)
    p = rng(5).random(xs).astype(np.float32)
    p = p / p.sum(axis=cdim, keepdims=True)
    w = uniform((xs[cdim],), 0.3, 2.0, np.float32, 6)
    for red in ("mean", "sum", "none"):
        for wt in (None, w):
            for ls in (0.0, 0.3):
                kw = dict(reduction=red, label_smoothing=ls)
                compare(lambda a, b: F.cross_entropy(a, b, None if wt is None else T(wt), **kw),
                        lambda a, b: torch.nn.functional.cross_entropy(
                            a, b, None if wt is None else torch.tensor(wt), **kw), [x, p], grads=(0, 1))


def test_cross_entropy_all_ignored_is_nan_like_torch():
    torch = pytest.importorskip("torch")
    x = randn((3, 4))
    t = np.full(3, -100, np.int64)
    for ls in (0.0, 0.2):
        ours = F.cross_entropy(T(x, True), T(t), label_smoothing=ls)
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x, requires_grad=True), torch.tensor(t),
                                                   label_smoothing=ls)
        assert math.isnan(ours.item()) and math.isnan(theirs.item())
    assert math.isnan(F.nll_loss(T(x), T(t), weight=T(np.ones(4, np.float32))).item())
    assert F.nll_loss(T(x), T(t), reduction="sum").item() == 0.0


def _pw_inputs(kind, shape, dtype, seed):
    if kind == "bce":
        return uniform(shape, 0.02, 0.98, dtype, seed), uniform(shape, 0, 1, dtype, seed + 1)
    if kind == "logits":
        return randn(shape, dtype, seed, 3.0), uniform(shape, 0, 1, dtype, seed + 1)
    if kind == "kl":
        return np.log(uniform(shape, 0.05, 1, dtype, seed)), uniform(shape, 0.05, 1, dtype, seed + 1)
    if kind == "sign":
        return randn(shape, dtype, seed), np.where(rng(seed + 1).random(shape) < 0.5, -1, 1).astype(dtype)
    return randn(shape, dtype, seed), randn(shape, dtype, seed + 1)


REGRESSION = [  # (name, F kwargs, input kind, target differentiable)
    ("mse_loss", {}, "n", True), ("l1_loss", {}, "n", True), ("smooth_l1_loss", {}, "n", True),
    ("smooth_l1_loss", {"beta": 0.3}, "n", True), ("smooth_l1_loss", {"beta": 0.0}, "n", True),
    ("huber_loss", {}, "n", True), ("huber_loss", {"delta": 0.4}, "n", True),
    ("binary_cross_entropy", {}, "bce", True), ("binary_cross_entropy_with_logits", {}, "logits", True),
    ("kl_div", {"reduction_extra": "batchmean"}, "kl", True), ("kl_div", {"log_target": True}, "n", True),
    ("soft_margin_loss", {}, "sign", False),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 5), ()])
@pytest.mark.parametrize("name,kw,kind,tgrad", REGRESSION, ids=[f"{r[0]}{r[1]}" for r in REGRESSION])
def test_pointwise_losses_match_torch(name, kw, kind, tgrad, shape, dtype):
    torch = pytest.importorskip("torch")
    x, y = _pw_inputs(kind, shape, dtype, 7)
    kw = dict(kw)
    reds = ["mean", "sum", "none"] + ([kw.pop("reduction_extra")] if "reduction_extra" in kw else [])
    for red in reds:
        k = dict(kw, reduction=red)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compare(lambda a, b: getattr(F, name)(a, b, **k),
                    lambda a, b: getattr(torch.nn.functional, name)(a, b, **k), [x, y],
                    grads=(0, 1) if tgrad else (0,), dtype=dtype)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"])
def test_broadcasting_targets_warn_and_match_torch(name):
    torch = pytest.importorskip("torch")
    x, y = randn((3, 4), seed=8), randn((4,), seed=9)
    kl = name == "kl_div"  # kl_div broadcasts without a warning, as torch's does
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        compare(lambda a, b: getattr(F, name)(a, b, reduction="sum"),
                lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction="sum"), [x, y], grads=(0, 1))
    assert (len(rec) == 0) == kl
    if not kl:
        msgs = [str(r.message) for r in rec]
        assert any("Using a target size (cnnkit.Size([4])) that is different to the input size "
                   "(cnnkit.Size([3, 4])). This will likely lead to incorrect results due to broadcasting. "
                   "Please ensure they have the same size." == m for m in msgs), msgs
    # input broadcast against a larger target
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare(lambda a, b: getattr(F, name)(a, b), lambda a, b: getattr(torch.nn.functional, name)(a, b),
                [randn((3, 1), seed=10), randn((3, 5), seed=11)], grads=(0, 1))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_elementwise_weight_matches_torch(name):
    torch = pytest.importorskip("torch")
    x, y, w = randn((3, 5), seed=12), randn((3, 5), seed=13), uniform((3, 5), 0.2, 2, seed=14)
    for red in ("mean", "sum", "none"):
        compare(lambda a, b, c: getattr(F, name)(a, b, reduction=red, weight=c),
                lambda a, b, c: getattr(torch.nn.functional, name)(a, b, reduction=red, weight=c), [x, y, w],
                grads=(0, 1, 2))
    with pytest.raises(ValueError, match="^Weights and input must have the same size.$"):
        getattr(F, name)(T(x), T(y), weight=T(w[0]))


def test_bce_weights_and_pos_weight_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, y = _pw_inputs("bce", (4, 3, 5), np.float32, 15)
    z, _ = _pw_inputs("logits", (4, 3, 5), np.float32, 16)
    for wshape in [(5,), (3, 1), (4, 3, 5), (1, 1, 5)]:
        w = uniform(wshape, 0.2, 2, seed=17)
        for red in ("mean", "sum", "none"):
            compare(lambda a, b: F.binary_cross_entropy(a, b, T(w), reduction=red),
                    lambda a, b: tf.binary_cross_entropy(a, b, torch.tensor(w), reduction=red), [x, y], grads=(0, 1))
            for pw in (None, uniform((5,), 0.5, 4, seed=18)):
                compare(lambda a, b: F.binary_cross_entropy_with_logits(
                            a, b, T(w), reduction=red, pos_weight=None if pw is None else T(pw)),
                        lambda a, b: tf.binary_cross_entropy_with_logits(
                            a, b, torch.tensor(w), reduction=red, pos_weight=None if pw is None else torch.tensor(pw)),
                        [z, y], grads=(0, 1))


def test_composed_losses_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x1, x2 = randn((6, 5), seed=20), randn((6, 5), seed=21)
    ysign = np.where(rng(22).random((6, 5)) < 0.5, -1.0, 1.0).astype(np.float32)
    y1 = np.array([1, -1, 1, 1, -1, -1], np.float32)
    for red in ("mean", "sum", "none"):
        for m in (0.0, 0.4):
            compare(lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=m, reduction=red),
                    lambda a, b, c: tf.margin_ranking_loss(a, b, c, margin=m, reduction=red), [x1, x2, ysign],
                    grads=(0, 1))
            compare(lambda a, b: F.hinge_embedding_loss(a, b, margin=m + 0.6, reduction=red),
                    lambda a, b: tf.hinge_embedding_loss(a, b, margin=m + 0.6, reduction=red), [x1, ysign])
            compare(lambda a, b, c: F.cosine_embedding_loss(a, b, c, margin=m - 0.2, reduction=red),
                    lambda a, b, c: tf.cosine_embedding_loss(a, b, c, margin=m - 0.2, reduction=red), [x1, x2, y1],
                    grads=(0, 1))
        compare(lambda a, b, c: F.cosine_embedding_loss(a, b, c, reduction=red),
                lambda a, b, c: tf.cosine_embedding_loss(a, b, c, reduction=red),
                [x1[0], x2[0], np.array(-1.0, np.float32)], grads=(0, 1))
        for full in (False, True):
            var = uniform((6, 5), 0.0, 2, seed=23)
            var[0, 0] = 0.0  # clamped at eps
            for v in (var, var[:, :1], var[:, 0]):
                compare(lambda a, b, c: F.gaussian_nll_loss(a, b, c, full=full, reduction=red),
                        lambda a, b, c: tf.gaussian_nll_loss(a, b, c, full=full, reduction=red), [x1, x2, v],
                        grads=(0, 1, 2), rtol=1e-4)
            counts = rng(24).poisson(2.0, (6, 5)).astype(np.float32)
            # full: torch's target gradient is NaN where a target is 0 (0 * log 0 through masked_fill); ours is
            # finite there, so the target gradient is compared only without Stirling's term
            compare(lambda a, b: F.poisson_nll_loss(a, b, full=full, reduction=red),
                    lambda a, b: tf.poisson_nll_loss(a, b, full=full, reduction=red), [x1, counts],
                    grads=(0,) if full else (0, 1))
            compare(lambda a, b: F.poisson_nll_loss(a, b, log_input=False, full=full, reduction=red),
                    lambda a, b: tf.poisson_nll_loss(a, b, log_input=False, full=full, reduction=red),
                    [np.abs(x1) + 0.1, counts], grads=(0,) if full else (0, 1))


# ------------------------------------------------------------------------------------------------
# errors and warnings: type and message as PyTorch's
# ------------------------------------------------------------------------------------------------
def _err(lib, f):
    try:
        f(lib)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e).replace("torch.Size", "cnnkit.Size")
    return None


ERROR_CASES = [
    ("ce int32 target", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 3]).to(L.float32))),
    ("ce out of range", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 7]))),
    ("ce negative", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, -3, 2]))),
    ("ce kdim out of range", lambda L: L.nn.functional.cross_entropy(L.randn(2, 3, 4), L.full((2, 4), 5).long())),
    ("nll out of range", lambda L: L.nn.functional.nll_loss(L.randn(3, 4), L.tensor([1, 2, -1]))),
    ("ce batch", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2]))),
    ("ce 3d batch", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4, 5), L.zeros(2, 5).long())),
    ("ce 3d size", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4, 5), L.zeros(3, 6).long())),
    ("ce 4d dims", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4, 5, 6), L.zeros(3, 5).long())),
    ("ce 4d size", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4, 5, 6), L.zeros(3, 5, 7).long())),
    ("ce 5d size", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4, 5, 6, 2), L.zeros(3, 5, 7).long())),
    ("ce 2d multi", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.zeros(3, 1).long())),
    ("ce 1d target", lambda L: L.nn.functional.cross_entropy(L.randn(4), L.zeros(2).long())),
    ("ce prob long", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.zeros(3, 4).long())),
    ("ce prob ignore", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.rand(3, 4), ignore_index=1)),
    ("ce weight", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 3]), weight=L.ones(3))),
    ("ce weight dtype", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 3]),
                                                                weight=L.ones(4).double())),
    ("ce smoothing", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 3]), label_smoothing=1.5)),
    ("ce prob smoothing", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.rand(3, 4), label_smoothing=1.5)),
    ("ce reduction", lambda L: L.nn.functional.cross_entropy(L.randn(3, 4), L.tensor([1, 2, 3]), reduction="avg")),
    ("nll bool target", lambda L: L.nn.functional.nll_loss(L.randn(3, 4), L.zeros(3).bool())),
    ("l1 reduction", lambda L: L.nn.functional.l1_loss(L.randn(3), L.randn(3), reduction="foo")),
    ("bce input range", lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5, 1.5]), L.tensor([0.0, 1.0]))),
    ("bce target range", lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5, 0.5]), L.tensor([0.0, 1.5]))),
    ("bce nan input", lambda L: L.nn.functional.binary_cross_entropy(L.tensor([float("nan")]), L.tensor([0.0]))),
    ("bce size", lambda L: L.nn.functional.binary_cross_entropy(L.tensor([0.5, 0.5]), L.tensor([0.0]))),
    ("bcel size", lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.randn(2), L.rand(1))),
    ("l1 broadcast", lambda L: L.nn.functional.l1_loss(L.randn(3), L.randn(4))),
    ("mse broadcast", lambda L: L.nn.functional.mse_loss(L.randn(2, 3), L.randn(2, 4))),
    ("bcel pos_weight", lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.randn(2, 3), L.rand(2, 3),
                                                                                  pos_weight=L.ones(4))),
    ("huber delta", lambda L: L.nn.functional.huber_loss(L.randn(3), L.randn(3), delta=0.0)),
    ("smooth beta", lambda L: L.nn.functional.smooth_l1_loss(L.randn(3), L.randn(3), beta=-1.0)),
    ("margin dims", lambda L: L.nn.functional.margin_ranking_loss(L.randn(3), L.randn(3), L.randn(3, 1))),
    ("cosine target dim", lambda L: L.nn.functional.cosine_embedding_loss(L.randn(3, 2), L.randn(3, 2),
                                                                         L.ones(3, 1))),
    ("cosine 1d target", lambda L: L.nn.functional.cosine_embedding_loss(L.randn(3), L.randn(3), L.ones(3))),
    ("cosine 0d target", lambda L: L.nn.functional.cosine_embedding_loss(L.randn(3, 2), L.randn(3, 2),
                                                                        L.tensor(1.0))),
    ("gaussian negative var", lambda L: L.nn.functional.gaussian_nll_loss(L.randn(3, 2), L.randn(3, 2), -L.ones(3, 2))),
    ("gaussian var size", lambda L: L.nn.functional.gaussian_nll_loss(L.randn(3, 2), L.randn(3, 2), L.ones(2, 3))),
    ("gaussian reduction", lambda L: L.nn.functional.gaussian_nll_loss(L.randn(3), L.randn(3), 1.0, reduction="x")),
    ("poisson reduction", lambda L: L.nn.functional.poisson_nll_loss(L.randn(3), L.randn(3), reduction="x")),
    ("soft margin target grad", lambda L: L.nn.functional.soft_margin_loss(L.randn(3),
                                                                           L.randn(3).requires_grad_())),
]


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("name,f", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_match_torch(name, f):
    torch = pytest.importorskip("torch")
    theirs = _err(torch, f)
    assert theirs is not None, "torch raised nothing"
    assert _err(ck, f) == theirs


def test_kl_div_mean_warning_and_legacy_args():
    torch = pytest.importorskip("torch")
    x, y = T(randn((3, 4))), T(uniform((3, 4), 0.1, 1))
    with pytest.warns(UserWarning) as rec:
        F.kl_div(x, y)
        torch.nn.functional.kl_div(torch.tensor(A(x)), torch.tensor(A(y)))
    assert len(rec) == 2 and str(rec[0].message) == str(rec[1].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, y, reduction="batchmean")
    with pytest.warns(UserWarning) as rec:  # legacy arguments: only the deprecation warning, as torch
        s = F.kl_div(x, y, size_average=False)
    assert [str(r.message) for r in rec] == ["size_average and reduce args will be deprecated, please use "
                                             "reduction='sum' instead."]
    np.testing.assert_allclose(A(s), A(F.kl_div(x, y, reduction="sum")))
    with pytest.warns(UserWarning, match=r"please use reduction='sum' instead"):
        s = F.l1_loss(x, y, size_average=False)
    np.testing.assert_allclose(A(s), A(F.l1_loss(x, y, reduction="sum")))
    with pytest.warns(UserWarning, match=r"please use reduction='none' instead"):
        assert tuple(F.binary_cross_entropy(y, y, reduce=False).shape) == (3, 4)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.l1_loss(x, [1.0, 2.0])


def test_uint8_targets_and_unbatched():
    torch = pytest.importorskip("torch")
    x = randn((5, 3), seed=30)
    t = np.array([0, 2, 1, 1, 0], np.uint8)
    np.testing.assert_allclose(A(F.cross_entropy(T(x), T(t))),
                               torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).numpy(), rtol=1e-6)
    # a (C,) input takes a 0-d target (or a (1,) one, as torch); the result is 0-d for every reduction
    for red in ("none", "mean", "sum"):
        for tt in (np.array(2), np.array([2])):
            ours = F.cross_entropy(T(x[0]), T(tt), reduction=red)
            theirs = torch.nn.functional.cross_entropy(torch.tensor(x[0]), torch.tensor(tt), reduction=red)
            assert tuple(ours.shape) == tuple(theirs.shape) == ()
            np.testing.assert_allclose(A(ours), theirs.numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# modules
# ------------------------------------------------------------------------------------------------
MODULES = [
    ("CrossEntropyLoss", {}, {"ignore_index": -100, "reduction": "mean", "label_smoothing": 0.0}),
    ("NLLLoss", {"ignore_index": 3}, {"ignore_index": 3, "reduction": "mean"}),
    ("MSELoss", {"reduction": "sum"}, {"reduction": "sum"}),
    ("L1Loss", {}, {"reduction": "mean"}),
    ("SmoothL1Loss", {"beta": 0.5}, {"beta": 0.5, "reduction": "mean"}),
    ("HuberLoss", {"delta": 2.0}, {"delta": 2.0, "reduction": "mean"}),
    ("BCELoss", {}, {"reduction": "mean"}),
    ("BCEWithLogitsLoss", {}, {"reduction": "mean"}),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, {"reduction": "batchmean", "log_target": True}),
    ("MarginRankingLoss", {"margin": 0.2}, {"margin": 0.2, "reduction": "mean"}),
    ("HingeEmbeddingLoss", {}, {"margin": 1.0, "reduction": "mean"}),
    ("SoftMarginLoss", {}, {"reduction": "mean"}),
    ("CosineEmbeddingLoss", {}, {"margin": 0.0, "reduction": "mean"}),
    ("GaussianNLLLoss", {"full": True}, {"full": True, "eps": 1e-6, "reduction": "mean"}),
    ("PoissonNLLLoss", {"log_input": False}, {"log_input": False, "full": False, "eps": 1e-8, "reduction": "mean"}),
]


@pytest.mark.parametrize("name,kw,attrs", MODULES, ids=[m[0] for m in MODULES])
def test_modules_mirror_torch(name, kw, attrs):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    for k, v in attrs.items():
        assert getattr(ours, k) == getattr(theirs, k) == v, k
    assert getattr(type(ours), "__constants__", None) == getattr(type(theirs), "__constants__", None)
    assert [c.__name__ for c in type(ours).__mro__[1:3]] == [c.__name__ for c in type(theirs).__mro__[1:3]]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_weighted_modules_buffers_and_forward():
    torch = pytest.importorskip("torch")
    w = uniform((4,), 0.5, 2, seed=40)
    for name in ("CrossEntropyLoss", "NLLLoss"):
        ours, theirs = getattr(nn, name)(weight=T(w)), getattr(torch.nn, name)(weight=torch.tensor(w))
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        assert isinstance(ours.weight, ck.Tensor)
    bl = nn.BCEWithLogitsLoss(weight=T(w), pos_weight=T(w * 2))
    assert list(bl.state_dict()) == ["weight", "pos_weight"]
    x, y = randn((3, 4), seed=41), uniform((3, 4), 0, 1, seed=42)
    np.testing.assert_allclose(
        A(bl(T(x), T(y))),
        torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(w * 2))(
            torch.tensor(x), torch.tensor(y)).numpy(), rtol=1e-6)
    ce = nn.CrossEntropyLoss(weight=T(w), ignore_index=1, label_smoothing=0.1, reduction="sum")
    t = np.array([0, 1, 3], np.int64)
    np.testing.assert_allclose(
        A(ce(T(x), T(t))),
        torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1, reduction="sum")(
            torch.tensor(x), torch.tensor(t)).numpy(), rtol=1e-6)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        m = nn.L1Loss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.NLLLoss(reduce=False).reduction == "none"


def test_reexports():
    from cnnkit._functions import loss as L
    from cnnkit._functions.nn import CrossEntropyFn, cross_entropy, mse_loss, nll_loss

    assert cross_entropy is L.cross_entropy and nll_loss is L.nll_loss and mse_loss is L.mse_loss
    assert CrossEntropyFn is L.CrossEntropyFn
    for name in L.__all__:
        assert getattr(F, name) is getattr(L, name), name


def test_cross_entropy_kdim_backward_tiles_match_torch_and_threads():
    """K-dim backward sweeps tiles of 512 spatial positions: sizes across tile edges, several threads."""
    torch = pytest.importorskip("torch")
    x = randn((3, 5, 37, 31), seed=50, scale=2.0)  # S = 1147: two full tiles and a partial one
    t = _targets((3, 37, 31), 5, 51, ignore=2, frac=0.2)
    w = uniform((5,), 0.3, 2.0, seed=52)
    for red in ("mean", "sum", "none"):
        kw = dict(ignore_index=2, reduction=red, label_smoothing=0.15)
        compare(lambda a, b: F.cross_entropy(a, b, T(w), **kw),
                lambda a, b: torch.nn.functional.cross_entropy(a, b, torch.tensor(w), **kw), [x, t])
    n0 = _C.get_num_threads()
    res = []
    loss, logp = _C.cross_entropy_forward(C(x), C(t), C(w), 2, "mean", 0.15)
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        res.append(A(_C.cross_entropy_backward(C(np.array(1.0, np.float32)), logp, C(t), C(w), 2, "mean", 0.15)))
    _C.set_num_threads(n0)
    np.testing.assert_array_equal(res[0], res[1])
