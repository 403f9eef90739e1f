"""softmax / log_softmax, cross_entropy, nll_loss, mse_loss: the _C kernels against NumPy float64
references, central differences and PyTorch. The softmax / log_softmax, cross_entropy (class and probability
targets), nll_loss and mse_loss kernel tests take the `device` fixture: values within TOL on the CPU and
CUDA_TOL on CUDA (its expf/logf are a few ulp from libm's, sums run in another order and multiply-adds are
contracted into FMAs); gradients against central differences of the float64 reference at the same tolerance on
both (float32 1e-4, float64 1e-6: the differences' own error dominates). Bad targets raise the CPU's
IndexError on both (checked on the device)."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, cuda_extras, is_cuda, on, runs_twin

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
CUDA_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def rand(shape, dtype, seed=0, scale=2.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def C(a):
    return _C.from_numpy(np.asarray(a))


def A(t):
    return np.asarray(t)


def io(device):
    """(to_tensor, to_numpy) for `device` (the kernel tests of the losses run on each device)."""
    return (lambda a: on(np.asarray(a), device)), back


def dev_tol(dtype, device):
    """TOL on the CPU, CUDA_TOL on CUDA (other summation order for the reductions, libdevice exp/log)."""
    return (CUDA_TOL if is_cuda(device) else TOL)[dtype]


def num_atol(device):
    """float64 absolute tolerance against central differences: 1e-8, or 1e-7 where the [cuda] half's larger
    cases run (their sums reach ~100, so the differences' rounding error reaches ~4e-8)."""
    return 1e-7 if cuda_extras(device) else 1e-8


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.ravel()[i] += eps
        xm.ravel()[i] -= eps
        g.ravel()[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


# ------------------------------------------------------------------------------------------------
# softmax / log_softmax
# ------------------------------------------------------------------------------------------------
def ref_softmax(x, dim):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def ref_log_softmax(x, dim):
    x = x.astype(np.float64)
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


SOFTMAX_CASES = [((7,), 0), ((3, 33), 1), ((3, 33), 0), ((2, 3, 7, 5), 1), ((2, 3, 7, 5), -1), ((2, 5, 300), 1),
                 ((1, 1), 1), ((4, 1, 3), 1), ((2, 130, 3), -2)]
# the CUDA twin test's cases, run by the [cuda] half only: rows longer than a CUDA block, a reduced dim that is
# not innermost, one row of 70000
DEVICE_SOFTMAX_CASES = SOFTMAX_CASES + [
    cuda_case((2, 3, 5, 7), 1), cuda_case((2, 3, 5, 7), -1), cuda_case((2, 3, 5, 7), 2), cuda_case((4, 1000), -1),
    cuda_case((33, 7), 0), cuda_case((5, 4, 129), 1), cuda_case((1, 70000), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", DEVICE_SOFTMAX_CASES)
def test_softmax_matches_numpy(shape, dim, dtype, device):
    tol = (CUDA_TOL if is_cuda(device) else TOL)[dtype]
    x = rand(shape, dtype)
    g = rand(shape, dtype, seed=1, scale=1.0)
    y_t = _C.softmax_forward(on(x, device), dim)
    ly_t = _C.log_softmax_forward(on(x, device), dim)
    assert y_t.device == device
    y, ly = back(y_t), back(ly_t)
    np.testing.assert_allclose(y, ref_softmax(x, dim), **tol)
    np.testing.assert_allclose(ly, ref_log_softmax(x, dim), **tol)
    y64, ly64, g64 = ref_softmax(x, dim), ref_log_softmax(x, dim), g.astype(np.float64)
    dref = y64 * (g64 - (g64 * y64).sum(axis=dim, keepdims=True))
    ldref = g64 - np.exp(ly64) * g64.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(back(_C.softmax_backward(on(g, device), y_t, dim)), dref, **tol)
    np.testing.assert_allclose(back(_C.log_softmax_backward(on(g, device), ly_t, dim)), ldref, **tol)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_numeric_gradient(log):
    x = rand((3, 4, 5), np.float64, seed=2)
    g = rand((3, 4, 5), np.float64, seed=3)
    fwd = _C.log_softmax_forward if log else _C.softmax_forward
    bwd = _C.log_softmax_backward if log else _C.softmax_backward
    y = fwd(C(x), 1)
    dx = A(bwd(C(g), y, 1))
    num = numeric_grad(lambda z: (A(fwd(C(z), 1)) * g).sum(), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_softmax_stability_and_special_cases(device):
    def sm(a, dim):
        return back(_C.softmax_forward(on(a, device), dim))

    def lsm(a, dim):
        return back(_C.log_softmax_forward(on(a, device), dim))

    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -1002.0]], np.float32)
    y = sm(x, 1)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, ref_softmax(x, 1), rtol=1e-6)
    np.testing.assert_allclose(lsm(x, 1), ref_log_softmax(x, 1), rtol=1e-6)
    xn = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], np.float32)
    yn = sm(xn, 1)
    assert np.all(np.isnan(yn[0])) and np.all(np.isfinite(yn[1]))
    # -inf entries (masking) get probability 0; a slice of only -inf is NaN, as in PyTorch
    xm = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]], np.float32)
    ym = sm(xm, 1)
    np.testing.assert_allclose(ym[0], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)], rtol=1e-6)
    assert np.all(np.isnan(ym[1]))
    assert lsm(xm, 1)[0, 1] == -np.inf
    # 0-d input: softmax of a scalar is 1, log_softmax 0
    assert sm(np.array(3.0), 0) == 1.0
    assert lsm(np.array(3.0), -1) == 0.0
    # a transposed view made on the device
    base = rand((5, 6), np.float64)
    got = back(_C.softmax_forward(on(base, device).transpose(0, 1), 1))
    np.testing.assert_allclose(got, ref_softmax(base.T, 1), rtol=1e-13 if not is_cuda(device) else 1e-11)
    if runs_twin(device):  # NaN, -inf rows and huge values: the device agrees with the CPU kernel
        xs = np.array([[0.0, np.nan, 1.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [1e30, 1e30, -1e30]],
                      np.float32)
        for f in (_C.softmax_forward, _C.log_softmax_forward):
            np.testing.assert_allclose(back(f(on(xs, device), 1)), A(f(C(xs), 1)), rtol=1e-5, atol=1e-6,
                                       equal_nan=True)


def test_softmax_bad_inputs():
    x = C(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.softmax_forward(x, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.log_softmax_forward(C(np.zeros(3, np.int64)), 0)
    with pytest.raises(ValueError, match="shape"):
        _C.softmax_backward(x, C(np.zeros((3, 2), np.float32)), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    for shape, dim in SOFTMAX_CASES:
        x = rand(shape, dtype, seed=4)
        g = rand(shape, dtype, seed=5)
        for log, tf in ((False, torch.softmax), (True, torch.log_softmax)):
            tx = torch.from_numpy(x).requires_grad_()
            ty = tf(tx, dim)
            (tdx,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
            fwd = _C.log_softmax_forward if log else _C.softmax_forward
            bwd = _C.log_softmax_backward if log else _C.softmax_backward
            y = fwd(C(x), dim)
            tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(A(y), ty.detach().numpy(), **tol)
            np.testing.assert_allclose(A(bwd(C(g), y, dim)), tdx.numpy(), **tol)


# ------------------------------------------------------------------------------------------------
# cross_entropy / nll_loss references (float64, class axis moved last)
# ------------------------------------------------------------------------------------------------
def ref_nll(logp, t, w, ii, red):
    lp = np.moveaxis(logp.astype(np.float64), 1, -1) if logp.ndim > 1 else logp.astype(np.float64)[None]
    tt = t if logp.ndim > 1 else t[None]
    n_cls = lp.shape[-1]
    wv = np.ones(n_cls) if w is None else w.astype(np.float64)
    keep = tt != ii
    safe = np.where(keep, tt, 0)
    picked = np.take_along_axis(lp, safe[..., None], -1)[..., 0]
    per = np.where(keep, -wv[safe] * picked, 0.0)
    tw = np.where(keep, wv[safe], 0.0).sum()
    if red == "none":
        return per if logp.ndim > 1 else per[0], tw
    return (per.sum() / tw if red == "mean" else per.sum()), tw


def ref_cross_entropy(x, t, w, ii, red, ls):
    lp = ref_log_softmax(x, 1 if x.ndim > 1 else 0)
    n_cls = x.shape[1] if x.ndim > 1 else x.shape[0]
    wv = np.ones(n_cls) if w is None else w.astype(np.float64)
    lpl = np.moveaxis(lp, 1, -1) if x.ndim > 1 else lp[None]
    if t.dtype != np.int64:  # probabilities
        tl = np.moveaxis(t.astype(np.float64), 1, -1) if x.ndim > 1 else t.astype(np.float64)[None]
        tl = tl * (1 - ls) + ls / n_cls
        per = -(lpl * tl * wv).sum(-1)
        if red == "none":
            return per if x.ndim > 1 else per[0]
        return per.sum() / per.size if red == "mean" else per.sum()
    nll, tw = ref_nll(lp, t, w, ii, red)
    tt = t if x.ndim > 1 else t[None]
    smooth = np.where(tt != ii, -(lpl * wv).sum(-1), 0.0)
    if red == "none":
        smooth = smooth if x.ndim > 1 else smooth[0]
    elif red == "sum":
        smooth = smooth.sum()
    else:
        smooth = smooth.sum() / tw
    return (1 - ls) * nll + ls / n_cls * smooth


def targets(shape_nd, n_cls, seed, ignore=None, frac=0.3):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, n_cls, size=shape_nd).astype(np.int64)
    if ignore is not None:
        t[rng.random(shape_nd) < frac] = ignore
    return t


# (logits shape, target shape)
CE_SHAPES = [((5, 7), (5,)), ((1, 3), (1,)), ((7,), ()), ((2, 4, 3, 5), (2, 3, 5)), ((3, 33, 2), (3, 2))]
# The CUDA twin test's shapes on top (one class, more blocks, long rows): [cuda] only.
CUDA_CE_SHAPES = [((1, 1), (1,)), ((3, 4, 5), (3, 5)), ((2, 3, 4, 5), (2, 4, 5)), ((33, 10), (33,)), ((4, 300), (4,))]
DEVICE_CE_SHAPES = CE_SHAPES + [cuda_case(s) for s in CUDA_CE_SHAPES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", DEVICE_CE_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_matches_numpy(shapes, reduction, weighted, ls, dtype, device):
    C, A = io(device)
    xs, ts = shapes
    n_cls = xs[1] if len(xs) > 1 else xs[0]
    x = rand(xs, dtype, seed=10)
    t = targets(ts, n_cls, seed=11, ignore=-100 if len(ts) else None)
    if len(ts) and np.all(t == -100):
        t.ravel()[0] = min(1, n_cls - 1)
    w = np.random.default_rng(12).uniform(0.5, 2.0, n_cls).astype(dtype) if weighted else None
    loss, logp = _C.cross_entropy_forward(C(x), C(t), None if w is None else C(w), -100, reduction, ls)
    ref = ref_cross_entropy(x, t, w, -100, reduction, ls)
    np.testing.assert_allclose(A(loss), ref, **dev_tol(dtype, device))
    np.testing.assert_allclose(A(logp), ref_log_softmax(x, 1 if x.ndim > 1 else 0), **dev_tol(dtype, device))
    # backward against central differences of the float64 reference
    g = rand(np.shape(ref), np.float64, seed=13)
    dx = A(_C.cross_entropy_backward(C(g.astype(dtype)), logp, C(t), None if w is None else C(w), -100, reduction, ls))
    num = numeric_grad(lambda z: (ref_cross_entropy(z, t, w, -100, reduction, ls) * g).sum(), x.astype(np.float64))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-6, atol=num_atol(device))
    np.testing.assert_allclose(dx, num, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cross_entropy_probability_targets(reduction, ls, dtype, device):
    C, A = io(device)
    extra = [(5, 7), (2, 3, 4, 5), (3, 33)] if cuda_extras(device) else []  # the CUDA twin test's shapes
    for xs in [(4, 5), (2, 3, 4, 2), (6,)] + extra:
        x = rand(xs, dtype, seed=20)
        p = np.random.default_rng(21).random(xs)
        p = (p / p.sum(axis=1 if len(xs) > 1 else 0, keepdims=True)).astype(dtype)
        n_cls = xs[1] if len(xs) > 1 else xs[0]
        for w in (None, np.linspace(0.5, 1.5, n_cls).astype(dtype)):
            loss, logp = _C.cross_entropy_forward(C(x), C(p), None if w is None else C(w), -100, reduction, ls)
            ref = ref_cross_entropy(x, p, w, -100, reduction, ls)
            np.testing.assert_allclose(A(loss), ref, **dev_tol(dtype, device))
            g = rand(np.shape(ref), np.float64, seed=22)
            dx = A(_C.cross_entropy_backward(C(g.astype(dtype)), logp, C(p), None if w is None else C(w), -100,
                                             reduction, ls))
            num = numeric_grad(lambda z: (ref_cross_entropy(z, p, w, -100, reduction, ls) * g).sum(),
                               x.astype(np.float64))
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-6, atol=num_atol(device))
            np.testing.assert_allclose(dx, num, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", DEVICE_CE_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_numpy(shapes, reduction, dtype, device):
    C, A = io(device)
    xs, ts = shapes
    n_cls = xs[1] if len(xs) > 1 else xs[0]
    logp = rand(xs, dtype, seed=30)
    ii = 3 if len(ts) else -100  # a 0-d target is never ignored here
    t = targets(ts, n_cls, seed=31, ignore=ii if len(ts) else None)
    if np.all(t == ii):
        t.ravel()[0] = 0
    w = np.random.default_rng(32).uniform(0.5, 2.0, n_cls).astype(dtype)
    for wt in (None, w):
        loss, tw = _C.nll_loss_forward(C(logp), C(t), None if wt is None else C(wt), ii, reduction)
        ref, rtw = ref_nll(logp, t, wt, ii, reduction)
        np.testing.assert_allclose(A(loss), ref, **dev_tol(dtype, device))
        np.testing.assert_allclose(A(tw), rtw, **dev_tol(dtype, device))
        g = rand(np.shape(ref), dtype, seed=33)
        dlp = A(_C.nll_loss_backward(C(g), list(xs), C(t), None if wt is None else C(wt), ii, reduction, tw))
        num = numeric_grad(lambda z: (ref_nll(z, t, wt, ii, reduction)[0] * g).sum(), logp.astype(np.float64))
        np.testing.assert_allclose(dlp, num, rtol=1e-5, atol=1e-6)
        # total_weight may also be passed as a Python number
        dlp2 = A(_C.nll_loss_backward(C(g), list(xs), C(t), None if wt is None else C(wt), ii, reduction,
                                      float(A(tw))))
        np.testing.assert_array_equal(dlp, dlp2)


def test_all_targets_ignored_mean_is_nan(device):
    C, A = io(device)
    x = rand((3, 4), np.float32)
    t = np.full(3, -100, np.int64)
    loss, logp = _C.cross_entropy_forward(C(x), C(t), None, -100, "mean", 0.0)
    assert np.isnan(A(loss))
    loss2, _ = _C.cross_entropy_forward(C(x), C(t), None, -100, "sum", 0.0)
    assert A(loss2) == 0
    nl, tw = _C.nll_loss_forward(logp, C(t), None, -100, "mean")
    assert np.isnan(A(nl)) and A(tw) == 0


def test_cross_entropy_bad_inputs(device):
    C, A = io(device)
    x = C(rand((3, 5), np.float32))
    with pytest.raises(IndexError, match=r"^Target 7 is out of bounds\.$"):
        _C.cross_entropy_forward(x, C(np.array([1, 2, 7])), None, -100, "mean", 0.0)
    with pytest.raises(IndexError, match=r"Target -1 is out of bounds"):
        _C.cross_entropy_forward(x, C(np.array([1, -1, 2])), None, -100, "mean", 0.0)
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds"):
        _C.nll_loss_forward(x, C(np.array([1, 5, 2])), None, -100, "sum")
    with pytest.raises(TypeError, match="int64"):
        _C.cross_entropy_forward(x, C(np.array([1.0, 2.0, 3.0], np.float32)), None, -100, "mean", 0.0)
    with pytest.raises(TypeError, match="int64"):
        _C.nll_loss_forward(x, C(np.array([1.0, 2.0, 3.0])), None, -100, "mean")
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        _C.cross_entropy_forward(x, C(np.array([1, 2])), None, -100, "mean", 0.0)
    with pytest.raises(ValueError, match="target of shape"):
        _C.cross_entropy_forward(C(rand((2, 3, 4), np.float32)), C(np.zeros((2, 5), np.int64)), None, -100, "mean", 0.0)
    with pytest.raises(ValueError, match="0-d"):
        _C.cross_entropy_forward(C(np.array(1.0, np.float32)), C(np.array(0)), None, -100, "mean", 0.0)
    with pytest.raises(ValueError, match="for all 5 classes"):
        _C.cross_entropy_forward(x, C(np.array([1, 2, 3])), C(np.ones(3, np.float32)), -100, "mean", 0.0)
    with pytest.raises(TypeError, match="same dtype"):
        _C.cross_entropy_forward(x, C(np.array([1, 2, 3])), C(np.ones(5, np.float64)), -100, "mean", 0.0)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        _C.cross_entropy_forward(x, C(np.array([1, 2, 3])), None, -100, "avg", 0.0)
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        _C.cross_entropy_forward(x, C(np.array([1, 2, 3])), None, -100, "mean", 1.5)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.cross_entropy_forward(C(np.zeros((3, 5), np.int64)), C(np.array([1, 2, 3])), None, -100, "mean", 0.0)
    loss, logp = _C.cross_entropy_forward(x, C(np.array([1, 2, 3])), None, -100, "none", 0.0)
    with pytest.raises(ValueError, match="grad_output"):
        _C.cross_entropy_backward(C(np.ones(4, np.float32)), logp, C(np.array([1, 2, 3])), None, -100, "none", 0.0)
    with pytest.raises(IndexError, match="Target 9 is out of bounds"):
        _C.cross_entropy_backward(C(np.ones(3, np.float32)), logp, C(np.array([1, 9, 3])), None, -100, "none", 0.0)
    if cuda_extras(device):  # the first bad target is reported (on CUDA, checked on the device), huge ones too
        x6 = C(rand((6, 5), np.float32))
        for bad in (5, -1, 1 << 40):
            t = C(np.array([0, 1, bad, 2, 9, -3], np.int64))
            with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
                _C.cross_entropy_forward(x6, t, None, -100, "mean", 0.0)
            with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
                _C.nll_loss_forward(x6, t, None, -100, "mean")
        loss, _ = _C.cross_entropy_forward(x6, C(np.zeros(6, np.int64)), None, -100, "mean", 0.0)
        assert np.isfinite(A(loss))  # the device keeps working


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_match_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    for xs, ts in CE_SHAPES:
        n_cls = xs[1] if len(xs) > 1 else xs[0]
        x = rand(xs, dtype, seed=40)
        t = targets(ts, n_cls, seed=41, ignore=1 if len(ts) else None, frac=0.2)
        w = np.random.default_rng(42).uniform(0.5, 2.0, n_cls).astype(dtype)
        for red in ("mean", "sum", "none"):
            for wt in (None, w):
                for ls in (0.0, 0.15):
                    tx = torch.from_numpy(x).requires_grad_()
                    tl = F.cross_entropy(tx, torch.from_numpy(t), None if wt is None else torch.from_numpy(wt),
                                         ignore_index=1, reduction=red, label_smoothing=ls)
                    g = rand(tuple(tl.shape), dtype, seed=43)
                    (tdx,) = torch.autograd.grad(tl, tx, torch.from_numpy(g))
                    loss, logp = _C.cross_entropy_forward(C(x), C(t), None if wt is None else C(wt), 1, red, ls)
                    np.testing.assert_allclose(A(loss), tl.detach().numpy(), **tol)
                    dx = _C.cross_entropy_backward(C(g), logp, C(t), None if wt is None else C(wt), 1, red, ls)
                    np.testing.assert_allclose(A(dx), tdx.numpy(), **tol)
                # nll_loss on log-probabilities
                lp = torch.log_softmax(torch.from_numpy(x), 1 if len(xs) > 1 else 0).requires_grad_()
                tn = F.nll_loss(lp, torch.from_numpy(t), None if wt is None else torch.from_numpy(wt),
                                ignore_index=1, reduction=red)
                g = rand(tuple(tn.shape), dtype, seed=44)
                (tdl,) = torch.autograd.grad(tn, lp, torch.from_numpy(g))
                nl, tw = _C.nll_loss_forward(C(lp.detach().numpy()), C(t), None if wt is None else C(wt), 1, red)
                np.testing.assert_allclose(A(nl), tn.detach().numpy(), **tol)
                dl = _C.nll_loss_backward(C(g), list(xs), C(t), None if wt is None else C(wt), 1, red, tw)
                np.testing.assert_allclose(A(dl), tdl.numpy(), **tol)
        # probability targets
        p = np.random.default_rng(45).random(xs)
        p = (p / p.sum(axis=1 if len(xs) > 1 else 0, keepdims=True)).astype(dtype)
        for red in ("mean", "sum", "none"):
            tx = torch.from_numpy(x).requires_grad_()
            tl = F.cross_entropy(tx, torch.from_numpy(p), torch.from_numpy(w), reduction=red, label_smoothing=0.1)
            g = rand(tuple(tl.shape), dtype, seed=46)
            (tdx,) = torch.autograd.grad(tl, tx, torch.from_numpy(g))
            loss, logp = _C.cross_entropy_forward(C(x), C(p), C(w), -100, red, 0.1)
            np.testing.assert_allclose(A(loss), tl.detach().numpy(), **tol)
            dx = _C.cross_entropy_backward(C(g), logp, C(p), C(w), -100, red, 0.1)
            np.testing.assert_allclose(A(dx), tdx.numpy(), **tol)


# ------------------------------------------------------------------------------------------------
# mse_loss
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 33), (2, 3, 5, 4), (), cuda_case((2, 3, 5, 7)),
                                   cuda_case((100003,))])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_numpy(shape, reduction, dtype, device):
    C, A = io(device)
    x, y = rand(shape, dtype, seed=50), rand(shape, dtype, seed=51)
    d = x.astype(np.float64) - y
    ref = {"none": d * d, "sum": (d * d).sum(), "mean": (d * d).mean()}[reduction]
    np.testing.assert_allclose(A(_C.mse_loss_forward(C(x), C(y), reduction)), ref, **dev_tol(dtype, device))
    g = rand(np.shape(ref), dtype, seed=52)
    dx, dy = _C.mse_loss_backward(C(g), C(x), C(y), reduction)
    norm = 2.0 / max(d.size, 1) if reduction == "mean" else 2.0
    np.testing.assert_allclose(A(dx), norm * d * g, **dev_tol(dtype, device))
    np.testing.assert_allclose(A(dy), -norm * d * g, **dev_tol(dtype, device))


def test_mse_loss_matches_torch_and_validates():
    torch = pytest.importorskip("torch")
    x, y = rand((4, 9), np.float32, seed=53), rand((4, 9), np.float32, seed=54)
    for red in ("mean", "sum", "none"):
        tx, ty = torch.from_numpy(x).requires_grad_(), torch.from_numpy(y).requires_grad_()
        tl = torch.nn.functional.mse_loss(tx, ty, reduction=red)
        g = rand(tuple(tl.shape), np.float32, seed=55)
        tdx, tdy = torch.autograd.grad(tl, (tx, ty), torch.from_numpy(g))
        np.testing.assert_allclose(A(_C.mse_loss_forward(C(x), C(y), red)), tl.detach().numpy(), rtol=1e-6)
        dx, dy = _C.mse_loss_backward(C(g), C(x), C(y), red)
        np.testing.assert_array_equal(A(dx), tdx.numpy())  # same formula and rounding order
        np.testing.assert_array_equal(A(dy), tdy.numpy())
    with pytest.raises(ValueError, match="broadcasting is not supported"):
        _C.mse_loss_forward(C(x), C(y[:, :3]), "mean")
    with pytest.raises(TypeError, match="same dtype"):
        _C.mse_loss_forward(C(x), C(y.astype(np.float64)), "mean")
    with pytest.raises(ValueError, match="not a valid value"):
        _C.mse_loss_forward(C(x), C(y), "elementwise")


def test_losses_thread_count_independent():
    x = rand((20000, 10), np.float32, seed=60)
    t = targets((20000,), 10, seed=61, ignore=-100)
    n0 = _C.get_num_threads()
    res = []
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        loss, logp = _C.cross_entropy_forward(C(x), C(t), None, -100, "mean", 0.1)
        dx = _C.cross_entropy_backward(C(np.array(1.0, np.float32)), logp, C(t), None, -100, "mean", 0.1)
        mse = _C.mse_loss_forward(C(x), C(x[::-1].copy()), "sum")
        res.append([A(v).copy() for v in (loss, logp, dx, mse)])
    _C.set_num_threads(n0)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Python layer: cnnkit.nn.functional softmax / losses (autograd Functions)
# ------------------------------------------------------------------------------------------------
import warnings  # noqa: E402

import cnnkit as ck  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402


def T(a, grad=False):
    return ck.tensor(np.asarray(a), requires_grad=grad)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_functional_softmax_gradcheck(dim):
    x = T(rand((3, 4, 5), np.float64, seed=70), grad=True)
    assert gradcheck(lambda t: F.softmax(t, dim), (x,))
    assert gradcheck(lambda t: F.log_softmax(t, dim), (x,))


def test_functional_softmax_implicit_dim_and_dtype():
    for shape, dim in [((5,), 0), ((2, 5), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)]:
        x = rand(shape, np.float32, seed=71)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            y = F.softmax(T(x))
        np.testing.assert_allclose(np.asarray(y._t), ref_softmax(x, dim), rtol=1e-5, atol=1e-7)
    y = F.log_softmax(T(rand((2, 3), np.float32)), 1, dtype=ck.float64)
    assert y.dtype == ck.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T(rand((2, 3), np.float32)).softmax(1)  # an explicit dim does not warn


def test_functional_softmax_losses_match_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = rand((6, 5), np.float32, seed=72)
    compare_with_torch(lambda t: F.softmax(t, 0), lambda t: TF.softmax(t, 0), [x])
    compare_with_torch(lambda t: F.log_softmax(t, -1), lambda t: TF.log_softmax(t, -1), [x])
    t = np.array([0, 4, 2, 1, 1, 3])
    w = np.linspace(0.5, 2, 5).astype(np.float32)
    for kw in (dict(), dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=1),
               dict(label_smoothing=0.1), dict(ignore_index=4, reduction="mean", label_smoothing=0.3)):
        compare_with_torch(lambda a: F.cross_entropy(a, T(t), **kw),
                           lambda a: TF.cross_entropy(a, torch.from_numpy(t), **kw), [x])
        compare_with_torch(lambda a: F.cross_entropy(a, T(t), weight=T(w), **kw),
                           lambda a: TF.cross_entropy(a, torch.from_numpy(t), weight=torch.from_numpy(w), **kw), [x])
        kw.pop("label_smoothing", None)
        compare_with_torch(lambda a: F.nll_loss(F.log_softmax(a, 1), T(t), weight=T(w), **kw),
                           lambda a: TF.nll_loss(TF.log_softmax(a, 1), torch.from_numpy(t),
                                                 weight=torch.from_numpy(w), **kw), [x])
    # spatial (N, C, H, W) targets
    x4 = rand((2, 3, 4, 5), np.float32, seed=73)
    t4 = np.random.default_rng(74).integers(0, 3, size=(2, 4, 5))
    compare_with_torch(lambda a: F.cross_entropy(a, T(t4)), lambda a: TF.cross_entropy(a, torch.from_numpy(t4)), [x4])
    y = rand((6, 5), np.float32, seed=75)
    for red in ("mean", "sum", "none"):
        compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction=red),
                           lambda a, b: TF.mse_loss(a, b, reduction=red), [x, y])


