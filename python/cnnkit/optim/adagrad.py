"""optim.Adagrad: torch.optim.Adagrad's interface, validation, state and update rule (single-tensor
path, dense gradients), one fused in-place kernel call per parameter (_C.adagrad_step_).

Per parameter p with gradient g at step t (torch's formula and order):
    g = -g if maximize;  g = g + weight_decay * p if weight_decay != 0
    clr = lr / (1 + (t - 1) * lr_decay)            (a Python float, as in torch)
    sum = sum + g * g;  p = p - clr * g / (sqrt(sum) + eps)
As in torch, the state (step: 0-d float32 tensor, sum: filled with initial_accumulator_value) is
created for every parameter in __init__ (and, unlike torch, lazily for groups added later).
``foreach`` and ``fused`` are accepted and recorded; ``differentiable=True`` is not supported.
"""
from .. import _C
from ..tensor import full_like
from .optimizer import Optimizer, _check_fused_foreach, _check_lr, _check_nonnegative, _new_step, _scalar

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check_nonnegative("lr_decay", lr_decay)
        _check_nonnegative("weight_decay", weight_decay)
        _check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        _check_nonnegative("epsilon", eps)
        if differentiable:
            raise ValueError("Adagrad: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach, "maximize": maximize,
            "differentiable": differentiable, "fused": fused,
        }
        super().__init__(params, defaults)
        _check_fused_foreach(fused, foreach, differentiable)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _new_step()
                self._init_sum(p, state, group)

    @staticmethod
    def _init_sum(p, state, group):
        state["sum"] = full_like(p, float(group["initial_accumulator_value"]))

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({"foreach": None, "maximize": False, "differentiable": False, "fused": None})

    def share_memory(self):
        """Calls share_memory_() on the state sums (a no-op where tensors cannot be shared)."""
        for group in self.param_groups:
            for p in group["params"]:
                sum_ = self.state[p].get("sum")
                if sum_ is not None and hasattr(sum_, "share_memory_"):
                    sum_.share_memory_()

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        lr_decay = float(group["lr_decay"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = bool(group["maximize"])
        # A group added after __init__ gets its state on its first step.
        for p, state, step in self._params_with_grad(group, lambda p, state: self._init_sum(p, state, group)):
            clr = lr / (1 + (step - 1) * lr_decay)
            _C.adagrad_step_(p._t, p.grad._t, state["sum"]._t, clr, eps, weight_decay, maximize)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
