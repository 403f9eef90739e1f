"""CUDA twins of the losses: bce's range check on the device, and the public losses (K-dimensional cross_entropy /
nll_loss, pointwise and composed losses) on device tensors against the CPU, forward and backward. The
pointwise-loss kernels on both devices (forward against NumPy, backward against the CPU twin, every reduction)
are the device-parametrised test in tests/test_losses.py.

Sums run in double on both devices in a different order: float32 agrees to rounding, float64 to
~1e-12. Skipped without a GPU (CNNKIT_CUDA_TESTS_ON_CPU=1 runs it with the CPU standing in).
"""
import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import _C

from cuda_twin_helpers import DEV, G, H, N, T, needs_device

pytestmark = needs_device


def close(got, ref, dtype):
    kw = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got, ref, equal_nan=True, **kw)


def test_bce_range_check_on_device():
    x = np.array([0.2, 0.5, 1.5], np.float32)
    y = np.array([0.0, 1.0, 0.5], np.float32)
    with pytest.raises(RuntimeError, match="^all elements of input should be between 0 and 1$"):
        _C.pointwise_loss_forward("bce", G(x), G(y))
    with pytest.raises(RuntimeError, match="^all elements of target should be between 0 and 1$"):
        _C.pointwise_loss_forward("bce", G(y), G(x))
    with pytest.raises(RuntimeError, match="input should be between"):
        _C.pointwise_loss_forward("bce", G(np.array([np.nan], np.float32)), G(np.array([0.0], np.float32)))
    close(H(_C.pointwise_loss_forward("bce", G(y[:2] * 0.5), G(y[:2]), None, None, "sum")),
          N(_C.pointwise_loss_forward("bce", T(y[:2] * 0.5), T(y[:2]), None, None, "sum")), np.float32)


def _both(fn, arrays, grads):
    """fn on CPU tensors and on device tensors; returns [(out, grads) cpu, (out, grads) device]."""
    res = []
    for dev in ("cpu", DEV):
        ts = [ck.tensor(a).to(dev) for a in arrays]
        for i in grads:
            ts[i].requires_grad_()
        out = fn(*ts)
        g = np.random.default_rng(5).standard_normal(tuple(out.shape)).astype(np.asarray(out.detach().cpu()).dtype)
        out.backward(ck.tensor(g).to(dev))
        res.append((out.detach().cpu().numpy(), [ts[i].grad.cpu().numpy() for i in grads]))
    return res


def _check(fn, arrays, grads=(0,), dtype=np.float32):
    (o1, g1), (o2, g2) = _both(fn, arrays, grads)
    close(o2, o1, dtype)
    for a, b in zip(g2, g1):
        close(a, b, dtype)


@pytest.mark.parametrize("xs", [(6, 5), (5,), (3, 4, 7), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_cross_entropy_nll_kdim_cuda_vs_cpu(xs):
    r = np.random.default_rng(7)
    x = (r.standard_normal(xs) * 2).astype(np.float32)
    n_cls = xs[1] if len(xs) > 1 else xs[0]
    ts = (xs[0],) + xs[2:] if len(xs) > 1 else ()
    t = r.integers(0, n_cls, ts).astype(np.int64)
    t = np.where(r.random(ts) < 0.3, 1, t)
    w = r.uniform(0.5, 2, n_cls).astype(np.float32)
    for red in ("mean", "sum", "none"):
        for ls in (0.0, 0.2):
            _check(lambda a, b, c: F.cross_entropy(a, b, c, ignore_index=1, reduction=red, label_smoothing=ls),
                   [x, t, w])
        _check(lambda a, b, c: F.nll_loss(a.log_softmax(1 if len(xs) > 1 else 0), b, c, ignore_index=1,
                                          reduction=red), [x, t, w])
        p = r.random(xs).astype(np.float32)
        p = p / p.sum(axis=1 if len(xs) > 1 else 0, keepdims=True)
        _check(lambda a, b: F.cross_entropy(a, b, reduction=red, label_smoothing=0.1), [x, p], grads=(0, 1))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_public_losses_cuda_vs_cpu():
    r = np.random.default_rng(8)
    x, y = (r.standard_normal((4, 6)) * 2).astype(np.float32), (r.standard_normal((4, 6)) * 2).astype(np.float32)
    pr, tg = r.uniform(0.05, 0.95, (4, 6)).astype(np.float32), r.uniform(0, 1, (4, 6)).astype(np.float32)
    sgn = np.where(r.random((4, 6)) < 0.5, -1, 1).astype(np.float32)
    w6 = r.uniform(0.5, 2, 6).astype(np.float32)
    for red in ("mean", "sum", "none"):
        _check(lambda a, b: F.mse_loss(a, b, reduction=red), [x, y[0]], grads=(0, 1))
        _check(lambda a, b: F.l1_loss(a, b, reduction=red), [x, y], grads=(0, 1))
        _check(lambda a, b: F.smooth_l1_loss(a, b, reduction=red, beta=0.5), [x, y], grads=(0, 1))
        _check(lambda a, b: F.huber_loss(a, b, reduction=red, delta=0.7), [x, y], grads=(0, 1))
        _check(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=red), [pr, tg, w6], grads=(0, 1))
        _check(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, c, reduction=red, pos_weight=c * 2),
               [x, tg, w6], grads=(0, 1))
        _check(lambda a, b: F.kl_div(a, b, reduction=red), [x, tg], grads=(0, 1))
        _check(lambda a, b: F.soft_margin_loss(a, b, reduction=red), [x, sgn])
        _check(lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=0.3, reduction=red), [x, y, sgn], grads=(0, 1))
        _check(lambda a, b: F.hinge_embedding_loss(a, b, reduction=red), [x, sgn])
        _check(lambda a, b, c: F.cosine_embedding_loss(a, b, c, reduction=red), [x, y, sgn[:, 0]], grads=(0, 1))
        _check(lambda a, b, c: F.gaussian_nll_loss(a, b, c, reduction=red), [x, y, pr], grads=(0, 1, 2))
        _check(lambda a, b: F.poisson_nll_loss(a, b, reduction=red), [x, np.abs(y)], grads=(0,))
    _check(lambda a, b: F.kl_div(a, b, reduction="batchmean", log_target=True), [x, y], grads=(0, 1))
