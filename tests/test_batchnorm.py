"""BatchNorm: the _C kernels against their plain-loop references and NumPy, float64 gradient checks,
F.batch_norm / nn.BatchNorm1d/2d against PyTorch (forward, backward, running statistics, eval,
affine=False, track_running_stats=False, momentum=None), module state (state_dict, repr, buffers,
load_state_dict), error messages, and a small CNN with BatchNorm trained 5 steps like PyTorch."""
import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import back, cuda_case, cuda_extras, is_cuda, on

DTYPES = [np.float32, np.float64]
# (N, C, *spatial): batch 1 and >1, C = 1, 3, 7, 1x1 and odd non-square planes, 2-D to 5-D.
# (1, 3, 33, 17): planes larger than a CUDA block.
SHAPES = [(2, 1), (3, 7), (33, 3), (2, 3, 1, 1), (3, 7, 3, 5), (2, 1, 3, 5), (1, 3, 7, 3), (3, 3, 33),
          (2, 3, 2, 3, 2)]
DEVICE_SHAPES = SHAPES + [cuda_case((1, 3, 33, 17)), cuda_case((4, 2, 7))]  # the CUDA twin test's


def T(a):
    return None if a is None else _C.from_numpy(np.ascontiguousarray(a))


def tol(dtype, device="cpu"):
    """Both devices sum in double, in different orders; CUDA's float32 results agree to rounding within
    rtol 1e-4 (its multiply-adds are contracted into FMAs), the CPU's within 1e-5."""
    if dtype == np.float32:
        return dict(rtol=1e-4, atol=1e-5) if is_cuda(device) else dict(rtol=1e-5, atol=1e-5)
    return dict(rtol=1e-12, atol=1e-12)


def D(a, device):
    return None if a is None else on(a, device)


def data(shape, dtype, seed=0, loc=0.5, scale=2.0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * scale + loc).astype(dtype)
    w = rng.standard_normal(C).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = (rng.random(C) + 0.5).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    return x, w, b, rm, rv, g


def numpy_batch_norm(x, w, b, rm, rv, training, momentum, eps):
    """Independent float64 NumPy reference: (out, mean, invstd, new running_mean, new running_var)."""
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    M = x.size // x.shape[1]
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        if rm is not None:
            rm = (1 - momentum) * rm + momentum * mean
            rv = (1 - momentum) * rv + momentum * var * M / (M - 1)
    else:
        mean, var = rm.astype(np.float64), rv.astype(np.float64)
    invstd = 1 / np.sqrt(var + eps)
    w = np.ones(x.shape[1]) if w is None else w
    b = np.zeros(x.shape[1]) if b is None else b
    out = (x - mean.reshape(bshape)) * (invstd * w).reshape(bshape) + b.reshape(bshape)
    return out, mean, invstd, rm, rv


