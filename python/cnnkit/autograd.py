"""Reverse-mode automatic differentiation.

Every differentiable op is a :class:`Function` whose ``forward`` and ``backward`` sit side by side
(PyTorch's custom-Function API). Calling ``Fn.apply(*args)`` runs ``forward`` with gradient recording
off and, when an input requires a gradient, attaches a graph node to the outputs. The node remembers
the nodes of its inputs (``next_functions``); leaves that require grad get an ``AccumulateGrad``
node that adds into ``.grad``.

``backward`` walks the graph in dependency order: a node runs once all the nodes that consume its
outputs have delivered their gradients (a count of pending consumers per node, like PyTorch's
engine), so each gradient is complete when its node runs. Saved tensors are released after use
unless ``retain_graph=True``.
"""
from __future__ import annotations

import contextlib
import functools
import threading


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: no_grad() in one thread does not switch recording off
    in another, and every new thread starts with recording on (the class attribute)."""

    enabled = True


_state = _GradState()


def is_grad_enabled():
    return _state.enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets gradient recording to ``mode`` inside a block or decorated function, then restores it."""

    mode = True

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        # Works both as @no_grad and @no_grad() like torch.
        if isinstance(fn, type):
            raise TypeError("no_grad/enable_grad decorate functions, not classes")
        return super().__call__(fn)


class set_grad_enabled(_GradMode):
    """Context manager / decorator / function that sets gradient recording on or off."""

    def __init__(self, mode):
        self.prev = _state.enabled
        self.mode = bool(mode)
        _state.enabled = self.mode  # like torch, calling it as a function takes effect at once

    def __enter__(self):
        return self


class no_grad(_GradMode):
    """Disables gradient recording inside its block (or the decorated function)."""

    mode = False


class enable_grad(_GradMode):
    """Enables gradient recording inside its block, e.g. within ``no_grad``."""

    mode = True


inference_mode = no_grad


# ---------------------------------------------------------------------------------------------
# graph nodes
# ---------------------------------------------------------------------------------------------
_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward."
)


