"""optim.NAdam: torch.optim.NAdam's interface, state and update rule (single-tensor path), one fused
in-place kernel call per parameter (_C.nadam_step_).

At step t, with mu_t = beta1 (1 - 0.5 * 0.96**(t * momentum_decay)) and mu_product (a float32 state
tensor, as torch's) *= mu_t, the host computes, as torch does with Python floats:
    coef_grad = -lr (1 - mu_t) / (1 - mu_product),  coef_avg = -lr mu_{t+1} / (1 - mu_product mu_{t+1})
and per element: weight decay (L2, or decoupled p *= 1 - lr wd), the Adam moments, then
    denom = sqrt(exp_avg_sq / (1 - beta2**t)) + eps;  p += coef_grad g / denom;  p += coef_avg exp_avg / denom
State: step, mu_product (0-d float32 tensors), exp_avg, exp_avg_sq.
``foreach`` and ``capturable`` are accepted and recorded; ``differentiable=True`` is not supported.
"""
import numpy as np

from .. import _C
from ..tensor import Tensor
from ._adam_family import check_adam_like, init_moments
from .optimizer import Optimizer, _new_step, _scalar

__all__ = ["NAdam"]


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_adam_like(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        if differentiable:
            raise ValueError("NAdam: differentiable=True is not supported by cnnkit")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({
            "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
            "decoupled_weight_decay": False,
        })
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p)
                if p_state and "mu_product" in p_state and not isinstance(p_state["mu_product"], Tensor):
                    p_state["mu_product"] = _new_step(float(p_state["mu_product"]))

    @staticmethod
    def _init_state(p, state):
        state["mu_product"] = _new_step(1.0)
        init_moments(p, state)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum_decay = float(group["momentum_decay"])
        decoupled = bool(group["decoupled_weight_decay"])
        maximize = bool(group["maximize"])
        for p, state, step in self._params_with_grad(group, self._init_state):
            bias_correction2 = 1 - beta2 ** step
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
            # mu_product is a float32 tensor in torch: the product rounds to float32 every step.
            mu_product = float(np.float32(np.float32(state["mu_product"].item()) * np.float32(mu)))
            state["mu_product"].fill_(mu_product)
            coef_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
            coef_avg = -lr * mu_next / (1.0 - mu_product * mu_next)
            _C.nadam_step_(p._t, p.grad._t, state["exp_avg"]._t, state["exp_avg_sq"]._t, lr, beta1, beta2, eps,
                           weight_decay, bias_correction2, coef_grad, coef_avg, maximize, decoupled)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