# ---------------------------------------------------------------------------------------------
# kernels against the naive reference and NumPy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DEVICE_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_kernels_match_naive_and_numpy(shape, dtype, training, device):
    """The kernels on each device (running statistics updated in place there) against the CPU's naive loops
    and the float64 NumPy reference, within tol(dtype, device)."""
    x, w, b, rm, rv, g = data(shape, dtype, seed=sum(shape))
    for affine in (True, False):
        wt, bt = (w, b) if affine else (None, None)
        rm_n, rv_n = rm.copy(), rv.copy()
        rm_f, rv_f = on(rm, device), on(rv, device)
        fast = _C.batch_norm_forward(on(x, device), D(wt, device), D(bt, device), rm_f, rv_f, training, 0.1, 1e-5)
        naive = _C.batch_norm_forward_naive(T(x), T(wt), T(bt), T(rm_n), T(rv_n), training, 0.1, 1e-5)
        ref = numpy_batch_norm(x, wt, bt, rm, rv, training, 0.1, 1e-5)
        for got, want, exact, name in zip(fast, naive, ref[:3], ("out", "mean", "invstd")):
            assert got.device == device, name
            got, want = back(got), np.asarray(want)
            assert got.dtype == dtype and want.dtype == dtype, name
            np.testing.assert_allclose(got, want, **tol(dtype, device), err_msg=name)
            np.testing.assert_allclose(want, exact, **tol(dtype), err_msg=name)
        np.testing.assert_allclose(back(rm_f), rm_n, **tol(dtype, device))
        np.testing.assert_allclose(back(rv_f), rv_n, **tol(dtype, device))
        np.testing.assert_allclose(rm_n, ref[3], **tol(dtype))
        np.testing.assert_allclose(rv_n, ref[4], **tol(dtype))
        _, sm, si = fast
        sm_c, si_c = T(back(sm)), T(back(si))
        # (False, True, True): the CUDA twin test's mask
        for needs in [(True, True, True), (True, False, False), (False, True, False), (False, False, True)] + \
                ([(False, True, True)] if cuda_extras(device) else []):
            got = _C.batch_norm_backward(on(g, device), on(x, device), D(wt, device), sm, si, training, needs)
            want = _C.batch_norm_backward_naive(T(g), T(x), T(wt), sm_c, si_c, training, needs)
            for a, e, need in zip(got, want, needs):
                if need:
                    np.testing.assert_allclose(back(a), np.asarray(e), **tol(dtype, device))
                else:
                    assert a is None and e is None


def test_backward_matches_numpy_formula():
    x, w, b, rm, rv, g = data((3, 4, 2, 5), np.float64, seed=3)
    _, sm, si = _C.batch_norm_forward(T(x), T(w), T(b), None, None, True, 0.1, 1e-5)
    dx, dw, db = (np.asarray(t) for t in _C.batch_norm_backward(T(g), T(x), T(w), sm, si, True))
    bs = (1, -1, 1, 1)
    mean, invstd = np.asarray(sm).reshape(bs), np.asarray(si).reshape(bs)
    xhat = (x - mean) * invstd
    np.testing.assert_allclose(db, g.sum((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(dw, (g * xhat).sum((0, 2, 3)), rtol=1e-12)
    ref = w.reshape(bs) * invstd * (g - g.mean((0, 2, 3), keepdims=True)
                                    - xhat * (g * xhat).mean((0, 2, 3), keepdims=True))
    np.testing.assert_allclose(dx, ref, rtol=1e-10, atol=1e-12)
    dx_eval, _, _ = _C.batch_norm_backward(T(g), T(x), T(w), sm, si, False, (True, False, False))
    np.testing.assert_allclose(np.asarray(dx_eval), g * invstd * w.reshape(bs), rtol=1e-12)


def test_float32_statistics_far_from_zero():
    """Data with |mean| >> std: the shifted one-pass moments keep float32 statistics exact."""
    x = (np.random.default_rng(0).standard_normal((16, 3, 9, 9)) * 0.01 + 1000.0).astype(np.float32)
    out, sm, si = (np.asarray(t) for t in _C.batch_norm_forward(T(x), None, None, None, None, True, 0.1, 1e-5))
    ref = numpy_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(sm, ref[1], rtol=1e-7)
    np.testing.assert_allclose(si, ref[2], rtol=1e-5)
    # The output is (x - mean) * invstd in float32, with the mean rounded to float32 (half an ulp at
    # 1000 is 3e-5, i.e. 3e-3 standard deviations here); torch rounds the same way.
    np.testing.assert_allclose(out, ref[0], atol=4e-3)


def test_results_do_not_depend_on_thread_count():
    x, w, b, rm, rv, g = data((8, 5, 33, 33), np.float32, seed=5)
    prev = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            r1, r2 = rm.copy(), rv.copy()
            out, sm, si = _C.batch_norm_forward(T(x), T(w), T(b), T(r1), T(r2), True, 0.1, 1e-5)
            grads = _C.batch_norm_backward(T(g), T(x), T(w), sm, si, True)
            results.append([np.asarray(t) for t in (out, sm, si, *grads)] + [r1, r2])
    finally:
        _C.set_num_threads(prev)
    for other in results[1:]:
        for a, e in zip(results[0], other):
            np.testing.assert_array_equal(a, e)


def test_strided_inputs_and_running_stats():
    x, w, b, rm, rv, g = data((3, 4, 5, 6), np.float32, seed=7)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2))  # (3, 4, 6, 5); give the kernel its transpose
    big_rm, big_rv = np.zeros(8, np.float32), np.ones(8, np.float32)
    big_rm[::2], big_rv[::2] = rm, rv
    # running stats as strided views: updated in place through the view
    rm_view = _C.from_numpy(big_rm).slice(0, 0, 8, 2)
    rv_view = _C.from_numpy(big_rv).slice(0, 0, 8, 2)
    out, _, _ = _C.batch_norm_forward(_C.from_numpy(xt).transpose(2, 3), T(w), T(b), rm_view, rv_view, True, 0.1,
                                      1e-5)
    r1, r2 = rm.copy(), rv.copy()
    want, _, _ = _C.batch_norm_forward(T(x), T(w), T(b), T(r1), T(r2), True, 0.1, 1e-5)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(want))
    np.testing.assert_array_equal(big_rm[::2], r1)
    np.testing.assert_array_equal(big_rv[::2], r2)
    np.testing.assert_array_equal(big_rm[1::2], 0)
    np.testing.assert_array_equal(big_rv[1::2], 1)