class Node:
    """A vertex of the backward graph. ``next_functions[i]`` is ``(node, output_nr)`` for input i."""

    __slots__ = ("next_functions", "_hooks", "__weakref__")

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad(Node):
    """Sink for a leaf tensor that requires grad: adds the incoming gradient into ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()
        self._hooks = {}


class BackwardCFunction(Node):
    """The node of one application of a Function; it is also the ``ctx`` given to forward/backward."""

    __slots__ = ("_fn", "_saved", "_released", "needs_input_grad", "_num_outputs", "_output_float",
                 "materialize_grads", "__dict__")

    def __init__(self, fn):
        self._fn = fn
        self._saved = ()
        self._released = False
        self._hooks = {}
        self.materialize_grads = True

    def name(self):
        """PyTorch-style node name: ``AddBackward0``, ``ViewBackward0``, ``Conv2dBackward0``."""
        base = getattr(self, "_name", None) or self._fn.__name__
        if base.endswith("Fn"):
            base = base[:-2]
        return f"{base}Backward0"

    # ---- ctx API (torch.autograd.function.FunctionCtx) ----
    def save_for_backward(self, *tensors):
        # Detached handles (same storage, no grad_fn): a saved output would otherwise point back at
        # this node and form a reference cycle, keeping a forward-only graph (and its activations)
        # alive until Python's cyclic GC runs. Backward needs only the values (no double backward).
        Tensor = _TENSOR or _tensor_cls()
        self._saved = tuple(t.detach() if isinstance(t, Tensor) else t for t in tensors)

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError(_FREED)
        return self._saved

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def mark_non_differentiable(self, *tensors):
        self.__dict__.setdefault("_non_diff", set()).update(id(t) for t in tensors)

    def _release(self):
        self._saved = ()
        self._released = True
        for k in list(self.__dict__):
            if k not in ("_non_diff", "_retained", "_name"):
                del self.__dict__[k]


class Function:
    """Base class of differentiable ops: subclass with static ``forward(ctx, ...)`` and
    ``backward(ctx, *grad_outputs)`` and call ``Sub.apply(...)``.

    float16/bfloat16 are storage types: no kernel computes in them. ``apply`` is the one place that
    handles them: when a tensor argument is a half type, the Function runs on float32 copies of its
    half arguments (an exact widening) and its float32 outputs are rounded back to that half type,
    both through differentiable casts (see _half_apply). Functions that only move or view data set
    ``_half_native = True`` and see half tensors directly."""

    _half_native = False
    _half_inplace_args = ()  # positions of arguments forward() modifies in place (see _half_apply)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise RuntimeError("A Function subclass must implement forward()")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise RuntimeError("A Function subclass must implement backward() to be differentiated")

    @classmethod
    def apply(cls, *args):
        Tensor = _TENSOR or _tensor_cls()
        if not cls._half_native:
            for a in args:
                if isinstance(a, Tensor) and a._t.is_half:
                    return _half_apply(cls, args)
        # requires_grad without the property call: a leaf's flag or a grad_fn (see Tensor.requires_grad)
        needs = tuple([isinstance(a, Tensor) and (a._requires_grad or a.grad_fn is not None) for a in args])
        state = _state
        prev = state.enabled
        record = prev and True in needs
        ctx = BackwardCFunction(cls)
        ctx.needs_input_grad = needs
        state.enabled = False
        try:
            out = cls.forward(ctx, *args)
        finally:
            state.enabled = prev
        if not record:
            return out
        outs = out if isinstance(out, tuple) else (out,)
        ctx.next_functions = tuple(_edge(a) if isinstance(a, Tensor) else (None, 0) for a in args)
        ctx._num_outputs = len(outs)
        ctx._output_float = tuple(isinstance(o, Tensor) and o.dtype.is_floating_point for o in outs)
        non_diff = ctx.__dict__.get("_non_diff", ())
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in non_diff:
                o._attach(ctx, i)
        return out


_TENSOR = None


def _half_apply(cls, args):
    """cls.apply on float32 widenings of the half-type tensor arguments; float32 outputs are rounded
    (to nearest even) back to the arguments' half dtype, or stay float32 when float16 and bfloat16
    are mixed. Results equal torch's half ops wherever torch computes in float32 too (the
    elementwise and reduction ops do), and are within one rounding of them elsewhere."""
    from ._dtype import _from_c, float32
    from ._functions.basic import Cast

    Tensor = _TENSOR or _tensor_cls()
    halves = {a._t.dtype for a in args if isinstance(a, Tensor) and a._t.is_half}
    target = _from_c(halves.pop()) if len(halves) == 1 else float32
    ups = [Cast.apply(a, float32) if isinstance(a, Tensor) and a._t.is_half else a for a in args]
    out = cls.apply(*ups)
    # Arguments the op updates in place (batch norm's running statistics) get the new values back.
    for i in cls._half_inplace_args:
        if ups[i] is not args[i]:
            args[i]._t.copy_(ups[i]._t)
    if target is float32:
        return out

    def down(o):
        return Cast.apply(o, target) if isinstance(o, Tensor) and o.dtype is float32 else o

    return tuple(down(o) for o in out) if isinstance(out, tuple) else down(out)


def _tensor_cls():
    """cnnkit.Tensor, imported on first use (tensor.py imports this module); cached in _TENSOR so the
    hot paths (Function.apply, save_for_backward) do not run an import statement per call."""
    global _TENSOR
    from .tensor import Tensor

    _TENSOR = Tensor
    return Tensor


def _edge(t):
    """The graph edge that gradients for tensor t flow into."""
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    if t.requires_grad:
        return (t._accumulator(), 0)
    return (None, 0)


# ---------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------
def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _run_backward(roots, grads, retain_graph, capture=None):
    """Propagates ``grads`` from ``roots`` (tensors) through the graph.

    With ``capture`` (a dict edge -> None), the gradients arriving at those edges are stored there and
    no ``.grad`` is touched (autograd.grad); otherwise leaves accumulate into ``.grad``.
    """
    from .tensor import Tensor

    # 1. Dependencies: how many edges point at each node among the nodes reachable from the roots.
    root_edges = [_edge(r) for r in roots]
    deps = {}
    seen = set()
    stack = [e[0] for e in root_edges if e[0] is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    stack.append(nxt)

    # 2. Seed the buffers with the root gradients.
    buffers = {}
    for (node, nr), g in zip(root_edges, grads):
        if node is None:
            continue
        buf = buffers.setdefault(node, [None] * _num_outputs(node))
        buf[nr] = _add(buf[nr], g)
    ready = [n for n in dict.fromkeys(e[0] for e in root_edges) if n is not None and deps.get(n, 0) == 0]
    handed_out = {g._t.storage_ptr for g in grads}

    # 3. Run nodes whose consumers have all reported.
    while ready:
        node = ready.pop()
        out_grads = buffers.pop(node, None) or [None] * _num_outputs(node)
        for nr, hooks in node._hooks.items():
            for hook in hooks:
                if out_grads[nr] is not None:
                    r = hook(out_grads[nr])
                    if r is not None:
                        out_grads[nr] = r
        # retain_grad() stores the gradient after all other hooks ran (PyTorch 2's order).
        for nr, t in getattr(node, "_retained", {}).items():
            if out_grads[nr] is not None:
                t.grad = out_grads[nr] if t.grad is None else t.grad + out_grads[nr]
        if capture is not None:
            for nr in range(len(out_grads)):
                if (node, nr) in capture:
                    capture[(node, nr)] = out_grads[nr]
        if isinstance(node, AccumulateGrad):
            g = out_grads[0]
            if capture is None and g is not None:
                _accumulate(node.variable, g, handed_out)
            in_grads = ()
        else:
            if node._released:
                raise RuntimeError(_FREED)
            if all(g is None for g in out_grads):
                in_grads = (None,) * len(node.next_functions)
            else:
                if node.materialize_grads:
                    out_grads = [
                        g if g is not None or not node._output_float[i] else None
                        for i, g in enumerate(out_grads)
                    ]
                in_grads = node._fn.backward(node, *out_grads)
                if not isinstance(in_grads, tuple):
                    in_grads = (in_grads,)
                if len(in_grads) < len(node.next_functions):
                    raise RuntimeError(
                        f"function {node.name()} returned an incorrect number of gradients "
                        f"(expected {len(node.next_functions)}, got {len(in_grads)})"
                    )
                if not retain_graph:
                    node._release()
        for (nxt, nr), g in zip(node.next_functions, in_grads):
            if nxt is None:
                continue
            if g is not None:
                if not isinstance(g, Tensor):
                    raise TypeError(f"{node.name()} returned a gradient of type {type(g).__name__}")
                buf = buffers.setdefault(nxt, [None] * _num_outputs(nxt))
                buf[nr] = _add(buf[nr], g)
            deps[nxt] -= 1
            if deps[nxt] == 0:
                ready.append(nxt)


def _num_outputs(node):
    return 1 if isinstance(node, AccumulateGrad) else node._num_outputs


def _accumulate(leaf, g, handed_out):
    """leaf.grad += g, keeping .grad a dense tensor with storage of its own.

    A backward function may hand the same gradient (or a view of it) to several inputs, e.g. the
    two inputs of an addition; a leaf whose storage was already handed out gets a copy, so in-place
    changes to one ``.grad`` (clipping, zeroing) never leak into another.
    """
    if g.shape != leaf.shape:
        g = g.sum_to_size(leaf.shape)
    if leaf.grad is None:
        g = g.to(leaf.dtype)
        if not g.is_contiguous():
            g = g.contiguous()
        elif g._t.storage_ptr in handed_out:
            g = g.clone()
        handed_out.add(g._t.storage_ptr)
        leaf.grad = g.detach()
    else:
        with no_grad():
            leaf.grad = leaf.grad + g


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``torch.autograd.backward``: accumulates d(tensors)/d(leaves) into the leaves' ``.grad``."""
    from .tensor import Tensor

    if create_graph:
        raise RuntimeError("cnnkit: create_graph=True (higher-order gradients) is not supported; see docs/differences.md")
    if inputs is not None:
        raise RuntimeError("cnnkit: backward(inputs=...) is not supported; use cnnkit.autograd.grad")
    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    grads = [_make_grad(t, g) for t, g in zip(tensors, grad_tensors)]
    _run_backward(tensors, grads, bool(retain_graph))


