"""CUDA twins of the step-5 tensor ops through the Python layer: the composed ops (sort/topk, cumsum/cumprod,
flip, roll, tril/triu, index_add/index_fill, scatter, einsum, diag, repeat_interleave, var_mean, ...) forward
and backward on the device against the same ops on the CPU, meshgrid and stable sort indices, and apply_'s
CPU-only error. The new _C kernels (cumsum, cumprod and its backward, scatter_ with reduce, the unary/binary
math) run on each device against NumPy in tests/test_tensor_ops.py (the `device` fixture).

Skipped without a GPU. CNNKIT_CUDA_TESTS_ON_CPU=1 runs the same comparisons with the CPU standing in
for the device (checks the test code itself on a machine without a GPU)."""
import numpy as np
import pytest

import cnnkit as ck

from cuda_twin_helpers import DEV, H, N, needs_device

pytestmark = needs_device


def arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


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
