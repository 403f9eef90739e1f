"""CUDA-only softmax / loss tests: the mixed-device errors and F.cross_entropy through autograd on CUDA tensors
against the CPU. The softmax / log_softmax, cross_entropy (class and probability targets), nll_loss and mse_loss
kernel cases, bad targets included, are the [cuda] halves of the device-parametrised tests in
tests/test_softmax_loss.py. Skipped without an NVIDIA GPU.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

def _dense(a):
    """A C-contiguous array of a's shape (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def cuda(a):
    return cnnkit.from_numpy(_dense(a)).cuda()._t


def cpu(a):
    return _C.from_numpy(_dense(a))


def rand(shape, dtype, seed=0, scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def class_targets(tshape, C, seed):
    return np.random.default_rng(seed).integers(0, C, size=tshape).astype(np.int64)


def test_softmax_mixed_devices():
    x = rand((5, 9), np.float32)
    y = _C.softmax_forward(cuda(x), 1)
    with pytest.raises(RuntimeError, match="same device"):
        _C.softmax_backward(cpu(x), y, 1)


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
