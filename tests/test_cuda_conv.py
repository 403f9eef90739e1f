"""CUDA im2col / col2im / conv2d (fast and naive, forward and backward) / linear against their CPU
twins (the same _C entry points on CPU tensors), on random data of odd sizes; stride, padding,
dilation and groups mixes; batch 1 and > 1; chunked batches; the mixed-device errors.
Skipped without an NVIDIA GPU.
"""
import zlib

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def grad_tol(dtype):
    return dict(rtol=1e-4, atol=5e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


def dev(a):
    """NumPy array -> CUDA _C tensor."""
    return None if a is None else _C.from_numpy(np.ascontiguousarray(a)).to_device("cuda:0")


def cpu(a):
    return None if a is None else _C.from_numpy(np.ascontiguousarray(a))


def host(t):
    """_C tensor (or None) -> NumPy array (or None)."""
    return None if t is None else np.asarray(t.to_device("cpu"))


def seed(cfg):
    return zlib.crc32(repr(cfg).encode())


# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups)
CONFIGS = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),
    (1, 3, 7, 5, 5, 3, 2, 2, 1, 1, 1),
    (3, 4, 9, 11, 6, 3, 3, (2, 1), (0, 2), (2, 1), 2),
    (2, 6, 8, 8, 6, 3, 3, 1, 1, 1, 6),            # depthwise
    (2, 4, 7, 7, 8, 1, 1, 2, 0, 1, 1),            # 1x1 stride 2 (a ResNet shortcut)
    (3, 5, 6, 6, 7, 1, 1, 1, 0, 1, 1),            # 1x1 stride 1
    (1, 3, 33, 33, 2, 1, 1, 1, 0, 1, 1),          # 1x1 stride 1, batch 1: im2col skipped
    (2, 2, 33, 35, 3, 3, 3, 1, 1, 1, 1),
    (7, 3, 20, 20, 4, 3, 3, 1, 1, 1, 1),
    (5, 2, 5, 6, 3, 5, 5, 1, 2, 1, 1),            # 5x5 kernel on a 5x6 image, padding 2
    (2, 3, 10, 9, 4, 3, 3, 3, 2, 2, 1),           # stride, padding and dilation together
    (1, 2, 4, 4, 3, 5, 5, 1, 2, 1, 1),            # kernel larger than the image, padding covers it
    (2, 33, 9, 7, 65, 3, 3, 1, 1, 1, 1),          # channel counts off the 64-tile edges
    (3, 8, 13, 13, 12, 3, 3, 2, 1, 1, 4),         # groups with stride 2
]


