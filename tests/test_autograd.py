"""The autograd engine: accumulation, retain_graph, hooks, autograd.grad, grad modes."""
import numpy as np
import pytest

import cnnkit as ck
from cnnkit.testing import gradcheck


def test_chain_rule_and_accumulation():
    x = ck.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum() + (x * 3).sum()  # x used twice: gradients from both branches add
    y.backward()
    assert x.grad.tolist() == [5.0, 7.0, 9.0]
    (x * 2).sum().backward()  # a second backward accumulates into .grad
    assert x.grad.tolist() == [7.0, 9.0, 11.0]
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None


def test_shared_gradient_is_not_aliased():
    a = ck.ones(3, requires_grad=True)
    b = ck.ones(3, requires_grad=True)
    (a + b).sum().backward()  # add's backward hands the same gradient to both inputs
    a.grad.mul_(10)
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_second_backward_raises_unless_retained():
    x = ck.tensor([2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [8.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_nonscalar_backward_needs_gradient():
    x = ck.ones(2, 2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(ck.full((2, 2), 0.5))
    assert x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    with pytest.raises(RuntimeError, match="does not require grad"):
        ck.ones(2).sum().backward()


def test_no_grad_and_set_grad_enabled():
    x = ck.ones(2, requires_grad=True)
    with ck.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    with ck.set_grad_enabled(False):
        assert not ck.is_grad_enabled()
        with ck.enable_grad():
            assert (x * 2).requires_grad
    assert ck.is_grad_enabled()

    @ck.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    d = x.detach()
    assert not d.requires_grad


def test_hooks_and_retain_grad():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3
    y.retain_grad()
    h = y.register_hook(lambda g: g * 2)  # doubles the gradient flowing into y's producer
    y.sum().backward()
    assert y.grad.tolist() == [2.0, 2.0]
    assert x.grad.tolist() == [6.0, 6.0] and seen == [[6.0, 6.0]]
    h.remove()


def test_autograd_grad_does_not_touch_dot_grad():
    x = ck.tensor([1.0, 2.0], requires_grad=True)
    w = ck.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = ck.autograd.grad(y, [x, w])
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    z = ck.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        ck.autograd.grad((x * 2).sum(), [z])
    assert ck.autograd.grad((x * 2).sum(), [z], allow_unused=True) == (None,)


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point"):
        ck.ones(2, dtype=ck.int64).requires_grad_()
    x = ck.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf variables"):
        (x * 2).requires_grad = False
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with ck.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0, 2.0]


def test_inplace_on_nonleaf_keeps_history():
    x = ck.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 2
    y.relu_()
    y.mul_(3)
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 0.0, 6.0]


def test_custom_function():
    class Cube(ck.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = ck.tensor([2.0], dtype=ck.float64, requires_grad=True)
    Cube.apply(x).backward()
    assert x.grad.tolist() == [12.0]
    assert gradcheck(Cube.apply, (ck.randn(4, dtype=ck.float64, requires_grad=True),))


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(ck.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, (ck.randn(3, dtype=ck.float64, requires_grad=True),))


def test_graphs_are_freed_by_reference_counting():
    """Saved tensors must not point back at their node: a forward pass that is never
    backpropagated has to free its graph (and activations) without waiting for the cyclic GC."""
    import gc

    import cnnkit.nn as nn
    import cnnkit.nn.functional as F
    from cnnkit.autograd import BackwardCFunction

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3),
                          nn.Sigmoid())
    x, y = ck.randn(2, 1, 8, 8), ck.tensor([0, 2])

    def live_nodes():
        return sum(1 for o in gc.get_objects() if type(o) is BackwardCFunction)

    gc.collect()
    gc.disable()
    try:
        before = live_nodes()
        for _ in range(10):
            loss = F.cross_entropy(model(x) ** 2, y)
        del loss
        assert live_nodes() == before
    finally:
        gc.enable()


def test_grad_mode_is_per_thread():
    """As in PyTorch: no_grad in one thread leaves recording on in another, and new threads start on."""
    import threading

    inside, started = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with ck.no_grad():
            inside.set()
            started.wait(5)
            seen["worker"] = ck.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(5)
    seen["main"] = ck.is_grad_enabled()
    x = ck.ones(2, requires_grad=True)
    seen["recorded"] = (x * 2).grad_fn is not None
    started.set()
    t.join()
    assert seen == {"worker": False, "main": True, "recorded": True}

    with ck.no_grad():
        res = []
        t = threading.Thread(target=lambda: res.append(ck.is_grad_enabled()))
        t.start()
        t.join()
        assert res == [True] and not ck.is_grad_enabled()
