"""CUDA F.pad (_C.pad_forward / _C.pad_backward) against its CPU twin on random odd-size data, every
mode, cropping pads, 1-3 padded dims, float32/float64 (and an int64 forward), plus autograd through
F.pad on the device and the mixed-device error. Skipped without an NVIDIA GPU
(CNNKIT_CUDA_TESTS_ON_CPU=1 runs the comparisons with the CPU standing in, to check this file)."""
import numpy as np
import pytest

import cnnkit
import cnnkit.nn.functional as F
from cnnkit import _C
from cuda_twin_helpers import DEV, G, H, N, ON_CPU, T, needs_device

pytestmark = needs_device

CASES = [
    ((2, 3, 7), (1, 2)), ((3, 5), (4, 0)), ((2, 3, 5, 7), (1, 2, 3, 1)), ((3, 4, 6), (0, 3, 2, 2)),
    ((1, 2, 3, 4, 5), (1, 2, 0, 3, 2, 1)), ((2, 3, 7), (-1, 2)), ((2, 3, 5, 6), (-1, 2, 1, -2)),
    ((4, 8, 33, 17), (2, 3, 1, 2)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad_matches_cpu(mode, shape, pad, dtype):
    rng = np.random.default_rng(abs(hash((mode, shape, pad))) % 2**32)
    x = rng.standard_normal(shape).astype(dtype)
    out_cpu = N(_C.pad_forward(T(x), list(pad), mode, 1.25))
    out_dev = H(_C.pad_forward(G(x), list(pad), mode, 1.25))
    np.testing.assert_array_equal(out_dev, out_cpu)
    g = rng.standard_normal(out_cpu.shape).astype(dtype)
    dx_cpu = N(_C.pad_backward(T(g), list(shape), list(pad), mode))
    dx_dev = H(_C.pad_backward(G(g), list(shape), list(pad), mode))
    # the same gather in the same order: equal up to the last bit
    np.testing.assert_allclose(dx_dev, dx_cpu, rtol=1e-6, atol=1e-6)


def test_pad_int64_forward():
    x = np.arange(60, dtype=np.int64).reshape(3, 4, 5)
    np.testing.assert_array_equal(H(_C.pad_forward(G(x), [1, 2, 2, 0], "constant", 9.0)),
                                  N(_C.pad_forward(T(x), [1, 2, 2, 0], "constant", 9.0)))


def test_autograd_on_device():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    xd = cnnkit.tensor(x, device=DEV, requires_grad=True)
    xc = cnnkit.tensor(x, requires_grad=True)
    for t in (xd, xc):
        (F.pad(t, (2, 1, 1, 2), mode="reflect") ** 2).sum().backward()
    np.testing.assert_allclose(xd.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(ON_CPU, reason="needs a real device")
def test_backward_shape_check_on_device():
    with pytest.raises(ValueError, match="expected grad_output of shape"):
        _C.pad_backward(G(np.zeros((2, 4), np.float32)), [2, 3], [1, 1], "constant")
