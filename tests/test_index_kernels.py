"""Indexing _C kernels (index_select, index_add_, index_copy_, gather, scatter_add_, cat, nonzero)
against NumPy and plain loops, and PyTorch when installed.

The kernel tests run on each device (the `device` fixture; `io(device)` gives the converters: on the CPU
NumPy views keep their strides, on CUDA inputs are device copies and strided cases are device views). Every op
copies, or adds in the CPU's order (index_add_ / scatter_add_ with duplicates), so the tolerances are the same
on both: exact for copies, 1e-6 for the accumulations against NumPy's float64-free sums. Out-of-range indices
are checked on the device with the CPU's message. Mixed-device errors stay in tests/test_cuda_index.py.
"""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, cuda_extras, on

RNG = np.random.default_rng(7)


def T(a):
    return _C.from_numpy(np.asarray(a))


def N(t):
    return np.asarray(t)


def io(device):
    """(to_tensor, to_numpy) for `device`: the CPU wraps the NumPy array itself (views and their strides
    included); CUDA gets a contiguous device copy (so does the CPU under CNNKIT_CUDA_TESTS_ON_CPU=1, which
    checks that path)."""
    if not cuda_extras(device):
        return T, N
    return (lambda a: on(np.asarray(a), device)), back


def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype == np.uint8:
        return RNG.integers(0, 50, size=shape).astype(np.uint8)
    if dtype == np.int64:
        return RNG.integers(-50, 50, size=shape).astype(np.int64)
    return RNG.standard_normal(shape).astype(dtype)


DTYPES = [np.float32, np.float64, np.int64]


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_, cuda_case(np.uint8)])
def test_index_select(dtype, device):
    T, N = io(device)
    for shape in [(5,), (3, 7), (2, 3, 4), (1, 33)] + ([(5, 1, 4)] if cuda_extras(device) else []):
        a = rand(shape, dtype)
        for dim in range(len(shape)):
            n = shape[dim]
            idx = RNG.integers(-n, n, size=6)
            got = N(_C.index_select(T(a), dim, T(idx)))
            np.testing.assert_array_equal(got, np.take(a, idx, axis=dim))
            got = N(_C.index_select(T(a), dim - len(shape), T(np.array(n - 1))))  # 0-d index keeps the dim
            np.testing.assert_array_equal(got, np.take(a, [n - 1], axis=dim))
            empty = N(_C.index_select(T(a), dim, T(np.zeros(0, np.int64))))
            assert empty.shape == tuple(0 if d == dim else s for d, s in enumerate(shape))
    base = rand((6, 8), dtype)
    for v in (base.T, base[::2, ::-3]):
        idx = np.array([0, 2, 1, 1, -1])
        np.testing.assert_array_equal(N(_C.index_select(T(v), 0, T(idx))), v[idx])
        np.testing.assert_array_equal(N(_C.index_select(T(v), 1, T(idx))), v[:, idx])
    if cuda_extras(device):  # a transposed view of a device tensor
        idx = np.array([0, 2, 5, 5, -1])
        np.testing.assert_array_equal(N(_C.index_select(T(base).transpose(0, 1), 1, T(idx))), base.T[:, idx])
    assert N(_C.index_select(T(np.array(3.0)), 0, T(np.array([0])))).shape == ()


def test_index_select_errors(device):
    T, N = io(device)
    a = T(np.ones((5, 3)))
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
        _C.index_select(a, 0, T(np.array([1, 7])))
    with pytest.raises(IndexError, match="index -6 is out of bounds for dimension 0 with size 5"):
        _C.index_select(a, 0, T(np.array([-6])))
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        _C.index_select(a, 0, T(np.zeros((1, 1), np.int64)))
    with pytest.raises(TypeError, match="int64.*float64"):
        _C.index_select(a, 0, T(np.zeros(1)))
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.index_select(a, 2, T(np.zeros(1, np.int64)))


