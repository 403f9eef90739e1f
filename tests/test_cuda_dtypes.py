"""CUDA copies/casts between every pair of dtypes (csrc/core/copy.cu) against the CPU conversions,
contiguous, strided and broadcast; fills; host<->device round trips of the new dtypes; integer
elementwise/reduction kernels and the float32 upcast of half types on the device.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""
import itertools

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

from cuda_twin_helpers import DEV, ON_CPU, needs_device

pytestmark = needs_device

NAMES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
DT = {n: getattr(cnnkit, n) for n in NAMES}


def dev(x):
    return x if ON_CPU else x.to(DEV)


def bits(x):
    """The CPU values of x as a NumPy array of its raw bits (floats) or values (ints/bool)."""
    x = x.cpu()
    if x.dtype.itemsize == 2 and x.dtype.is_floating_point:
        return x.view(cnnkit.int16).numpy()
    return x.numpy()


def source(n, shape=(5, 7), seed=0):
    rng = np.random.default_rng(NAMES.index(n) + 100 * seed)
    if n == "bool":
        return cnnkit.from_numpy(rng.random(shape) < 0.5)
    if n == "uint8":
        return cnnkit.from_numpy(rng.integers(0, 256, shape).astype(np.uint8))
    if n in ("int64", "int32", "int16", "int8"):
        lo = {"int8": -128, "int16": -32768}.get(n, -100000)
        return cnnkit.from_numpy(rng.integers(lo, -lo, shape)).to(DT[n])
    v = rng.uniform(0, 100, shape)
    v.flat[:6] = [0.5, 2.5, 1e-6, 65520.0, 0.0, 99.99]
    return cnnkit.from_numpy(v).to(DT[n])


@pytest.mark.parametrize("src,dst", list(itertools.product(NAMES, NAMES)))
def test_cast_every_pair_matches_cpu(src, dst):
    x = source(src)
    if x.is_floating_point() and dst in ("int8", "int16", "uint8"):
        x = x.clamp(0, 100)
    ref = x.to(DT[dst])
    g = dev(x)
    np.testing.assert_array_equal(bits(g.to(DT[dst])), bits(ref))                 # contiguous device cast
    np.testing.assert_array_equal(bits(g.t().to(DT[dst])), bits(x.t().to(DT[dst])))  # strided
    out = dev(cnnkit.zeros(3, 5, 7, dtype=DT[dst]))
    out[:, :, ::2].copy_(g[:, ::2])                                                  # broadcast into strided
    host = cnnkit.zeros(3, 5, 7, dtype=DT[dst])
    host[:, :, ::2].copy_(x[:, ::2])
    np.testing.assert_array_equal(bits(out), bits(host))
    # host -> device with conversion and device -> host with conversion
    np.testing.assert_array_equal(bits(dev(cnnkit.zeros(5, 7, dtype=DT[dst])).copy_(x)), bits(ref))
    np.testing.assert_array_equal(bits(cnnkit.zeros(5, 7, dtype=DT[dst]).copy_(g)), bits(ref))


@pytest.mark.parametrize("n", NAMES)
def test_fill_and_round_trip(n):
    x = source(n, (33, 3))
    g = dev(x)
    assert g.dtype is DT[n]
    np.testing.assert_array_equal(bits(g), bits(x))
    for v in [0, 1, 7]:
        np.testing.assert_array_equal(bits(dev(cnnkit.full((4, 3), v, dtype=DT[n]))),
                                      bits(cnnkit.full((4, 3), v, dtype=DT[n])))
    assert dev(x)[1, 2].item() == x[1, 2].item()
    assert repr(dev(x)).replace(f", device='{DEV}'", "") == repr(x)


@pytest.mark.parametrize("n", ["int32", "int16", "int8"])
def test_integer_kernels_on_device(n):
    a, b = source(n), source(n, seed=1)
    for r, h in [(dev(a) + dev(b), a + b), (dev(a) * 3, a * 3), (dev(a) < dev(b), a < b), (-dev(a), -a),
                 (dev(a).sum(1), a.sum(1)), (dev(a).max(0)[1], a.max(0)[1]), (dev(a).argmax(), a.argmax()),
                 (cnnkit.where(dev(a) > 0, dev(a), dev(b)), cnnkit.where(a > 0, a, b))]:
        assert r.dtype is h.dtype
        np.testing.assert_array_equal(bits(r), bits(h))
    i = cnnkit.tensor([0, 4, 2], dtype=cnnkit.int32)
    np.testing.assert_array_equal(bits(dev(a).index_select(0, dev(i))), bits(a.index_select(0, i)))


@pytest.mark.parametrize("n", ["float16", "bfloat16"])
def test_half_ops_on_device(n):
    a, b = source(n), source(n, seed=1)
    for r, h in [(dev(a) + dev(b), a + b), (dev(a) * 0.3, a * 0.3), (dev(a).exp(), a.exp()), (dev(a).sum(0), a.sum(0)),
                 (dev(a).relu(), a.relu()), (dev(a).max(1)[0], a.max(1)[0])]:
        assert r.dtype is h.dtype
        np.testing.assert_array_equal(bits(r), bits(h))
