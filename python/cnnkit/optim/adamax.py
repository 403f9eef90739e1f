"""optim.Adamax: torch.optim.Adamax's interface, state and update rule (single-tensor path), one
fused in-place kernel call per parameter (_C.adamax_step_).

Per parameter p with gradient g at step t:
    g = -g if maximize;  g = g + weight_decay * p if weight_decay != 0
    exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_inf = max(beta2 * exp_inf, |g| + eps)
    p = p - lr / (1 - beta1**t) * exp_avg / exp_inf
State: step (0-d float32 tensor), exp_avg, exp_inf. ``foreach`` and ``capturable`` are accepted and
recorded; ``differentiable=True`` is not supported.
"""
from .. import _C
from ..tensor import zeros_like
from ._adam_family import check_adam_like
from .optimizer import Optimizer, _scalar

__all__ = ["Adamax"]


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_adam_like(lr, betas, eps, weight_decay)
        if differentiable:
            raise ValueError("Adamax: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable, "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({"foreach": None, "maximize": False, "differentiable": False, "capturable": False})

    @staticmethod
    def _init_state(p, state):
        state["exp_avg"] = zeros_like(p)
        state["exp_inf"] = zeros_like(p)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = bool(group["maximize"])
        for p, state, step in self._params_with_grad(group, self._init_state):
            _C.adamax_step_(p._t, p.grad._t, state["exp_avg"]._t, state["exp_inf"]._t, lr, beta1, beta2, eps,
                            weight_decay, step, maximize)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