def make(rng, cfg, dtype, bias=True):
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((OC, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if bias else None
    return x, w, b, s, p, d, g


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C,H,W,k,s,p,d", [
    (1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1)),
    (3, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1)),
    (2, 7, 9, (3, 2), (2, 3), (1, 0), (1, 2)),
    (4, 5, 5, (5, 5), (1, 1), (2, 2), (1, 1)),
    (2, 3, 3, (3, 3), (2, 2), (3, 3), (1, 1)),   # taps that read only padding
    (1, 6, 8, (2, 2), (2, 2), (0, 0), (3, 3)),
    (33, 17, 15, (3, 3), (2, 2), (1, 1), (1, 1)),
])
def test_im2col_col2im_match_cpu(C, H, W, k, s, p, d, dtype):
    rng = np.random.default_rng(C * H * W)
    x = rng.standard_normal((C, H, W)).astype(dtype)
    cols_cpu = np.asarray(_C.im2col(cpu(x), k, s, p, d))
    np.testing.assert_array_equal(host(_C.im2col(dev(x), k, s, p, d)), cols_cpu)
    y = rng.standard_normal(cols_cpu.shape).astype(dtype)
    im_cpu = np.asarray(_C.col2im(cpu(y), (C, H, W), k, s, p, d))
    # Same summation order per pixel (taps in (kh, kw) order) as the CPU twin.
    np.testing.assert_allclose(host(_C.col2im(dev(y), (C, H, W), k, s, p, d)), im_cpu, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv2d_forward_matches_cpu(cfg, dtype):
    rng = np.random.default_rng(seed(cfg))
    for bias in (True, False):
        x, w, b, s, p, d, g = make(rng, cfg, dtype, bias)
        ref = np.asarray(_C.conv2d_forward(cpu(x), cpu(w), cpu(b), s, p, d, g))
        np.testing.assert_allclose(host(_C.conv2d_forward(dev(x), dev(w), dev(b), s, p, d, g)), ref, **tol(dtype))
        np.testing.assert_allclose(host(_C.conv2d_naive(dev(x), dev(w), dev(b), s, p, d, g)), ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv2d_backward_matches_cpu(cfg, dtype):
    rng = np.random.default_rng(seed(cfg) + 1)
    x, w, _, s, p, d, g = make(rng, cfg, dtype, bias=False)
    out_shape = np.asarray(_C.conv2d_forward(cpu(x), cpu(w), None, s, p, d, g)).shape
    dout = rng.standard_normal(out_shape).astype(dtype)
    ref = _C.conv2d_backward(cpu(dout), cpu(x), cpu(w), s, p, d, g, (True, True, True))
    fast = _C.conv2d_backward(dev(dout), dev(x), dev(w), s, p, d, g, (True, True, True))
    naive = _C.conv2d_backward_naive(dev(dout), dev(x), dev(w), s, p, d, g, (True, True, True))
    for r, f, n in zip(ref, fast, naive):
        np.testing.assert_allclose(host(f), np.asarray(r), **grad_tol(dtype))
        np.testing.assert_allclose(host(n), np.asarray(r), **grad_tol(dtype))


def test_conv2d_backward_needs_subsets():
    cfg = (3, 4, 9, 11, 6, 3, 3, (2, 1), (0, 2), (2, 1), 2)
    rng = np.random.default_rng(11)
    x, w, _, s, p, d, g = make(rng, cfg, np.float64, bias=False)
    out_shape = np.asarray(_C.conv2d_forward(cpu(x), cpu(w), None, s, p, d, g)).shape
    dout = rng.standard_normal(out_shape)
    full = _C.conv2d_backward(dev(dout), dev(x), dev(w), s, p, d, g, (True, True, True))
    for needs in [(True, False, False), (False, True, False), (False, False, True), (False, False, False)]:
        part = _C.conv2d_backward(dev(dout), dev(x), dev(w), s, p, d, g, needs)
        for want, got, ref in zip(needs, part, full):
            if want:
                np.testing.assert_allclose(host(got), host(ref), rtol=1e-12, atol=1e-12)
            else:
                assert got is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_chunked_batch(dtype):
    # 32*5*5 rows x 1024 columns per image: the 64 MiB column buffer holds 20 float32 / 10 float64
    # images, so 25 images run as several equal chunks (dweight accumulates across them).
    cfg = (25, 32, 32, 32, 9, 5, 5, 1, 2, 1, 1)
    rng = np.random.default_rng(21)
    x, w, b, s, p, d, g = make(rng, cfg, dtype)
    ref = np.asarray(_C.conv2d_forward(cpu(x), cpu(w), cpu(b), s, p, d, g))
    np.testing.assert_allclose(host(_C.conv2d_forward(dev(x), dev(w), dev(b), s, p, d, g)), ref,
                               rtol=1e-4, atol=1e-3 if dtype == np.float32 else 1e-10)
    dout = rng.standard_normal(ref.shape).astype(dtype)
    want = _C.conv2d_backward(cpu(dout), cpu(x), cpu(w), s, p, d, g, (True, True, True))
    got = _C.conv2d_backward(dev(dout), dev(x), dev(w), s, p, d, g, (True, True, True))
    for r, f in zip(want, got):
        r = np.asarray(r)
        scale = np.abs(r).max()
        np.testing.assert_allclose(host(f), r, rtol=1e-4, atol=(1e-5 if dtype == np.float32 else 1e-12) * scale)


def test_conv2d_non_contiguous_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)  # NHWC, permuted to NCHW views
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    ref = np.asarray(_C.conv2d_forward(cpu(x).permute([0, 3, 1, 2]), cpu(w), None, 1, 1, 1, 1))
    got = host(_C.conv2d_forward(dev(x).permute([0, 3, 1, 2]), dev(w), None, 1, 1, 1, 1))
    np.testing.assert_allclose(got, ref, **tol(np.float32))


def test_conv2d_empty_batch():
    x = dev(np.zeros((0, 3, 5, 5), np.float32))
    w = dev(np.ones((4, 3, 3, 3), np.float32))
    out = _C.conv2d_forward(x, w, None, 1, 1, 1, 1)
    assert tuple(out.shape) == (0, 4, 5, 5)
    dx, dw, db = _C.conv2d_backward(out, x, w, 1, 1, 1, 1, (True, True, True))
    assert tuple(dx.shape) == (0, 3, 5, 5)
    np.testing.assert_array_equal(host(dw), np.zeros((4, 3, 3, 3), np.float32))
    np.testing.assert_array_equal(host(db), np.zeros(4, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,IN,OUT", [(1, 1, 1), (3, 7, 33), (33, 65, 7), (128, 257, 10), (7, 1, 130)])
def test_linear_matches_cpu(N, IN, OUT, dtype):
    rng = np.random.default_rng(N * IN * OUT)
    x = rng.standard_normal((N, IN)).astype(dtype)
    w = rng.standard_normal((OUT, IN)).astype(dtype)
    b = rng.standard_normal(OUT).astype(dtype)
    for bb in (b, None):
        ref = np.asarray(_C.linear_forward(cpu(x), cpu(w), cpu(bb)))
        np.testing.assert_allclose(host(_C.linear_forward(dev(x), dev(w), dev(bb))), ref, **tol(dtype))
    dout = rng.standard_normal((N, OUT)).astype(dtype)
    want = _C.linear_backward(cpu(dout), cpu(x), cpu(w), (True, True, True))
    got = _C.linear_backward(dev(dout), dev(x), dev(w), (True, True, True))
    for r, f in zip(want, got):
        np.testing.assert_allclose(host(f), np.asarray(r), **grad_tol(dtype))
    part = _C.linear_backward(dev(dout), dev(x), dev(w), (False, True, False))
    assert part[0] is None and part[2] is None
    np.testing.assert_allclose(host(part[1]), np.asarray(want[1]), **grad_tol(dtype))


def test_mixed_devices_raise():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    b = np.ones(4, np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.conv2d_forward(dev(x), cpu(w), None, 1, 1, 1, 1)
    with pytest.raises(RuntimeError, match="same device"):
        _C.conv2d_forward(dev(x), dev(w), cpu(b), 1, 1, 1, 1)
    with pytest.raises(RuntimeError, match="same device"):
        _C.conv2d_naive(cpu(x), dev(w), None, 1, 1, 1, 1)
    dout = np.ones((2, 4, 5, 5), np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.conv2d_backward(cpu(dout), dev(x), dev(w), 1, 1, 1, 1)
    with pytest.raises(RuntimeError, match="same device"):
        _C.linear_forward(dev(np.ones((2, 3), np.float32)), cpu(np.ones((4, 3), np.float32)), None)
    with pytest.raises(RuntimeError, match="same device"):
        _C.linear_backward(cpu(np.ones((2, 4), np.float32)), dev(np.ones((2, 3), np.float32)),
                           dev(np.ones((4, 3), np.float32)))


def test_bad_inputs_on_cuda_raise_like_cpu():
    with pytest.raises(ValueError):
        _C.im2col(dev(np.zeros((1, 2, 4, 4), np.float32)), 3)
    with pytest.raises(TypeError):
        _C.im2col(dev(np.zeros((2, 4, 4), np.int64)), 3)
    with pytest.raises(ValueError):
        _C.col2im(dev(np.zeros((18, 5), np.float32)), (2, 4, 4), 3)
    with pytest.raises(ValueError, match="divisible by groups"):
        _C.conv2d_forward(dev(np.ones((1, 3, 5, 5), np.float32)), dev(np.ones((4, 1, 3, 3), np.float32)), None,
                          1, 0, 1, 2)
