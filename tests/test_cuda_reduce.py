"""CUDA reductions (sum, sum_naive, mean, max_dim, min_dim, max_all, min_all, argmax, argmin) against
their CPU twins on random odd-size data, strided inputs, ties and NaN, plus bad inputs.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""
import itertools

import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import G, H, N, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(99)



def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        lo = 0 if dtype == np.uint8 else -5
        return RNG.integers(lo, 6, size=shape).astype(dtype)  # small range: many ties
    return RNG.standard_normal(shape).astype(dtype)


def check(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.floating):
        # Both accumulate in double; only the summation order differs.
        tol = dict(rtol=1e-5, atol=1e-6) if want.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, want, equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(got, want)


def all_dim_lists(nd):
    out = [[]]
    for r in range(1, nd + 1):
        out += [list(c) for c in itertools.combinations(range(nd), r)]
    return out


SHAPES = [(1,), (7,), (3, 33), (2, 3, 5), (4, 1, 7, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_sum_matches_cpu(dtype):
    for shape in SHAPES:
        x = rand(shape, dtype)
        for dims in all_dim_lists(len(shape)):
            for keepdim in (False, True):
                want = N(_C.sum(T(x), dims, keepdim))
                check(H(_C.sum(G(x), dims, keepdim)), want)
                np.testing.assert_array_equal(H(_C.sum_naive(G(x), dims, keepdim)),
                                              N(_C.sum_naive(T(x), dims, keepdim)))
                if dtype in (np.float32, np.float64):
                    check(H(_C.mean(G(x), dims, keepdim)), N(_C.mean(T(x), dims, keepdim)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_strided_and_large(dtype):
    x = rand((33, 7, 5), dtype)
    gx, tx = G(x).permute([2, 0, 1]), T(x).permute([2, 0, 1])
    for dims in all_dim_lists(3):
        check(H(_C.sum(gx, dims, False)), N(_C.sum(tx, dims, False)))
        check(H(_C.mean(gx, dims, True)), N(_C.mean(tx, dims, True)))
    s = G(x).slice(0, 1, 33, 3)
    check(H(_C.sum(s, [0, 2], False)), N(_C.sum(T(x).slice(0, 1, 33, 3), [0, 2], False)))
    big = rand((3, 100003), dtype)  # long rows: many threads per output block
    check(H(_C.sum(G(big), [1], False)), N(_C.sum(T(big), [1], False)))
    check(H(_C.sum(G(big), [], False)), N(_C.sum(T(big), [], False)))
    many = rand((70001, 3), dtype)  # many short rows; also the column sum (strided reduced dim)
    check(H(_C.sum(G(many), [1], False)), N(_C.sum(T(many), [1], False)))
    check(H(_C.sum(G(many), [0], False)), N(_C.sum(T(many), [0], False)))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_more_outputs_than_the_grid(dtype):
    # The reductions launch one block per output up to 65,535 * 8 blocks and grid-stride beyond: 1,048,579
    # outputs make every block take two or three outputs (the 70,001 rows above fit in one pass).
    x = rand((65535 * 16 + 3, 3), dtype)
    check(H(_C.sum(G(x), [1], False)), N(_C.sum(T(x), [1], False)))
    gv, gi = _C.max_dim(G(x), 1, False)
    cv, ci = _C.max_dim(T(x), 1, False)
    check(H(gv), N(cv))
    check(H(gi), N(ci))


def test_sum_int_wraps_and_empty():
    x = np.array([np.iinfo(np.int64).max, 1, 5], dtype=np.int64)
    check(H(_C.sum(G(x), [], False)), N(_C.sum(T(x), [], False)))
    e = np.zeros((0, 4), np.float32)
    check(H(_C.sum(G(e), [0], False)), N(_C.sum(T(e), [0], False)))
    check(H(_C.mean(G(e), [0], False)), N(_C.mean(T(e), [0], False)))  # NaN
    check(H(_C.sum(G(e), [1], True)), N(_C.sum(T(e), [1], True)))
    z = np.array(2.5, np.float32)
    check(H(_C.sum(G(z), [], False)), N(_C.sum(T(z), [], False)))
    check(H(_C.mean(G(z), [0], True)), N(_C.mean(T(z), [0], True)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_max_min_dim(dtype):
    for shape in SHAPES + [(5, 300), (2, 1000, 3)]:
        x = rand(shape, dtype)
        if dtype in (np.float32, np.float64) and x.size > 4:
            flat = x.reshape(-1)
            flat[RNG.integers(0, x.size, size=2)] = np.nan
            flat[RNG.integers(0, x.size, size=3)] = flat[0]  # ties
        for dim in range(-len(shape), len(shape)):
            for keepdim in (False, True):
                for name in ("max_dim", "min_dim"):
                    gv, gi = getattr(_C, name)(G(x), dim, keepdim)
                    cv, ci = getattr(_C, name)(T(x), dim, keepdim)
                    check(H(gv), N(cv))
                    np.testing.assert_array_equal(H(gi), N(ci))
                for name in ("argmax", "argmin"):
                    np.testing.assert_array_equal(H(getattr(_C, name)(G(x), dim, keepdim)),
                                                  N(getattr(_C, name)(T(x), dim, keepdim)))
        for name in ("max_all", "min_all"):
            check(H(getattr(_C, name)(G(x))), N(getattr(_C, name)(T(x))))
        for name in ("argmax", "argmin"):
            for keepdim in (False, True):
                np.testing.assert_array_equal(H(getattr(_C, name)(G(x), None, keepdim)),
                                              N(getattr(_C, name)(T(x), None, keepdim)))


def test_max_min_strided_ties_nan():
    x = np.array([[1.0, 3.0, 3.0, -2.0], [np.nan, 5.0, np.nan, 5.0], [0.0, -0.0, 0.0, 0.0]], np.float32)
    for t_g, t_c in [(G(x), T(x)), (G(x).transpose(0, 1), T(x).transpose(0, 1))]:
        for dim in (0, 1):
            for name in ("max_dim", "min_dim"):
                gv, gi = getattr(_C, name)(t_g, dim, False)
                cv, ci = getattr(_C, name)(t_c, dim, False)
                check(H(gv), N(cv))
                np.testing.assert_array_equal(H(gi), N(ci))
    big = rand((1, 5000), np.float32)
    big[0, 4000] = big.max() + 1
    big[0, 4001] = big[0, 4000]
    gv, gi = _C.max_dim(G(big), 1, False)
    assert int(H(gi)[0]) == 4000
    big[0, 17] = np.nan
    big[0, 3000] = np.nan
    assert int(H(_C.argmax(G(big), None, False))) == 17
    assert int(H(_C.argmin(G(big), 1, False))[0]) == 17


def test_zero_dim_inputs():
    z = np.array(-1.5, np.float64)
    for name in ("max_dim", "min_dim"):
        gv, gi = getattr(_C, name)(G(z), 0, False)
        check(H(gv), N(getattr(_C, name)(T(z), 0, False)[0]))
        assert int(H(gi)) == 0
    check(H(_C.max_all(G(z))), N(_C.max_all(T(z))))
    assert int(H(_C.argmax(G(z), None, False))) == 0


def test_bad_inputs():
    x = rand((3, 0), np.float32)
    with pytest.raises(IndexError, match="non-zero size"):
        _C.max_dim(G(x), 1, False)
    with pytest.raises(RuntimeError, match="numel"):
        _C.max_all(G(x))
    with pytest.raises(TypeError, match="mean"):
        _C.mean(G(rand((3,), np.int64)), [], False)
    with pytest.raises(ValueError, match="multiple times"):
        _C.sum(G(rand((3, 4), np.float32)), [0, -2], False)
    with pytest.raises(IndexError):
        _C.sum(G(rand((3, 4), np.float32)), [2], False)
