"""CUDA grid_sample against its CPU twin on random odd-size data (every mode x padding mode x
align_corners, float32 and float64, grid points inside and outside [-1, 1]), forward and both
gradients; F.grid_sample / F.affine_grid through autograd on the GPU; the device-mismatch error.

The taps are shared code (grid_sample.h), so nearest agrees exactly; bilinear / bicubic sums may
differ by FMA contraction and, in the input gradient, by the atomicAdd order (float32 rtol 1e-5).
Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the _C comparisons with the CPU standing in
for the device."""
import itertools

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

COMBOS = list(itertools.product(["bilinear", "nearest", "bicubic"], ["zeros", "border", "reflection"],
                                [False, True]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_grid_sample_matches_cpu(mode, pm, ac, dtype):
    rng = np.random.default_rng(0)
    t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for (n, c, h, w), (oh, ow) in [((2, 3, 5, 7), (4, 6)), ((1, 1, 1, 1), (3, 3)), ((3, 4, 17, 33), (9, 13)),
                                   ((2, 5, 8, 1), (1, 7)), ((1, 2, 64, 48), (33, 31))]:
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        g = rng.uniform(-1.5, 1.5, (n, oh, ow, 2)).astype(dtype)
        go = rng.standard_normal((n, c, oh, ow)).astype(dtype)
        dev = _C.grid_sample_forward(G(x), G(g), mode, pm, ac)
        cpu = _C.grid_sample_forward(T(x), T(g), mode, pm, ac)
        if mode == "nearest":
            np.testing.assert_array_equal(H(dev), N(cpu))
        else:
            np.testing.assert_allclose(H(dev), N(cpu), **t)
        dx_d, dg_d = _C.grid_sample_backward(G(go), G(x), G(g), mode, pm, ac, (True, True))
        dx_c, dg_c = _C.grid_sample_backward(T(go), T(x), T(g), mode, pm, ac, (True, True))
        np.testing.assert_allclose(H(dx_d), N(dx_c), **t)
        np.testing.assert_allclose(H(dg_d), N(dg_c), **t)
        only_g = _C.grid_sample_backward(G(go), G(x), G(g), mode, pm, ac, (False, True))
        assert only_g[0] is None
        np.testing.assert_allclose(H(only_g[1]), N(dg_c), **t)


def test_grid_sample_empty_and_non_finite():
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 5))
    big = np.array([1e10, -1e10, np.inf, -np.inf, np.nan, 0.25])
    g = np.stack(np.meshgrid(big, big), -1).reshape(1, 6, 6, 2)
    for mode, pm, ac in COMBOS:
        d, c = H(_C.grid_sample_forward(G(x), G(g), mode, pm, ac)), N(_C.grid_sample_forward(T(x), T(g), mode, pm, ac))
        np.testing.assert_allclose(d, c, rtol=1e-12, atol=1e-12)  # NaN where the CPU has NaN
    for xs, gs in [((0, 3, 4, 5), (0, 2, 3, 2)), ((2, 0, 4, 5), (2, 2, 3, 2)), ((2, 3, 4, 5), (2, 0, 3, 2))]:
        out = _C.grid_sample_forward(G(np.zeros(xs)), G(np.zeros(gs)), "bilinear", "zeros", False)
        assert tuple(out.shape) == (xs[0], xs[1], gs[1], gs[2])
        go = np.ones(tuple(out.shape))
        dx, dg = _C.grid_sample_backward(G(go), G(np.zeros(xs)), G(np.zeros(gs)), "bilinear", "zeros", False,
                                         (True, True))
        assert not H(dx).any() and not H(dg).any() and H(dg).shape == gs


@pytest.mark.skipif(ON_CPU, reason="autograd and device checks on a real GPU")
def test_autograd_on_gpu_matches_cpu():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    theta = np.array([[[0.8, -0.6, 0.1], [0.6, 0.8, -0.2]], [[1.1, 0.2, 0.0], [-0.1, 0.9, 0.3]]], np.float32)
    for mode, pm, ac in [("bilinear", "zeros", False), ("bicubic", "reflection", True), ("nearest", "border", False)]:
        outs, grads = [], []
        for dev in ("cpu", "cuda"):
            xt = ck.tensor(x).to(dev).requires_grad_()
            tt = ck.tensor(theta).to(dev).requires_grad_()
            out = F.grid_sample(xt, F.affine_grid(tt, [2, 3, 8, 6], align_corners=ac), mode=mode, padding_mode=pm,
                                align_corners=ac)
            (out * out).sum().backward()
            outs.append(out.detach().cpu().numpy())
            grads.append((xt.grad.cpu().numpy(), tt.grad.cpu().numpy()))
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-3, atol=1e-3)
    with pytest.raises(RuntimeError, match=r"grid_sampler\(\): expected input and grid to be on same device, but "
                                           r"input is on cuda:0 and grid is on cpu"):
        F.grid_sample(ck.tensor(x).cuda(), ck.zeros(2, 3, 3, 2), align_corners=False)