def test_single_value_per_channel_and_empty_batch(device):
    # M == 1 at the _C level: the unbiased variance is 0/0 (NaN), as torch's native_batch_norm gives.
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    rm, rv = on(np.zeros(3, np.float32), device), on(np.ones(3, np.float32), device)
    out, _, _ = _C.batch_norm_forward(on(x, device), None, None, rm, rv, True, 0.1, 1e-5)
    np.testing.assert_array_equal(back(out), 0)
    assert np.isnan(back(rv)).all()
    np.testing.assert_allclose(back(rm), 0.1 * x[0], rtol=1e-6)
    # empty batch: empty output, running statistics untouched, zero weight/bias gradients
    x = on(np.zeros((0, 3, 2), np.float64), device)
    rm, rv = on(np.full(3, 0.5), device), on(np.full(3, 2.0), device)
    out, sm, si = _C.batch_norm_forward(x, None, None, rm, rv, True, 0.1, 1e-5)
    assert tuple(out.shape) == (0, 3, 2)
    np.testing.assert_array_equal(back(rm), 0.5)
    np.testing.assert_array_equal(back(rv), 2.0)
    dx, dw, db = _C.batch_norm_backward(x, x, on(np.ones(3), device), sm, si, True)
    assert tuple(dx.shape) == (0, 3, 2)
    np.testing.assert_array_equal(back(dw), 0)
    np.testing.assert_array_equal(back(db), 0)
    _, dw, db = _C.batch_norm_backward(x, x, None, sm, si, True)
    np.testing.assert_array_equal(back(dw), 0)
    np.testing.assert_array_equal(back(db), 0)


def test_nan_propagates_to_its_channel_only():
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    x[2, 1, 3] = np.nan
    out = np.asarray(_C.batch_norm_forward(T(x), None, None, None, None, True, 0.1, 1e-5)[0])
    assert np.isnan(out[:, 1]).all()
    assert np.isfinite(out[:, [0, 2]]).all()


