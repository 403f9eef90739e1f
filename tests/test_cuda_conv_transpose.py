"""CUDA conv_transpose2d (forward, backward) and the CUDA depthwise conv2d kernels against their CPU
twins (the same _C entry points on CPU tensors), on random odd-size data with stride / padding /
output_padding / dilation / groups mixes, float32 and float64; the depthwise kernels also against the
CUDA grouped im2col path (algo='im2col'); modules on the device. Skipped without an NVIDIA GPU
(CNNKIT_CUDA_TESTS_ON_CPU=1 runs the comparisons with the CPU standing in, to check this file)."""
import zlib

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit import _C
from cuda_twin_helpers import DEV, G, H, N, T, needs_device

pytestmark = needs_device


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def tol(dtype):
    return dict(rtol=1e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


TRANSPOSED = [  # (x shape, C_out, kernel, stride, padding, output_padding, dilation, groups)
    ((2, 4, 5, 7), 6, (3, 3), 2, 1, 1, 1, 2),
    ((32, 64, 8, 8), 32, (4, 4), 2, 1, 0, 1, 1),     # autoencoder decoder layer
    ((3, 16, 14, 14), 1, (4, 4), 2, 1, 0, 1, 1),
    ((2, 4, 3, 5), 4, (3, 3), 1, 0, 1, 2, 4),        # output_padding >= stride (< dilation), depthwise
    ((2, 6, 5, 5), 3, (3, 2), (2, 3), (1, 0), (1, 2), 1, 3),
    ((1, 3, 1, 1), 5, (3, 3), 1, 0, 0, 1, 1),
    ((70, 3, 6, 4), 4, (2, 3), (1, 2), (1, 2), 0, (2, 1), 1),  # several chunks
]


@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d_matches_cpu(case, dtype):
    xs, cout, k, s, p, op, d, g = case
    rng = rng_for(case, dtype)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((xs[1], cout // g, *k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    out_cpu = N(_C.conv_transpose2d_forward(T(x), T(w), T(b), s, p, op, d, g))
    out_dev = H(_C.conv_transpose2d_forward(G(x), G(w), G(b), s, p, op, d, g))
    np.testing.assert_allclose(out_dev, out_cpu, **tol(dtype))
    dout = rng.standard_normal(out_cpu.shape).astype(dtype)
    ref = _C.conv_transpose2d_backward(T(dout), T(x), T(w), s, p, op, d, g)
    got = _C.conv_transpose2d_backward(G(dout), G(x), G(w), s, p, op, d, g)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(H(a), N(r), **tol(dtype))
    none_dev = _C.conv_transpose2d_backward(G(dout), G(x), G(w), s, p, op, d, g, (False, True, False))
    assert none_dev[0] is None and none_dev[2] is None
    np.testing.assert_allclose(H(none_dev[1]), N(ref[1]), **tol(dtype))


DEPTHWISE = [  # (N, C, multiplier, H, W, kernel, stride, padding, dilation)
    (2, 3, 1, 7, 9, 3, 1, 1, 1),
    (3, 4, 2, 8, 5, 3, 2, 1, 1),
    (1, 5, 3, 9, 9, (3, 2), (2, 1), (0, 2), (2, 1)),
    (2, 6, 1, 5, 5, 5, 1, 3, 1),
    (4, 32, 1, 28, 28, 3, 2, 1, 1),
    (1, 7, 1, 1, 1, 3, 1, 1, 1),
]


@pytest.mark.parametrize("case", DEPTHWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_matches_cpu_and_im2col(case, dtype):
    n, c, m, h, w_, k, s, p, d = case
    k = (k, k) if isinstance(k, int) else k
    rng = rng_for(case, dtype)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((c * m, 1, *k)).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype)
    args = (s, p, d, c)
    out_cpu = N(_C.conv2d_forward(T(x), T(w), T(b), *args))
    for algo in ("auto", "depthwise", "im2col"):
        np.testing.assert_allclose(H(_C.conv2d_forward(G(x), G(w), G(b), *args, algo=algo)), out_cpu, **tol(dtype))
    dout = rng.standard_normal(out_cpu.shape).astype(dtype)
    ref = _C.conv2d_backward(T(dout), T(x), T(w), *args)
    for algo in ("auto", "depthwise", "im2col"):
        got = _C.conv2d_backward(G(dout), G(x), G(w), *args, algo=algo)
        for a, r in zip(got, ref):
            np.testing.assert_allclose(H(a), N(r), **tol(dtype))


def test_modules_on_device():
    cnnkit.manual_seed(0)
    for make, shape in [(lambda: nn.ConvTranspose2d(8, 4, 4, 2, 1), (2, 8, 5, 5)),
                        (lambda: nn.Conv2d(6, 12, 3, padding=1, groups=6, padding_mode="reflect"), (2, 6, 7, 7))]:
        m_cpu = make()
        m_dev = make()
        m_dev.load_state_dict(m_cpu.state_dict())
        m_dev.to(DEV)
        x = rng_for(shape).standard_normal(shape).astype(np.float32)
        xc, xd = cnnkit.tensor(x, requires_grad=True), cnnkit.tensor(x, device=DEV, requires_grad=True)
        yc, yd = m_cpu(xc), m_dev(xd)
        np.testing.assert_allclose(yd.detach().cpu().numpy(), yc.detach().numpy(), rtol=1e-4, atol=1e-5)
        (yc ** 2).sum().backward()
        (yd ** 2).sum().backward()
        np.testing.assert_allclose(xd.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(m_dev.weight.grad.cpu().numpy(), m_cpu.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
