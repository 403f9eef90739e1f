"""CUDA twins of relu / leaky_relu / sigmoid / tanh (forward and backward) against the CPU kernels.

Layer (a) of the test plan: the same random data through the CPU and the CUDA kernel; relu,
leaky_relu and every backward perform the same roundings on both devices and must agree exactly;
sigmoid/tanh forward use different exp/tanh implementations (a few ulp).
Skipped without a GPU.
"""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

DTYPES = [np.float32, np.float64]
SHAPES = [(1,), (3, 7), (33, 5, 3), (2, 3, 7, 9), (1000003,)]


def _dense(a):
    """A C-contiguous array of a's shape (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def cuda(a):
    """NumPy array -> _C tensor on cuda:0."""
    return cnnkit.from_numpy(_dense(a)).cuda()._t


def host(t):
    """_C tensor (any device) -> NumPy array."""
    return _wrap(t).cpu().numpy()


def rand(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


FORWARDS = {
    "relu": (lambda x: _C.relu_forward(x), True),
    "leaky_relu": (lambda x: _C.leaky_relu_forward(x, 0.07), True),
    "sigmoid": (lambda x: _C.sigmoid_forward(x), False),
    "tanh": (lambda x: _C.tanh_forward(x), False),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(FORWARDS))
def test_forward_matches_cpu(name, shape, dtype):
    f, exact = FORWARDS[name]
    x = rand(shape, dtype)
    ref = np.asarray(f(_C.from_numpy(x)))
    got = host(f(cuda(x)))
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if exact:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, **tol(dtype))


BACKWARDS = {
    # name: (backward(dout, saved), saved from x)
    "relu": (lambda g, s: _C.relu_backward(g, s), lambda x: np.asarray(_C.relu_forward(_C.from_numpy(x)))),
    "leaky_relu": (lambda g, s: _C.leaky_relu_backward(g, s, 0.07), lambda x: x),
    "sigmoid": (lambda g, s: _C.sigmoid_backward(g, s), lambda x: np.asarray(_C.sigmoid_forward(_C.from_numpy(x)))),
    "tanh": (lambda g, s: _C.tanh_backward(g, s), lambda x: np.asarray(_C.tanh_forward(_C.from_numpy(x)))),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(BACKWARDS))
def test_backward_matches_cpu_exactly(name, shape, dtype):
    bwd, saved_of = BACKWARDS[name]
    x = rand(shape, dtype, seed=1)
    g = rand(shape, dtype, seed=2)
    s = np.ascontiguousarray(saved_of(x))
    ref = np.asarray(bwd(_C.from_numpy(g), _C.from_numpy(s)))
    got = host(bwd(cuda(g), cuda(s)))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name", list(FORWARDS))
def test_special_values(name):
    f, _ = FORWARDS[name]
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 88.0, -104.0], np.float32)
    ref = np.asarray(f(_C.from_numpy(x)))
    got = host(f(cuda(x)))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=0, equal_nan=True)


def test_non_contiguous_input():
    x = rand((7, 33), np.float32).T  # a transposed view
    xt = cnnkit.from_numpy(np.ascontiguousarray(x.T)).cuda()._t.transpose(0, 1)
    np.testing.assert_array_equal(host(_C.relu_forward(xt)), np.maximum(x, 0))


def test_empty():
    x = np.zeros((0, 3), np.float32)
    assert host(_C.relu_forward(cuda(x))).shape == (0, 3)


def test_outputs_on_input_device():
    out = _C.sigmoid_forward(cuda(rand((5,), np.float32)))
    assert out.device == "cuda:0"


def test_mixed_devices_raise():
    g = rand((4, 5), np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.relu_backward(cuda(g), _C.from_numpy(g))
    with pytest.raises(RuntimeError, match="same device"):
        _C.tanh_backward(_C.from_numpy(g), cuda(g))


def test_autograd_through_functional():
    x = rand((3, 17), np.float32, seed=5)
    for fn in (cnnkit.relu, cnnkit.sigmoid, cnnkit.tanh):
        xc = cnnkit.from_numpy(x).requires_grad_()
        xg = cnnkit.from_numpy(x).cuda().detach().requires_grad_()
        fn(xc).sum().backward()
        fn(xg).sum().backward()
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-4, atol=1e-5)
