"""CUDA-only batch norm checks: more channels than the grid cap against the CPU twin, mixed devices, and
nn.BatchNorm2d moved with .cuda() training like the CPU module. The kernels on both devices (training and eval,
the in-place running-statistic update, every needs mask, single values and empty batches) are the
device-parametrised tests in tests/test_batchnorm.py.

Both devices sum in double, in different orders, so float32 agrees to rounding (atol 1e-5 /
rtol 1e-4), float64 to ~1e-12. Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the _C
comparisons with the CPU standing in for the device (checks the test code itself)."""
import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device
from test_batchnorm import data  # random x, weight, bias, running stats and grad_output of a shape

pytestmark = needs_device

def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def test_no_running_stats_many_channels():
    # more channels than the grid cap of the block-per-channel kernels (grid-strided channels)
    x, w, b, _, _, g = data((3, 65537), np.float32, seed=1)
    dev = _C.batch_norm_forward(G(x), G(w), G(b), None, None, True, 0.1, 1e-5)
    cpu = _C.batch_norm_forward(T(x), T(w), T(b), None, None, True, 0.1, 1e-5)
    for a, e in zip(dev, cpu):
        np.testing.assert_allclose(H(a), N(e), **tol(np.float32))
    got = _C.batch_norm_backward(G(g), G(x), G(w), dev[1], dev[2], True)
    want = _C.batch_norm_backward(T(g), T(x), T(w), cpu[1], cpu[2], True)
    for a, e in zip(got, want):
        np.testing.assert_allclose(H(a), N(e), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(ON_CPU, reason="mixed devices need a real GPU")
def test_mixed_devices_raise():
    x = np.zeros((2, 3, 4), np.float32)
    v = np.ones(3, np.float32)
    with pytest.raises(RuntimeError, match="batch_norm: expected all tensors to be on the same device"):
        _C.batch_norm_forward(G(x), T(v), None, None, None, True, 0.1, 1e-5)
    with pytest.raises(RuntimeError, match="batch_norm: expected all tensors to be on the same device"):
        _C.batch_norm_forward(G(x), None, None, G(v), T(v), False, 0.1, 1e-5)
    _, sm, si = _C.batch_norm_forward(G(x), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(RuntimeError, match="batch_norm_backward: expected all tensors to be on the same device"):
        _C.batch_norm_backward(T(x), G(x), None, sm, si, True)
    with pytest.raises(RuntimeError, match="batch_norm_naive: expected a tensor on cpu, got one on cuda:0"):
        _C.batch_norm_forward_naive(G(x), None, None, None, None, True, 0.1, 1e-5)


@pytest.mark.skipif(ON_CPU, reason="moves a module to a real GPU")
def test_module_cuda_trains_like_cpu():
    ck.manual_seed(0)
    cpu = nn.BatchNorm2d(5, momentum=None)
    gpu = nn.BatchNorm2d(5, momentum=None)
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    for t in list(gpu.parameters()) + list(gpu.buffers()):
        assert t.device.type == "cuda"
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal((4, 5, 7, 3)).astype(np.float32)
        xc, xg = ck.tensor(x, requires_grad=True), ck.tensor(x).cuda().requires_grad_()
        oc, og = cpu(xc), gpu(xg)
        np.testing.assert_allclose(og.detach().cpu().numpy(), oc.detach().numpy(), rtol=1e-4, atol=1e-5)
        (oc * oc).sum().backward()
        (og * og).sum().backward()
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-3, atol=1e-4)
    for (k, a), (_, e) in zip(gpu.state_dict().items(), cpu.state_dict().items()):
        np.testing.assert_allclose(a.cpu().numpy(), e.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    gpu.eval()
    cpu.eval()
    x = rng.standard_normal((2, 5, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(gpu(ck.tensor(x).cuda()).detach().cpu().numpy(),
                               cpu(ck.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
