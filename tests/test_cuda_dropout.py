"""CUDA-only dropout checks: F.dropout2d on a CUDA tensor draws the CPU's mask under the same seed and keeps its
gradient on the device, and a mask from another device is refused. The kernels' masks, outputs and gradients on
both devices (every p, channel-wise masks, alpha dropout, a mask past one grid) are the device-parametrised
tests in tests/test_dropout.py. Skipped without a GPU."""
import numpy as np
import pytest

import cnnkit
import cnnkit.nn.functional as F
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")


def cuda(a):
    return cnnkit.from_numpy(np.ascontiguousarray(a)).cuda()._t


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