def test_kernel_errors():
    x = T(np.zeros((2, 3, 4), np.float32))
    v3 = T(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C, \*\) with at least 2 dims"):
        _C.batch_norm_forward(T(np.zeros(3, np.float32)), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \[3\] .*got \[4\]"):
        _C.batch_norm_forward(x, T(np.ones(4, np.float32)), None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: expected running_var of shape \[3\] .*got \[3, 1\]"):
        _C.batch_norm_forward(x, None, None, v3, T(np.ones((3, 1), np.float32)), True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="batch_norm: expected input and bias to have the same dtype, got float32 "
                                        "and float64"):
        _C.batch_norm_forward(x, None, T(np.ones(3)), None, None, True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="batch_norm: expected input to be float32 or float64, got int64"):
        _C.batch_norm_forward(T(np.zeros((2, 3), np.int64)), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean must be defined in evaluation mode"):
        _C.batch_norm_forward(x, None, None, None, v3, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match="batch_norm: eps must be non-negative"):
        _C.batch_norm_forward(x, None, None, None, None, True, 0.1, -1.0)
    _, sm, si = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm_backward: expected grad_output of shape \[2, 3, 4\], got "
                                         r"\[2, 3, 5\]"):
        _C.batch_norm_backward(T(np.zeros((2, 3, 5), np.float32)), x, None, sm, si, True)
    with pytest.raises(ValueError, match="batch_norm_backward: expected needs to hold 3 bools"):
        _C.batch_norm_backward(x, x, None, sm, si, True, [True])
    with pytest.raises(ValueError, match=r"batch_norm_backward: expected save_mean of shape \[3\]"):
        _C.batch_norm_backward(x, x, None, T(np.zeros(2, np.float32)), si, True)


# ---------------------------------------------------------------------------------------------
# gradient checks (float64 central differences)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 2, 2), (2, 2, 3)])
def test_gradcheck(shape, training):
    x, w, b, rm, rv, _ = data(shape, np.float64, seed=11)
    xi = ck.tensor(x, requires_grad=True)
    wi = ck.tensor(w, requires_grad=True)
    bi = ck.tensor(b, requires_grad=True)
    rmi, rvi = ck.tensor(rm), ck.tensor(rv)
    assert gradcheck(lambda a, c, d: F.batch_norm(a, rmi, rvi, c, d, training=training, momentum=0.1, eps=1e-5),
                     (xi, wi, bi))
    # affine=False, no running statistics (training only)
    if training:
        assert gradcheck(lambda a: F.batch_norm(a, None, None, training=True), (xi,))


# ---------------------------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 3), (4, 5, 7), (3, 7, 3, 5), (2, 3, 1, 1)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_matches_torch(shape, training, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv, g = data(shape, dtype, seed=len(shape))
    ours = [ck.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    o_rm, o_rv, t_rm, t_rv = ck.tensor(rm), ck.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    out = F.batch_norm(ours[0], o_rm, o_rv, ours[1], ours[2], training, 0.1, 1e-5)
    ref = torch.nn.functional.batch_norm(theirs[0], t_rm, t_rv, theirs[1], theirs[2], training, 0.1, 1e-5)
    t = tol(dtype)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **t)
    np.testing.assert_allclose(o_rm.numpy(), t_rm.numpy(), **t)
    np.testing.assert_allclose(o_rv.numpy(), t_rv.numpy(), **t)
    out.backward(ck.tensor(g))
    ref.backward(torch.tensor(g))
    gt = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, e in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), e.grad.numpy(), **gt)


def _modules(kind, torch, **kw):
    ours, theirs = getattr(nn, kind)(5, **kw), getattr(torch.nn, kind)(5, **kw)
    if ours.weight is not None:  # non-trivial affine parameters, the same in both
        rng = np.random.default_rng(2)
        w, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
        ours.weight.data = ck.tensor(w)
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            if ours.bias is not None:
                ours.bias.data = ck.tensor(b)
                theirs.bias.copy_(torch.tensor(b))
    return ours, theirs


def _assert_state_equal(ours, theirs, rtol=1e-5, atol=1e-6):
    o, t = ours.state_dict(), theirs.state_dict()
    assert list(o.keys()) == list(t.keys())
    for k in o:
        assert str(o[k].dtype).split(".")[-1] == str(t[k].dtype).split(".")[-1], k
        np.testing.assert_allclose(o[k].numpy(), t[k].numpy(), rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (6, 5)), ("BatchNorm1d", (4, 5, 3)),
                                        ("BatchNorm2d", (3, 5, 4, 3)), ("BatchNorm3d", (2, 5, 2, 3, 2))])
@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(momentum=0.3, eps=1e-3), dict(affine=False),
                                dict(track_running_stats=False), dict(bias=False)])
