"""CUDA-only checks of the parametrised activations and prelu: autograd through F.gelu / F.prelu / F.softmin
keeps the gradients on the device, and a CPU weight for a CUDA input is refused. The values on both devices
(every function, shape and dtype, prelu's gradients) are the device-parametrised tests in
tests/test_activations_more.py. Skipped without a GPU."""
import pytest

import cnnkit

pytestmark = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs an NVIDIA GPU")


def test_functional_on_cuda_with_autograd():
    import cnnkit.nn.functional as F

    x = cnnkit.randn(3, 4, 5, device="cuda", requires_grad=True)
    w = cnnkit.full((4,), 0.2, device="cuda", requires_grad=True)
    (F.gelu(x) + F.prelu(x, w) + F.softmin(x, 1)).sum().backward()
    assert x.grad.device.type == "cuda" and w.grad.device.type == "cuda"
    with pytest.raises(RuntimeError, match="same device"):
        F.prelu(x.detach(), cnnkit.ones(4))
