"""Reduction _C kernels (sum, mean, max_dim/min_dim, max_all/min_all, argmax/argmin) against
NumPy, the sequential reference `sum_naive`, and PyTorch when installed. The kernel tests that take the
`device` fixture run on both devices with the same tolerances: both accumulate floats in double (only the
order differs; no multiply-add is involved), integers and max/min/arg* are exact."""
import itertools

import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, cuda_extras, on

RNG = np.random.default_rng(99)


def T(a):
    return _C.from_numpy(np.asarray(a))


def N(t):
    return np.asarray(t)


def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype == np.int64:
        return RNG.integers(-50, 50, size=shape).astype(np.int64)
    if dtype == np.uint8:
        return RNG.integers(0, 6, size=shape).astype(np.uint8)  # small range: many ties
    return RNG.standard_normal(shape).astype(dtype)


def all_dim_lists(ndim):
    for r in range(ndim + 1):
        yield from itertools.combinations(range(ndim), r)


def np_sum(a, dims, keepdim):
    axes = tuple(dims) if dims else None
    if a.dtype in (np.float32, np.float64):
        return a.astype(np.float64).sum(axis=axes, keepdims=keepdim).astype(a.dtype)
    return a.astype(np.int64).sum(axis=axes, keepdims=keepdim)


