"""Module full backward hooks (``register_full_backward_hook`` / ``register_full_backward_pre_hook``).

The same construction as torch's ``BackwardHook``: the module's tensor inputs pass through one identity
Function (``_HookIn``) before ``forward`` and its tensor outputs through another (``_HookOut``) after it.
The engine runs a node only once every consumer of its outputs has delivered, so
- ``_HookOut.backward`` receives the complete gradients w.r.t. the module's outputs: it runs the
  pre-hooks ``hook(module, grad_output) -> new grad_output | None`` and remembers the result;
- ``_HookIn.backward`` receives the complete gradients w.r.t. the module's inputs: it runs the hooks
  ``hook(module, grad_input, grad_output) -> new grad_input | None``.
When no input requires grad (a first layer), ``_HookIn`` is not in the graph and the hooks run from
``_HookOut`` with ``grad_input`` all ``None``, as in torch.
"""
from __future__ import annotations

from ..autograd import Function


class _State:
    __slots__ = ("module", "grad_output", "n_inputs", "input_in_graph")

    def __init__(self, module):
        self.module = module
        self.grad_output = None
        self.n_inputs = 0
        self.input_in_graph = False


def _alias(t):
    """A new Python tensor over the same data (an output of the identity Functions must not be the
    input object itself, or the input's own graph edge would be overwritten)."""
    from ..tensor import _wrap

    return _wrap(t._t)


def _run_hooks(state, grad_input):
    module = state.module
    for hook in list(module._backward_hooks.values()):
        result = hook(module, grad_input, state.grad_output)
        if result is not None:
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(f"Backward hook returned an invalid number of grad_input, got {len(result)}, "
                                   f"but expected {len(grad_input)}")
            grad_input = result
    return grad_input


class _HookIn(Function):
    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return tuple(_alias(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        grads = _run_hooks(ctx.state, tuple(grads))
        return (None,) + tuple(grads)


class _HookOut(Function):
    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        return tuple(_alias(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        module = state.module
        grads = tuple(grads)
        for hook in list(module._backward_pre_hooks.values()):
            result = hook(module, grads)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grads):
                    raise RuntimeError(f"Backward pre hook returned an invalid number of grad_output, got "
                                       f"{len(result)}, but expected {len(grads)}")
                grads = result
        state.grad_output = grads
        if not state.input_in_graph:
            _run_hooks(state, (None,) * state.n_inputs)
        return (None,) + grads


def wrap_inputs(module, args):
    """Passes the tensor positional args through ``_HookIn``; returns (state, new args)."""
    from ..tensor import Tensor

    state = _State(module)
    idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    state.n_inputs = len(idx)
    if not idx:
        return state, args
    tensors = [args[i] for i in idx]
    state.input_in_graph = any(t.requires_grad for t in tensors)
    if not state.input_in_graph:
        return state, args
    new = _HookIn.apply(state, *tensors)
    args = list(args)
    for i, t in zip(idx, new):
        args[i] = t
    return state, tuple(args)


def wrap_outputs(state, output):
    """Passes the module's tensor output(s) through ``_HookOut`` (a tensor or a tuple/list of them)."""
    from ..tensor import Tensor

    single = isinstance(output, Tensor)
    outs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else None
    if outs is None:
        return output
    idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
    if not idx:
        return output
    new = _HookOut.apply(state, *[outs[i] for i in idx])
    outs = list(outs)
    for i, t in zip(idx, new):
        outs[i] = t
    if single:
        return outs[0]
    return type(output)(outs) if isinstance(output, tuple) and type(output) is not tuple else (
        tuple(outs) if isinstance(output, tuple) else outs)