def _make_grad(t, g):
    from .tensor import Tensor, ones_like

    if not t.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if g is None:
        if t.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return ones_like(t)
    if not isinstance(g, Tensor):
        raise TypeError(f"gradient must be a Tensor or None, got {type(g).__name__}")
    if g.shape != t.shape:
        raise RuntimeError(
            f"Mismatch in shape: grad_output[0] has a shape of {g.shape} and output[0] has a shape of {t.shape}."
        )
    return g.detach()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """``torch.autograd.grad``: returns d(outputs)/d(inputs) without touching ``.grad``."""
    from .tensor import Tensor, zeros_like

    if create_graph:
        raise RuntimeError("cnnkit: create_graph=True (higher-order gradients) is not supported; see docs/differences.md")
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors does not require grad")
    grads = [_make_grad(t, g) for t, g in zip(outputs, grad_outputs)]
    edges = [_edge(x) for x in inputs]
    capture = {e: None for e in edges}
    _run_backward(outputs, grads, bool(retain_graph), capture=capture)
    result = []
    for x, e in zip(inputs, edges):
        g = capture[e]
        if g is None:
            if materialize_grads:
                g = zeros_like(x)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        elif g.shape != x.shape:
            g = g.sum_to_size(x.shape)
        result.append(g)
    return tuple(result)


class _FunctionNamespace:
    Function = Function


function = _FunctionNamespace()
