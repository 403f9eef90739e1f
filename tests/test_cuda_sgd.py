"""CUDA-only sgd_step_ checks: mixed devices, and cnnkit.optim.SGD on CUDA parameters equal to the CPU run. The
kernel on both devices (bit-identical to the CPU kernel, which is bit-identical to torch.optim.SGD, for every
combination of momentum, dampening, weight decay, Nesterov and maximize, over several steps, float32 and float64,
strided gradients) is the device-parametrised test in tests/test_sgd_kernel.py. Skipped without a GPU.
"""

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
