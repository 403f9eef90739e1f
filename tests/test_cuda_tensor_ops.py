"""CUDA twins of the step-5 tensor ops against the CPU: the new kernels at the _C level (cumsum,
cumprod and its backward, scatter_ with reduce, the new unary/binary math, sort/topk through the
Python layer) and the composed ops (flip, roll, tril/triu, index_add/index_fill, einsum, diag,
repeat_interleave, meshgrid) forward and backward on the device.

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""
import numpy as np
import pytest

import cnnkit as ck
from cnnkit import _C

from cuda_twin_helpers import DEV, G, H, N, T, needs_device

pytestmark = needs_device


def arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 33), 1), ((33, 3), 0), ((2, 5, 4), 1), ((2, 0, 3), 1)])
def test_cumsum_cumprod_cuda_vs_cpu(dtype, shape, dim):
    a = arr(*shape, seed=1)
    a = (a * 3).astype(dtype) if dtype == np.int64 else a.astype(dtype)
    for reverse in (False, True):
        np.testing.assert_array_equal(H(_C.cumsum(G(a), dim, reverse)), N(_C.cumsum(T(a), dim, reverse)))
    np.testing.assert_array_equal(H(_C.cumprod(G(a), dim)), N(_C.cumprod(T(a), dim)))
    if dtype != np.int64:
        g = arr(*shape, seed=2).astype(dtype)
        a[..., :1] = 0  # zeros exercise the division-free backward
        np.testing.assert_allclose(H(_C.cumprod_backward(G(g), G(a), dim)), N(_C.cumprod_backward(T(g), T(a), dim)),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reduce", ["", "add", "multiply"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_scatter_cuda_vs_cpu(reduce, dtype):
    g = np.random.default_rng(3)
    out = (arr(5, 7, seed=4) * 3).astype(dtype)
    idx = g.integers(-7, 7, size=(5, 4))
    src = (arr(5, 4, seed=5) * 3).astype(dtype)
    a, b = G(out), T(out.copy())
    _C.scatter_(a, 1, G(idx), G(src), reduce)
    _C.scatter_(b, 1, T(idx), T(src), reduce)
    np.testing.assert_array_equal(H(a), N(b))
    v = np.array(2.5 if dtype != np.int64 else 2, dtype=dtype)  # scatter_(dim, index, value)
    idx0 = g.integers(0, 5, size=(3, 7))
    a, b = G(out), T(out.copy())
    _C.scatter_(a, 0, G(idx0), G(v).reshape([]), reduce)  # (np.ascontiguousarray makes 0-d arrays 1-d)
    _C.scatter_(b, 0, T(idx0), T(v).reshape([]), reduce)
    np.testing.assert_array_equal(H(a), N(b))
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 1 with size 7"):
        _C.scatter_(G(out), 1, G(np.array([[9]])), G(src[:1, :1]), reduce)


UNARY = ["sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh", "erf", "erfc"]


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_cuda_vs_cpu(op, dtype):
    lo, hi = (1.1, 4.0) if op == "acosh" else ((-0.9, 0.9) if op in ("asin", "acos", "atanh") else (-2.0, 2.0))
    a = np.random.default_rng(0).uniform(lo, hi, size=(5, 33)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(H(_C.unary(op, G(a))), N(_C.unary(op, T(a))), rtol=tol, atol=tol)


@pytest.mark.parametrize("op", ["atan2", "hypot"])
def test_binary_cuda_vs_cpu(op):
    a, b = arr(4, 1, 5, seed=1), arr(3, 1, seed=2)
    np.testing.assert_allclose(H(_C.binary(op, G(a), G(b))), N(_C.binary(op, T(a), T(b))), rtol=1e-6, atol=1e-6)


def _pair(a, requires_grad=True):
    """The same data as a CPU and a device Python tensor (both leaves)."""
    c = ck.tensor(a, requires_grad=requires_grad)
    d = ck.tensor(a).to(DEV)
    if requires_grad:
        d.requires_grad_(True)
    return c, d


COMPOSED = [
    ("sort", lambda x: x.sort(1, descending=True)[0], [(4, 9)]),
    ("topk", lambda x: x.topk(3, 0)[0], [(6, 4)]),
    ("cumsum", lambda x: x.cumsum(1), [(3, 8)]),
    ("cumprod", lambda x: x.cumprod(0), [(5, 3)]),
    ("flip", lambda x: x.flip(0, 1), [(3, 4)]),
    ("roll", lambda x: x.roll((1, -2), (0, 1)), [(3, 5)]),
    ("roll_flat", lambda x: x.roll(4), [(3, 5)]),
    ("tril", lambda x: x.tril(-1), [(4, 5)]),
    ("triu", lambda x: x.triu(1), [(2, 4, 3)]),
    ("index_add", lambda x: x.index_add(0, ck.tensor([2, 0, 2]).to(x.device), x[:3] * 2, alpha=2), [(4, 3)]),
    ("index_fill", lambda x: x.index_fill(1, ck.tensor([0, 2]).to(x.device), -1.0), [(3, 4)]),
    ("scatter", lambda x: x.scatter(1, ck.tensor([[0, 1], [2, 0]]).to(x.device), x[:, :2] * 3), [(2, 3)]),
    ("scatter_add", lambda x: x.scatter_add(0, ck.tensor([[1, 1, 0]]).to(x.device), x[:1] + 1), [(2, 3)]),
    ("einsum_bmm", lambda x, y: ck.einsum("bij,bjk->bik", x, y), [(2, 3, 4), (2, 4, 5)]),
    ("einsum_trace", lambda x: ck.einsum("ii", x), [(4, 4)]),
    ("einsum_chain", lambda x, y: ck.einsum("ij,jk,kl->il", x, y, y.t()), [(2, 3), (3, 3)]),
    ("diag", lambda x: x.diag(1), [(4, 4)]),
    ("diag_build", lambda x: x.diag(-1), [(3,)]),
    ("trace", lambda x: x.trace(), [(3, 5)]),
    ("outer", lambda x, y: ck.outer(x, y), [(3,), (4,)]),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1), [(2, 3)]),
    ("clamp_tensor", lambda x, y: x.clamp(min=y), [(3, 4), (4,)]),
    ("var_mean", lambda x: x.var_mean((0, 1))[0], [(3, 4, 2)]),
    ("atan2", lambda x, y: ck.atan2(x, y), [(3, 4), (4,)]),
    ("erf", lambda x: x.erf(), [(5,)]),
]


@pytest.mark.parametrize("name,fn,shapes", COMPOSED, ids=[c[0] for c in COMPOSED])
def test_python_ops_cuda_vs_cpu(name, fn, shapes):
    arrays = [arr(*s, seed=i + 1) for i, s in enumerate(shapes)]
    pairs = [_pair(a) for a in arrays]
    oc = fn(*[p[0] for p in pairs])
    od = fn(*[p[1] for p in pairs])
    assert od.device.type == ck.device(DEV).type
    np.testing.assert_allclose(H(od._t), N(oc.detach()._t), rtol=1e-5, atol=1e-6)
    g = arr(*oc.shape, seed=9)
    oc.backward(ck.tensor(g))
    od.backward(ck.tensor(g).to(DEV))
    for c, d in pairs:
        np.testing.assert_allclose(H(d.grad._t), N(c.grad._t), rtol=1e-5, atol=1e-6)


def test_meshgrid_and_sort_indices_cuda():
    a, b = ck.arange(3).to(DEV), ck.arange(4).to(DEV)
    for indexing in ("ij", "xy"):
        gd = ck.meshgrid(a, b, indexing=indexing)
        gc = ck.meshgrid(ck.arange(3), ck.arange(4), indexing=indexing)
        for x, y in zip(gd, gc):
            np.testing.assert_array_equal(H(x.contiguous()._t), N(y.contiguous()._t))
    x = np.round(arr(3, 50, seed=3) * 2) / 2
    vd, idd = ck.tensor(x).to(DEV).sort(1, stable=True)
    vc, ic = ck.tensor(x).sort(1, stable=True)
    np.testing.assert_array_equal(H(idd._t), N(ic._t))


def test_apply_on_cuda_raises():
    if DEV == "cpu":
        pytest.skip("the CPU stand-in has no device to reject")
    with pytest.raises(TypeError, match="apply_ is only implemented on CPU tensors"):
        ck.ones(3).to(DEV).apply_(lambda v: v)