def ref_index_add(out, dim, idx, src):
    out = out.copy()
    o = np.moveaxis(out, dim, 0)
    s = np.moveaxis(src, dim, 0)
    for i, j in enumerate(idx):
        o[j] += s[i]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add_and_copy(dtype, device):
    T, N = io(device)
    for shape in [(5,), (4, 7), (3, 5, 2), (1, 33)] + ([(5, 1, 4), (4, 300)] if cuda_extras(device) else []):
        for dim in range(len(shape)):
            n = shape[dim]
            idx = RNG.integers(-n, n, size=7)  # duplicates accumulate
            sshape = tuple(7 if d == dim else s for d, s in enumerate(shape))
            a, src = rand(shape, dtype), rand(sshape, dtype)
            x = T(a.copy())
            r = _C.index_add_(x, dim, T(idx), T(src))
            assert r.data_ptr == x.data_ptr
            want = ref_index_add(a, dim, idx % n, src)
            np.testing.assert_allclose(N(x), want, rtol=1e-6, atol=1e-6)
            # index_copy_: unique indices
            uidx = RNG.permutation(n)[: min(n, 3)]
            csrc = rand(tuple(len(uidx) if d == dim else s for d, s in enumerate(shape)), dtype)
            x = T(a.copy())
            _C.index_copy_(x, dim, T(uidx - n), T(csrc))
            want = a.copy()
            np.moveaxis(want, dim, 0)[uidx] = np.moveaxis(csrc, dim, 0)
            np.testing.assert_array_equal(N(x), want)
    if cuda_extras(device):  # strided target (a transposed device view) and strided source, duplicates
        base = rand((5, 7), dtype)
        src = rand((7, 3), dtype)
        idx = np.array([0, 4, 4])
        x = T(base)
        _C.index_add_(x.transpose(0, 1), 1, T(idx), T(src.T.copy()).transpose(0, 1))
        want = base.T.copy()
        np.add.at(want, (slice(None), idx), src)
        np.testing.assert_allclose(N(x), want.T, rtol=1e-6, atol=1e-6)


def test_index_add_deterministic_duplicates_noncontiguous_and_large():
    base = np.zeros((6, 9), np.float64)
    view = base[:, ::2].T  # (5, 6), strided target
    src = rand((4, 6), np.float64)
    idx = np.array([1, 1, 4, 1])
    _C.index_add_(T(view), 0, T(idx), T(src[:, ::-1]))
    want = np.zeros((5, 6))
    np.add.at(want, idx, src[:, ::-1])
    np.testing.assert_allclose(base[:, ::2].T, want)
    assert np.all(base[:, 1::2] == 0)
    # many columns (parallel tasks) and many duplicates: identical for 1 and 2 threads
    idx = RNG.integers(0, 3, 200)
    src = rand((200, 5000), np.float32)
    nt = _C.get_num_threads()
    try:
        outs = []
        for threads in (1, max(2, nt)):
            _C.set_num_threads(threads)
            x = T(np.zeros((3, 5000), np.float32))
            _C.index_add_(x, 0, T(idx), T(src))
            outs.append(N(x).copy())
    finally:
        _C.set_num_threads(nt)
    np.testing.assert_array_equal(outs[0], outs[1])
    want = np.zeros((3, 5000), np.float32)
    np.add.at(want, idx, src)
    np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-5)


def test_index_add_errors(device):
    T, N = io(device)
    x = T(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match=r"source tensor shape must match self tensor shape.*\[2, 3\].*\[1, 4\]"):
        _C.index_add_(x, 0, T(np.array([0])), T(np.ones((1, 4))))
    with pytest.raises(RuntimeError, match=r"Number of indices \(2\) should be equal to source.size\(dim\): \(1\)"):
        _C.index_add_(x, 0, T(np.array([0, 1])), T(np.ones((1, 3))))
    with pytest.raises(IndexError, match="index 2 is out of bounds for dimension 0 with size 2"):
        _C.index_add_(x, 0, T(np.array([2])), T(np.ones((1, 3))))
    with pytest.raises(TypeError, match="same dtype"):
        _C.index_add_(x, 0, T(np.array([0])), T(np.ones((1, 3), np.float32)))
    with pytest.raises(TypeError, match="bool"):
        _C.index_add_(T(np.zeros(2, bool)), 0, T(np.array([0])), T(np.ones(1, bool)))
    np.testing.assert_array_equal(N(x), 0)  # failed calls leave the target untouched


