"""CUDA twins of the parametrised activations (activation_forward/backward) and prelu against the
CPU kernels on random odd-size data. Both devices evaluate the same functors
(activation_functors.h); the selects and +-*/ ops match exactly, the transcendental ones
(exp/erf/tanh/log1p: libm vs CUDA's math library) within a few ulp. Skipped without a GPU."""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")

SHAPES = [(1,), (3, 7), (2, 3, 7, 9), (100003,)]
# op -> (params, exact on both devices)
OPS = {
    "elu": ([0.7, 1.0, 1.0], False), "gelu": ([], False), "gelu_tanh": ([], False), "silu": ([], False),
    "softplus": ([2.0, 5.0], False), "hardtanh": ([-1.5, 2.0], True), "hardswish": ([], True),
    "hardsigmoid": ([], True), "mish": ([], False), "logsigmoid": ([], False), "softsign": ([], True),
    "tanhshrink": ([], False), "threshold": ([0.5, -2.0], True), "hardshrink": ([0.8], True),
    "softshrink": ([0.8], True),
}


def cuda(a):
    a = np.asarray(a)
    return cnnkit.from_numpy(a if a.flags.c_contiguous else a.copy()).cuda()._t


def host(t):
    return _wrap(t).cpu().numpy()


def rand(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", list(OPS))
def test_activation_cuda_matches_cpu(op, shape, dtype):
    params, exact = OPS[op]
    x = rand(shape, dtype)
    g = rand(shape, dtype, seed=1, scale=1.0)
    ref = np.asarray(_C.activation_forward(op, _C.from_numpy(x), params))
    got = host(_C.activation_forward(op, cuda(x), params))
    dref = np.asarray(_C.activation_backward(op, _C.from_numpy(g), _C.from_numpy(x), params))
    dgot = host(_C.activation_backward(op, cuda(g), cuda(x), params))
    if exact:
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(dgot, dref)
    else:
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(got, ref, **tol)
        np.testing.assert_allclose(dgot, dref, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,nparam", [((4, 3, 5, 7), 3), ((4, 3, 5, 7), 1), ((33, 5), 5), ((100003,), 1)])
def test_prelu_cuda_matches_cpu(shape, nparam, dtype):
    x = rand(shape, dtype, seed=2)
    w = np.linspace(-0.5, 0.5, nparam).astype(dtype)
    g = rand(shape, dtype, seed=3, scale=1.0)
    np.testing.assert_array_equal(host(_C.prelu_forward(cuda(x), cuda(w))),
                                  np.asarray(_C.prelu_forward(_C.from_numpy(x), _C.from_numpy(w))))
    dx_c, dw_c = _C.prelu_backward(_C.from_numpy(g), _C.from_numpy(x), _C.from_numpy(w))
    dx_g, dw_g = _C.prelu_backward(cuda(g), cuda(x), cuda(w))
    np.testing.assert_array_equal(host(dx_g), np.asarray(dx_c))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(dw_g), np.asarray(dw_c), **tol)  # double sums in another order


def test_functional_on_cuda_with_autograd():
    import cnnkit.nn.functional as F

    x = cnnkit.randn(3, 4, 5, device="cuda", requires_grad=True)
    w = cnnkit.full((4,), 0.2, device="cuda", requires_grad=True)
    (F.gelu(x) + F.prelu(x, w) + F.softmin(x, 1)).sum().backward()
    assert x.grad.device.type == "cuda" and w.grad.device.type == "cuda"
    with pytest.raises(RuntimeError, match="same device"):
        F.prelu(x.detach(), cnnkit.ones(4))
