"""Gradient clipping with ``torch.nn.utils.clip_grad``'s formulas and return values.

``clip_grad_norm_`` computes one norm over all gradients (the norm of the per-tensor norms), then
multiplies every gradient by ``min(1, max_norm / (total_norm + 1e-6))``: always a multiply, like torch,
so a gradient that needs no clipping is scaled by exactly 1. The norm is a 0-d tensor on the
gradients' device (no host round trip unless ``error_if_nonfinite`` asks for one).
"""
from __future__ import annotations

import math
import warnings

from ...autograd import no_grad
from ...tensor import Tensor, stack, tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _tensor_list(tensors, what):
    if isinstance(tensors, Tensor):
        return [tensors]
    out = list(tensors)
    for t in out:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected an iterable of Tensors, got an element of type {type(t).__name__}")
    return out


def _vector_norm(x, norm_type):
    """The ``norm_type``-norm of all elements of x, as a 0-d tensor (x's dtype and device)."""
    if norm_type == math.inf:
        return x.abs().max()
    if norm_type == -math.inf:
        return x.abs().min()
    if norm_type == 0:
        return (x != 0).sum().to(x.dtype)
    if norm_type == 1:
        return x.abs().sum()
    if norm_type == 2:
        return (x * x).sum().sqrt()
    return (x.abs() ** norm_type).sum() ** (1.0 / norm_type)


@no_grad()
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the per-tensor norms of ``tensors`` (empty -> ``tensor(0.)``)."""
    tensors = _tensor_list(tensors, "get_total_norm")
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    devices = {str(t.device) for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(f"get_total_norm: expected all tensors on one device, got {sorted(devices)}")
    norms = [_vector_norm(t, norm_type) for t in tensors]
    total = _vector_norm(stack([n.to(tensors[0].dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not math.isfinite(float(total.item())):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return total


@no_grad()
def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scales the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    params = _tensor_list(parameters, "clip_grads_with_norm_")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    clip_coef = float(max_norm) / (total_norm + 1e-6)
    clip_coef = clip_coef.clamp(max=1.0)
    for g in grads:
        g.mul_(clip_coef.to(g.dtype))


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clips the gradient norm of ``parameters`` (``.grad`` modified in place); returns the total norm
    of the gradients before clipping, as a 0-d tensor."""
    params = _tensor_list(parameters, "clip_grad_norm_")
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of :func:`clip_grad_norm_` (warns, as torch does)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _tensor_list(parameters, "clip_grad_value_"):
        if p.grad is not None:
            p.grad.clamp_(min=-clip_value, max=clip_value)
