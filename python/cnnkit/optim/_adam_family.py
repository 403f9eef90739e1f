"""What the Adam-like optimizers share: their argument checks (Adam, AdamW, Adamax, NAdam, RAdam), as torch
spells them, and the moment buffers of a new state (Adam, AdamW, NAdam, RAdam)."""
from ..tensor import zeros_like
from .optimizer import _check_lr, _check_nonnegative

__all__ = ["check_adam_like", "init_moments"]


def check_adam_like(lr, betas, eps, weight_decay):
    _check_lr(lr)
    _check_nonnegative("epsilon", eps)
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    _check_nonnegative("weight_decay", weight_decay)


def init_moments(p, state):
    """A new state's first and second moments: exp_avg and exp_avg_sq, zeros like p."""
    state["exp_avg"] = zeros_like(p)
    state["exp_avg_sq"] = zeros_like(p)
