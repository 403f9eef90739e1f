"""ConvTranspose2d and a depthwise Conv2d module moved to the device, forward and backward against the same
module on the CPU. Skipped without an NVIDIA GPU (CNNKIT_CUDA_TESTS_ON_CPU=1 runs it with the CPU standing
in). The kernel tests run on each device (the `device` fixture) in tests/test_conv_transpose.py
(conv_transpose2d) and tests/test_conv_complete.py (the depthwise kernels)."""
import zlib

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cuda_twin_helpers import DEV, needs_device

pytestmark = needs_device


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def test_modules_on_device():
    cnnkit.manual_seed(0)
    for make, shape in [(lambda: nn.ConvTranspose2d(8, 4, 4, 2, 1), (2, 8, 5, 5)),
                        (lambda: nn.Conv2d(6, 12, 3, padding=1, groups=6, padding_mode="reflect"), (2, 6, 7, 7))]:
        m_cpu = make()
        m_dev = make()
        m_dev.load_state_dict(m_cpu.state_dict())
        m_dev.to(DEV)
        x = rng_for(shape).standard_normal(shape).astype(np.float32)
        xc, xd = cnnkit.tensor(x, requires_grad=True), cnnkit.tensor(x, device=DEV, requires_grad=True)
        yc, yd = m_cpu(xc), m_dev(xd)
        np.testing.assert_allclose(yd.detach().cpu().numpy(), yc.detach().numpy(), rtol=1e-4, atol=1e-5)
        (yc ** 2).sum().backward()
        (yd ** 2).sum().backward()
        np.testing.assert_allclose(xd.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(m_dev.weight.grad.cpu().numpy(), m_cpu.weight.grad.numpy(), rtol=1e-4, atol=1e-3)
