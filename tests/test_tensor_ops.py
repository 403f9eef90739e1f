"""Step-5 tensor ops through the Python layer: sort/topk/argsort, cumsum/cumprod, flip/roll/tril/triu,
scatter/index_add/index_fill, einsum and the small linear-algebra helpers, var/std/clamp/repeat
variants, meshgrid, new_* / apply_, the new unary/binary math, NumPy aliases and out=.
Each op: values vs NumPy, float64 gradcheck, forward+backward vs PyTorch (when installed), errors.

The new _C kernels (cumsum / cumprod / cumprod_backward, scatter_ with reduce, the unary / binary math) are
also tested at the _C level on each device (the `device` fixture) against NumPy: integer cumsum / cumprod and
scatter_ exact on both devices; floating cumsum / cumprod at 1e-6 (float32) / 1e-12 (float64) against float64
NumPy (no multiply-add to contract; CUDA scans in the CPU's order), cumprod_backward at 1e-5 (float32) / 1e-12 (float64) against a float64 loop, the math
functions at 2e-6 (float32) / 1e-13 (float64) against NumPy / math (CUDA's libdevice is within a few ulp).
The Python-layer CUDA-vs-CPU comparisons of the composed ops stay in tests/test_cuda_tensor_ops.py.
"""
import math

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import _C
from cnnkit.testing import compare_with_torch, gradcheck
from cuda_twin_helpers import back, cuda_case, on


def arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def r64(*shape, seed=0):
    return ck.tensor(arr(*shape, seed=seed, dtype=np.float64), requires_grad=True)


def npy(t):
    return np.asarray(t.detach()._t)


def both(fn, arrays, **kw):
    """fn(module, *tensors) run with cnnkit and torch on the same arrays, forward and backward."""
    torch = pytest.importorskip("torch")
    return compare_with_torch(lambda *xs: fn(ck, *xs), lambda *xs: fn(torch, *xs), arrays, **kw)


# ---------------------------------------------------------------------------------------------
# sort / argsort / topk
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 33), -1), ((4, 1, 3), 1),
                                       ((2, 0, 3), 2)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_vs_numpy(shape, dim, descending):
    a = arr(*shape, seed=3)
    v, i = ck.tensor(a).sort(dim=dim, descending=descending)
    key = -a if descending else a
    idx = np.argsort(key, axis=dim, kind="stable")
    np.testing.assert_array_equal(npy(i), idx)
    np.testing.assert_array_equal(npy(v), np.take_along_axis(a, idx, axis=dim))
    np.testing.assert_array_equal(npy(ck.tensor(a).argsort(dim, descending)), idx)
    np.testing.assert_array_equal(npy(ck.argsort(ck.tensor(a), dim=dim, descending=descending)), idx)


def test_sort_stable_ties_nan_and_dtypes():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, np.nan, 1.0, 0.0, np.nan, -np.inf, np.inf, 0.0], dtype=np.float32)
    for desc in (False, True):
        v, i = ck.tensor(a).sort(descending=desc, stable=True)
        tv, ti = torch.tensor(a).sort(descending=desc, stable=True)
        np.testing.assert_array_equal(npy(v), tv.numpy())
        np.testing.assert_array_equal(npy(i), ti.numpy())
    ints = np.random.default_rng(0).integers(-3, 3, size=(4, 9))
    for desc in (False, True):
        v, i = ck.tensor(ints).sort(dim=1, descending=desc, stable=True)
        tv, ti = torch.tensor(ints).sort(dim=1, descending=desc, stable=True)
        assert v.dtype is ck.int64
        np.testing.assert_array_equal(npy(v), tv.numpy())
        np.testing.assert_array_equal(npy(i), ti.numpy())
    b = np.array([True, False, True, False])
    v, i = ck.tensor(b).sort()
    np.testing.assert_array_equal(npy(i), torch.tensor(b).sort(stable=True)[1].numpy())
    s, j = ck.tensor(3.0).sort()
    assert s.item() == 3.0 and j.item() == 0 and s.dim() == 0


def test_sort_matches_naive_reference():
    from cnnkit import _C

    a = np.round(arr(5, 40, 3, seed=1) * 2) / 2  # many ties
    a[0, 3, 1] = np.nan
    for desc in (False, True):
        v, i = _C.sort(ck.tensor(a)._t, 1, desc)
        nv, ni = _C.sort_naive(ck.tensor(a)._t, 1, desc)
        np.testing.assert_array_equal(np.asarray(i), np.asarray(ni))
        np.testing.assert_array_equal(np.asarray(v), np.asarray(nv))


@pytest.mark.parametrize("shape,k,dim", [((9,), 3, 0), ((4, 7), 7, 1), ((5, 6), 1, 0), ((2, 3, 11), 4, -1),
                                         ((3, 4), 0, 1)])
@pytest.mark.parametrize("largest", [True, False])
def test_topk(shape, k, dim, largest):
    a = arr(*shape, seed=5)
    v, i = ck.tensor(a).topk(k, dim=dim, largest=largest)
    idx = np.argsort(-a if largest else a, axis=dim, kind="stable")
    idx = np.take(idx, np.arange(k), axis=dim)
    np.testing.assert_array_equal(npy(i), idx)
    np.testing.assert_array_equal(npy(v), np.take_along_axis(a, idx, axis=dim))
    # torch's tie order is unspecified; the data has no ties, so values and indices must agree.
    torch = pytest.importorskip("torch")
    tv, ti = torch.tensor(a).topk(k, dim=dim, largest=largest)
    np.testing.assert_array_equal(npy(v), tv.numpy())
    np.testing.assert_array_equal(npy(i), ti.numpy())


