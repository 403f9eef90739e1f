"""GroupNorm, LayerNorm, InstanceNorm1d/2d and LocalResponseNorm: the row-normalisation kernels
against their plain-loop references and NumPy, float64 gradient checks, F.* and nn.* against
PyTorch (forward, backward, every affine option, running statistics over several steps, eval,
unbatched input), reprs and state_dict keys, and error messages."""
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import back, cuda_case, cuda_extras, is_cuda, on

DTYPES = [np.float32, np.float64]


def T(a):
    return None if a is None else _C.from_numpy(np.ascontiguousarray(a))


def tol(dtype, device="cpu"):
    """Both devices sum in double, in different orders; on CUDA float32 agrees to rounding within rtol 1e-4
    (multiply-adds contracted into FMAs), on the CPU within 1e-5."""
    if dtype == np.float32:
        return dict(rtol=1e-4, atol=1e-5) if is_cuda(device) else dict(rtol=1e-5, atol=1e-5)
    return dict(rtol=1e-11, atol=1e-11)


def D(a, device):
    return None if a is None else on(a, device)


NEEDS = [(True, True, True), (True, False, False), (False, True, False), (False, False, True), (False, True, True)]


def needs_for(device, n_cpu):
    """The needs masks to run: all on CUDA (its twin test's (False, True, True) included), the CPU test's first
    n_cpu in the plain CPU run."""
    return NEEDS if cuda_extras(device) else NEEDS[:n_cpu]


def rnd(shape, dtype, rng, loc=0.0, scale=1.0):
    return (rng.standard_normal(shape) * scale + loc).astype(dtype)