def test_module_matches_torch_over_steps(kind, shape, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = _modules(kind, torch, **kw)
    rng = np.random.default_rng(4)
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = ours(xo), theirs(xt)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
        out.backward(ck.tensor(g))
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        for po, pt in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(po.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-5)
        _assert_state_equal(ours, theirs)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    _assert_state_equal(ours, theirs)  # eval leaves the running statistics and the count alone


@pytest.mark.parametrize("kw", [dict(), dict(affine=False), dict(momentum=None), dict(track_running_stats=False),
                                dict(eps=1e-3, momentum=0.01), dict(bias=False)])
def test_repr_and_state_dict_match_torch(kw):
    torch = pytest.importorskip("torch")
    for kind in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        ours, theirs = getattr(nn, kind)(64, **kw), getattr(torch.nn, kind)(64, **kw)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
        assert ours.state_dict()._metadata[""] == theirs.state_dict()._metadata[""]
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert repr(nn.BatchNorm2d(64)) == \
        "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"


def test_load_state_dict_from_torch_keys():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    theirs.train()
    theirs(torch.randn(5, 3, 6, 6))  # non-trivial running statistics and count
    with torch.no_grad():
        theirs[1].weight.uniform_()
    ours = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    sd = {k: ck.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)
    _assert_state_equal(ours, theirs, rtol=0, atol=0)
    assert ours[1].num_batches_tracked.dtype == ck.int64 and ours[1].num_batches_tracked.item() == 1
    # an old (version 1) checkpoint without num_batches_tracked still loads, keeping the count
    from collections import OrderedDict

    old = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    old._metadata = OrderedDict([("", {"version": 1}), ("1", {"version": 1})])
    fresh = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    fresh.load_state_dict(old)
    assert fresh[1].num_batches_tracked.item() == 0
    # ...whereas a current-version state_dict without it is missing a key
    cur = OrderedDict(old)
    cur._metadata = OrderedDict([("", {"version": 1}), ("1", {"version": 2})])
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "1.num_batches_tracked"'):
        fresh.load_state_dict(cur)


def test_module_buffers_reset_and_conversions():
    m = nn.BatchNorm2d(3)
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    m(ck.randn(4, 3, 2, 2))
    assert m.num_batches_tracked.item() == 1 and m.running_mean.abs().sum().item() > 0
    m.weight.data.fill_(2.0)
    m.reset_running_stats()
    np.testing.assert_array_equal(m.running_mean.numpy(), 0)
    np.testing.assert_array_equal(m.running_var.numpy(), 1)
    assert m.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(m.weight.detach().numpy(), 2)
    m.reset_parameters()
    np.testing.assert_array_equal(m.weight.detach().numpy(), 1)
    np.testing.assert_array_equal(m.bias.detach().numpy(), 0)
    m.double()
    assert m.running_mean.dtype == ck.float64 and m.weight.dtype == ck.float64
    assert m.num_batches_tracked.dtype == ck.int64
    m(ck.randn(4, 3, 2, 2, dtype=ck.float64))  # float64 end to end, buffers updated in place
    assert m.num_batches_tracked.item() == 1
    assert nn.BatchNorm1d(3, track_running_stats=False).running_mean is None
    assert nn.BatchNorm1d(3, affine=False).weight is None
    assert nn.BatchNorm1d(3, dtype=ck.float64).running_var.dtype == ck.float64


def test_train_eval_switch():
    m = nn.BatchNorm1d(2)
    x = ck.tensor(np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]], np.float32))
    y = m(x).detach().numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    rm, rv = m.running_mean.numpy().copy(), m.running_var.numpy().copy()
    np.testing.assert_allclose(rm, [0.3, 2.0], rtol=1e-6)
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 4.0, 0.9 + 0.1 * 100.0], rtol=1e-6)
    m.eval()
    y = m(x).detach().numpy()
    np.testing.assert_allclose(y, (x.numpy() - rm) / np.sqrt(rv + 1e-5), rtol=1e-5)
    np.testing.assert_array_equal(m.running_mean.numpy(), rm)  # eval does not update
    assert m.num_batches_tracked.item() == 1
    m(ck.randn(1, 2))  # one sample is fine in eval mode


