"""CUDA-only checks of relu / leaky_relu / sigmoid / tanh: mixed-device arguments are refused. The kernels'
values on both devices (every shape, dtype, special values, strided views, empty tensors, autograd) are the
device-parametrised tests in tests/test_activation.py. Skipped without a GPU."""
import numpy as np
import pytest

import cnnkit
from cnnkit import _C

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")


def cuda(a):
    """NumPy array -> _C tensor on cuda:0."""
    return cnnkit.from_numpy(np.ascontiguousarray(a)).cuda()._t


def test_mixed_devices_raise():
    g = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.relu_backward(cuda(g), _C.from_numpy(g))
    with pytest.raises(RuntimeError, match="same device"):
        _C.tanh_backward(_C.from_numpy(g), cuda(g))