def test_index_add_matches_torch():
    torch = pytest.importorskip("torch")
    a, src = rand((4, 6), np.float32), rand((4, 5), np.float32)
    idx = np.array([0, 5, 5, 2, 0])
    want = torch.from_numpy(a.copy()).index_add_(1, torch.from_numpy(idx), torch.from_numpy(src)).numpy()
    x = T(a.copy())
    _C.index_add_(x, 1, T(idx), T(src))
    np.testing.assert_allclose(N(x), want, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
def test_gather(dtype, device):
    T, N = io(device)
    for shape in [(5,), (3, 7), (2, 3, 4)]:
        a = rand(shape, dtype)
        for dim in range(len(shape)):
            ishape = tuple(max(1, s - 1) if d != dim else 6 for d, s in enumerate(shape))
            idx = RNG.integers(-shape[dim], shape[dim], ishape)
            got = N(_C.gather(T(a), dim, T(idx)))
            sub = a[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(ishape))]
            np.testing.assert_array_equal(got, np.take_along_axis(sub, idx % shape[dim], dim))
    base = rand((6, 8), dtype)
    v = base[::2, ::-1].T  # (8, 3)
    idx = RNG.integers(0, 3, (8, 2))
    np.testing.assert_array_equal(N(_C.gather(T(v), 1, T(idx.T.copy().T))), np.take_along_axis(v, idx, 1))
    if cuda_extras(device):  # a transposed device view as input and as index
        idx = RNG.integers(0, 6, (8, 5))
        got = N(_C.gather(T(base).transpose(0, 1), 1, T(idx.T.copy()).transpose(0, 1)))
        np.testing.assert_array_equal(got, np.take_along_axis(base.T, idx, 1))
    assert N(_C.gather(T(np.array(5.0)), 0, T(np.array(0)))) == 5.0


def test_gather_errors_and_torch(device):
    T, N = io(device)
    a = T(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        _C.gather(a, 1, T(np.array([[5]])))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        _C.gather(a, 1, T(np.array([0])))
    with pytest.raises(RuntimeError, match=r"Size does not match at dimension 0 expected index \[3, 4\]"):
        _C.gather(a, 1, T(np.zeros((3, 4), np.int64)))
    torch = pytest.importorskip("torch")
    x = rand((4, 5), np.float32)
    idx = RNG.integers(0, 5, (3, 7))
    np.testing.assert_array_equal(N(_C.gather(T(x), 1, T(idx))),
                                  torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx)).numpy())


def ref_scatter_add(out, dim, idx, src):
    out = out.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        out[tuple(tgt)] += src[pos]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add(dtype, device):
    T, N = io(device)
    for shape in [(5,), (3, 7), (2, 3, 4)]:
        for dim in range(len(shape)):
            a = rand(shape, dtype)
            ishape = tuple(max(1, s - 1) if d != dim else 5 for d, s in enumerate(shape))
            sshape = tuple(s + 1 for s in ishape)
            idx = RNG.integers(-shape[dim], shape[dim], ishape)
            src = rand(sshape, dtype)
            x = T(a.copy())
            r = _C.scatter_add_(x, dim, T(idx), T(src))
            assert r.data_ptr == x.data_ptr
            np.testing.assert_allclose(N(x), ref_scatter_add(a, dim, idx % shape[dim], src), rtol=1e-6, atol=1e-6)
    # strided target and source (views of NumPy arrays on the CPU, of device tensors elsewhere)
    base = np.zeros((4, 10))
    src_base = rand((6, 8), np.float64)
    src = src_base[::2, ::2]  # (3, 4)
    idx = RNG.integers(0, 5, (3, 4))
    if not cuda_extras(device):
        _C.scatter_add_(T(base[:, ::2]), 1, T(idx), T(src))
        got = base[:, ::2]
    else:
        bt = T(base)
        _C.scatter_add_(bt.slice(1, 0, 10, 2), 1, T(idx), T(src_base).slice(0, 0, 6, 2).slice(1, 0, 8, 2))
        got = N(bt)[:, ::2]
        assert np.all(N(bt)[:, 1::2] == 0)
    np.testing.assert_allclose(got, ref_scatter_add(np.zeros((4, 5)), 1, idx, src))


