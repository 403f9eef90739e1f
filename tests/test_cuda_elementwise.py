"""CUDA-only elementwise tests: a grid-stride loop past the grid limit, ranks up to and past the 25-dim CUDA
kernel limit (against the CPU twin), and the mixed-device errors. The kernel cases that run on every device
are the [cuda] halves of the device-parametrised tests in tests/test_elementwise_kernels.py.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""

import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(2024)


def rand(shape, dtype, positive=False, nonzero=False):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        lo = 0 if (positive or dtype == np.uint8) else -9
        a = RNG.integers(lo, 10, size=shape).astype(dtype)
        if nonzero:
            a[a == 0] = 3
        return a
    a = RNG.standard_normal(shape).astype(dtype)
    if positive:
        a = np.abs(a) + 0.1
    if nonzero:
        a[np.abs(a) < 1e-3] = 0.5
    return a


@pytest.mark.skipif(ON_CPU, reason="a GPU grid limit: 2 GB of arrays for nothing on the CPU")
def test_binary_second_grid_stride_pass():
    # blocks_for caps the grid at 65,535 * 8 blocks of 256 threads = 134,215,680 elements: one more than that
    # makes the first threads take a second trip round the grid-stride loop (test_binary_large_grid_stride, in
    # tests/test_elementwise_kernels.py, fits in one).
    n = 65535 * 8 * 256 + 1001
    a = np.random.default_rng(3).standard_normal(n, dtype=np.float32)
    b = rand((1,), np.float32, nonzero=True)
    got = H(_C.binary("mul", G(a), G(b).expand([n])))
    np.testing.assert_array_equal(got, a * b[0])  # one multiply per element: exact


@pytest.mark.skipif(ON_CPU, reason="mixed devices need a real device")
def test_mixed_devices_raise():
    a = rand((3, 4), np.float32)
    with pytest.raises(RuntimeError, match="cuda:0"):
        _C.binary("add", T(a), G(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.binary_("add", G(a), T(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.where(T(a > 0), G(a), G(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.masked_fill_(G(a), T(a > 0), 1.0)
    with pytest.raises(RuntimeError, match="same device"):
        _C.clamp_backward(T(a), G(a), 0.0, 1.0)


@pytest.mark.parametrize("nd", [9, 13, 25])
def test_many_unmergeable_dims_work_like_the_cpu(nd):
    # nd dims of size 2, one operand in reversed stride order: no two dims can be merged for both operands.
    a = rand((2,) * nd, np.float32)
    b = rand((2,) * nd, np.float32)
    rev = list(range(nd - 1, -1, -1))
    want = N(_C.binary("add", T(a).permute(rev), T(b)))
    np.testing.assert_array_equal(H(_C.binary("add", G(a).permute(rev), G(b))), want)
    np.testing.assert_array_equal(H(G(a).permute(rev).contiguous()), N(T(a).permute(rev).contiguous()))


@pytest.mark.skipif(ON_CPU, reason="the CPU kernels have no dims limit")
def test_more_than_25_unmergeable_dims_raise_like_torch_cuda():
    # PyTorch's CUDA kernels stop at 25 dims as ours do; copies (contiguous) go on working beyond.
    a = rand((2,) * 26, np.float32)
    rev = list(range(25, -1, -1))
    with pytest.raises(RuntimeError, match="at most 25"):
        _C.binary("add", G(a).permute(rev), G(a))
    np.testing.assert_array_equal(H(G(a).permute(rev).contiguous()), np.ascontiguousarray(a.transpose(rev)))
