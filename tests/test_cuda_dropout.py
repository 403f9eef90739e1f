"""CUDA twin of the Philox dropout kernels: for the same seed and offset the CUDA mask is the CPU
mask bit for bit, and the outputs and gradients match exactly (one multiply, plus one add for
alpha dropout, on both devices). Skipped without a GPU."""
import numpy as np
import pytest

import cnnkit
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.tensor import _wrap

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")


def cuda(a):
    return cnnkit.from_numpy(np.ascontiguousarray(a)).cuda()._t


def host(t):
    return _wrap(t).cpu().numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,inner", [(1, 1), (37, 1), (1000003, 1), (60, 5), (4 * 16 * 49, 49)])
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 1.0])
def test_dropout_cuda_matches_cpu(n, inner, alpha, p, dtype):
    x = np.random.default_rng(0).standard_normal(n).astype(dtype)
    g = np.random.default_rng(1).standard_normal(n).astype(dtype)
    seed, offset = 0x123456789ABCDEF, 5
    out_c, mask_c = _C.dropout_forward(_C.from_numpy(x), p, seed, offset, inner, alpha)
    out_g, mask_g = _C.dropout_forward(cuda(x), p, seed, offset, inner, alpha)
    np.testing.assert_array_equal(host(mask_g), np.asarray(mask_c))
    np.testing.assert_array_equal(host(out_g), np.asarray(out_c))
    d_c = _C.dropout_backward(_C.from_numpy(g), mask_c, p, inner, alpha)
    d_g = _C.dropout_backward(cuda(g), mask_g, p, inner, alpha)
    np.testing.assert_array_equal(host(d_g), np.asarray(d_c))


def test_functional_dropout_on_cuda_reproducible():
    cnnkit.manual_seed(7)
    x = cnnkit.randn(8, 16, 5, 5, device="cuda", requires_grad=True)
    cnnkit.manual_seed(8)
    a = F.dropout2d(x, 0.5)
    cnnkit.manual_seed(8)
    b = F.dropout2d(x.detach().cpu(), 0.5)
    np.testing.assert_array_equal(a.detach().cpu().numpy(), b.numpy())  # same mask on both devices
    a.sum().backward()
    assert x.grad.device.type == "cuda"
    with pytest.raises(RuntimeError, match="same device"):
        _C.dropout_backward(cuda(np.ones(4, np.float32)), _C.dropout_forward(_C.from_numpy(np.ones(4, np.float32)),
                                                                             0.5, 1)[1], 0.5)
