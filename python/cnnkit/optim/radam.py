"""optim.RAdam: torch.optim.RAdam's interface, state and update rule (single-tensor path), one fused
in-place kernel call per parameter (_C.radam_step_).

At step t the host computes (Python floats, as torch): bc1 = 1 - beta1**t, bc2 = 1 - beta2**t,
rho_inf = 2 / (1 - beta2) - 1, rho_t = rho_inf - 2 t beta2**t / bc2 and, when rho_t > 5, the
rectification rect = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
Per element: weight decay (L2, or decoupled p *= 1 - lr wd), the Adam moments, then
    rho_t > 5:  p -= exp_avg / bc1 * lr * (1 / (sqrt(exp_avg_sq) + eps) * sqrt(bc2)) * rect
    else:       p -= exp_avg / bc1 * lr
State: step (0-d float32 tensor), exp_avg, exp_avg_sq.
``foreach`` and ``capturable`` are accepted and recorded; ``differentiable=True`` is not supported.
"""
from .. import _C
from ._adam_family import check_adam_like, init_moments
from .optimizer import Optimizer, _scalar

__all__ = ["RAdam"]


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_adam_like(lr, betas, eps, weight_decay)
        if differentiable:
            raise ValueError("RAdam: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
            "foreach": foreach, "capturable": capturable, "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({
            "foreach": None, "maximize": False, "differentiable": False, "decoupled_weight_decay": False,
            "capturable": False,
        })

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        decoupled = bool(group["decoupled_weight_decay"])
        maximize = bool(group["maximize"])
        for p, state, step in self._params_with_grad(group, init_moments):
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
            rectified = rho_t > 5.0
            rect = 0.0
            if rectified:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            _C.radam_step_(p._t, p.grad._t, state["exp_avg"]._t, state["exp_avg_sq"]._t, lr, beta1, beta2, eps,
                           weight_decay, bias_correction1, bias_correction2 ** 0.5, rect, rectified, maximize,
                           decoupled)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