# ---------------------------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------------------------
def np_group_norm(x, G, w, b, eps):
    x = x.astype(np.float64)
    N, C = x.shape[:2]
    xg = x.reshape(N, G, -1)
    mean, var = xg.mean(-1, keepdims=True), xg.var(-1, keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    bs = (1, C) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * w.reshape(bs)
    if b is not None:
        y = y + b.reshape(bs)
    return y, mean.reshape(N, G), 1 / np.sqrt(var.reshape(N, G) + eps)


def np_layer_norm(x, ns, w, b, eps):
    x = x.astype(np.float64)
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y, mean.reshape(-1), 1 / np.sqrt(var.reshape(-1) + eps)


def np_lrn(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    C = x.shape[1]
    sq = x * x
    div = np.zeros_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        div[:, c] = sq[:, lo:hi + 1].sum(1) / size
    return x / (k + alpha * div) ** beta


# ---------------------------------------------------------------------------------------------
# kernels against the naive references and NumPy
# ---------------------------------------------------------------------------------------------
GN_CASES = [((2, 6, 5, 7), 3), ((3, 4, 1, 1), 2), ((1, 7, 3), 7), ((2, 9, 33), 1), ((3, 6, 2, 3, 2), 6), ((4, 5), 5)]


# the kernel tests add: planes larger than a CUDA block, one group per channel, a single group
GN_KERNEL_CASES = GN_CASES + [cuda_case((1, 8, 33, 17), 2), cuda_case((2, 9, 33), 9), cuda_case((4, 5), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,G", GN_KERNEL_CASES)
def test_group_norm_kernels(shape, G, dtype, device):
    """The kernels on each device against the CPU's naive loops (tol(dtype, device)) and NumPy."""
    rng = np.random.default_rng(sum(shape) + G)
    x, g = rnd(shape, dtype, rng, 1.5, 3.0), rnd(shape, dtype, rng)
    C = shape[1]
    w, b = rnd(C, dtype, rng), rnd(C, dtype, rng)
    for wt, bt in [(w, b), (None, None), (w, None), (None, b)]:
        fast = _C.group_norm_forward(on(x, device), G, D(wt, device), D(bt, device), 1e-5)
        naive = _C.group_norm_forward_naive(T(x), G, T(wt), T(bt), 1e-5)
        ref = np_group_norm(x, G, wt, bt, 1e-5)
        for a, e, r in zip(fast, naive, ref):
            assert a.device == device and back(a).dtype == dtype
            np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
            np.testing.assert_allclose(np.asarray(e), r, **tol(dtype))
        _, m, rs = fast
        for needs in needs_for(device, 4):
            got = _C.group_norm_backward(on(g, device), on(x, device), G, D(wt, device), m, rs, needs)
            want = _C.group_norm_backward_naive(T(g), T(x), G, T(wt), T(back(m)), T(back(rs)), needs)
            for a, e, need in zip(got, want, needs):
                if need:
                    np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
                else:
                    assert a is None and e is None


LN_CASES = [((3, 7), [7]), ((2, 3, 5, 4), [5, 4]), ((4, 33), [33]), ((2, 3, 1), [1]), ((5, 2, 3), [2, 3]),
            ((3, 4, 5), [3, 4, 5])]
LN_KERNEL_CASES = LN_CASES + [cuda_case((4, 1025), [1025])]  # rows longer than a CUDA block


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns", LN_KERNEL_CASES)
def test_layer_norm_kernels(shape, ns, dtype, device):
    rng = np.random.default_rng(len(shape) + sum(ns))
    x, g = rnd(shape, dtype, rng, -2.0, 2.0), rnd(shape, dtype, rng)
    w, b = rnd(ns, dtype, rng), rnd(ns, dtype, rng)
    for wt, bt in [(w, b), (None, None), (w, None)]:
        fast = _C.layer_norm_forward(on(x, device), ns, D(wt, device), D(bt, device), 1e-5)
        naive = _C.layer_norm_forward_naive(T(x), ns, T(wt), T(bt), 1e-5)
        ref = np_layer_norm(x, ns, wt, bt, 1e-5)
        for a, e, r in zip(fast, naive, ref):
            assert a.device == device
            np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
            np.testing.assert_allclose(np.asarray(e), r, **tol(dtype))
        _, m, rs = fast
        for needs in needs_for(device, 1):
            got = _C.layer_norm_backward(on(g, device), on(x, device), ns, D(wt, device), m, rs, needs)
            want = _C.layer_norm_backward_naive(T(g), T(x), ns, T(wt), T(back(m)), T(back(rs)), needs)
            for a, e, need in zip(got, want, needs):
                if need and e is not None:
                    np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
                elif not need:
                    assert a is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 1, 4), (1, 5, 33), (2, 4, 3, 3, 2), cuda_case((1, 5, 33, 9))])
def test_instance_norm_kernels(shape, dtype, device):
    rng = np.random.default_rng(sum(shape))
    x, g = rnd(shape, dtype, rng, 0.5, 2.0), rnd(shape, dtype, rng)
    C = shape[1]
    w, b = rnd(C, dtype, rng), rnd(C, dtype, rng)
    fast = _C.instance_norm_forward(on(x, device), on(w, device), on(b, device), 1e-5)
    naive = _C.instance_norm_forward_naive(T(x), T(w), T(b), 1e-5)
    ref = np_group_norm(x, C, w, b, 1e-5)
    xv = x.astype(np.float64).reshape(shape[0], C, -1).var(-1)
    for a, e, r in zip(fast, naive, ref + (xv,)):
        assert a.device == device
        np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
        np.testing.assert_allclose(np.asarray(e), r, **tol(dtype))
    _, m, rs, _ = fast
    for needs in needs_for(device, 1):
        got = _C.instance_norm_backward(on(g, device), on(x, device), on(w, device), m, rs, needs)
        want = _C.instance_norm_backward_naive(T(g), T(x), T(w), T(back(m)), T(back(rs)), needs)
        for a, e, need in zip(got, want, needs):
            if need and e is not None:
                np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
            elif not need:
                assert a is None


def test_backward_matches_numpy_formula():
    rng = np.random.default_rng(3)
    x, g, w = rng.standard_normal((3, 4, 2, 5)), rng.standard_normal((3, 4, 2, 5)), rng.standard_normal(4)
    _, m, rs = _C.group_norm_forward(T(x), 2, T(w), None, 1e-5)
    dx, dw, db = (np.asarray(t) for t in _C.group_norm_backward(T(g), T(x), 2, T(w), m, rs))
    xg = x.reshape(3, 2, -1)
    mean, inv = np.asarray(m)[..., None], np.asarray(rs)[..., None]
    xhat = ((xg - mean) * inv).reshape(x.shape)
    np.testing.assert_allclose(db, g.sum((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(dw, (g * xhat).sum((0, 2, 3)), rtol=1e-12)
    wg = (g * w.reshape(1, 4, 1, 1)).reshape(3, 2, -1)
    xh = xhat.reshape(3, 2, -1)
    ref = inv * (wg - wg.mean(-1, keepdims=True) - xh * (wg * xh).mean(-1, keepdims=True))
    np.testing.assert_allclose(dx, ref.reshape(x.shape), rtol=1e-10, atol=1e-12)


def test_float32_statistics_far_from_zero():
    x = (np.random.default_rng(0).standard_normal((4, 6, 9, 9)) * 0.01 + 1000.0).astype(np.float32)
    _, m, rs = (np.asarray(t) for t in _C.group_norm_forward(T(x), 3, None, None, 1e-5))
    _, mean, rstd = np_group_norm(x, 3, None, None, 1e-5)
    np.testing.assert_allclose(m, mean, rtol=1e-7)
    np.testing.assert_allclose(rs, rstd, rtol=1e-5)


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    x, g = rnd((8, 6, 17, 19), np.float32, rng), rnd((8, 6, 17, 19), np.float32, rng)
    w, b = rnd(6, np.float32, rng), rnd(6, np.float32, rng)
    wl, bl = rnd((17, 19), np.float32, rng), rnd((17, 19), np.float32, rng)
    prev = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            out, m, rs = _C.group_norm_forward(T(x), 3, T(w), T(b), 1e-5)
            lo, lm, lr = _C.layer_norm_forward(T(x), [17, 19], T(wl), T(bl), 1e-5)
            res = [out, m, rs, *_C.group_norm_backward(T(g), T(x), 3, T(w), m, rs), lo,
                   *_C.layer_norm_backward(T(g), T(x), [17, 19], T(wl), lm, lr)]
            results.append([np.asarray(t) for t in res])
    finally:
        _C.set_num_threads(prev)
    for other in results[1:]:
        for a, e in zip(results[0], other):
            np.testing.assert_array_equal(a, e)


def test_strided_input_and_empty_batch(device):
    rng = np.random.default_rng(7)
    x = rnd((3, 4, 5, 6), np.float32, rng)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2))
    got = _C.group_norm_forward(on(xt, device).transpose(2, 3), 2, None, None, 1e-5)[0]
    want = _C.group_norm_forward(T(x), 2, None, None, 1e-5)[0]
    np.testing.assert_allclose(back(got), np.asarray(want), **tol(np.float32, device))
    if not is_cuda(device):
        np.testing.assert_array_equal(back(got), np.asarray(want))
    e = on(np.zeros((0, 4, 3), np.float64), device)
    out, m, rs = _C.group_norm_forward(e, 2, None, None, 1e-5)
    assert tuple(out.shape) == (0, 4, 3) and tuple(m.shape) == (0, 2)
    dx, dw, db = _C.group_norm_backward(e, e, 2, on(np.ones(4), device), m, rs)
    assert tuple(dx.shape) == (0, 4, 3)
    np.testing.assert_array_equal(back(dw), 0)
    np.testing.assert_array_equal(back(db), 0)


def test_nan_stays_in_its_group():
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32)
    x[1, 2, 3] = np.nan
    out = np.asarray(_C.group_norm_forward(T(x), 2, None, None, 1e-5)[0])
    assert np.isnan(out[1, 2:]).all()
    assert np.isfinite(out[0]).all() and np.isfinite(out[1, :2]).all()


def test_kernel_errors():
    x = T(np.zeros((2, 6, 4), np.float32))
    with pytest.raises(RuntimeError, match=r"^Expected number of channels in input to be divisible by num_groups, but "
                                           r"got input of shape \[2, 6, 4\] and num_groups=4$"):
        _C.group_norm_forward(x, 4, None, None, 1e-5)
    with pytest.raises(RuntimeError, match=r"^Expected weight to be a vector of size equal to the number of channels "
                                           r"in input, but got weight of shape \[5\] and input of shape \[2, 6, 4\]$"):
        _C.group_norm_forward(x, 3, T(np.ones(5, np.float32)), None, 1e-5)
    with pytest.raises(ValueError, match="group_norm: expected num_groups to be positive, got 0"):
        _C.group_norm_forward(x, 0, None, None, 1e-5)
    with pytest.raises(TypeError, match="group_norm: expected input and bias to have the same dtype"):
        _C.group_norm_forward(x, 3, None, T(np.ones(6)), 1e-5)
    with pytest.raises(TypeError, match="layer_norm: expected input to be float32 or float64, got int64"):
        _C.layer_norm_forward(T(np.zeros((2, 3), np.int64)), [3], None, None, 1e-5)
    with pytest.raises(RuntimeError, match=r"^Given normalized_shape=\[5\], expected input with shape \[\*, 5\], but "
                                           r"got input of size\[2, 6, 4\]$"):
        _C.layer_norm_forward(x, [5], None, None, 1e-5)
    with pytest.raises(RuntimeError, match=r"^Expected bias to be of same shape as normalized_shape, but got bias of "
                                           r"shape \[3\] and normalized_shape = \[4\]$"):
        _C.layer_norm_forward(x, [4], None, T(np.ones(3, np.float32)), 1e-5)
    with pytest.raises(RuntimeError, match="Expected normalized_shape to be at least 1-dimensional"):
        _C.layer_norm_forward(x, [], None, None, 1e-5)
    with pytest.raises(RuntimeError, match="^weight should contain 12 elements not 8$"):
        _C.instance_norm_forward(x, T(np.ones(4, np.float32)), None, 1e-5)
    _, m, rs = _C.group_norm_forward(x, 3, None, None, 1e-5)
    with pytest.raises(ValueError, match=r"group_norm_backward: expected grad_output of shape \[2, 6, 4\]"):
        _C.group_norm_backward(T(np.zeros((2, 6, 5), np.float32)), x, 3, None, m, rs)
    with pytest.raises(ValueError, match=r"group_norm_backward: expected rstd of shape \[2, 3\]"):
        _C.group_norm_backward(x, x, 3, None, m, T(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="expected needs to hold 3 bools"):
        _C.group_norm_backward(x, x, 3, None, m, rs, [True])


# ---------------------------------------------------------------------------------------------
# gradient checks (float64 central differences)
# ---------------------------------------------------------------------------------------------
def _params(rng, *shapes):
    return [ck.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_gradcheck_group_and_layer_norm():
    rng = np.random.default_rng(11)
    x, w, b = _params(rng, (2, 4, 3), (4,), (4,))
    assert gradcheck(lambda a, c, d: F.group_norm(a, 2, c, d), (x, w, b))
    assert gradcheck(lambda a: F.group_norm(a, 4), (x,))
    x, w, b = _params(rng, (3, 2, 3), (2, 3), (2, 3))
    assert gradcheck(lambda a, c, d: F.layer_norm(a, (2, 3), c, d), (x, w, b))
    assert gradcheck(lambda a: F.layer_norm(a, 3), (x,))


def test_gradcheck_instance_norm_and_lrn():
    rng = np.random.default_rng(12)
    x, w, b = _params(rng, (2, 3, 4), (3,), (3,))
    assert gradcheck(lambda a, c, d: F.instance_norm(a, weight=c, bias=d), (x, w, b))
    rm, rv = ck.tensor(rng.standard_normal(3)), ck.tensor(rng.random(3) + 0.5)
    assert gradcheck(lambda a, c, d: F.instance_norm(a, rm, rv, c, d, use_input_stats=False), (x, w, b))
    (y,) = _params(rng, (2, 5, 2, 2))
    assert gradcheck(lambda a: F.local_response_norm(a, 3, alpha=0.3, beta=0.7, k=1.5), (y,))
    assert gradcheck(lambda a: F.local_response_norm(a, 2, alpha=0.5), (y,))


def test_lrn_matches_numpy():
    rng = np.random.default_rng(13)
    for shape in [(2, 7, 5), (1, 3, 4, 5), (2, 6, 2, 3, 2), (3, 1, 4)]:
        x = rng.standard_normal(shape)
        for size, alpha, beta, k in [(5, 1e-4, 0.75, 1.0), (2, 0.5, 0.6, 2.0), (1, 1.0, 1.0, 0.5), (8, 0.3, 0.9, 1.0)]:
            out = F.local_response_norm(ck.tensor(x), size, alpha, beta, k)
            np.testing.assert_allclose(out.numpy(), np_lrn(x, size, alpha, beta, k), rtol=1e-12)
    empty = ck.zeros(0, 3, 4)
    assert F.local_response_norm(empty, 2) is empty


# ---------------------------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------------------------
def _run_both(torch, f_ours, f_theirs, arrays, g):
    ours = [None if a is None else ck.tensor(a, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = f_ours(*ours), f_theirs(*theirs)
    out.backward(ck.tensor(g))
    ref.backward(torch.tensor(g))
    return out, ref, ours, theirs


def _assert_close(out, ref, ours, theirs, dtype, grad_atol=1e-5):
    t = tol(dtype)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **t)
    gt = dict(rtol=1e-4, atol=grad_atol) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, e in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), e.grad.numpy(), **gt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,G", GN_CASES)
@pytest.mark.parametrize("affine", ["wb", "w", "none"])
def test_group_norm_matches_torch(shape, G, dtype, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x, g = rnd(shape, dtype, rng, 1.0, 2.0), rnd(shape, dtype, rng)
    w = rnd(C, dtype, rng) if affine != "none" else None
    b = rnd(C, dtype, rng) if affine == "wb" else None
    res = _run_both(torch, lambda a, c, d: F.group_norm(a, G, c, d, eps=1e-3),
                    lambda a, c, d: torch.nn.functional.group_norm(a, G, c, d, eps=1e-3), (x, w, b), g)
    _assert_close(*res, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("affine", ["wb", "w", "none"])
def test_layer_norm_matches_torch(shape, ns, dtype, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    x, g = rnd(shape, dtype, rng, -1.0, 3.0), rnd(shape, dtype, rng)
    w = rnd(ns, dtype, rng) if affine != "none" else None
    b = rnd(ns, dtype, rng) if affine == "wb" else None
    res = _run_both(torch, lambda a, c, d: F.layer_norm(a, ns, c, d), lambda a, c, d: torch.nn.functional.layer_norm(
        a, ns, c, d), (x, w, b), g)
    # one value per row: the exact input gradient is 0, which we return; torch's float32 formula
    # leaves rounding noise of ~1e-5 there
    _assert_close(*res, dtype, grad_atol=1e-4 if np.prod(ns) == 1 else 1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 4, 9), (1, 2, 3, 3)])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_functional_matches_torch(shape, dtype, use_input_stats):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x, g = rnd(shape, dtype, rng, 0.5, 2.0), rnd(shape, dtype, rng)
    w, b = rnd(C, dtype, rng), rnd(C, dtype, rng)
    rm, rv = rnd(C, dtype, rng), (rng.random(C) + 0.5).astype(dtype)
    o_rm, o_rv, t_rm, t_rv = ck.tensor(rm), ck.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    res = _run_both(torch, lambda a, c, d: F.instance_norm(a, o_rm, o_rv, c, d, use_input_stats, 0.2, 1e-4),
                    lambda a, c, d: torch.nn.functional.instance_norm(a, t_rm, t_rv, c, d, use_input_stats, 0.2,
                                                                      1e-4), (x, w, b), g)
    _assert_close(*res, dtype)
    np.testing.assert_allclose(o_rm.numpy(), t_rm.numpy(), **tol(dtype))
    np.testing.assert_allclose(o_rv.numpy(), t_rv.numpy(), **tol(dtype))


@pytest.mark.parametrize("shape", [(2, 7, 5), (3, 6, 4, 5), (2, 5, 2, 3, 2)])
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (2, 0.5, 0.6, 2.0), (4, 1.0, 1.0, 0.5)])
def test_lrn_matches_torch(shape, size, alpha, beta, k):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape) + size)
    x, g = rnd(shape, np.float32, rng, 0.0, 2.0), rnd(shape, np.float32, rng)
    res = _run_both(torch, lambda a: F.local_response_norm(a, size, alpha, beta, k),
                    lambda a: torch.nn.functional.local_response_norm(a, size, alpha, beta, k), (x,), g)
    _assert_close(*res, np.float32)


