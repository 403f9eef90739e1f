"""optim.RMSprop: torch.optim.RMSprop's interface, validation, state and update rule (single-tensor
path), one fused in-place kernel call per parameter (_C.rmsprop_step_).

Per parameter p with gradient g (torch's formula and order):
    g = -g if maximize;  g = g + weight_decay * p if weight_decay != 0
    square_avg = alpha * square_avg + (1 - alpha) * g * g
    centered: grad_avg = lerp(grad_avg, g, 1 - alpha); avg = sqrt(square_avg - grad_avg**2) + eps
    else:     avg = sqrt(square_avg) + eps
    momentum > 0: buf = momentum * buf + g / avg; p = p - lr * buf     else: p = p - lr * g / avg
State per parameter: step (0-d float32 tensor), square_avg (+ momentum_buffer, grad_avg).
``foreach`` and ``capturable`` are accepted and recorded; ``differentiable=True`` is not supported.
"""
from .. import _C
from ..tensor import zeros_like
from .optimizer import Optimizer, _check_lr, _check_nonnegative, _scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check_nonnegative("epsilon", eps)
        _check_nonnegative("momentum", momentum)
        _check_nonnegative("weight_decay", weight_decay)
        _check_nonnegative("alpha", alpha)
        if differentiable:
            raise ValueError("RMSprop: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach, "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({
            "momentum": 0, "centered": False, "foreach": None, "maximize": False, "differentiable": False,
            "capturable": False,
        })

    @staticmethod
    def _init_state(p, state):
        state["square_avg"] = zeros_like(p)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        centered = bool(group["centered"])
        maximize = bool(group["maximize"])
        for p, state, _ in self._params_with_grad(group, self._init_state):
            # The optional buffers also appear when momentum / centered are switched on later.
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = zeros_like(p)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = zeros_like(p)
            grad_avg = state["grad_avg"]._t if centered else None
            buf = state["momentum_buffer"]._t if momentum > 0 else None
            _C.rmsprop_step_(p._t, p.grad._t, state["square_avg"]._t, grad_avg, buf, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
