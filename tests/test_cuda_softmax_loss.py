"""CUDA twins of cross_entropy (class and probability targets), nll_loss and mse_loss, forward and backward,
against the CPU kernels on the same random data, and softmax's mixed-device error. softmax / log_softmax on both
devices (every case, special values, device views) are the device-parametrised tests in tests/test_softmax_loss.py.

Sums run in double on both devices but in a different order, so float32 results agree to rounding
(atol 1e-5 / rtol 1e-4; reductions a little looser), float64 to ~1e-12. Bad targets raise the CPU's
IndexError (checked on the device), mixed devices a RuntimeError. Skipped without a GPU.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]


def _dense(a):
    """A C-contiguous array of a's shape (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def cuda(a):
    return cnnkit.from_numpy(_dense(a)).cuda()._t


def host(t):
    return _wrap(t).cpu().numpy()


def cpu(a):
    return _C.from_numpy(_dense(a))


def rand(shape, dtype, seed=0, scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def close(got, ref, dtype, loose=False):
    if dtype == np.float32:
        kw = dict(rtol=3e-4, atol=3e-5) if loose else dict(rtol=1e-4, atol=1e-5)
    else:
        kw = dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got, np.asarray(ref), equal_nan=True, **kw)


# ------------------------------------------------------------------------------------------------
# softmax / log_softmax
# ------------------------------------------------------------------------------------------------
def test_softmax_mixed_devices():
    x = rand((5, 9), np.float32)
    y = _C.softmax_forward(cuda(x), 1)
    with pytest.raises(RuntimeError, match="same device"):
        _C.softmax_backward(cpu(x), y, 1)


# ------------------------------------------------------------------------------------------------
# cross_entropy / nll_loss
# ------------------------------------------------------------------------------------------------
# (logits shape, target shape)
CE_SHAPES = [((5, 7), (5,)), ((1, 1), (1,)), ((7,), ()), ((3, 4, 5), (3, 5)), ((2, 3, 4, 5), (2, 4, 5)),
             ((33, 10), (33,)), ((4, 300), (4,))]


def class_targets(tshape, C, seed, ignore_index=None):
    t = np.random.default_rng(seed).integers(0, C, size=tshape).astype(np.int64)
    if ignore_index is not None and t.size > 1:
        t.ravel()[:: 3] = ignore_index
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", CE_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_class_targets(shapes, reduction, weighted, ignore, ls, dtype):
    xshape, tshape = shapes
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rand(xshape, dtype, seed=3)
    t = class_targets(tshape, C, seed=4, ignore_index=-100 if ignore else None)
    w = np.random.default_rng(5).uniform(0.5, 2.0, C).astype(dtype) if weighted else None
    loss_c, logp_c = _C.cross_entropy_forward(cpu(x), cpu(t), None if w is None else cpu(w), -100, reduction, ls)
    loss_g, logp_g = _C.cross_entropy_forward(cuda(x), cuda(t), None if w is None else cuda(w), -100, reduction, ls)
    close(host(loss_g), loss_c, dtype, loose=True)
    close(host(logp_g), logp_c, dtype)
    g = rand(np.asarray(loss_c).shape, dtype, seed=6)
    dx_c = _C.cross_entropy_backward(cpu(g), logp_c, cpu(t), None if w is None else cpu(w), -100, reduction, ls)
    dx_g = _C.cross_entropy_backward(cuda(g), logp_g, cuda(t), None if w is None else cuda(w), -100, reduction, ls)
    close(host(dx_g), dx_c, dtype, loose=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape", [(5, 7), (7,), (2, 3, 4, 5), (3, 33)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.3])
def test_cross_entropy_probability_targets(xshape, reduction, weighted, ls, dtype):
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rand(xshape, dtype, seed=7)
    cdim = 1 if len(xshape) > 1 else 0
    e = np.exp(rand(xshape, np.float64, seed=8))
    t = (e / e.sum(axis=cdim, keepdims=True)).astype(dtype)
    w = np.random.default_rng(9).uniform(0.5, 2.0, C).astype(dtype) if weighted else None
    loss_c, logp_c = _C.cross_entropy_forward(cpu(x), cpu(t), None if w is None else cpu(w), -100, reduction, ls)
    loss_g, logp_g = _C.cross_entropy_forward(cuda(x), cuda(t), None if w is None else cuda(w), -100, reduction, ls)
    close(host(loss_g), loss_c, dtype, loose=True)
    g = rand(np.asarray(loss_c).shape, dtype, seed=10)
    dx_c = _C.cross_entropy_backward(cpu(g), logp_c, cpu(t), None if w is None else cpu(w), -100, reduction, ls)
    dx_g = _C.cross_entropy_backward(cuda(g), logp_g, cuda(t), None if w is None else cuda(w), -100, reduction, ls)
    close(host(dx_g), dx_c, dtype, loose=True)


def test_cross_entropy_all_ignored_is_nan():
    x = rand((3, 4), np.float32)
    t = np.full((3,), -100, np.int64)
    loss_g, _ = _C.cross_entropy_forward(cuda(x), cuda(t), None, -100, "mean", 0.0)
    assert np.isnan(host(loss_g))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", CE_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shapes, reduction, weighted, dtype):
    xshape, tshape = shapes
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    logp = np.asarray(_C.log_softmax_forward(cpu(rand(xshape, dtype, seed=11)), 1 if len(xshape) > 1 else 0))
    t = class_targets(tshape, C, seed=12, ignore_index=3)
    w = np.random.default_rng(13).uniform(0.5, 2.0, C).astype(dtype) if weighted else None
    loss_c, tw_c = _C.nll_loss_forward(cpu(logp), cpu(t), None if w is None else cpu(w), 3, reduction)
    loss_g, tw_g = _C.nll_loss_forward(cuda(logp), cuda(t), None if w is None else cuda(w), 3, reduction)
    close(host(loss_g), loss_c, dtype, loose=True)
    close(host(tw_g), tw_c, dtype, loose=True)
    assert tw_g.device == "cuda:0"
    g = rand(np.asarray(loss_c).shape, dtype, seed=14)
    dx_c = _C.nll_loss_backward(cpu(g), list(xshape), cpu(t), None if w is None else cpu(w), 3, reduction, tw_c)
    dx_g = _C.nll_loss_backward(cuda(g), list(xshape), cuda(t), None if w is None else cuda(w), 3, reduction, tw_g)
    close(host(dx_g), dx_c, dtype)
    # a Python float total weight works on the device too
    dx_f = _C.nll_loss_backward(cuda(g), list(xshape), cuda(t), None if w is None else cuda(w), 3, reduction,
                                float(np.asarray(tw_c)))
    close(host(dx_f), dx_c, dtype)


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [5, -1, 1 << 40])
def test_bad_targets_raise_index_error(op, bad):
    x = rand((6, 5), np.float32)
    t = np.array([0, 1, bad, 2, 9, -3], np.int64)  # later bad values: the first is reported
    f = _C.cross_entropy_forward if op == "cross_entropy" else _C.nll_loss_forward
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):
        f(cuda(x), cuda(t), None, -100, "mean", *(() if op == "nll_loss" else (0.0,)))
    # the device keeps working afterwards
    loss, _ = _C.cross_entropy_forward(cuda(x), cuda(np.zeros(6, np.int64)), None, -100, "mean", 0.0)
    assert np.isfinite(host(loss))


