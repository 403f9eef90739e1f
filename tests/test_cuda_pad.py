"""CUDA-only F.pad checks: the shape check of pad_backward on the device. The kernels' values on both
devices (every mode, cropping pads, float32/float64/int64, autograd) are the device-parametrised tests
in tests/test_pad.py. Skipped without an NVIDIA GPU."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import G, ON_CPU, needs_device

pytestmark = needs_device


@pytest.mark.skipif(ON_CPU, reason="needs a real device")
def test_backward_shape_check_on_device():
    with pytest.raises(ValueError, match="expected grad_output of shape"):
        _C.pad_backward(G(np.zeros((2, 4), np.float32)), [2, 3], [1, 1], "constant")
