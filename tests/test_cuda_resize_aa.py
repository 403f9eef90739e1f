"""CUDA bicubic and antialiased (bilinear / bicubic) interpolation against the CPU twins on random
odd-size data, forward and backward, sizes and scale factors, up and down, align_corners both;
F.interpolate through autograd on the GPU.

Both devices apply the same host-built weight tables with separately rounded products (no FMA), so
results are expected to agree to the last bit; the tests allow float32 rtol 1e-6 (float64 1e-13)
so that a compiler's different rounding of the sums could not fail them. Skipped without a GPU.
CNNKIT_CUDA_TESTS_ON_CPU=1 runs the _C comparisons with the CPU standing in for the device."""
import itertools

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

SEP_MODES = [("cubic", False), ("cubic", True), ("linear", True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kmode,aa", SEP_MODES)
@pytest.mark.parametrize("ac", [False, True])
def test_resize_matches_cpu(kmode, aa, ac, dtype):
    rng = np.random.default_rng(0)
    t = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    for (Hh, W), (OH, OW) in itertools.product([(1, 1), (3, 5), (8, 8), (17, 33), (64, 64)],
                                               [(1, 1), (6, 10), (5, 13), (3, 1), (32, 32), (71, 40)]):
        x = rng.standard_normal((2, 3, Hh, W)).astype(dtype)
        g = rng.standard_normal((2, 3, OH, OW)).astype(dtype)
        for scales in ([], [OH / Hh * 1.01, OW / W * 0.99]):
            dev = _C.upsample_forward(G(x), [OH, OW], kmode, ac, scales, aa)
            cpu = _C.upsample_forward(T(x), [OH, OW], kmode, ac, scales, aa)
            np.testing.assert_allclose(H(dev), N(cpu), **t)
            d_dev = _C.upsample_backward(G(g), list(x.shape), [OH, OW], kmode, ac, scales, aa)
            d_cpu = _C.upsample_backward(T(g), list(x.shape), [OH, OW], kmode, ac, scales, aa)
            np.testing.assert_allclose(H(d_dev), N(d_cpu), **t)


def test_resize_large_and_empty_on_device():
    """A strong downsample (long tap lists), torchvision-like shapes and an empty batch."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 300, 257)).astype(np.float32)
    for kmode, aa in SEP_MODES:
        for size in ([7, 5], [224, 224]):
            np.testing.assert_allclose(H(_C.upsample_forward(G(x), size, kmode, False, [], aa)),
                                       N(_C.upsample_forward(T(x), size, kmode, False, [], aa)), rtol=1e-6, atol=1e-6)
        e = _C.upsample_forward(G(np.zeros((0, 3, 4, 4), np.float32)), [2, 3], kmode, False, [], aa)
        assert list(e.shape) == [0, 3, 2, 3]


@pytest.mark.skipif(ON_CPU, reason="autograd on a real GPU")
def test_autograd_on_gpu_matches_cpu():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 13, 11)).astype(np.float32)
    for kw in [dict(size=(5, 4), mode="bilinear", antialias=True), dict(scale_factor=2.5, mode="bicubic"),
               dict(size=(6, 29), mode="bicubic", antialias=True),
               dict(scale_factor=0.7, mode="bicubic", align_corners=True)]:
        xc, xg = ck.tensor(x, requires_grad=True), ck.tensor(x).cuda().requires_grad_()
        oc, og = F.interpolate(xc, **kw), F.interpolate(xg, **kw)
        np.testing.assert_allclose(og.detach().cpu().numpy(), oc.detach().numpy(), rtol=1e-6, atol=1e-6)
        (oc * oc).sum().backward()
        (og * og).sum().backward()
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-5, atol=1e-5)