def test_bad_target_in_backward():
    x = rand((4, 3), np.float32)
    _, logp = _C.cross_entropy_forward(cuda(x), cuda(np.zeros(4, np.int64)), None, -100, "mean", 0.0)
    with pytest.raises(IndexError, match="Target 3 is out of bounds."):
        _C.cross_entropy_backward(cuda(np.ones((), np.float32)), logp, cuda(np.array([0, 3, 1, 2])), None, -100,
                                  "mean", 0.0)


def test_loss_mixed_devices_raise():
    x = rand((4, 3), np.float32)
    t = np.zeros(4, np.int64)
    with pytest.raises(RuntimeError, match="same device"):
        _C.cross_entropy_forward(cuda(x), cpu(t), None, -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match="same device"):
        _C.cross_entropy_forward(cuda(x), cuda(t), cpu(np.ones(3, np.float32)), -100, "mean", 0.0)
    with pytest.raises(RuntimeError, match="same device"):
        _C.nll_loss_forward(cpu(x), cuda(t), None, -100, "sum")
    with pytest.raises(RuntimeError, match="same device"):
        _C.mse_loss_forward(cuda(x), cpu(x), "mean")


# ------------------------------------------------------------------------------------------------
# mse_loss
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 3, 5, 7), (100003,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(shape, reduction, dtype):
    a, b = rand(shape, dtype, seed=15), rand(shape, dtype, seed=16)
    loss_c = _C.mse_loss_forward(cpu(a), cpu(b), reduction)
    loss_g = _C.mse_loss_forward(cuda(a), cuda(b), reduction)
    close(host(loss_g), loss_c, dtype, loose=True)
    g = rand(np.asarray(loss_c).shape, dtype, seed=17)
    da_c, db_c = _C.mse_loss_backward(cpu(g), cpu(a), cpu(b), reduction)
    da_g, db_g = _C.mse_loss_backward(cuda(g), cuda(a), cuda(b), reduction)
    np.testing.assert_array_equal(host(da_g), np.asarray(da_c))  # elementwise, same roundings
    np.testing.assert_array_equal(host(db_g), np.asarray(db_c))


def test_functional_training_step_matches_cpu():
    """F.cross_entropy through autograd on CUDA tensors gives the CPU's loss and gradients."""
    x = rand((9, 6), np.float32, seed=18)
    t = class_targets((9,), 6, seed=19)
    res = []
    for dev in ("cpu", "cuda"):
        xt = cnnkit.from_numpy(x).to(dev).detach().requires_grad_()
        loss = cnnkit.nn.functional.cross_entropy(xt, cnnkit.from_numpy(t).to(dev), label_smoothing=0.1)
        loss.backward()
        res.append((loss.item(), xt.grad.cpu().numpy()))
    assert abs(res[1][0] - res[0][0]) < 1e-5
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-4, atol=1e-6)
