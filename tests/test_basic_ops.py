"""Elementwise, reduction, view, indexing and concatenation ops through the Python layer:
values vs NumPy, float64 gradient checks, and forward/backward vs PyTorch when installed."""
import numpy as np
import pytest

import cnnkit as ck
from cnnkit.testing import compare_with_torch, gradcheck


def r64(*shape, positive=False, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return ck.tensor(a, requires_grad=True)


BINARY = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("maximum", lambda a, b: a.maximum(b)), ("minimum", lambda a, b: a.minimum(b)),
    ("pow", lambda a, b: a ** b),
]
SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((1,), (7, 1)), ((5, 1, 3), (1, 4, 1)), ((), (3,))]


@pytest.mark.parametrize("name,fn", BINARY)
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_gradcheck(name, fn, sa, sb):
    a, b = r64(*sa, positive=name in ("pow", "div"), seed=1), r64(*sb, positive=name in ("pow", "div"), seed=2)
    assert gradcheck(fn, (a, b))


@pytest.mark.parametrize("name,fn", BINARY)
def test_binary_vs_numpy(name, fn, rng):
    a = np.abs(rng.standard_normal((3, 5))).astype(np.float32) + 0.5
    b = np.abs(rng.standard_normal((1, 5))).astype(np.float32) + 0.5
    np_fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "maximum": np.maximum,
             "minimum": np.minimum, "pow": np.power}[name]
    np.testing.assert_allclose(fn(ck.tensor(a), ck.tensor(b)).numpy(), np_fn(a, b), rtol=1e-6)


UNARY = [
    ("exp", lambda x: x.exp(), False), ("log", lambda x: x.log(), True), ("sqrt", lambda x: x.sqrt(), True),
    ("abs", lambda x: x.abs(), False), ("neg", lambda x: -x, False), ("sigmoid-like", lambda x: 1 / (1 + (-x).exp()), False),
    ("pow3", lambda x: x ** 3, False), ("pow-half", lambda x: x ** 0.5, True), ("clamp", lambda x: x.clamp(-0.5, 0.7), False),
    ("rsqrt", lambda x: x.rsqrt(), True), ("square", lambda x: x.square(), False), ("sin", lambda x: x.sin(), False),
    ("reciprocal", lambda x: x.reciprocal(), True), ("log1p", lambda x: x.log1p(), True),
]


@pytest.mark.parametrize("name,fn,positive", UNARY)
def test_unary_gradcheck(name, fn, positive):
    assert gradcheck(fn, (r64(3, 7, positive=positive),))


REDUCTIONS = [
    ("sum", lambda x: x.sum()), ("sum1", lambda x: x.sum(1)), ("sum02k", lambda x: x.sum((0, 2), keepdim=True)),
    ("mean", lambda x: x.mean()), ("mean-1", lambda x: x.mean(-1)), ("max1", lambda x: x.max(1)[0]),
    ("min0k", lambda x: x.min(0, keepdim=True).values), ("maxall", lambda x: x.max()), ("var", lambda x: x.var(1)),
    ("std", lambda x: x.std()), ("amax", lambda x: x.amax((0, 1))), ("prod", lambda x: x.prod(2)),
    ("norm", lambda x: x.norm()),
]


@pytest.mark.parametrize("name,fn", REDUCTIONS)
def test_reduction_gradcheck(name, fn):
    assert gradcheck(fn, (r64(3, 4, 5),))