def test_scatter_add_errors_and_torch(device):
    T, N = io(device)
    x = T(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match=r"Expected index \[1, 4\] to be no larger than self \[2, 3\] apart from "
                                           r"dimension 0 and to be no larger size than src \[2, 3\]"):
        _C.scatter_add_(x, 0, T(np.array([[0, 1, 1, 1]])), T(np.ones((2, 3))))
    with pytest.raises(IndexError, match="index 2 is out of bounds for dimension 0 with size 2"):
        _C.scatter_add_(x, 0, T(np.array([[2]])), T(np.ones((2, 3))))
    torch = pytest.importorskip("torch")
    a = rand((3, 6), np.float32)
    idx = RNG.integers(0, 6, (3, 9))
    src = rand((3, 9), np.float32)
    want = torch.from_numpy(a.copy()).scatter_add_(1, torch.from_numpy(idx), torch.from_numpy(src)).numpy()
    x = T(a.copy())
    _C.scatter_add_(x, 1, T(idx), T(src))
    np.testing.assert_allclose(N(x), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_, cuda_case(np.uint8)])
def test_cat(dtype, device):
    T, N = io(device)
    for dim in range(3):
        parts = []
        for k in (1, 3, 7):
            shape = [2, 3, 4]
            shape[dim] = k
            parts.append(rand(tuple(shape), dtype))
        parts.append(rand((4, 3, 2), dtype).transpose(2, 1, 0)[tuple(slice(0, 1) if d == dim else slice(None)
                                                                     for d in range(3))])
        want = np.concatenate(parts, axis=dim)
        np.testing.assert_array_equal(N(_C.cat([T(p) for p in parts], dim)), want)
        np.testing.assert_array_equal(N(_C.cat([T(p) for p in parts], dim - 3)), want)
    a = rand((2, 3), dtype)
    # legacy: 1-D empty tensors are skipped; empty slices along dim are fine
    np.testing.assert_array_equal(N(_C.cat([T(np.zeros(0, a.dtype)), T(a), T(a[:, :0])], 1)), a)
    assert N(_C.cat([T(np.zeros(0, a.dtype))], 0)).shape == (0,)
    if cuda_extras(device):  # transposed device views
        b, c = rand((3, 4, 5), dtype), rand((3, 7, 5), dtype)
        got = N(_C.cat([T(b).transpose(0, 2), T(c).transpose(0, 2)], 1))
        np.testing.assert_array_equal(got, np.concatenate([b.transpose(2, 1, 0), c.transpose(2, 1, 0)], 1))