def _copy_affine(ours, theirs, torch, rng):
    for name in ("weight", "bias"):
        p = getattr(ours, name, None)
        if p is not None:
            v = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            p.data = ck.tensor(v)
            with torch.no_grad():
                getattr(theirs, name).copy_(torch.tensor(v))


@pytest.mark.parametrize("kind,shape", [("InstanceNorm2d", (3, 5, 4, 3)), ("InstanceNorm1d", (4, 5, 6)),
                                        ("InstanceNorm2d", (5, 4, 3)), ("InstanceNorm1d", (5, 7)),
                                        ("InstanceNorm3d", (2, 5, 3, 2, 3)), ("InstanceNorm3d", (5, 2, 2, 3))])
@pytest.mark.parametrize("kw", [dict(), dict(affine=True), dict(track_running_stats=True),
                                dict(affine=True, track_running_stats=True, momentum=None),
                                dict(affine=True, bias=False, track_running_stats=True, momentum=0.3, eps=1e-3)])
def test_instance_norm_module_over_steps(kind, shape, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, kind)(5, **kw), getattr(torch.nn, kind)(5, **kw)
    rng = np.random.default_rng(4)
    _copy_affine(ours, theirs, torch, rng)
    assert repr(ours) == repr(theirs)
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        res = _run_both(torch, ours, theirs, (x,), g)
        _assert_close(*res, np.float32)
        for po, pt in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(po.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-5)
        o, t = ours.state_dict(), theirs.state_dict()
        assert list(o) == list(t)
        for key in o:
            np.testing.assert_allclose(o[key].numpy(), t[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    res = _run_both(torch, ours, theirs, (x,), np.ones(shape, np.float32))
    _assert_close(*res, np.float32)


@pytest.mark.parametrize("kw", [dict(), dict(eps=1e-3), dict(affine=False), dict(bias=False)])
def test_group_norm_module_matches_torch(kw):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.GroupNorm(3, 6, **kw), torch.nn.GroupNorm(3, 6, **kw)
    rng = np.random.default_rng(6)
    _copy_affine(ours, theirs, torch, rng)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, g = rnd((4, 6, 3, 5), np.float32, rng), rnd((4, 6, 3, 5), np.float32, rng)
    res = _run_both(torch, ours, theirs, (x,), g)
    _assert_close(*res, np.float32)
    for po, pt in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(po.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ns,kw", [(5, dict()), ((4, 5), dict(eps=1e-3)), ([5], dict(elementwise_affine=False)),
                                   ((3, 4, 5), dict(bias=False))])
def test_layer_norm_module_matches_torch(ns, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LayerNorm(ns, **kw), torch.nn.LayerNorm(ns, **kw)
    rng = np.random.default_rng(8)
    _copy_affine(ours, theirs, torch, rng)
    assert repr(ours) == repr(theirs)
    assert ours.normalized_shape == theirs.normalized_shape
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, g = rnd((2, 3, 4, 5), np.float32, rng), rnd((2, 3, 4, 5), np.float32, rng)
    res = _run_both(torch, ours, theirs, (x,), g)
    _assert_close(*res, np.float32)
    for po, pt in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(po.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for args, kw in [((3,), {}), ((3,), dict(affine=True)), ((3,), dict(track_running_stats=True, momentum=None))]:
        for kind in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"):
            ours, theirs = getattr(nn, kind)(*args, **kw), getattr(torch.nn, kind)(*args, **kw)
            assert repr(ours) == repr(theirs)
            assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    for size, kw in [(2, {}), (5, dict(alpha=0.001, beta=0.5, k=2.0))]:
        assert repr(nn.LocalResponseNorm(size, **kw)) == repr(torch.nn.LocalResponseNorm(size, **kw))
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert repr(nn.LayerNorm([3, 4])) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=True)"


def test_functional_and_module_errors():
    x = ck.randn(2, 6, 4)
    with pytest.raises(RuntimeError, match="^Expected at least 2 dimensions for input tensor but received 1$"):
        F.group_norm(ck.randn(3), 1)
    with pytest.raises(ValueError, match=r"^Expected more than 1 value per channel when training, got input size "
                                         r"\[1, 2, 1\]$"):
        F.group_norm(ck.randn(1, 2, 1), 2)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(x, 4)
    with pytest.raises(ValueError, match=r"^num_channels \(6\) must be divisible by num_groups \(4\)$"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="^Expected more than 1 spatial element when training"):
        F.instance_norm(ck.randn(2, 3, 1))
    with pytest.raises(RuntimeError, match="^running_mean should contain 6 elements not 8$"):
        F.instance_norm(ck.randn(2, 3, 4), running_mean=ck.zeros(4), running_var=ck.ones(4))
    with pytest.raises(RuntimeError, match="^Expected running_mean and running_var to be defined when "
                                           "use_input_stats is false$"):
        F.instance_norm(ck.randn(2, 3, 4), use_input_stats=False)
    with pytest.raises(ValueError, match=r"^expected input's size at dim=1 to match num_features \(3\), but got: 4\.$"):
        nn.InstanceNorm2d(3, affine=True)(ck.randn(2, 4, 3, 3))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.InstanceNorm2d(3)(ck.randn(2, 4, 3, 3))
    assert any("does not match num_features" in str(e.message) for e in w)
    with pytest.raises(ValueError, match=r"^expected 3D or 4D input \(got 2D input\)$"):
        nn.InstanceNorm2d(3)(ck.randn(4, 3))
    with pytest.raises(ValueError, match=r"^expected 2D or 3D input \(got 4D input\)$"):
        nn.InstanceNorm1d(3)(ck.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"^expected 4D or 5D input \(got 3D input\)$"):
        nn.InstanceNorm3d(3)(ck.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality +input \(got 2 dimensions\)"):
        F.local_response_norm(ck.randn(2, 3), 2)
    with pytest.raises(TypeError, match="argument 'weight' must be Tensor"):
        F.layer_norm(x, [4], weight=[1.0] * 4)


def test_modules_float64_and_state_dict_roundtrip():
    m = nn.GroupNorm(2, 4).double()
    assert m.weight.dtype == ck.float64
    m(ck.randn(3, 4, 2, dtype=ck.float64)).sum().backward()
    assert m.weight.grad.dtype == ck.float64
    a, b = nn.InstanceNorm2d(3, affine=True, track_running_stats=True), nn.InstanceNorm2d(3, affine=True,
                                                                                        track_running_stats=True)
    a(ck.randn(2, 3, 4, 4))
    b.load_state_dict(a.state_dict())
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), b.state_dict()[k].numpy())
