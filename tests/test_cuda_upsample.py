"""CUDA interpolation (nearest, nearest-exact, (bi)linear with align_corners False/True; sizes and
scale factors, up and down, 1-D and 2-D) and max unpooling against the CPU twins on random
odd-size data, forward and backward; F.interpolate / nn.MaxUnpool2d through autograd on the GPU.

The index rules are shared code (upsample.h), so the nearest modes and unpooling agree exactly;
linear results may differ by FMA rounding in the interpolation sums (float32 rtol 1e-5). Skipped without a GPU.
CNNKIT_CUDA_TESTS_ON_CPU=1 runs the _C comparisons with the CPU standing in for the device."""
import itertools

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

KMODES = [("nearest", False), ("nearest-exact", False), ("linear", False), ("linear", True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kmode,ac", KMODES)
def test_upsample_2d_matches_cpu(kmode, ac, dtype):
    rng = np.random.default_rng(0)
    t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for (Hh, W), (OH, OW) in itertools.product([(1, 1), (3, 5), (8, 8), (17, 33)], [(1, 1), (6, 10), (5, 13),
                                                                                    (3, 2), (64, 40), (16, 16)]):
        x = rng.standard_normal((2, 3, Hh, W)).astype(dtype)
        g = rng.standard_normal((2, 3, OH, OW)).astype(dtype)
        for scales in ([], [OH / Hh * 1.01, OW / W * 0.99]):
            dev = _C.upsample_forward(G(x), [OH, OW], kmode, ac, scales)
            cpu = _C.upsample_forward(T(x), [OH, OW], kmode, ac, scales)
            if kmode == "linear":
                np.testing.assert_allclose(H(dev), N(cpu), **t)
            else:
                np.testing.assert_array_equal(H(dev), N(cpu))
            d_dev = _C.upsample_backward(G(g), list(x.shape), [OH, OW], kmode, ac, scales)
            d_cpu = _C.upsample_backward(T(g), list(x.shape), [OH, OW], kmode, ac, scales)
            np.testing.assert_allclose(H(d_dev), N(d_cpu), **t)


@pytest.mark.parametrize("kmode,ac", KMODES)
def test_upsample_1d_matches_cpu(kmode, ac):
    rng = np.random.default_rng(1)
    for L, OL in itertools.product([1, 4, 13], [1, 7, 26, 3]):
        x = rng.standard_normal((3, 2, L)).astype(np.float32)
        g = rng.standard_normal((3, 2, OL)).astype(np.float32)
        np.testing.assert_allclose(H(_C.upsample_forward(G(x), [OL], kmode, ac, [])),
                                   N(_C.upsample_forward(T(x), [OL], kmode, ac, [])), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(H(_C.upsample_backward(G(g), list(x.shape), [OL], kmode, ac, [])),
                                   N(_C.upsample_backward(T(g), list(x.shape), [OL], kmode, ac, [])), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_unpool_matches_cpu(dtype):
    rng = np.random.default_rng(2)
    for shape, (OH, OW) in [((2, 3, 4, 5), (8, 10)), ((1, 1, 1, 1), (3, 3)), ((3, 7, 9), (17, 18))]:
        x = rng.standard_normal(shape).astype(dtype)
        # distinct indices per plane (a random permutation), so the scatter has one writer each
        idx = np.stack([rng.permutation(OH * OW)[: shape[-2] * shape[-1]]
                        for _ in range(int(np.prod(shape[:-2])))]).reshape(shape)
        np.testing.assert_array_equal(H(_C.max_unpool2d_forward(G(x), G(idx), [OH, OW])),
                                      N(_C.max_unpool2d_forward(T(x), T(idx), [OH, OW])))
        g = rng.standard_normal(shape[:-2] + (OH, OW)).astype(dtype)
        np.testing.assert_array_equal(H(_C.max_unpool2d_backward(G(g), G(idx))),
                                      N(_C.max_unpool2d_backward(T(g), T(idx))))
    with pytest.raises(RuntimeError, match=r"Found an invalid max index: 16 \(output volumes are of size 4x4\)"):
        _C.max_unpool2d_forward(G(np.zeros((1, 1, 2, 2))), G(np.array([[[[0, 1], [16, 2]]]])), [4, 4])


@pytest.mark.skipif(ON_CPU, reason="autograd on a real GPU")
def test_autograd_on_gpu_matches_cpu():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    for kw in [dict(scale_factor=2.5, mode="bilinear"), dict(size=(4, 11), mode="nearest"),
               dict(scale_factor=1.7, mode="bilinear", align_corners=True), dict(size=(3, 3), mode="area")]:
        xc, xg = ck.tensor(x, requires_grad=True), ck.tensor(x).cuda().requires_grad_()
        oc, og = F.interpolate(xc, **kw), F.interpolate(xg, **kw)
        np.testing.assert_allclose(og.detach().cpu().numpy(), oc.detach().numpy(), rtol=1e-5, atol=1e-6)
        (oc * oc).sum().backward()
        (og * og).sum().backward()
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-4, atol=1e-5)
    xc, xg = ck.tensor(x, requires_grad=True), ck.tensor(x).cuda().requires_grad_()
    oc, ic = F.max_pool2d(xc, 2, return_indices=True)
    og, ig = F.max_pool2d(xg, 2, return_indices=True)
    uc, ug = F.max_unpool2d(oc, ic, 2, output_size=(6, 7)), F.max_unpool2d(og, ig, 2, output_size=(6, 7))
    np.testing.assert_array_equal(ug.detach().cpu().numpy(), uc.detach().numpy())
    (uc * 2).sum().backward()
    (ug * 2).sum().backward()
    np.testing.assert_array_equal(xg.grad.cpu().numpy(), xc.grad.numpy())
