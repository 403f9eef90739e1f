"""Shared argument checks of the Adam-like optimizers (Adam, AdamW, Adamax, NAdam, RAdam), as torch spells them."""
from .optimizer import _check_lr, _check_nonnegative

__all__ = ["check_adam_like"]


def check_adam_like(lr, betas, eps, weight_decay):
    _check_lr(lr)
    _check_nonnegative("epsilon", eps)
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    _check_nonnegative("weight_decay", weight_decay)
