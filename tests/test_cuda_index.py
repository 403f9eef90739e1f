"""CUDA-only indexing tests: the mixed-device errors. The index_select / index_add_ / index_copy_ / gather /
scatter_add_ / cat / nonzero cases (duplicate and negative indices, strided operands, out-of-range indices
checked on the device) are the [cuda] halves of the device-parametrised tests in tests/test_index_kernels.py.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""

import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(11)


def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        return RNG.integers(0 if dtype == np.uint8 else -50, 50, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.skipif(ON_CPU, reason="mixed devices need a real device")
def test_mixed_devices_raise():
    x = rand((5, 4), np.float32)
    idx = np.array([0, 2])
    with pytest.raises(RuntimeError, match="cuda:0"):
        _C.index_select(G(x), 0, T(idx))
    with pytest.raises(RuntimeError, match="same device"):
        _C.index_add_(G(x), 0, G(idx), T(x[:2]))
    with pytest.raises(RuntimeError, match="same device"):
        _C.gather(T(x), 0, G(idx.reshape(2, 1)))
    with pytest.raises(RuntimeError, match="same device"):
        _C.scatter_add_(G(x), 0, T(idx.reshape(2, 1)), G(x))
    with pytest.raises(RuntimeError, match="same device"):
        _C.cat([G(x), T(x)], 0)