def test_functional_losses_gradcheck():
    x = T(rand((4, 5), np.float64, seed=76), grad=True)
    t = T(np.array([1, 0, 4, 2]))
    w = T(np.linspace(0.5, 2, 5))
    assert gradcheck(lambda a: F.cross_entropy(a, t, weight=w, label_smoothing=0.2), (x,))
    assert gradcheck(lambda a: F.cross_entropy(a, t, reduction="none", ignore_index=0), (x,))
    assert gradcheck(lambda a: F.nll_loss(a, t, weight=w), (x,))
    y = T(rand((4, 5), np.float64, seed=77), grad=True)
    assert gradcheck(lambda a, b: F.mse_loss(a, b), (x, y))
    p = rand((4, 5), np.float64, seed=78) ** 2
    p = T(p / p.sum(1, keepdims=True))
    assert gradcheck(lambda a: F.cross_entropy(a, p, label_smoothing=0.1), (x,))


def test_functional_loss_legacy_reduction_args():
    x, t = T(rand((4, 5), np.float32, seed=79)), T(np.array([1, 0, 4, 2]))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        s = F.cross_entropy(x, t, size_average=False)
    np.testing.assert_allclose(np.asarray(s._t), np.asarray(F.cross_entropy(x, t, reduction="sum")._t))
    with pytest.warns(UserWarning):
        n = F.nll_loss(x, t, reduce=False)
    assert tuple(n.shape) == (4,)


