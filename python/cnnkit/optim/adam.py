"""optim.Adam: torch.optim.Adam's interface, validation, state and update rule (the single-tensor
path), each parameter updated by one fused in-place kernel call (_C.adam_step_).

Per parameter p with gradient g, at step t (torch's formula and order):
    g = -g if maximize
    weight_decay != 0:  p = p * (1 - lr * weight_decay) if decoupled_weight_decay (AdamW)
                        else g = g + weight_decay * p
    m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
    v_hat = max(v_max, v) (kept in max_exp_avg_sq) if amsgrad else v
    p = p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)
The bias corrections are computed in double on the host, as torch computes them as Python floats.
State per parameter: step (0-d float32 tensor), exp_avg, exp_avg_sq (+ max_exp_avg_sq if amsgrad).

``foreach``, ``fused`` and ``capturable`` are accepted and recorded in the param groups (they select
torch's implementation, not its result); cnnkit always runs its fused per-parameter kernel and keeps
``step`` on the CPU. ``differentiable=True`` (an update autograd can see) is not supported.
"""
from .. import _C
from ..tensor import Tensor, zeros_like
from ._adam_family import check_adam_like, init_moments
from .optimizer import Optimizer, _check_fused_foreach, _scalar

__all__ = ["Adam"]


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        check_adam_like(lr, betas, eps, weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor):
                if not capturable and foreach:
                    raise ValueError(
                        f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
                if b.numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        if differentiable:
            raise ValueError(f"{type(self).__name__}: differentiable=True is not supported by cnnkit")
        betas = tuple(_scalar(b) for b in betas)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        _check_fused_foreach(fused, foreach, differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setstate_defaults({
            "amsgrad": False, "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
            "decoupled_weight_decay": False, "fused": None,
        })

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = bool(group["amsgrad"])
        maximize = bool(group["maximize"])
        decoupled = bool(group.get("decoupled_weight_decay", False))
        for p, state, step in self._params_with_grad(group, init_moments):
            # Also for a state made with amsgrad=False (amsgrad switched on in a param group later).
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = zeros_like(p)
            vmax = state["max_exp_avg_sq"]._t if amsgrad else None
            _C.adam_step_(p._t, p.grad._t, state["exp_avg"]._t, state["exp_avg_sq"]._t, vmax, lr, beta1, beta2,
                          eps, weight_decay, step, amsgrad, maximize, decoupled)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss if given."""
        return self._run_step(closure, self._update_group)
