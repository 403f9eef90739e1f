"""CUDA indexing kernels (index_select, index_add_, index_copy_, gather, scatter_add_, cat, nonzero)
against their CPU twins on random odd-size data with duplicate and negative indices and strided
operands, plus bad inputs (out-of-range indices checked on the device, mixed devices).

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""

import numpy as np
import pytest

from cnnkit import _C

from cuda_twin_helpers import ON_CPU, G, H, N, T, needs_device

pytestmark = needs_device

RNG = np.random.default_rng(11)
DTYPES = [np.float32, np.float64, np.int64]



def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.random(shape) < 0.5
    if dtype in (np.int64, np.uint8):
        return RNG.integers(0 if dtype == np.uint8 else -50, 50, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def same(got, want):
    # Every op here either copies or adds in the CPU's order: results are bit-identical.
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


SHAPES = [(1,), (7,), (3, 33), (2, 3, 5), (5, 1, 4)]


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_, np.uint8])
def test_index_select(dtype):
    for shape in SHAPES:
        x = rand(shape, dtype)
        for dim in range(len(shape)):
            n = shape[dim]
            idx = RNG.integers(-n, n, size=9)
            same(H(_C.index_select(G(x), dim, G(idx))), N(_C.index_select(T(x), dim, T(idx))))
            same(H(_C.index_select(G(x), dim - len(shape), G(np.array(n - 1)))),
                 N(_C.index_select(T(x), dim - len(shape), T(np.array(n - 1)))))
    x = rand((7, 33), dtype)
    idx = RNG.integers(-7, 7, size=5)
    same(H(_C.index_select(G(x).transpose(0, 1), 1, G(idx))), N(_C.index_select(T(x).transpose(0, 1), 1, T(idx))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add_and_copy(dtype):
    for shape in SHAPES + [(4, 300)]:
        for dim in range(len(shape)):
            n = shape[dim]
            k = 11
            idx = RNG.integers(-n, n, size=k)  # duplicates when n < 11
            sshape = list(shape)
            sshape[dim] = k
            src = rand(sshape, dtype)
            base = rand(shape, dtype)
            for name in ("index_add_", "index_copy_"):
                g = G(base)
                r = getattr(_C, name)(g, dim, G(idx), G(src))
                c = T(base.copy())
                getattr(_C, name)(c, dim, T(idx), T(src))
                same(H(g), N(c))
                same(H(r), N(c))
    # strided target (transposed view) and strided source
    base = rand((5, 7), np.float32)
    src = rand((7, 3), np.float32)
    idx = np.array([0, 4, 4])
    g = G(base)
    _C.index_add_(g.transpose(0, 1), 1, G(idx), G(src.T.copy()).transpose(0, 1))
    c = T(base.copy())
    _C.index_add_(c.transpose(0, 1), 1, T(idx), T(src.T.copy()).transpose(0, 1))
    same(H(g), N(c))


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
def test_gather(dtype):
    for shape in SHAPES:
        x = rand(shape, dtype)
        for dim in range(len(shape)):
            ishape = [max(1, s - 1) if d != dim else 6 for d, s in enumerate(shape)]
            idx = RNG.integers(-shape[dim], shape[dim], size=ishape)
            same(H(_C.gather(G(x), dim, G(idx))), N(_C.gather(T(x), dim, T(idx))))
    x = rand((7, 5), dtype)
    idx = RNG.integers(0, 7, size=(4, 5))
    same(H(_C.gather(G(x).transpose(0, 1), 1, G(idx.T.copy()))),
         N(_C.gather(T(x).transpose(0, 1), 1, T(idx.T.copy()))))
    z = rand((), dtype)
    same(H(_C.gather(G(z), 0, G(np.array(0)))), N(_C.gather(T(z), 0, T(np.array(0)))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add(dtype):
    for shape in SHAPES:
        for dim in range(len(shape)):
            ishape = [max(1, s - 1) if d != dim else 8 for d, s in enumerate(shape)]
            sshape = [s + 1 for s in ishape]
            idx = RNG.integers(-shape[dim], shape[dim], size=ishape)
            src = rand(sshape, dtype)
            base = rand(shape, dtype)
            g = G(base)
            r = _C.scatter_add_(g, dim, G(idx), G(src))
            c = T(base.copy())
            _C.scatter_add_(c, dim, T(idx), T(src))
            same(H(g), N(c))
            same(H(r), N(c))
    base = rand((6, 4), dtype)
    idx = RNG.integers(0, 6, size=(4, 3))
    src = rand((4, 3), dtype)
    g = G(base)
    _C.scatter_add_(g.transpose(0, 1), 1, G(idx), G(src))
    c = T(base.copy())
    _C.scatter_add_(c.transpose(0, 1), 1, T(idx), T(src))
    same(H(g), N(c))


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_, np.uint8])
def test_cat(dtype):
    a, b, c = rand((3, 4, 5), dtype), rand((3, 1, 5), dtype), rand((3, 7, 5), dtype)
    for dim in (1, -2):
        same(H(_C.cat([G(a), G(b), G(c)], dim)), N(_C.cat([T(a), T(b), T(c)], dim)))
    for dim in (0, 2):
        same(H(_C.cat([G(a), G(a)], dim)), N(_C.cat([T(a), T(a)], dim)))
    e = np.zeros((0,), dtype)
    same(H(_C.cat([G(e), G(a), G(e)], 0)), N(_C.cat([T(e), T(a), T(e)], 0)))
    same(H(_C.cat([G(e), G(e)], 0)), N(_C.cat([T(e), T(e)], 0)))
    # strided inputs
    same(H(_C.cat([G(a).transpose(0, 2), G(c).transpose(0, 2)], 1)),
         N(_C.cat([T(a).transpose(0, 2), T(c).transpose(0, 2)], 1)))


@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
def test_nonzero(dtype):
    for shape in [(), (1,), (7,), (3, 33), (2, 3, 5), (0, 3), (517, 3)]:
        x = rand(shape, dtype)
        if dtype != np.bool_ and x.size:
            x.reshape(-1)[RNG.random(x.size) < 0.5] = 0
        same(H(_C.nonzero(G(x))), N(_C.nonzero(T(x))))
    zeros = np.zeros((4, 300), dtype)
    same(H(_C.nonzero(G(zeros))), N(_C.nonzero(T(zeros))))
    big = np.zeros(100003, dtype)
    big[RNG.integers(0, big.size, size=1000)] = 1
    same(H(_C.nonzero(G(big))), N(_C.nonzero(T(big))))
    x = rand((7, 5), dtype)
    same(H(_C.nonzero(G(x).transpose(0, 1))), N(_C.nonzero(T(x).transpose(0, 1))))


def _message(fn):
    with pytest.raises(IndexError) as e:
        fn()
    return str(e.value)


def test_bad_indices_raise_with_cpu_message():
    x = rand((5, 4), np.float32)
    bad = np.array([1, 7, -9, 2])  # 7 is the first bad value
    for dim in (0,):
        msg_g = _message(lambda: _C.index_select(G(x), dim, G(bad)))
        msg_c = _message(lambda: _C.index_select(T(x), dim, T(bad)))
        assert msg_g == msg_c and "index 7 is out of bounds for dimension 0 with size 5" in msg_g
    src = rand((4, 4), np.float32)
    for name in ("index_add_", "index_copy_"):
        g = G(x)
        assert _message(lambda: getattr(_C, name)(g, 0, G(bad), G(src))) == \
            _message(lambda: getattr(_C, name)(T(x.copy()), 0, T(bad), T(src)))
        np.testing.assert_array_equal(H(g), x)  # untouched
    gidx = np.array([[0, 1, 2, 3], [4, -6, 0, 0]])
    assert _message(lambda: _C.gather(G(x), 0, G(gidx))) == _message(lambda: _C.gather(T(x), 0, T(gidx)))
    sidx = np.array([[0, 1, 2, 3], [5, 0, 0, 0]])
    assert _message(lambda: _C.scatter_add_(G(x), 0, G(sidx), G(src))) == \
        _message(lambda: _C.scatter_add_(T(x.copy()), 0, T(sidx), T(src)))
    # first bad in row-major order even when several are bad, through a strided index
    many = np.array([[0, 9], [-8, 0]])  # stored transposed, -8 comes first in memory
    assert "index 9 " in _message(lambda: _C.gather(G(x), 0, G(many.T.copy()).transpose(0, 1)))
    assert "index 9 " in _message(lambda: _C.gather(G(x), 0, G(many)))


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