def test_cat_errors(device):
    T, N = io(device)
    a, b = T(np.ones((2, 3))), T(np.ones((2, 4)))
    with pytest.raises(RuntimeError, match=r"Sizes of tensors must match except in dimension 0\. Expected size 3 but "
                                           r"got size 4 for tensor number 1 in the list\."):
        _C.cat([a, b], 0)
    with pytest.raises(RuntimeError, match=r"Sizes of tensors must match except in dimension 1\. Expected size 3 but "
                                           r"got size 4 for tensor number 2 in the list\."):
        _C.cat([T(np.ones((3, 1))), T(np.ones(0)), T(np.ones((4, 1)))], 1)
    with pytest.raises(RuntimeError, match="Tensors must have same number of dimensions: got 2 and 3"):
        _C.cat([a, T(np.ones((2, 3, 1)))], 0)
    with pytest.raises(ValueError, match="non-empty list"):
        _C.cat([], 0)
    with pytest.raises(TypeError, match="float64, got float32 for tensor number 1"):
        _C.cat([a, T(np.ones((2, 3), np.float32))], 0)
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        _C.cat([T(np.array(1.0))], 0)
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.cat([a, a], 2)


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
def test_nonzero(dtype, device):
    T, N = io(device)
    for shape in [(7,), (3, 4), (2, 3, 5), (0, 3), (1,)]:
        a = rand(shape, dtype)
        if dtype != np.bool_ and a.size:
            a.flat[:: 2] = 0
        got = N(_C.nonzero(T(a)))
        assert got.dtype == np.int64 and got.shape == (np.count_nonzero(a), len(shape))
        np.testing.assert_array_equal(got, np.argwhere(a))
    v = rand((6, 5), np.float32)
    v[v < 0] = 0
    np.testing.assert_array_equal(N(_C.nonzero(T(v.T[::2]))), np.argwhere(v.T[::2]))
    assert N(_C.nonzero(T(np.array(3.0)))).shape == (1, 0)
    assert N(_C.nonzero(T(np.array(0.0)))).shape == (0, 0)
    nanv = np.array([np.nan, 0.0, -0.0, 1.0])
    np.testing.assert_array_equal(N(_C.nonzero(T(nanv))), [[0], [3]])
    if cuda_extras(device):  # sizes of several CUDA blocks, all zeros, a transposed device view
        for a in (rand((517, 3), dtype), np.zeros((4, 300), dtype), np.zeros(100003, dtype)):
            if a.ndim == 1:
                a[RNG.integers(0, a.size, size=1000)] = 1
            elif dtype != np.bool_ and a.any():
                a.flat[::2] = 0
            np.testing.assert_array_equal(N(_C.nonzero(T(a))), np.argwhere(a))
        x = rand((7, 5), dtype)
        np.testing.assert_array_equal(N(_C.nonzero(T(x).transpose(0, 1))), np.argwhere(x.T))


def test_first_bad_index_reported(device):
    """The first out-of-range index in row-major order is the one named, also through a strided index (on CUDA
    the check runs on the device), and a failed call leaves the target untouched."""
    T, N = io(device)
    x = rand((5, 4), np.float32)
    bad = np.array([1, 7, -9, 2])
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
        _C.index_select(T(x), 0, T(bad))
    src = rand((4, 4), np.float32)
    for name in ("index_add_", "index_copy_"):
        t = T(x.copy())
        with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 5"):
            getattr(_C, name)(t, 0, T(bad), T(src))
        np.testing.assert_array_equal(N(t), x)
    with pytest.raises(IndexError, match="index -6 is out of bounds for dimension 0 with size 5"):
        _C.gather(T(x), 0, T(np.array([[0, 1, 2, 3], [4, -6, 0, 0]])))
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 5"):
        _C.scatter_add_(T(x.copy()), 0, T(np.array([[0, 1, 2, 3], [5, 0, 0, 0]])), T(src))
    many = np.array([[0, 9], [-8, 0]])  # stored transposed, -8 comes first in memory
    with pytest.raises(IndexError, match="index 9 "):
        _C.gather(T(x), 0, T(many.T.copy()).transpose(0, 1))
    with pytest.raises(IndexError, match="index 9 "):
        _C.gather(T(x), 0, T(many))


def test_nonzero_large_blocks():
    a = (RNG.random((3, 70001)) < 0.01).astype(np.float32)
    nt = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        r1 = N(_C.nonzero(T(a))).copy()
        _C.set_num_threads(max(2, nt))
        r2 = N(_C.nonzero(T(a)))
    finally:
        _C.set_num_threads(nt)
    np.testing.assert_array_equal(r1, np.argwhere(a))
    np.testing.assert_array_equal(r2, r1)