def test_module_and_functional_errors():
    with pytest.raises(ValueError, match=r"^expected 4D input \(got 3D input\)$"):
        nn.BatchNorm2d(3)(ck.randn(3, 3, 3))
    with pytest.raises(ValueError, match=r"^expected 2D or 3D input \(got 4D input\)$"):
        nn.BatchNorm1d(3)(ck.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"^expected 5D input \(got 4D input\)$"):
        nn.BatchNorm3d(3)(ck.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"^Expected more than 1 value per channel when training, got input size "
                                         r"cnnkit\.Size\(\[1, 3\]\)$"):
        nn.BatchNorm1d(3)(ck.randn(1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm2d(3)(ck.randn(1, 3, 1, 1))
    # torch's exception type and wording (running_mean is checked first), with the input's shape added
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean should contain 3 elements not 4 \(C = "
                                           r"input.shape\[1\] for input of shape \[2, 3\]\)"):
        nn.BatchNorm1d(4).eval()(ck.randn(2, 3))
    with pytest.raises(RuntimeError, match="batch_norm: weight should contain 3 elements not 4"):
        nn.BatchNorm1d(4, track_running_stats=False)(ck.randn(2, 3))
    with pytest.raises(ValueError, match="batch_norm eps must be positive during training, but got 0.0"):
        F.batch_norm(ck.randn(2, 3), None, None, training=True, eps=0.0)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(ck.randn(2, 3), None, None, training=False)
    with pytest.raises(TypeError, match="batch_norm\\(\\): argument 'weight' must be Tensor, not list"):
        F.batch_norm(ck.randn(2, 3), None, None, weight=[1, 2, 3], training=True)


def test_module_on_cuda_moves_buffers():
    if not ck.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU")
    m = nn.BatchNorm2d(3).cuda()
    for t in list(m.parameters()) + list(m.buffers()):
        assert t.device.type == "cuda"
    m(ck.randn(4, 3, 5, 5).cuda())
    assert m.num_batches_tracked.item() == 1


# ---------------------------------------------------------------------------------------------
# end to end: a small CNN with BatchNorm trained like PyTorch
# ---------------------------------------------------------------------------------------------
def bn_cnn(nn_mod):
    return nn_mod.Sequential(
        nn_mod.Conv2d(3, 8, 3, padding=1, bias=False), nn_mod.BatchNorm2d(8), nn_mod.ReLU(), nn_mod.MaxPool2d(2),
        nn_mod.Conv2d(8, 12, 3, padding=1, bias=False), nn_mod.BatchNorm2d(12), nn_mod.ReLU(),
        nn_mod.AvgPool2d(2), nn_mod.Flatten(), nn_mod.Linear(12 * 3 * 3, 16), nn_mod.BatchNorm1d(16),
        nn_mod.ReLU(), nn_mod.Linear(16, 5),
    )


def test_small_bn_cnn_trains_like_torch():
    torch = pytest.importorskip("torch")
    import cnnkit.optim as optim

    ck.manual_seed(0)
    ours, theirs = bn_cnn(nn), bn_cnn(torch.nn)
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert name == tname
            tp.copy_(torch.from_numpy(p.numpy().copy()))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 12, 12)).astype(np.float32)
    y = rng.integers(0, 5, 8)
    o_opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    o_losses, t_losses = [], []
    for _ in range(5):
        o_opt.zero_grad()
        loss = F.cross_entropy(ours(ck.tensor(x)), ck.tensor(y))
        loss.backward()
        o_opt.step()
        o_losses.append(loss.item())
        t_opt.zero_grad()
        tl = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        tl.backward()
        t_opt.step()
        t_losses.append(tl.item())
    np.testing.assert_allclose(o_losses, t_losses, rtol=1e-4, atol=1e-5)
    assert o_losses[-1] < o_losses[0]
    _assert_state_equal(ours, theirs, rtol=1e-3, atol=1e-4)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(ck.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-3, atol=1e-4)