VIEWS = [
    ("view", lambda x: x.view(12, 5)), ("reshape-t", lambda x: x.transpose(0, 2).reshape(-1)),
    ("permute", lambda x: x.permute(2, 0, 1) * 1), ("expand", lambda x: x[:, :1].expand(3, 6, 5)),
    ("getitem", lambda x: x[1:, ::2, -1]), ("adv", lambda x: x[ck.tensor([2, 0, 2])]),
    ("adv2", lambda x: x[ck.tensor([0, 2]), :, ck.tensor([1, 4])]), ("mask", lambda x: x[x > 0]),
    ("cat", lambda x: ck.cat([x, x * 2], 1)), ("stack", lambda x: ck.stack([x, x[::-1] if False else x], 2)),
    ("gather", lambda x: x.gather(2, ck.tensor(np.random.default_rng(0).integers(0, 5, (3, 4, 2))))),
    ("index_select", lambda x: x.index_select(1, ck.tensor([3, 0, 3]))), ("where", lambda x: ck.where(x > 0, x, x * 3)),
    ("masked_fill", lambda x: x.masked_fill(x < 0, 0.0)), ("split", lambda x: x.split(2, 1)[1]),
    ("unsqueeze-squeeze", lambda x: x.unsqueeze(1).squeeze(1).unsqueeze(-1)), ("repeat", lambda x: x.repeat(2, 1, 1)),
    ("flatten", lambda x: x.flatten(1)), ("to", lambda x: x.to(ck.float64) * 2),
]


@pytest.mark.parametrize("name,fn", VIEWS)
def test_view_and_index_gradcheck(name, fn):
    assert gradcheck(fn, (r64(3, 4, 5),))


def test_setitem_gradient():
    x = r64(3, 4)
    v = r64(4, seed=3)

    def f(x, v):
        y = x * 1
        y[1] = v * 2
        return y

    assert gradcheck(f, (x, v))


TORCH_CASES = [
    ("add-bcast", lambda a, b: a + b, [(3, 1, 5), (4, 1)]),
    ("mul-div", lambda a, b: a * b / (b * b + 1), [(2, 3), (2, 3)]),
    ("sum-mean", lambda a: a.sum(0) + a.mean(1, keepdim=True), [(4, 4)]),
    ("max-dim", lambda a: a.max(1)[0], [(4, 6)]),
    ("exp-log", lambda a: (a.exp() + 1).log(), [(3, 3)]),
    ("transpose-reshape", lambda a: a.transpose(0, 1).reshape(-1, 2), [(3, 4)]),
    ("index", lambda a: a[[0, 2]][:, 1:], [(3, 4)]),
    ("cat", lambda a, b: __import__("cnnkit").cat([a, b], 0) if isinstance(a, ck.Tensor) else __import__("torch").cat([a, b], 0), [(2, 3), (4, 3)]),
    ("var", lambda a: a.var(0), [(5, 3)]),
    ("clamp", lambda a: a.clamp(-0.3, 0.3), [(20,)]),
]


@pytest.mark.parametrize("name,fn,shapes", TORCH_CASES)
def test_against_torch(name, fn, shapes, rng):
    pytest.importorskip("torch")
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    compare_with_torch(fn, fn, arrays)


def test_reductions_values(rng):
    a = rng.standard_normal((4, 5, 6)).astype(np.float32)
    t = ck.tensor(a)
    np.testing.assert_allclose(t.sum((0, 2)).numpy(), a.sum((0, 2)), rtol=1e-5)
    np.testing.assert_allclose(t.mean(1).numpy(), a.mean(1), rtol=1e-5)
    v, i = t.max(2)
    np.testing.assert_array_equal(v.numpy(), a.max(2))
    np.testing.assert_array_equal(i.numpy(), a.argmax(2))
    assert t.argmax().item() == a.argmax()
    np.testing.assert_array_equal(t.argmin(1).numpy(), a.argmin(1))
    assert ck.tensor([[True, False], [True, True]]).all(1).tolist() == [False, True]
    assert ck.tensor([1, 2, 3]).sum().dtype is ck.int64


def test_topk_sort(rng):
    a = rng.standard_normal((3, 8)).astype(np.float32)
    t = ck.tensor(a)
    v, i = t.topk(3)
    np.testing.assert_array_equal(v.numpy(), -np.sort(-a, 1)[:, :3])
    s, si = t.sort(1)
    np.testing.assert_array_equal(s.numpy(), np.sort(a, 1))
