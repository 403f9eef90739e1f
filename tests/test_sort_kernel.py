"""The sort/topk kernels at the _C level: the CPU fast path (std::stable_sort / partial_sort) against
the naive insertion-sort reference and NumPy's stable argsort, every dtype, odd sizes, NaN and
ties; the CUDA twin (bitonic network, shared-memory and global paths) against the CPU, skipped
without a GPU (CNNKIT_CUDA_TESTS_ON_CPU=1 runs the twin checks on the CPU)."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import G, H, N, T, needs_device


def _data(shape, dtype, seed=0):
    g = np.random.default_rng(seed)
    if dtype == np.bool_:
        return g.integers(0, 2, size=shape).astype(bool)
    if dtype in (np.int64, np.uint8):
        return g.integers(0, 9, size=shape).astype(dtype)
    a = (np.round(g.standard_normal(shape) * 3) / 2).astype(dtype)  # many ties
    flat = a.reshape(-1)
    if flat.size > 4:
        flat[g.integers(0, flat.size, size=max(1, flat.size // 10))] = np.nan
    return a


DTYPES = [np.float32, np.float64, np.int64, np.uint8, np.bool_]
SHAPES = [((1,), 0), ((7,), 0), ((3, 33), 1), ((33, 3), 0), ((2, 5, 4), 1), ((2, 0, 3), 1), ((4, 1), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_cpu_vs_naive_and_numpy(dtype, shape, dim, descending):
    a = _data(shape, dtype)
    v, i = _C.sort(T(a), dim, descending)
    nv, ni = _C.sort_naive(T(a), dim, descending)
    np.testing.assert_array_equal(N(i), N(ni))
    np.testing.assert_array_equal(N(v), N(nv))
    np.testing.assert_array_equal(N(v), np.take_along_axis(a, N(i), axis=dim))
    if not descending or dtype in (np.int64, np.uint8, np.bool_):
        # NumPy's stable argsort: NaN last ascending; descending via negated integer keys.
        key = a.astype(np.float64)
        idx = np.argsort(-key if descending else key, axis=dim, kind="stable")
        np.testing.assert_array_equal(N(i), idx)


def test_sort_descending_nan_first_inf_after():
    a = np.array([np.inf, 1.0, np.nan, -np.inf, np.nan, 1.0], dtype=np.float32)
    v, i = _C.sort(T(a), 0, True)
    assert list(N(i)) == [2, 4, 0, 1, 5, 3]
    v, i = _C.sort(T(a), 0, False)
    assert list(N(i)) == [3, 1, 5, 0, 2, 4]


@pytest.mark.parametrize("k", [0, 1, 5, 13])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_cpu_equals_sort_prefix(k, largest):
    a = _data((4, 13, 3), np.float32, seed=k)
    v, i = _C.topk(T(a), k, 1, largest)
    sv, si = _C.sort(T(a), 1, largest)
    np.testing.assert_array_equal(N(i), N(si)[:, :k])
    np.testing.assert_array_equal(N(v), N(sv)[:, :k])


def test_sort_kernel_errors():
    with pytest.raises(IndexError, match=r"sort\(\): dimension out of range \(expected to be in range of \[-2, 1\], "
                                         r"but got 2\)"):
        _C.sort(T(np.zeros((2, 3), np.float32)), 2, False)
    with pytest.raises(RuntimeError, match=r"topk\(\): selected index k out of range \(k = 4"):
        _C.topk(T(np.zeros((2, 3), np.float32)), 4, 1, True)


@needs_device
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES + [((3, 2048), 1), ((2, 2049), 1), ((5000,), 0), ((2, 3000, 2), 1)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_cuda_vs_cpu(dtype, shape, dim, descending):
    a = _data(shape, dtype, seed=2)
    v, i = _C.sort(G(a), dim, descending)
    cv, ci = _C.sort(T(a), dim, descending)
    np.testing.assert_array_equal(H(i), N(ci))
    np.testing.assert_array_equal(H(v), N(cv))


@needs_device
@pytest.mark.parametrize("k", [0, 1, 7, 100])
def test_topk_cuda_vs_cpu(k):
    a = _data((3, 100, 2), np.float32, seed=k)
    for largest in (True, False):
        v, i = _C.topk(G(a), k, 1, largest)
        cv, ci = _C.topk(T(a), k, 1, largest)
        np.testing.assert_array_equal(H(i), N(ci))
        np.testing.assert_array_equal(H(v), N(cv))