def check_sum(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype == np.float32:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    elif want.dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


# cuda_case: the CUDA twin test's shapes and dtype, run by the [cuda] half only
SUM_SHAPES = [(3, 4, 5), (2, 1, 7, 3), (33,), (1,),
              cuda_case((7,)), cuda_case((3, 33)), cuda_case((2, 3, 5)), cuda_case((4, 1, 7, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, cuda_case(np.uint8), np.bool_])
@pytest.mark.parametrize("shape", SUM_SHAPES)
def test_sum_every_dim_combination(shape, dtype, device):
    a = rand(shape, dtype)
    ta = on(a, device)
    for dims in all_dim_lists(len(shape)):
        for keepdim in (False, True):
            want = np.asarray(np_sum(a, dims, keepdim) if dims else np_sum(a, (), keepdim))
            check_sum(back(_C.sum(ta, list(dims), keepdim)), want)
            check_sum(back(_C.sum_naive(ta, list(dims), keepdim)), want)
            if dtype in (np.float32, np.float64):
                m = a.astype(np.float64).mean(axis=tuple(dims) if dims else None, keepdims=keepdim).astype(dtype)
                got = back(_C.mean(ta, list(dims), keepdim))
                assert got.shape == np.shape(m) and got.dtype == dtype
                np.testing.assert_allclose(got, m, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sum_noncontiguous(dtype):
    base = rand((6, 7, 9), dtype)
    views = [base.transpose(2, 0, 1), base[::2, 1::3, ::-1], np.broadcast_to(base[:, :1], (6, 5, 9)),
             base.transpose(1, 2, 0)[:, ::2]]
    for v in views:
        for dims in all_dim_lists(3):
            if not dims:
                continue
            check_sum(N(_C.sum(T(v), list(dims), False)), np.asarray(np_sum(v, dims, False)))
            check_sum(N(_C.sum(T(v), [d - 3 for d in dims], True)), np.asarray(np_sum(v, dims, True)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean(dtype):
    a = rand((4, 7, 3), dtype)
    for dims in all_dim_lists(3):
        for keepdim in (False, True):
            want = a.astype(np.float64).mean(axis=tuple(dims) if dims else None, keepdims=keepdim).astype(dtype)
            got = N(_C.mean(T(a), list(dims), keepdim))
            assert got.shape == np.shape(want) and got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(N(_C.mean(T(a.transpose(2, 0, 1)), [0, 2], False)), a.mean(axis=(1, 2)), rtol=1e-5)


def test_mean_errors_and_empty():
    with pytest.raises(TypeError, match=r"mean\(\): could not infer output dtype.*Got: Long"):
        _C.mean(T(np.arange(3)), [], False)
    with pytest.raises(TypeError, match="Got: Bool"):
        _C.mean(T(np.ones(3, bool)), [], False)
    assert np.isnan(N(_C.mean(T(np.zeros((0,), np.float32)), [], False)))
    np.testing.assert_array_equal(N(_C.sum(T(np.zeros((0, 3))), [0], False)), np.zeros(3))
    assert N(_C.sum(T(np.zeros((2, 0), np.int64)), [], False)) == 0
    assert N(_C.sum(T(np.zeros((0, 3))), [1], False)).shape == (0,)


def test_sum_zero_dim_and_dim_errors():
    s = T(np.array(2.5))
    for dims in ([], [0], [-1]):
        r = N(_C.sum(s, dims, True))
        assert r.shape == () and r == 2.5
    a = T(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dim 1 appears multiple times"):
        _C.sum(a, [1, -1], False)
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.sum(a, [2], False)
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.mean(a, [-3], False)


def test_sum_large_blocks_and_thread_independence():
    cases = [(RNG.standard_normal((3, 40001)).astype(np.float32), [1]),   # inner path, blocked
             (RNG.standard_normal((40001, 3)).astype(np.float32), [0]),   # few outputs, strided
             (RNG.standard_normal((1300, 300)).astype(np.float32), [0]),  # outer path, blocked rows
             (RNG.standard_normal((70001,)).astype(np.float64), []),
             (RNG.standard_normal((50, 9, 33)).astype(np.float32), [0, 2]),
             (RNG.integers(-5, 5, (3, 50000)), [0, 1])]
    nt = _C.get_num_threads()
    try:
        for a, dims in cases:
            _C.set_num_threads(1)
            r1 = N(_C.sum(T(a), dims, False))
            _C.set_num_threads(max(2, nt))
            r2 = N(_C.sum(T(a), dims, False))
            np.testing.assert_array_equal(r1, r2)
            check_sum(r1, np.asarray(np_sum(a, dims, False)))
            check_sum(N(_C.sum_naive(T(a), dims, False)), np.asarray(np_sum(a, dims, False)))
    finally:
        _C.set_num_threads(nt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_device_views_and_large(dtype, device):
    """Views made on the device (permuted, sliced with a step), long rows, many short rows, column sums."""
    x = rand((33, 7, 5), dtype)
    tx = on(x, device).permute([2, 0, 1])
    xp = x.transpose(2, 0, 1)
    for dims in all_dim_lists(3):
        if dims:
            check_sum(back(_C.sum(tx, list(dims), False)), np.asarray(np_sum(xp, dims, False)))
            want = xp.astype(np.float64).mean(axis=dims, keepdims=True).astype(dtype)
            np.testing.assert_allclose(back(_C.mean(tx, list(dims), True)), want, rtol=1e-6, atol=1e-7)
    s = on(x, device).slice(0, 1, 33, 3)
    check_sum(back(_C.sum(s, [0, 2], False)), np.asarray(np_sum(x[1::3], (0, 2), False)))
    for a, dims in [(rand((3, 100003), dtype), [1]), (rand((3, 100003), dtype), []),
                    (rand((70001, 3), dtype), [1]), (rand((70001, 3), dtype), [0])]:
        check_sum(back(_C.sum(on(a, device), dims, False)), np.asarray(np_sum(a, dims, False)))


def test_sum_int_wraps_empty_and_zero_dim(device):
    x = np.array([np.iinfo(np.int64).max, 1, 5], dtype=np.int64)
    assert int(back(_C.sum(on(x, device), [], False))) == int(x.sum())  # wraps around like int64 arithmetic
    e = on(np.zeros((0, 4), np.float32), device)
    np.testing.assert_array_equal(back(_C.sum(e, [0], False)), np.zeros(4, np.float32))
    assert np.isnan(back(_C.mean(e, [0], False))).all() and back(_C.mean(e, [0], False)).shape == (4,)
    assert back(_C.sum(e, [1], True)).shape == (0, 1)
    z = on(np.array(2.5, np.float32), device)
    assert back(_C.sum(z, [], False)) == 2.5 and back(_C.mean(z, [0], True)) == 2.5


def test_sum_float32_accumulates_in_double():
    a = np.full(1 << 17, 0.1, np.float32)
    a[0] = 1e6
    got = float(N(_C.sum(T(a), [], False)))
    assert got == np.float32(a.astype(np.float64).sum())


def test_sum_matches_torch():
    torch = pytest.importorskip("torch")
    a = rand((5, 6, 7), np.float32)
    for dims in ([0], [1, 2], [0, 2], []):
        want = torch.from_numpy(a).double().sum(dim=dims if dims else None).float().numpy()
        np.testing.assert_allclose(N(_C.sum(T(a), dims, False)), want, rtol=1e-6, atol=1e-6)


def np_argext(a, axis, is_max):
    """First occurrence; a NaN wins (first NaN)."""
    f = np.argmax if is_max else np.argmin
    idx = f(a, axis=axis)
    if a.dtype.kind == "f":
        isn = np.isnan(a)
        has = isn.any(axis=axis)
        idx = np.where(has, np.argmax(isn, axis=axis), idx)
    return idx


MAX_SHAPES = [(3, 4, 5), (1,), (7, 33), (2, 1, 3)]
CUDA_MAX_SHAPES = [(7,), (3, 33), (2, 3, 5), (4, 1, 7, 3), (5, 300), (2, 1000, 3)]  # the CUDA twin test's


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, cuda_case(np.uint8), np.bool_])
@pytest.mark.parametrize("is_max", [True, False])
def test_max_min_dim(dtype, is_max, device):
    fn = _C.max_dim if is_max else _C.min_dim
    ext = np.max if is_max else np.min
    for shape in MAX_SHAPES + (CUDA_MAX_SHAPES if cuda_extras(device) else []):
        a = rand(shape, dtype) if dtype != np.int64 else RNG.integers(0, 3, shape)  # many ties
        if dtype in (np.float32, np.float64) and a.size > 4:
            a.flat[[1, 3]] = np.nan
        ta = on(a, device)
        for dim in range(len(shape)):
            for keepdim in (False, True):
                v, i = fn(ta, dim - len(shape) if keepdim else dim, keepdim)
                wi = np_argext(a, dim, is_max)
                wv = np.take_along_axis(a, np.expand_dims(wi, dim), dim)
                if not keepdim:
                    wv = np.squeeze(wv, dim)
                else:
                    wi = np.expand_dims(wi, dim)
                assert back(i).dtype == np.int64 and back(v).dtype == a.dtype
                np.testing.assert_array_equal(back(i), wi)
                np.testing.assert_array_equal(back(v), wv)
                np.testing.assert_array_equal(back(_C.argmax(ta, dim, keepdim) if is_max else
                                                   _C.argmin(ta, dim, keepdim)), wi)
        assert np.array_equal(back(_C.max_all(ta) if is_max else _C.min_all(ta)), ext(a),
                              equal_nan=dtype != np.bool_)
        for keepdim in (False, True):
            flat = np_argext(a.reshape(-1), 0, is_max)
            got = back(_C.argmax(ta, None, keepdim) if is_max else _C.argmin(ta, None, keepdim))
            assert got.shape == ((1,) * len(shape) if keepdim else ()) and int(got.reshape(-1)[0]) == flat


def test_max_min_ties_nan_and_noncontiguous():
    a = np.array([[1.0, 3.0, 3.0, 2.0], [np.nan, 1.0, np.nan, 5.0], [2.0, 2.0, 2.0, 2.0]])
    v, i = _C.max_dim(T(a), 1, False)
    np.testing.assert_array_equal(N(i), [1, 0, 0])
    np.testing.assert_array_equal(N(v), [3.0, np.nan, 2.0])
    v, i = _C.min_dim(T(a), 1, False)
    np.testing.assert_array_equal(N(i), [0, 0, 0])
    assert np.isnan(N(_C.max_all(T(a)))) and np.isnan(N(_C.min_all(T(a))))
    assert int(N(_C.argmax(T(a), None, False))) == 4
    base = rand((8, 6), np.float64)
    for v_ in (base.T, base[::3, ::-2]):
        for dim in (0, 1):
            np.testing.assert_array_equal(N(_C.max_dim(T(v_), dim, False)[1]), np.argmax(v_, dim))
            np.testing.assert_array_equal(N(_C.min_dim(T(v_), dim, False)[0]), np.min(v_, dim))
        assert N(_C.argmin(T(v_), None, False)) == np.argmin(v_)
        assert N(_C.max_all(T(v_))) == v_.max()


def test_max_large_dim_blocks(device):
    a = RNG.standard_normal((2, 50000)).astype(np.float32)
    a[0, 30000] = 9.0
    a[0, 45000] = 9.0       # tie in a later block: the first one wins
    a[1, 20000] = np.nan    # NaN in the second block
    a[1, 40000] = np.nan
    v, i = _C.max_dim(on(a, device), 1, False)
    np.testing.assert_array_equal(back(i), [30000, 20000])
    assert back(v)[0] == 9.0 and np.isnan(back(v)[1])
    np.testing.assert_array_equal(back(_C.argmin(on(a[:1], device), 1, False)), [np.argmin(a[0])])
    big = RNG.standard_normal(100003)
    assert back(_C.argmax(on(big, device), None, False)) == np.argmax(big)
    assert back(_C.min_all(on(big, device))) == big.min()


def test_max_min_device_views_ties_nan(device):
    """Ties keep the first index, a NaN wins (the first NaN), on transposed views made on the device; in
    long rows the winner sits in a later block."""
    x = np.array([[1.0, 3.0, 3.0, -2.0], [np.nan, 5.0, np.nan, 5.0], [0.0, -0.0, 0.0, 0.0]], np.float32)
    for t, a in [(on(x, device), x), (on(x, device).transpose(0, 1), x.T)]:
        for dim in (0, 1):
            for fn, is_max in ((_C.max_dim, True), (_C.min_dim, False)):
                v, i = fn(t, dim, False)
                wi = np_argext(a, dim, is_max)
                np.testing.assert_array_equal(back(i), wi)
                np.testing.assert_array_equal(back(v), np.take_along_axis(a, np.expand_dims(wi, dim), dim)
                                              .squeeze(dim))
    big = rand((1, 5000), np.float32)
    big[0, 4000] = big.max() + 1
    big[0, 4001] = big[0, 4000]
    assert int(back(_C.max_dim(on(big, device), 1, False)[1])[0]) == 4000
    big[0, 17] = np.nan
    big[0, 3000] = np.nan
    assert int(back(_C.argmax(on(big, device), None, False))) == 17
    assert int(back(_C.argmin(on(big, device), 1, False))[0]) == 17


def test_argmax_dim_none_keepdim_and_zero_dim(device):
    a = rand((3, 4), np.float32)
    r = back(_C.argmax(on(a, device), None, True))
    assert r.shape == (1, 1) and r.item() == np.argmax(a)
    assert back(_C.argmin(on(a, device), None, False)).shape == ()
    s = on(np.array(4.0), device)
    v, i = _C.max_dim(s, 0, True)
    assert back(v).shape == () and back(v) == 4.0 and back(i) == 0
    assert back(_C.argmax(s, -1, False)) == 0
    assert back(_C.max_all(s)) == 4.0
    z = on(np.array(-1.5), device)
    for fn in (_C.max_dim, _C.min_dim):
        v, i = fn(z, 0, False)
        assert back(v) == -1.5 and int(back(i)) == 0


def test_max_min_errors():
    e = T(np.zeros((0, 3)))
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified for input.numel\(\) == 0"):
        _C.max_all(e)
    with pytest.raises(RuntimeError, match=r"min\(\)"):
        _C.min_all(e)
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 0 to have non-zero size"):
        _C.max_dim(e, 0, False)
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        _C.argmax(e, None, False)
    v, i = _C.max_dim(e, 1, False)  # reducing a non-empty dim of an empty tensor is fine
    assert N(v).shape == (0,) and N(i).shape == (0,)
    with pytest.raises(IndexError, match="dimension out of range"):
        _C.min_dim(T(np.ones((2, 3))), 2, False)


def test_max_dim_matches_torch():
    torch = pytest.importorskip("torch")
    a = RNG.integers(0, 4, (6, 9)).astype(np.float32)
    a[2, 3] = np.nan
    for dim in (0, 1):
        tv, ti = torch.max(torch.from_numpy(a), dim)
        v, i = _C.max_dim(T(a), dim, False)
        np.testing.assert_array_equal(N(v), tv.numpy())
        np.testing.assert_array_equal(N(i), ti.numpy())
        tv, ti = torch.min(torch.from_numpy(a), dim)
        v, i = _C.min_dim(T(a), dim, False)
        np.testing.assert_array_equal(N(v), tv.numpy())
        np.testing.assert_array_equal(N(i), ti.numpy())
