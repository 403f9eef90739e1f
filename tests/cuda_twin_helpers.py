"""Helpers shared by the CUDA-vs-CPU twin tests at the _C level.

Tests skip without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing
in for the device, which checks the test code itself on a machine without a GPU."""
import os

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

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
