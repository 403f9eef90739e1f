"""CUDA-only group / layer norm checks: more rows than the grid cap against the CPU twin; mixed devices; and
nn.GroupNorm / LayerNorm / InstanceNorm2d / LocalResponseNorm moved with .cuda() training like the CPU modules.
The kernels on both devices (group / layer / instance norm, forward and backward, every needs mask, rows longer
than a block, strided input, empty batch) are the device-parametrised tests in tests/test_norm_layers.py.

Both devices sum in double, in different orders: float32 agrees to rounding (atol 1e-5 /
rtol 1e-4), float64 to ~1e-12. Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the _C
comparisons with the CPU standing in for the device (checks the test code itself)."""
import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def opt(f, a):
    return None if a is None else f(a)


def _compare(fwd, bwd, arrays, g, dtype):
    """fwd(device_fn, *arrays) -> outputs; bwd(device_fn, g, saved...) -> grads; device vs CPU."""
    dev = fwd(G, *arrays)
    cpu = fwd(T, *arrays)
    for a, e in zip(dev, cpu):
        np.testing.assert_allclose(H(a), N(e), **tol(dtype))
    for needs in [(True, True, True), (True, False, False), (False, True, True)]:
        got = bwd(G, g, [G(N(t)) for t in cpu[1:3]], needs)
        want = bwd(T, g, cpu[1:3], needs)
        for a, e, need in zip(got, want, needs):
            if need and e is not None:
                np.testing.assert_allclose(H(a), N(e), **tol(dtype))
            elif not need:
                assert a is None


# More rows than the grid cap of the row kernels (grid-strided rows): CUDA-only cases, against the CPU twin.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_rows_beyond_grid_cap(dtype, affine):
    shape, groups = (70000, 2), 2
    rng = np.random.default_rng(sum(shape))
    x, g = (rng.standard_normal(shape) * 2 + 1).astype(dtype), rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    w, b = (rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)) if affine else (None, None)
    _compare(lambda D, x, w, b: _C.group_norm_forward(D(x), groups, opt(D, w), opt(D, b), 1e-5),
             lambda D, g, s, needs: _C.group_norm_backward(D(g), D(x), groups, opt(D, w), s[0], s[1], needs),
             (x, w, b), g, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_rows_beyond_grid_cap(dtype, affine):
    shape, ns = (70000, 3), [3]
    rng = np.random.default_rng(len(shape) + sum(ns))
    x, g = (rng.standard_normal(shape) * 3 - 1).astype(dtype), rng.standard_normal(shape).astype(dtype)
    w, b = (rng.standard_normal(ns).astype(dtype), rng.standard_normal(ns).astype(dtype)) if affine else (None, None)
    _compare(lambda D, x, w, b: _C.layer_norm_forward(D(x), ns, opt(D, w), opt(D, b), 1e-5),
             lambda D, g, s, needs: _C.layer_norm_backward(D(g), D(x), ns, opt(D, w), s[0], s[1], needs),
             (x, w, b), g, dtype)


@pytest.mark.skipif(ON_CPU, reason="mixed devices need a real GPU")
def test_mixed_devices_raise():
    x = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(RuntimeError, match="group_norm: expected all tensors to be on the same device"):
        _C.group_norm_forward(G(x), 2, T(np.ones(4, np.float32)), None, 1e-5)
    with pytest.raises(RuntimeError, match="layer_norm_naive: expected a tensor on cpu"):
        _C.layer_norm_forward_naive(G(x), [3], None, None, 1e-5)


@pytest.mark.skipif(ON_CPU, reason="moves modules to a real GPU")
@pytest.mark.parametrize("make,shape", [(lambda: nn.GroupNorm(2, 4), (3, 4, 5, 6)), (lambda: nn.LayerNorm([5, 6]),
                                                                                     (3, 4, 5, 6)),
                                        (lambda: nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                                         (3, 4, 5, 6)), (lambda: nn.LocalResponseNorm(3), (3, 4, 5, 6))])
def test_modules_cuda_train_like_cpu(make, shape):
    cpu, gpu = make(), make()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(np.float32)
        xc, xg = ck.tensor(x, requires_grad=True), ck.tensor(x).cuda().requires_grad_()
        oc, og = cpu(xc), gpu(xg)
        np.testing.assert_allclose(og.detach().cpu().numpy(), oc.detach().numpy(), rtol=1e-4, atol=1e-5)
        (oc * oc).sum().backward()
        (og * og).sum().backward()
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-3, atol=1e-4)
        for pc, pg in zip(cpu.parameters(), gpu.parameters()):
            np.testing.assert_allclose(pg.grad.cpu().numpy(), pc.grad.numpy(), rtol=1e-3, atol=1e-4)
    for (k, a), (_, e) in zip(gpu.state_dict().items(), cpu.state_dict().items()):
        np.testing.assert_allclose(a.cpu().numpy(), e.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    gpu.eval()
    cpu.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(gpu(ck.tensor(x).cuda()).detach().cpu().numpy(), cpu(ck.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
