"""CUDA-only conv2d tests: a batch larger than the CUDA column buffer (chunked, dweight accumulated across the
chunks) against the CPU twin, and the mixed-device errors. Skipped without an NVIDIA GPU.
The device-parametrised im2col / col2im / conv2d tests (the `device` fixture) are in tests/test_conv.py, the
linear ones in tests/test_linear.py.
"""
import zlib

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]


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


def make(rng, cfg, dtype, bias=True):
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((OC, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if bias else None
    return x, w, b, s, p, d, g


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
