"""optim.SGD: torch.optim.SGD's interface and update rule, computed by the _C.sgd_step_ kernel.

For each parameter p with gradient g (PyTorch's formula, in this order):
    g = -g if maximize;  g = g + weight_decay * p;
    if momentum != 0:  buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
                       g = g + momentum * buf if nesterov else buf
    p = p - lr * g
The whole update for one parameter is one fused in-place kernel call on p._t and buf._t.
``foreach`` and ``fused`` are accepted for compatibility; cnnkit always runs its fused per-parameter
kernel. ``differentiable=True`` (an update that autograd can see) is not supported.
"""
from .. import _C
from ..tensor import Tensor, empty_like
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise ValueError("SGD: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
            "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
            "differentiable": differentiable, "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({
            "nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": None,
        }, tensor_steps=False)

    def _update_group(self, group):
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        nesterov = bool(group["nesterov"])
        maximize = bool(group["maximize"])
        # SGD keeps no step count (and no state at all without momentum): its own loop, not _params_with_grad.
        for p in group["params"]:
            grad = p.grad
            # Frozen parameters (requires_grad=False) and parameters without a gradient are skipped.
            if grad is None or not p.requires_grad:
                continue
            grad = grad.contiguous()
            buf_t = None
            first_step = False
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    # The kernel writes buf = g on the first step: start from an empty buffer.
                    buf = empty_like(p)
                    state["momentum_buffer"] = buf
                    first_step = True
                buf_t = buf._t
            _C.sgd_step_(p._t, grad._t, buf_t, lr, momentum, dampening, weight_decay, nesterov,
                         maximize, first_step)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
