"""CUDA-only checks of adaptive_avg_pool2d / adaptive_max_pool2d: a grid of many planes against the CPU twin,
device-checked indices, mixed devices, and the Python layer on CUDA against the CPU. The window geometries,
NaN/ties, strided views and empty outputs on both devices are in tests/test_adaptive_pool.py (`device` fixture).

The CUDA forward kernels scan each window in the CPU's order (the avg divides sum / kh / kw), and
the avg backward gathers the CPU's additions in the CPU's order, so outputs, indices and average
gradients equal the CPU's generic path exactly. The CPU's 1x1 average path (8-lane plane sum,
one division by H*W) differs by rounding, as does the max backward where windows overlap (atomics).
Skipped without a GPU; CNNKIT_CUDA_TESTS_ON_CPU=1 runs it with the CPU standing in (checks the tests).
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cuda_twin_helpers import DEV, G, H, N, T, needs_device

pytestmark = needs_device

DTYPES = [np.float32, np.float64]

# many planes: several thousand threads, grid-stride (the other window geometries are the device-parametrised
# tests in tests/test_adaptive_pool.py)
CASES = [((16, 64, 14, 14), (3, 3))]


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def out_hw(shape, os):
    if isinstance(os, int):
        return os, os
    return (shape[-2] if os[0] is None else os[0]), (shape[-1] if os[1] is None else os[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_adaptive_avg_matches_cpu(case, dtype):
    shape, os = case
    x = rand(shape, dtype)
    out_c = N(_C.adaptive_avg_pool2d_forward(T(x), os))
    out_g = H(_C.adaptive_avg_pool2d_forward(G(x), os))
    g = rand(out_c.shape, dtype, seed=1)
    dx_c = N(_C.adaptive_avg_pool2d_backward(T(g), list(shape)))
    dx_g = H(_C.adaptive_avg_pool2d_backward(G(g), list(shape)))
    if out_hw(shape, os) == (1, 1):  # the CPU's plane-mean fast path: rounding differs
        np.testing.assert_allclose(out_g, out_c, **tol(dtype))
        np.testing.assert_allclose(dx_g, dx_c, **tol(dtype))
    else:
        np.testing.assert_array_equal(out_g, out_c)
        np.testing.assert_array_equal(dx_g, dx_c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_adaptive_max_matches_cpu(case, dtype):
    shape, os = case
    x = rand(shape, dtype, seed=2)
    out_c, idx_c = _C.adaptive_max_pool2d_forward(T(x), os)
    out_g, idx_g = _C.adaptive_max_pool2d_forward(G(x), os)
    np.testing.assert_array_equal(H(out_g), N(out_c))
    np.testing.assert_array_equal(H(idx_g), N(idx_c))
    g = rand(N(out_c).shape, dtype, seed=3)
    dx_c = N(_C.adaptive_max_pool2d_backward(T(g), idx_c, list(shape)))
    dx_g = H(_C.adaptive_max_pool2d_backward(G(g), idx_g, list(shape)))
    np.testing.assert_allclose(dx_g, dx_c, **tol(dtype))


@pytest.mark.parametrize("bad", [-1, 25, 1 << 40])
def test_bad_indices_raise_index_error(bad):
    g = rand((1, 2, 2, 2), np.float32)
    idx = np.zeros((1, 2, 2, 2), np.int64)
    idx[0, 1, 1, 0] = bad
    idx[0, 1, 1, 1] = -7  # a later bad value: the first one in memory order is reported
    with pytest.raises(IndexError, match=f"adaptive_max_pool2d_backward: index {bad} is out of bounds"):
        _C.adaptive_max_pool2d_backward(G(g), G(idx), [1, 2, 5, 5])
    out, _ = _C.adaptive_max_pool2d_forward(G(rand((1, 1, 4, 4), np.float32)), 2)  # device still usable
    assert H(out).shape == (1, 1, 2, 2)


@pytest.mark.skipif(DEV == "cpu", reason="mixed devices need a GPU")
def test_mixed_devices_raise():
    g = rand((1, 1, 2, 2), np.float32)
    idx = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(RuntimeError, match="same device"):
        _C.adaptive_max_pool2d_backward(G(g), T(idx), [1, 1, 4, 4])
    with pytest.raises(RuntimeError, match="same device"):
        _C.adaptive_max_pool2d_backward(T(g), G(idx), [1, 1, 4, 4])


@pytest.mark.skipif(DEV == "cpu", reason="the Python device API needs a GPU")
def test_functional_autograd_and_head():
    F = cnnkit.nn.functional
    x = rand((2, 3, 9, 8), np.float32, seed=6)
    grads, outs = [], []
    for dev in ("cpu", "cuda"):
        xt = cnnkit.from_numpy(x).to(dev).detach().requires_grad_()
        y = F.adaptive_max_pool2d(xt, (2, 3)).sum() * 2 + F.adaptive_avg_pool2d(xt, 1).sum() \
            + F.adaptive_avg_pool2d(xt, (5, None)).sum()
        y.backward()
        grads.append(xt.grad.cpu().numpy())
        outs.append(cnnkit.nn.AdaptiveAvgPool2d((1, 1))(xt).cpu().detach().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
