"""optim.Adadelta: torch.optim.Adadelta's interface, validation, state and update rule (single-tensor
path), one fused in-place kernel call per parameter (_C.adadelta_step_).

Per parameter p with gradient g (torch's formula and order):
    g = -g if maximize;  g = g + weight_decay * p if weight_decay != 0
    square_avg = rho * square_avg + (1 - rho) * g * g
    delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
    acc_delta = rho * acc_delta + (1 - rho) * delta * delta;  p = p - lr * delta
State per parameter: step (0-d float32 tensor), square_avg, acc_delta.
``foreach`` and ``capturable`` are accepted and recorded; ``differentiable=True`` is not supported.
"""
from .. import _C
from ..tensor import zeros_like
from .optimizer import Optimizer, _check_lr, _check_nonnegative, _scalar

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonnegative("epsilon", eps)
        _check_nonnegative("weight_decay", weight_decay)
        if differentiable:
            raise ValueError("Adadelta: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
            "capturable": capturable, "foreach": foreach, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({"foreach": None, "maximize": False, "differentiable": False, "capturable": False})

    @staticmethod
    def _init_state(p, state):
        state["square_avg"] = zeros_like(p)
        state["acc_delta"] = zeros_like(p)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        rho = float(group["rho"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = bool(group["maximize"])
        for p, state, _ in self._params_with_grad(group, self._init_state):
            _C.adadelta_step_(p._t, p.grad._t, state["square_avg"]._t, state["acc_delta"]._t, lr, rho, eps,
                              weight_decay, maximize)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
