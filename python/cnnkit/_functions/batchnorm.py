"""Autograd Function and the public ``batch_norm`` (``torch.nn.functional.batch_norm``).

The forward calls ``_C.batch_norm_forward``, which normalises each channel of an (N, C, *) input
with the batch statistics (training) or the running statistics (eval) and, in training, updates
``running_mean`` / ``running_var`` in place (unbiased variance, ``momentum``), as PyTorch does. It
saves the input, the weight and the per-channel mean and 1/std that were used; the backward calls
``_C.batch_norm_backward``, which *writes* fresh gradients for the input, weight and bias (the
full batch-statistics formula in training, a per-channel scale in eval). The running statistics
are not differentiated.
"""
from __future__ import annotations

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import _wrap
from ._checks import check_tensor_args
from .conv import _opt

__all__ = ["batch_norm"]


def _ct(t):
    return None if t is None else t._t


class BatchNormFn(Function):
    """out = (x - mean) / sqrt(var + eps) * weight + bias over the channels (dim 1) of x."""

    _half_inplace_args = (3, 4)  # running_mean, running_var (updated in place in training)

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        out, mean, invstd = _C.batch_norm_forward(x._t, _ct(weight), _ct(bias), _ct(running_mean),
                                                  _ct(running_var), training, momentum, eps)
        ctx.training = training
        ctx.has_weight = weight is not None
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight, _wrap(mean), _wrap(invstd))
        return _wrap(out)

    @staticmethod
    def backward(ctx, dout):
        x, weight, mean, invstd = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        dx, dw, db = _C.batch_norm_backward(dout._t, x._t, _ct(weight), mean._t, invstd._t, ctx.training,
                                            (nx, nw and ctx.has_weight, nb and ctx.has_bias))
        return _opt(dx), _opt(dw), _opt(db), None, None, None, None, None


def _verify_batch_size(size):
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over dim 1 of an (N, C, *) input (``torch.nn.functional.batch_norm``).

    ``training=True`` uses the batch's mean and biased variance and, when given, updates
    ``running_mean`` / ``running_var`` in place: ``r = (1 - momentum) * r + momentum * batch_stat``
    with the unbiased variance. ``training=False`` uses ``running_mean`` / ``running_var``.
    """
    check_tensor_args("batch_norm", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                      bias=bias)
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *) with at least 2 dims, got {input.dim()}-D "
                         f"with shape {list(input.shape)}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != channels:
            # torch's wording (RuntimeError), e.g. BatchNorm2d(3) fed a 4-channel input.
            raise RuntimeError(f"batch_norm: {name} should contain {channels} elements not {t.numel()} "
                               f"(C = input.shape[1] for input of shape {list(input.shape)})")
    for name, v in (("momentum", momentum), ("eps", eps)):  # torch's TypeError (momentum=None is Module-only)
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)):
            raise TypeError(f"batch_norm(): argument '{name}' must be float, not {type(v).__name__}")
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    return BatchNormFn.apply(input, weight, bias, running_mean, running_var, bool(training), float(momentum),
                             float(eps))