def test_sort_topk_backward_vs_torch_and_gradcheck():
    both(lambda m, x: m.sort(x, dim=1, descending=True)[0] * 2, [arr(3, 7)])
    both(lambda m, x: x.topk(3, dim=0)[0], [arr(6, 5, seed=2)])
    both(lambda m, x: x.sort(-1).values.cumsum(-1), [arr(2, 3, 5, seed=4)])
    assert gradcheck(lambda x: x.sort(0)[0], (r64(5, 3),))
    assert gradcheck(lambda x: x.topk(2, 1, largest=False)[0], (r64(3, 6, seed=1),))


def test_sort_topk_errors():
    x = ck.randn(3, 4)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.sort(dim=2)
    with pytest.raises(TypeError, match="sort\\(\\): argument 'dim' must be int, not float"):
        x.sort(dim=1.0)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(5)
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(-1)
    with pytest.raises(TypeError, match="topk\\(\\): argument 'k' must be int"):
        x.topk(1.5)


# ---------------------------------------------------------------------------------------------
# cumsum / cumprod
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 1, 5), -1)])
def test_cumsum_cumprod_values(shape, dim):
    a = arr(*shape, seed=6)
    np.testing.assert_allclose(npy(ck.tensor(a).cumsum(dim)), np.cumsum(a.astype(np.float64), axis=dim), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(npy(ck.cumprod(ck.tensor(a), dim)), np.cumprod(a.astype(np.float64), axis=dim),
                               rtol=1e-5, atol=1e-6)
    ints = np.random.default_rng(0).integers(-4, 5, size=shape)
    c = ck.tensor(ints).cumsum(dim)
    assert c.dtype is ck.int64
    np.testing.assert_array_equal(npy(c), np.cumsum(ints, axis=dim))
    assert ck.tensor(ints > 0).cumsum(dim).dtype is ck.int64
    assert ck.tensor(ints).cumsum(dim, dtype=ck.float64).dtype is ck.float64


def test_cumsum_cumprod_grad():
    assert gradcheck(lambda x: x.cumsum(1), (r64(3, 6),))
    assert gradcheck(lambda x: x.cumsum(0), (r64(4, 2, 3),))
    assert gradcheck(lambda x: x.cumprod(1), (r64(3, 5, seed=2),))
    x = np.array([[1.5, 0.0, 2.0, -1.0, 0.0, 3.0], [0.0, 2.0, 0.5, 1.5, 2.0, -1.0]])
    assert gradcheck(lambda t: t.cumprod(1), (ck.tensor(x, requires_grad=True),))  # zeros: no division
    both(lambda m, t: t.cumprod(1), [x.astype(np.float32)])
    both(lambda m, t: m.cumsum(t, dim=0) * t, [arr(4, 3)])
    both(lambda m, t: t.cumprod(-1), [arr(2, 3, 7, seed=9)])


def test_cumsum_errors():
    x = ck.randn(3, 4)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.cumsum(3)
    with pytest.raises(TypeError, match="cumsum\\(\\): argument 'dim' must be int, not NoneType"):
        x.cumsum(None)


# ---------------------------------------------------------------------------------------------
# flip / roll / tril / triu
# ---------------------------------------------------------------------------------------------
def test_flip_roll_values():
    a = arr(3, 4, 5, seed=7)
    x = ck.tensor(a)
    np.testing.assert_array_equal(npy(x.flip(0)), np.flip(a, 0))
    np.testing.assert_array_equal(npy(x.flip((0, 2))), np.flip(a, (0, 2)))
    np.testing.assert_array_equal(npy(ck.flip(x, [-1])), np.flip(a, -1))
    np.testing.assert_array_equal(npy(x[0].fliplr()), np.fliplr(a[0]))
    np.testing.assert_array_equal(npy(x.flipud()), np.flipud(a))
    np.testing.assert_array_equal(npy(x.roll(3)), np.roll(a, 3))
    np.testing.assert_array_equal(npy(x.roll(-2, 1)), np.roll(a, -2, 1))
    np.testing.assert_array_equal(npy(ck.roll(x, (1, 7), (0, 2))), np.roll(a, (1, 7), (0, 2)))
    np.testing.assert_array_equal(npy(x.roll(0, 0)), a)


def test_flip_roll_grad_and_errors():
    assert gradcheck(lambda t: t.flip(0, 1) * 3, (r64(3, 4),))
    assert gradcheck(lambda t: t.roll((1, -1), (0, 1)), (r64(3, 4),))
    both(lambda m, t: t.flip(1).roll(2) * t, [arr(4, 5)])
    x = ck.randn(2, 3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.flip(5)
    with pytest.raises(TypeError, match="flip\\(\\): argument 'dims' must be int, not float"):
        x.flip(0.0)
    with pytest.raises(RuntimeError, match="dims has duplicates"):
        x.flip(0, 0)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        x.roll((1, 2), 0)


@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
def test_tril_triu(diagonal):
    a = arr(2, 4, 5, seed=8)
    np.testing.assert_array_equal(npy(ck.tensor(a).tril(diagonal)), np.tril(a, diagonal))
    np.testing.assert_array_equal(npy(ck.triu(ck.tensor(a), diagonal=diagonal)), np.triu(a, diagonal))
    assert gradcheck(lambda t: t.tril(diagonal), (r64(4, 3),))
    both(lambda m, t: t.triu(diagonal) * t, [arr(5, 4)])
    y = ck.tensor(a.copy())
    y.tril_(diagonal)
    np.testing.assert_array_equal(npy(y), np.tril(a, diagonal))
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        ck.zeros(3).tril()


# ---------------------------------------------------------------------------------------------
# scatter / scatter_add / index_add / index_fill / gather
# ---------------------------------------------------------------------------------------------
def _perm_index(rows, cols, k, dim, seed=0):
    """An index of shape (rows, k) or (k, cols) without duplicates along dim (so scatter is exact)."""
    g = np.random.default_rng(seed)
    if dim == 1:
        return np.stack([g.permutation(cols)[:k] for _ in range(rows)])
    return np.stack([g.permutation(rows)[:k] for _ in range(cols)], axis=1)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_values_and_grad(dim):
    a = arr(4, 5, seed=1)
    idx = _perm_index(4, 5, 3, dim)
    src = arr(*idx.shape, seed=2)
    ref = a.copy()
    np.put_along_axis(ref, idx, src, axis=dim)
    out = ck.tensor(a).scatter(dim, ck.tensor(idx), ck.tensor(src))
    np.testing.assert_array_equal(npy(out), ref)
    ref_v = a.copy()
    np.put_along_axis(ref_v, idx, 2.5, axis=dim)
    np.testing.assert_array_equal(npy(ck.tensor(a).scatter(dim, ck.tensor(idx), 2.5)), ref_v)
    np.testing.assert_array_equal(npy(ck.scatter(ck.tensor(a), dim, ck.tensor(idx), value=2.5)), ref_v)
    both(lambda m, x, s: x.scatter(dim, m.tensor(idx), s) * x, [a, src])
    both(lambda m, x: x.scatter(dim, m.tensor(idx), 1.5) * x, [a])
    t_idx = ck.tensor(idx)
    assert gradcheck(lambda x, s: x.scatter(dim, t_idx, s), (r64(4, 5), r64(*idx.shape, seed=3)))


def test_scatter_add_duplicates_and_reduce():
    a = arr(3, 4, seed=4)
    idx = np.array([[0, 0, 3, 0], [1, 1, 1, 2], [3, 2, 3, 3]])
    src = arr(3, 4, seed=5)
    ref = a.astype(np.float64).copy()
    for r in range(3):
        for j in range(4):
            ref[r, idx[r, j]] += src[r, j]
    np.testing.assert_allclose(npy(ck.tensor(a).scatter_add(1, ck.tensor(idx), ck.tensor(src))), ref, rtol=1e-6)
    y = ck.tensor(a.copy())
    assert y.scatter_add_(1, ck.tensor(idx), ck.tensor(src)) is y
    np.testing.assert_allclose(npy(y), ref, rtol=1e-6)
    both(lambda m, x, s: m.scatter_add(x, 1, m.tensor(idx), s) * x, [a, src])
    t_idx = ck.tensor(idx)
    assert gradcheck(lambda x, s: x.scatter_add(1, t_idx, s), (r64(3, 4), r64(3, 4, seed=1)))
    mul = a.astype(np.float64).copy()
    for r in range(3):
        for j in range(4):
            mul[r, idx[r, j]] *= src[r, j]
    out = ck.tensor(a).scatter(1, ck.tensor(idx), ck.tensor(src), reduce="multiply")
    np.testing.assert_allclose(npy(out), mul, rtol=1e-5)
    assert gradcheck(lambda x, s: x.scatter(1, t_idx, s, reduce="multiply"), (r64(3, 4), r64(3, 4, seed=1)))
    y = ck.tensor(a.copy())
    y.scatter_(1, ck.tensor(idx), ck.tensor(src), reduce="add")
    np.testing.assert_allclose(npy(y), ref, rtol=1e-6)


def test_scatter_errors():
    x = ck.zeros(3, 4)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 4"):
        x.scatter(1, ck.tensor([[5]]), 1.0)
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        x.scatter(1, ck.tensor([[1]]), 1.0, reduce="max")
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        x.scatter(1, ck.tensor([[1.0]]), 1.0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.scatter(2, ck.tensor([[1]]), 1.0)
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions"):
        x.scatter(1, ck.tensor([1]), ck.ones(1))
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions as src tensor"):
        x.scatter(1, ck.tensor([[1]]), ck.tensor(2.0))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(1, ck.tensor([[1]]), ck.ones(1, 1, dtype=ck.float64))


def test_index_add_fill_copy():
    a = arr(5, 3, seed=6)
    idx = np.array([4, 0, 4, 2])
    src = arr(4, 3, seed=7)
    ref = a.astype(np.float64).copy()
    np.add.at(ref, idx, 2.0 * src)
    out = ck.tensor(a).index_add(0, ck.tensor(idx), ck.tensor(src), alpha=2)
    np.testing.assert_allclose(npy(out), ref, rtol=1e-6)
    y = ck.tensor(a.copy())
    y.index_add_(0, ck.tensor(idx), ck.tensor(src), alpha=2)
    np.testing.assert_allclose(npy(y), ref, rtol=1e-6)
    both(lambda m, x, s: m.index_add(x, 0, m.tensor(idx), s, alpha=-1.5) * x, [a, src])
    t_idx = ck.tensor(idx)
    assert gradcheck(lambda x, s: x.index_add(0, t_idx, s, alpha=3), (r64(5, 3), r64(4, 3, seed=1)))
    fill = a.copy()
    fill[:, [0, 2]] = -7.0
    np.testing.assert_array_equal(npy(ck.tensor(a).index_fill(1, ck.tensor([0, 2]), -7.0)), fill)
    y = ck.tensor(a.copy())
    assert y.index_fill_(1, ck.tensor([0, 2]), -7.0) is y
    np.testing.assert_array_equal(npy(y), fill)
    both(lambda m, x: x.index_fill(1, m.tensor([0, 2]), -7.0) * x, [a])
    torch = pytest.importorskip("torch")
    v, tv = ck.tensor(3.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    ck.tensor(a).index_fill(1, ck.tensor([0, 2, 0]), v).sum().backward()  # a tensor value gets a gradient
    torch.tensor(a).index_fill(1, torch.tensor([0, 2, 0]), tv).sum().backward()
    assert v.grad.item() == tv.grad.item() == 10.0
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 0 with size 5"):
        ck.tensor(a).index_add(0, ck.tensor([9]), ck.ones(1, 3))
    with pytest.raises(RuntimeError, match=r"index_add_\(\): self \(Float\) and source \(Double\) must have the same"):
        ck.tensor(a).index_add_(0, ck.tensor([1]), ck.ones(1, 3, dtype=ck.float64))
    with pytest.raises(IndexError, match="out of bounds"):
        ck.tensor(a).index_fill(1, ck.tensor([3]), 0.0)


def test_gather_and_masked_scatter():
    a = arr(4, 6, seed=8)
    idx = np.random.default_rng(0).integers(0, 6, size=(4, 3))
    np.testing.assert_array_equal(npy(ck.gather(ck.tensor(a), 1, ck.tensor(idx))), np.take_along_axis(a, idx, 1))
    both(lambda m, x: m.gather(x, 1, m.tensor(idx)), [a])
    with pytest.raises(IndexError, match="index 6 is out of bounds"):
        ck.tensor(a).gather(1, ck.tensor([[6]]))
    mask = a > 0
    src = arr(24, seed=9)
    ref = a.copy()
    ref[mask] = src[:mask.sum()]
    y = ck.tensor(a.copy())
    y.masked_scatter_(ck.tensor(mask), ck.tensor(src))
    np.testing.assert_array_equal(npy(y), ref)


# ---------------------------------------------------------------------------------------------
# einsum and friends
# ---------------------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->", [(4, 4)]),
    ("ii->i", [(4, 4)]),
    ("ij->ji", [(3, 5)]),
    ("ij->", [(3, 5)]),
    ("ij->j", [(3, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("ba,ca", [(3, 4), (2, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,jk->...ik", [(2, 1, 3, 4), (4, 5)]),
    ("b...,b...->b", [(3, 2, 4), (3, 2, 4)], "bxy,bxy->b"),
    ("i...->...", [(3, 2, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("iij->j", [(3, 3, 2)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]),
    ("ab,cd,bd->ac", [(2, 3), (4, 5), (3, 5)]),
    ("...", [(2, 3)]),
]


@pytest.mark.parametrize("case", EINSUM, ids=[c[0] for c in EINSUM])
def test_einsum_vs_numpy_and_torch(case):
    eq, shapes = case[:2]
    np_eq = case[2] if len(case) > 2 else eq.replace(" ", "")  # NumPy needs '...' in such outputs
    arrays = [arr(*s, seed=i + 1) for i, s in enumerate(shapes)]
    out = ck.einsum(eq, *[ck.tensor(a) for a in arrays])
    ref = np.einsum(np_eq, *[a.astype(np.float64) for a in arrays])
    np.testing.assert_allclose(npy(out), ref, rtol=1e-5, atol=1e-5)
    both(lambda m, *xs: m.einsum(eq, *xs), arrays)


def test_einsum_gradcheck_and_errors():
    assert gradcheck(lambda a, b: ck.einsum("bij,bjk->bik", a, b), (r64(2, 3, 4), r64(2, 4, 2, seed=1)))
    assert gradcheck(lambda a: ck.einsum("ii->i", a), (r64(3, 3),))
    assert gradcheck(lambda a, b, c: ck.einsum("ij,jk,k->i", a, b, c), (r64(2, 3), r64(3, 4, seed=1), r64(4, seed=2)))
    assert gradcheck(lambda a, b: ck.einsum("ij,ij->i", [a, b]), (r64(2, 3), r64(2, 3, seed=1)))
    with pytest.raises(RuntimeError, match=r"the number of subscripts in the equation \(2\) does not match the number "
                                           r"of dimensions \(1\) for operand 1 and no ellipsis was given"):
        ck.einsum("ij,jk->ik", ck.ones(2, 3), ck.ones(3))
    with pytest.raises(RuntimeError, match="fewer operands were provided than specified in the equation"):
        ck.einsum("ij,jk->ik", ck.ones(2, 3))
    with pytest.raises(RuntimeError, match="output subscript k does not appear in the equation for any input"):
        ck.einsum("ij->k", ck.ones(2, 3))
    with pytest.raises(RuntimeError, match="subscript j has size 4 .* does not broadcast with previously seen size 3"):
        ck.einsum("ij,ij->i", ck.ones(2, 3), ck.ones(2, 4))


def test_linalg_helpers():
    a, b = arr(4, seed=1), arr(4, seed=2)
    m = arr(4, 5, seed=3)
    np.testing.assert_allclose(ck.dot(ck.tensor(a), ck.tensor(b)).item(), float(a.astype(np.float64) @ b), rtol=1e-5)
    np.testing.assert_allclose(npy(ck.outer(ck.tensor(a), ck.tensor(b))), np.outer(a, b), rtol=1e-6)
    np.testing.assert_allclose(npy(ck.tensor(m).trace()), np.trace(m), rtol=1e-5)
    for k in (-2, 0, 1, 6):
        np.testing.assert_array_equal(npy(ck.tensor(m).diag(k)), np.diag(m, k))
        np.testing.assert_array_equal(npy(ck.diag(ck.tensor(a), k)), np.diag(a, k))
    x = arr(2, 3, 4, seed=4)
    np.testing.assert_array_equal(npy(ck.tensor(x).diagonal(1, 1, 2)), np.diagonal(x, 1, 1, 2))
    np.testing.assert_array_equal(npy(ck.tensor(x).diagonal(-1, 0, 2)), np.diagonal(x, -1, 0, 2))
    np.testing.assert_allclose(npy(ck.inner(ck.tensor(m), ck.tensor(arr(3, 5, seed=5)))),
                               np.inner(m, arr(3, 5, seed=5)), rtol=1e-5, atol=1e-5)
    both(lambda mod, u, v: mod.dot(u, v), [a, b])
    both(lambda mod, u, v: mod.outer(u, v), [a, b])
    both(lambda mod, t: t.diag(1) * 2, [m])
    both(lambda mod, u: mod.diag(u, -1), [a])
    both(lambda mod, t: mod.trace(t), [m])
    both(lambda mod, t: t.diagonal(0, 0, 2), [x])
    assert gradcheck(lambda t: t.diagonal(1, -1, 0), (r64(3, 4),))
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        ck.dot(ck.ones(2, 2), ck.ones(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        ck.dot(ck.ones(2), ck.ones(3))
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        ck.ones(2, 2).diagonal(0, 1, 1)


# ---------------------------------------------------------------------------------------------
# var/std, clamp with tensors, repeat/tile/repeat_interleave, meshgrid
# ---------------------------------------------------------------------------------------------
def test_var_std_variants():
    a = arr(3, 4, 5, seed=2)
    x = ck.tensor(a)
    a64 = a.astype(np.float64)
    np.testing.assert_allclose(npy(x.var((0, 2))), a64.var(axis=(0, 2), ddof=1), rtol=1e-5)
    np.testing.assert_allclose(npy(x.std(1, correction=0, keepdim=True)), a64.std(1, ddof=0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(npy(x.var(1, unbiased=False)), a64.var(1), rtol=1e-5)
    np.testing.assert_allclose(npy(x.var(axis=2, keepdims=True, correction=2)), a64.var(2, ddof=2, keepdims=True),
                               rtol=1e-5)
    v, m = ck.var_mean(x, 1)
    np.testing.assert_allclose(npy(v), a64.var(1, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(npy(m), a64.mean(1), rtol=1e-5)
    s, m = x.std_mean((0, 1), correction=0)
    np.testing.assert_allclose(npy(s), a64.std((0, 1)), rtol=1e-5)
    both(lambda mod, t: mod.var_mean(t, (0, 2), keepdim=True)[0] + mod.std_mean(t, 1, keepdim=True)[1].sum(), [a])
    both(lambda mod, t: t.std(dim=(1, 2), correction=0), [a])


def test_clamp_tensor_bounds():
    a, lo, hi = arr(4, 5, seed=1), arr(5, seed=2) - 0.5, arr(4, 1, seed=3) + 0.5
    ref = np.minimum(np.maximum(a, lo), hi)
    np.testing.assert_array_equal(npy(ck.tensor(a).clamp(ck.tensor(lo), ck.tensor(hi))), ref)
    np.testing.assert_array_equal(npy(ck.clip(ck.tensor(a), min=ck.tensor(lo))), np.maximum(a, lo))
    both(lambda m, x, l, h: m.clamp(x, l, h), [a, lo, hi])
    both(lambda m, x, h: x.clamp(max=h), [a, hi])
    assert gradcheck(lambda x, l, h: x.clamp(l, h), (r64(4, 5), r64(5, seed=2), r64(4, 1, seed=3)))


def test_repeat_tile_repeat_interleave_expand():
    a = arr(2, 3, seed=1)
    x = ck.tensor(a)
    np.testing.assert_array_equal(npy(x.repeat(2, 1, 3)), np.tile(a, (2, 1, 3)))
    np.testing.assert_array_equal(npy(x.tile(2)), np.tile(a, 2))
    np.testing.assert_array_equal(npy(ck.tile(x, (3, 1, 2))), np.tile(a, (3, 1, 2)))
    np.testing.assert_array_equal(npy(x.repeat_interleave(2)), np.repeat(a, 2))
    np.testing.assert_array_equal(npy(x.repeat_interleave(3, dim=1)), np.repeat(a, 3, axis=1))
    np.testing.assert_array_equal(npy(ck.repeat_interleave(x, ck.tensor([1, 0]), dim=0)), np.repeat(a, [1, 0], 0))
    np.testing.assert_array_equal(npy(x[:, :1].expand(2, 4)), np.broadcast_to(a[:, :1], (2, 4)))
    both(lambda m, t: t.repeat_interleave(2, dim=1) * 1.5, [a])
    both(lambda m, t: m.tile(t, (2, 2)), [a])
    assert gradcheck(lambda t: t.repeat_interleave(3, dim=0), (r64(2, 3),))
    with pytest.raises(RuntimeError, match="repeats must have the same size"):
        x.repeat_interleave(ck.tensor([1, 2, 3]), dim=0)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    a, b, c = np.arange(3.0), np.arange(4.0) * 2, np.arange(2.0) - 1
    ours = ck.meshgrid(ck.tensor(a), ck.tensor(b), ck.tensor(c), indexing=indexing)
    ref = np.meshgrid(a, b, c, indexing=indexing)
    for o, r in zip(ours, ref):
        np.testing.assert_array_equal(npy(o), r)
    torch = pytest.importorskip("torch")
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ka, kb = ck.tensor(a, requires_grad=True), ck.tensor(b, requires_grad=True)
    gx, gy = ck.meshgrid(ka, kb, indexing=indexing)
    tx, ty = torch.meshgrid(ta, tb, indexing=indexing)
    ((gx * 2 + gy * gy).sum()).backward()
    ((tx * 2 + ty * ty).sum()).backward()
    np.testing.assert_allclose(npy(ka.grad), ta.grad.numpy())
    np.testing.assert_allclose(npy(kb.grad), tb.grad.numpy())
    with pytest.raises(RuntimeError, match="indexing must be one of"):
        ck.meshgrid(ck.tensor(a), indexing="foo")


# ---------------------------------------------------------------------------------------------
# reductions: tuple dims and NumPy aliases
# ---------------------------------------------------------------------------------------------
def test_reduction_aliases_and_tuple_dims():
    a = arr(3, 4, 5, seed=3)
    x = ck.tensor(a)
    np.testing.assert_allclose(npy(x.sum(axis=(0, 2), keepdims=True)), a.sum((0, 2), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(npy(ck.mean(x, axis=1)), a.mean(1), rtol=1e-5)
    np.testing.assert_array_equal(npy(x.argmax(axis=2, keepdims=True)), a.argmax(2)[..., None])
    np.testing.assert_array_equal(npy(x.argmin(axis=0)), a.argmin(0))
    assert x.argmax().item() == a.argmax() and x.argmax(keepdim=True).shape == (1, 1, 1)
    np.testing.assert_array_equal(npy(x.amax(axis=(1, 2))), a.max((1, 2)))
    np.testing.assert_array_equal(npy(x.amin((0, 1), keepdims=True)), a.min((0, 1), keepdims=True))
    np.testing.assert_array_equal(npy(x.max(axis=1).values), a.max(1))
    np.testing.assert_array_equal(npy((x > 0).all(dim=(0, 2))), (a > 0).all((0, 2)))
    np.testing.assert_array_equal(npy((x > 0).any(axis=(1, 2), keepdims=True)), (a > 0).any((1, 2), keepdims=True))
    np.testing.assert_allclose(npy(x.prod(axis=1)), a.astype(np.float64).prod(1), rtol=1e-5)
    with pytest.raises(TypeError, match="got both 'dim' and its alias 'axis'"):
        x.sum(dim=0, axis=1)


# ---------------------------------------------------------------------------------------------
# item/tolist/numpy/apply_, new_*, type_as, fill_diagonal_
# ---------------------------------------------------------------------------------------------
def test_conversions_and_constructors():
    x = ck.tensor([[1.5, -2.0], [3.0, 4.0]])
    assert x.tolist() == [[1.5, -2.0], [3.0, 4.0]]
    assert x[0, 1].item() == -2.0 and isinstance(x[0, 1].item(), float)
    assert ck.tensor([3]).sum().item() == 3 and isinstance(ck.tensor([3]).sum().item(), int)
    np.testing.assert_array_equal(x.numpy(), np.array([[1.5, -2.0], [3.0, 4.0]], dtype=np.float32))
    y = x.clone()
    assert y.apply_(lambda v: v * v + 1) is y
    np.testing.assert_array_equal(npy(y), np.array([[3.25, 5.0], [10.0, 17.0]], dtype=np.float32))
    i = ck.tensor([1, 2, 3]).apply_(lambda v: v * 10)
    assert i.tolist() == [10, 20, 30] and i.dtype is ck.int64
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype is ck.float32 and z.abs().sum().item() == 0
    o = x.new_ones((3,), dtype=ck.float64)
    assert o.dtype is ck.float64 and o.tolist() == [1.0, 1.0, 1.0]
    f = x.new_full((2, 2), 7)
    assert f.dtype is ck.float32 and f.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert x.new_empty(4).shape == (4,)
    t = ck.tensor([1, 2]).new_tensor([0.5, 1.5])
    assert t.dtype is ck.int64 and t.tolist() == [0, 1]  # self's dtype, as torch
    assert ck.tensor([1, 2]).new_tensor(ck.tensor([2.5])).dtype is ck.int64
    assert ck.tensor([1, 2]).type_as(x).dtype is ck.float32
    d = ck.zeros(3, 4)
    d.fill_diagonal_(5.0)
    ref = np.zeros((3, 4), dtype=np.float32)
    np.fill_diagonal(ref, 5.0)
    np.testing.assert_array_equal(npy(d), ref)
    w = ck.zeros(7, 3)
    w.fill_diagonal_(1.0, wrap=True)
    ref = np.zeros((7, 3), dtype=np.float32)
    np.fill_diagonal(ref, 1.0, wrap=True)
    np.testing.assert_array_equal(npy(w), ref)


def test_new_tensor_dtype_like_torch():
    torch = pytest.importorskip("torch")
    assert str(ck.tensor([1, 2]).new_tensor([0.5]).dtype).split(".")[-1] == \
        str(torch.tensor([1, 2]).new_tensor([0.5]).dtype).split(".")[-1]


# ---------------------------------------------------------------------------------------------
# new elementwise math
# ---------------------------------------------------------------------------------------------
UNARY = [
    ("sinh", np.sinh, (-2, 2)), ("cosh", np.cosh, (-2, 2)), ("tan", np.tan, (-1.2, 1.2)),
    ("asin", np.arcsin, (-0.9, 0.9)), ("acos", np.arccos, (-0.9, 0.9)), ("atan", np.arctan, (-3, 3)),
    ("asinh", np.arcsinh, (-3, 3)), ("acosh", np.arccosh, (1.1, 4)), ("atanh", np.arctanh, (-0.9, 0.9)),
    ("erf", None, (-2, 2)), ("erfc", None, (-2, 2)),
]


@pytest.mark.parametrize("name,ref,rng", UNARY)
def test_unary_math(name, ref, rng):
    a = np.random.default_rng(0).uniform(*rng, size=(3, 7)).astype(np.float32)
    out = getattr(ck, name)(ck.tensor(a))
    if ref is None:
        ref = np.vectorize(math.erf if name == "erf" else math.erfc)
    np.testing.assert_allclose(npy(out), ref(a.astype(np.float64)), rtol=2e-6, atol=2e-6)
    x64 = ck.tensor(a.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda t: getattr(t, name)(), (x64,))
    both(lambda m, t: getattr(m, name)(t), [a])
    assert getattr(ck.tensor([1, 0]), name)().dtype is ck.float32  # integers compute in float


@pytest.mark.parametrize("name,ref", [("atan2", np.arctan2), ("hypot", np.hypot)])
def test_binary_math(name, ref):
    a, b = arr(3, 4, seed=1), arr(4, seed=2)
    out = getattr(ck, name)(ck.tensor(a), ck.tensor(b))
    np.testing.assert_allclose(npy(out), ref(a.astype(np.float64), b), rtol=2e-6, atol=2e-6)
    assert gradcheck(lambda x, y: getattr(x, name)(y), (r64(3, 4, seed=1), r64(4, seed=2)))
    both(lambda m, x, y: getattr(m, name)(x, y), [a, b])
    assert getattr(ck.tensor([1, 2]), name)(ck.tensor([2, 2])).dtype is ck.float32


# ---------------------------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------------------------
def test_out_keyword():
    a, b = arr(3, 4, seed=1), arr(3, 4, seed=2)
    x, y = ck.tensor(a), ck.tensor(b)
    for name, fn, ref in [
        ("add", lambda o: ck.add(x, y, out=o), a + b), ("sub", lambda o: ck.sub(x, y, out=o), a - b),
        ("mul", lambda o: ck.mul(x, y, out=o), a * b), ("div", lambda o: ck.div(x, y, out=o), a / b),
        ("matmul", lambda o: ck.matmul(x, y.t(), out=o), a @ b.T), ("mm", lambda o: ck.mm(x, y.t(), out=o), a @ b.T),
        ("bmm", lambda o: ck.bmm(x[None], y.t()[None], out=o), (a @ b.T)[None]),
        ("cat", lambda o: ck.cat([x, y], 1, out=o), np.concatenate([a, b], 1)),
        ("stack", lambda o: ck.stack([x, y], out=o), np.stack([a, b])),
        ("sum", lambda o: ck.sum(x, 1, out=o), a.sum(1)), ("mean", lambda o: ck.mean(x, 0, out=o), a.mean(0)),
        ("exp", lambda o: ck.exp(x, out=o), np.exp(a)), ("abs", lambda o: ck.abs(x, out=o), np.abs(a)),
        ("log", lambda o: ck.log(x.abs(), out=o), np.log(np.abs(a))),
        ("sqrt", lambda o: ck.sqrt(x.abs(), out=o), np.sqrt(np.abs(a))),
        ("clamp", lambda o: ck.clamp(x, -0.5, 0.5, out=o), np.clip(a, -0.5, 0.5)),
        ("cumsum", lambda o: ck.cumsum(x, 1, out=o), np.cumsum(a, 1)),
        ("where", lambda o: ck.where(x > 0, x, y, out=o), np.where(a > 0, a, b)),
    ]:
        o = ck.empty(0)
        r = fn(o)
        assert r is o, name
        np.testing.assert_allclose(npy(o), ref, rtol=1e-5, atol=1e-6, err_msg=name)
    o = ck.zeros(12)  # same numel: resized in place to the result's shape, with torch's warning
    with pytest.warns(UserWarning, match="An output with one or more elements was resized"):
        ck.add(x, y, out=o)
    assert o.shape == (3, 4)
    np.testing.assert_allclose(npy(o), a + b, rtol=1e-6)
    vals, idx = ck.empty(0), ck.empty(0, dtype=ck.int64)
    r = ck.max(x, 1, out=(vals, idx))
    assert r.values is vals and r.indices is idx
    np.testing.assert_array_equal(npy(idx), a.argmax(1))
    vals, idx = ck.empty(0), ck.empty(0, dtype=ck.int64)
    ck.sort(x, 1, out=(vals, idx))
    np.testing.assert_array_equal(npy(vals), np.sort(a, 1))
    vals, idx = ck.empty(0), ck.empty(0, dtype=ck.int64)
    ck.topk(x, 2, out=(vals, idx))
    assert vals.shape == (3, 2)
    ai = ck.empty(0, dtype=ck.int64)
    ck.argmax(x, 1, out=ai)
    np.testing.assert_array_equal(npy(ai), a.argmax(1))
    of = ck.zeros(3, 4, dtype=ck.float64)  # int/float results can go to a wider output
    ck.add(x, y, out=of)
    np.testing.assert_allclose(npy(of), a.astype(np.float64) + b, rtol=1e-6)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ck.add(x, y, out=ck.zeros(3, 4, dtype=ck.int64))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ck.add(x.requires_grad_(), y, out=ck.zeros(3, 4))
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        ck.exp(y, out=3)


# ---------------------------------------------------------------------------------------------
# median / kthvalue / logsumexp / take_along_dim (compositions on the sort kernel and gather)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 6), 1), ((4, 5), 0), ((2, 3, 5), -1)])
def test_median_kthvalue(shape, dim):
    a = arr(*shape, seed=11)
    n = a.shape[dim]
    srt = np.sort(a, axis=dim)
    m = ck.tensor(a).median(dim)
    np.testing.assert_array_equal(npy(m.values), np.take(srt, (n - 1) // 2, axis=dim))
    np.testing.assert_array_equal(np.take_along_axis(a, np.expand_dims(npy(m.indices), dim), dim).squeeze(dim),
                                  npy(m.values))
    assert ck.tensor(a).median().item() == np.sort(a.reshape(-1))[(a.size - 1) // 2]
    for k in (1, n):
        kv = ck.kthvalue(ck.tensor(a), k, dim, keepdim=True)
        np.testing.assert_array_equal(npy(kv.values), np.take(srt, [k - 1], axis=dim))
    both(lambda m_, t: t.median(dim).values * 2, [a])
    both(lambda m_, t: m_.kthvalue(t, 2, dim)[0], [a])
    both(lambda m_, t: t.median(), [a])
    assert gradcheck(lambda t: t.median(dim, keepdim=True)[0], (r64(*shape, seed=1),))


def test_median_nan_and_errors():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 2.0, 1.0, 3.0]], dtype=np.float32)
    for d in (0, 1):
        m, tm = ck.tensor(a).median(d), torch.tensor(a).median(d)
        np.testing.assert_array_equal(npy(m.values), tm.values.numpy())
        np.testing.assert_array_equal(npy(m.indices), tm.indices.numpy())
    assert math.isnan(ck.tensor(a).median().item())
    np.testing.assert_array_equal(npy(ck.tensor(a).kthvalue(2, 1).values), torch.tensor(a).kthvalue(2, 1).values)
    with pytest.raises(IndexError, match="kthvalue\\(\\): selected number k out of range for dimension 1"):
        ck.tensor(a).kthvalue(5, 1)


def test_logsumexp_take_along_dim():
    a = arr(3, 4, 5, seed=12) * 10
    ref = np.log(np.exp(a.astype(np.float64)).sum(1))
    np.testing.assert_allclose(npy(ck.logsumexp(ck.tensor(a), 1)), ref, rtol=1e-5)
    np.testing.assert_allclose(npy(ck.tensor(a).logsumexp((0, 2), keepdim=True)),
                               np.log(np.exp(a.astype(np.float64)).sum((0, 2), keepdims=True)), rtol=1e-5)
    inf = ck.tensor([[-math.inf, -math.inf], [0.0, -math.inf]]).logsumexp(1)
    assert npy(inf)[0] == -np.inf and npy(inf)[1] == 0.0
    both(lambda m, t: m.logsumexp(t, dim=-1), [a])
    assert gradcheck(lambda t: t.logsumexp(0), (r64(4, 3),))
    idx = np.random.default_rng(0).integers(0, 5, size=(3, 1, 2))
    np.testing.assert_array_equal(npy(ck.take_along_dim(ck.tensor(a), ck.tensor(idx), 2)),
                                  np.take_along_axis(a, np.broadcast_to(idx, (3, 4, 2)), 2))
    np.testing.assert_array_equal(npy(ck.tensor(a).take_along_dim(ck.tensor([0, 7]))), a.reshape(-1)[[0, 7]])
    both(lambda m, t: m.take_along_dim(t, m.tensor(idx), dim=2), [a])


# ---------------------------------------------------------------------------------------------
# the new _C kernels on each device, against NumPy
# ---------------------------------------------------------------------------------------------
def ref_cumprod_backward(g, x, dim):
    """d/dx_i of sum_j g_j * prod_{k<=j} x_k, as a float64 loop (no division, so zeros are fine)."""
    g, x = np.moveaxis(g.astype(np.float64), dim, -1), np.moveaxis(x.astype(np.float64), dim, -1)
    n = x.shape[-1]
    dx = np.zeros_like(x)
    for i in range(n):
        for j in range(i, n):
            others = np.prod(np.delete(x[..., :j + 1], i, axis=-1), axis=-1)
            dx[..., i] += g[..., j] * others
    return np.moveaxis(dx, -1, dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 33), 1), ((33, 3), 0), ((2, 5, 4), 1), ((2, 0, 3), 1)])
def test_cumsum_cumprod_kernels(dtype, shape, dim, device):
    a = arr(*shape, seed=1)
    a = (a * 3).astype(dtype) if dtype == np.int64 else a.astype(dtype)
    ref = a if dtype == np.int64 else a.astype(np.float64)
    close = dict(rtol=0, atol=0) if dtype == np.int64 else dict(rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    for reverse in (False, True):
        want = np.flip(np.cumsum(np.flip(ref, dim), dim), dim) if reverse else np.cumsum(ref, dim)
        got = back(_C.cumsum(on(a, device), dim, reverse))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **close)
    np.testing.assert_allclose(back(_C.cumprod(on(a, device), dim)), np.cumprod(ref, dim), **close)
    if dtype != np.int64:
        g = arr(*shape, seed=2).astype(dtype)
        a[..., :1] = 0  # zeros exercise the division-free backward
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(back(_C.cumprod_backward(on(g, device), on(a, device), dim)),
                                   ref_cumprod_backward(g, a, dim), rtol=tol, atol=tol)


def ref_scatter(out, dim, idx, src, reduce):
    """In index order, later writes winning (what both kernels do for duplicate indices)."""
    out = out.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos] % out.shape[dim]
        v = src if np.ndim(src) == 0 else src[pos]
        if reduce == "add":
            out[tuple(tgt)] += v
        elif reduce == "multiply":
            out[tuple(tgt)] *= v
        else:
            out[tuple(tgt)] = v
    return out


@pytest.mark.parametrize("reduce", ["", "add", "multiply"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_scatter_kernel(reduce, dtype, device):
    g = np.random.default_rng(3)
    out = (arr(5, 7, seed=4) * 3).astype(dtype)
    idx = g.integers(-7, 7, size=(5, 4))
    src = (arr(5, 4, seed=5) * 3).astype(dtype)
    t = on(out, device)
    r = _C.scatter_(t, 1, on(idx, device), on(src, device), reduce)
    assert r.data_ptr == t.data_ptr
    np.testing.assert_array_equal(back(t), ref_scatter(out, 1, idx, src, reduce))
    v = np.array(2.5 if dtype != np.int64 else 2, dtype=dtype)  # scatter_(dim, index, value)
    idx0 = g.integers(0, 5, size=(3, 7))
    t = on(out, device)
    _C.scatter_(t, 0, on(idx0, device), on(v, device).reshape([]), reduce)
    np.testing.assert_array_equal(back(t), ref_scatter(out, 0, idx0, v, reduce))
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 1 with size 7"):
        _C.scatter_(on(out, device), 1, on(np.array([[9]]), device), on(src[:1, :1], device), reduce)


@pytest.mark.parametrize("name,ref,rng", UNARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math_kernel(name, ref, rng, dtype, device):
    lo, hi = rng
    a = np.random.default_rng(0).uniform(lo, hi, size=(5, 33)).astype(dtype)
    if ref is None:
        ref = np.vectorize(math.erf if name == "erf" else math.erfc)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    got = back(_C.unary(name, on(a, device)))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, ref(a.astype(np.float64)), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,ref", [("atan2", np.arctan2), ("hypot", np.hypot)])
@pytest.mark.parametrize("dtype", [np.float32, cuda_case(np.float64)])
def test_binary_math_kernel(name, ref, dtype, device):
    a, b = arr(4, 1, 5, seed=1).astype(dtype), arr(3, 1, seed=2).astype(dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    got = back(_C.binary(name, on(a, device), on(b, device)))
    np.testing.assert_allclose(got, ref(a.astype(np.float64), b.astype(np.float64)), rtol=tol, atol=tol)
