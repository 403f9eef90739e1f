"""CUDA twin of sgd_step_: bit-identical to the CPU kernel (which is bit-identical to
torch.optim.SGD) for every combination of momentum, dampening, weight decay, Nesterov and maximize,
over several steps (first_step then the running buffer), float32 and float64. Skipped without a GPU.
"""
import itertools

import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")


def _dense(a):
    """A C-contiguous array of a's shape (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def cuda(a):
    return cnnkit.from_numpy(_dense(a)).cuda()._t


def host(t):
    return _wrap(t).cpu().numpy()


def rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


HYPER = [
    # lr, momentum, dampening, weight_decay, nesterov, maximize
    (0.1, 0.0, 0.0, 0.0, False, False),
    (0.01, 0.9, 0.0, 0.0, False, False),
    (0.01, 0.9, 0.0, 5e-4, True, False),
    (0.05, 0.8, 0.3, 1e-2, False, True),
    (1e-3, 0.99, 0.1, 0.0, True, True),
    (0.3, 0.0, 0.0, 1e-3, False, True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 33, 1000, 65537])
@pytest.mark.parametrize("hyper", HYPER)
def test_sgd_matches_cpu_bit_for_bit(hyper, n, dtype):
    lr, momentum, dampening, wd, nesterov, maximize = hyper
    p_cpu = _C.from_numpy(rand((n,), dtype, 0))
    p_gpu = cuda(rand((n,), dtype, 0))
    has_buf = momentum != 0.0
    b_cpu = _C.zeros([n], p_cpu.dtype) if has_buf else None
    b_gpu = cuda(np.zeros((n,), dtype)) if has_buf else None
    for step in range(3):
        g = rand((n,), dtype, 10 + step)
        _C.sgd_step_(p_cpu, _C.from_numpy(g), b_cpu, lr, momentum, dampening, wd, nesterov, maximize, step == 0)
        _C.sgd_step_(p_gpu, cuda(g), b_gpu, lr, momentum, dampening, wd, nesterov, maximize, step == 0)
        np.testing.assert_array_equal(host(p_gpu), np.asarray(p_cpu))
        if has_buf:
            np.testing.assert_array_equal(host(b_gpu), np.asarray(b_cpu))


def test_sgd_strided_grad():
    g = rand((6, 5), np.float32, 3)
    p_cpu = _C.from_numpy(rand((5, 6), np.float32, 4))
    p_gpu = cuda(rand((5, 6), np.float32, 4))
    _C.sgd_step_(p_cpu, _C.from_numpy(g).transpose(0, 1), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    _C.sgd_step_(p_gpu, cuda(g).transpose(0, 1), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    np.testing.assert_array_equal(host(p_gpu), np.asarray(p_cpu))


def test_sgd_mixed_devices_raise():
    p = cuda(np.ones(4, np.float32))
    with pytest.raises(RuntimeError, match="same device"):
        _C.sgd_step_(p, _C.from_numpy(np.ones(4, np.float32)), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    with pytest.raises(RuntimeError, match="same device"):
        _C.sgd_step_(p, cuda(np.ones(4, np.float32)), _C.zeros([4], p.dtype), 0.1, 0.9, 0.0, 0.0, False, False, True)


def test_optimizer_on_cuda_parameters():
    """torch.optim.SGD's loop through cnnkit.optim.SGD with CUDA parameters equals the CPU run."""
    w0 = rand((7, 3), np.float32, 8)
    results = []
    for dev in ("cpu", "cuda"):
        w = cnnkit.from_numpy(w0.copy()).to(dev).detach().requires_grad_()
        opt = cnnkit.optim.SGD([w], lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        for step in range(3):
            opt.zero_grad()
            x = cnnkit.from_numpy(rand((7, 3), np.float32, 20 + step)).to(dev)
            (w * x).sum().backward()
            opt.step()
        results.append(w.detach().cpu().numpy())
    np.testing.assert_array_equal(results[1], results[0])