def test_functional_loss_errors():
    x = T(rand((3, 4), np.float32))
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds\."):
        F.cross_entropy(x, T(np.array([0, 4, 1])))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.cross_entropy(x, T(np.array([0.0, 1.0, 2.0], np.float32)))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, T(np.array([0, 1])))
    with pytest.raises(IndexError, match="out of bounds"):
        F.nll_loss(x, T(np.array([0, 9, 1])))
    with pytest.warns(UserWarning, match="different to the input size"):  # broadcasts as torch does
        assert tuple(F.mse_loss(x, T(rand((4,), np.float32)), reduction="none").shape) == (3, 4)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.cross_entropy(x, [0, 1, 2])


@pytest.mark.skipif(not hasattr(_C, "binary"), reason="elementwise kernels (_C.binary) not built in")
def test_probability_target_gradient():
    torch = pytest.importorskip("torch")
    x = rand((4, 5), np.float32, seed=80)
    p = rand((4, 5), np.float32, seed=81) ** 2
    p = p / p.sum(1, keepdims=True)
    w = np.linspace(0.5, 2, 5).astype(np.float32)
    for red in ("mean", "sum", "none"):
        compare_with_torch(
            lambda a, b: F.cross_entropy(a, b, weight=T(w), reduction=red, label_smoothing=0.2),
            lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=torch.from_numpy(w), reduction=red,
                                                           label_smoothing=0.2), [x, p])
