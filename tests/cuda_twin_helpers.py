"""Helpers shared by the tests that run on the CPU and on a CUDA device.

Device-parametrised tests take the `device` fixture (tests/conftest.py) and move their inputs with `on` /
read results with `back`; the CUDA-only tests in tests/test_cuda_*.py use `needs_device`, `DEV`, `G` and `H`.
All skip without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs them with the CPU standing in for the device, which
checks the test code itself on a machine without a GPU."""
import os

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

cuda_only = pytest.mark.cuda_only  # pytest.param(case, marks=cuda_only): the case runs only as [cuda]


def cuda_case(*values):
    """A parameter (tuple of values) that only the [cuda] half of a device-parametrised test runs."""
    return pytest.param(*values, marks=cuda_only)

ON_CPU = os.environ.get("CNNKIT_CUDA_TESTS_ON_CPU") == "1"
DEV = "cpu" if ON_CPU else "cuda:0"
needs_device = pytest.mark.skipif(not (ON_CPU or cnnkit.cuda.is_available()), reason="needs an NVIDIA GPU")


def T(a):
    """A CPU _C.Tensor holding the NumPy array a."""
    return _C.from_numpy(np.ascontiguousarray(a))


def to_dev(t):
    return t if ON_CPU else t.to_device(DEV)


def G(a):
    """A device tensor holding a copy of the NumPy array a."""
    return to_dev(T(np.array(a)))


def H(t):
    """A device tensor back as a NumPy array."""
    return np.array(t if ON_CPU else t.to_device("cpu"))


def N(t):
    """A CPU tensor as a NumPy array."""
    return np.array(t)


def on(a, device):
    """A _C.Tensor on `device` ("cpu" or "cuda:0", the `device` fixture's value) holding a copy of array a."""
    t = _C.from_numpy(np.array(a))
    return t if device == "cpu" else t.to_device(device)


def back(t):
    """A _C.Tensor on any device as a NumPy array."""
    return np.array(t if t.device == "cpu" else t.to_device("cpu"))


def is_cuda(device):
    """True when `device` is a real CUDA device (False for "cpu", also when the CPU stands in for CUDA)."""
    return device.startswith("cuda")


def runs_twin(device):
    """Whether a device-parametrised test should also compare with the CPU twin: on CUDA, and everywhere under
    CNNKIT_CUDA_TESTS_ON_CPU=1 (which checks that code on the CPU). Skipped in the plain CPU run, where it
    would compare the CPU kernel with itself."""
    return is_cuda(device) or ON_CPU


def cuda_extras(device):
    """Whether a loop inside a device-parametrised test adds the cases only the CUDA run needs: on CUDA, and
    under CNNKIT_CUDA_TESTS_ON_CPU=1 (so that code runs here too); not in the plain CPU run."""
    return is_cuda(device) or ON_CPU
