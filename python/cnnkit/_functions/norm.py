"""Autograd Functions and public ops of the per-sample normalisations: ``group_norm``,
``layer_norm``, ``instance_norm`` and ``local_response_norm`` (``torch.nn.functional`` names,
signatures and defaults).

Group, layer and instance norm share one kernel family (``_C.*_norm_forward`` / ``_backward``,
csrc/ops/norm.*): each normalises rows of the input with their own mean and biased variance and
applies a per-channel (group / instance norm) or per-element (layer norm) affine transform. The
forward saves the input, the weight and the per-row mean and 1/std; the backward *writes* fresh
gradients for the input, weight and bias.

``instance_norm`` with ``use_input_stats=False`` normalises with the running statistics, the same
per-channel affine map as ``batch_norm`` in eval mode, so it reuses BatchNormFn. With
``use_input_stats=True`` and running statistics given, they are updated as PyTorch does:
``r = (1 - momentum) * r + momentum * mean over the batch of the per-instance statistic``, with the
unbiased per-instance variance.

``local_response_norm`` is a composition of existing differentiable ops (square, an average pool
over the channel window with zero padding, affine, pow, divide), exactly PyTorch's own formulation,
so it runs and differentiates on every device without a dedicated kernel: at the window sizes
AlexNet-style networks use (5), the pooled pass is a handful of memory sweeps.
"""
from __future__ import annotations

import numbers

from .. import _C
from ..autograd import Function, no_grad
from ..tensor import _wrap
from ._checks import check_tensor_args
from .batchnorm import BatchNormFn, _verify_batch_size
from .conv import _opt

__all__ = ["group_norm", "layer_norm", "instance_norm", "local_response_norm"]


def _ct(t):
    return None if t is None else t._t


_check_args = check_tensor_args


def _save_for_norm_backward(ctx, x, weight, bias, mean, rstd):
    """What every ``_C.*_norm_backward`` needs: the input, the weight, the per-row mean and 1/std."""
    ctx.has_bias = bias is not None
    ctx.save_for_backward(x, weight, mean, rstd)


def _norm_backward(ctx, backward_op, dout, nx, nw, nb, *args):
    """Runs ``backward_op(dout, x, *args, weight, mean, rstd, mask)`` (``args``: the op's own
    arguments, e.g. num_groups) and returns the optional (dx, dweight, dbias)."""
    x, weight, mean, rstd = ctx.saved_tensors
    dx, dw, db = backward_op(dout._t, x._t, *args, _ct(weight), mean._t, rstd._t,
                             (nx, nw and weight is not None, nb and ctx.has_bias))
    return _opt(dx), _opt(dw), _opt(db)


class GroupNormFn(Function):
    """out = (x - mean) * rstd * weight[c] + bias[c], statistics over each (sample, group)."""

    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, eps):
        out, mean, rstd = _C.group_norm_forward(x._t, num_groups, _ct(weight), _ct(bias), eps)
        ctx.num_groups = num_groups
        _save_for_norm_backward(ctx, x, weight, bias, _wrap(mean), _wrap(rstd))
        return _wrap(out)

    @staticmethod
    def backward(ctx, dout):
        nx, _, nw, nb, _ = ctx.needs_input_grad
        dx, dw, db = _norm_backward(ctx, _C.group_norm_backward, dout, nx, nw, nb, ctx.num_groups)
        return dx, None, dw, db, None


class LayerNormFn(Function):
    """out = (x - mean) * rstd * weight + bias, statistics over the trailing normalized_shape dims."""

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        out, mean, rstd = _C.layer_norm_forward(x._t, normalized_shape, _ct(weight), _ct(bias), eps)
        ctx.normalized_shape = normalized_shape
        _save_for_norm_backward(ctx, x, weight, bias, _wrap(mean), _wrap(rstd))
        return _wrap(out)

    @staticmethod
    def backward(ctx, dout):
        nx, _, nw, nb, _ = ctx.needs_input_grad
        dx, dw, db = _norm_backward(ctx, _C.layer_norm_backward, dout, nx, nw, nb, ctx.normalized_shape)
        return dx, None, dw, db, None


class InstanceNormFn(Function):
    """Normalisation of each (sample, channel) plane with its own statistics. Returns the output and
    (non-differentiable) per-instance mean and biased variance, (N, C), for the running statistics."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        out, mean, rstd, var = _C.instance_norm_forward(x._t, _ct(weight), _ct(bias), eps)
        mean, var = _wrap(mean), _wrap(var)
        _save_for_norm_backward(ctx, x, weight, bias, mean, _wrap(rstd))
        ctx.mark_non_differentiable(mean, var)
        return _wrap(out), mean, var

    @staticmethod
    def backward(ctx, dout, _dmean, _dvar):
        nx, nw, nb, _ = ctx.needs_input_grad
        dx, dw, db = _norm_backward(ctx, _C.instance_norm_backward, dout, nx, nw, nb)
        return dx, dw, db, None


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of an (N, C, *) input (``torch.nn.functional.group_norm``): the C channels
    form ``num_groups`` groups normalised per sample; ``weight`` / ``bias`` are per channel."""
    _check_args("group_norm", input=input, weight=weight, bias=bias)
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    _verify_batch_size([input.size(0) * input.size(1) // num_groups, num_groups] + list(input.size()[2:]))
    return GroupNormFn.apply(input, int(num_groups), weight, bias, float(eps))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` dims (``torch.nn.functional.layer_norm``);
    ``weight`` / ``bias`` have shape ``normalized_shape``."""
    _check_args("layer_norm", input=input, weight=weight, bias=bias)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    return LayerNormFn.apply(input, [int(v) for v in normalized_shape], weight, bias, float(eps))


def _verify_spatial_size(size):
    size_prods = 1
    for i in range(2, len(size)):
        size_prods *= size[i]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {size}")


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Instance normalisation of an (N, C, *) input (``torch.nn.functional.instance_norm``): each
    (sample, channel) plane is normalised with its own statistics (``use_input_stats=True``, which
    also updates the running statistics when given) or with ``running_mean`` / ``running_var``."""
    _check_args("instance_norm", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                bias=bias)
    if use_input_stats:
        _verify_spatial_size(input.size())
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    N, C = input.shape[0], input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        # torch repeats the statistics N times and checks them against the N*C channels of batch_norm
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {N * C} elements not {t.numel() * N}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        for name, t in (("weight", weight), ("bias", bias)):
            if t is not None and t.numel() != C:
                raise RuntimeError(f"{name} should contain {N * C} elements not {t.numel() * N}")
        return BatchNormFn.apply(input, weight, bias, running_mean, running_var, False, float(momentum), float(eps))
    out, mean, var = InstanceNormFn.apply(input, weight, bias, float(eps))
    if (running_mean is not None or running_var is not None) and N > 0:
        S = input.numel() // (N * C) if N * C else 0
        with no_grad():
            m = float(momentum)
            if running_mean is not None:
                running_mean.copy_(running_mean * (1.0 - m) + mean.mean(0).to(running_mean.dtype) * m)
            if running_var is not None:
                unbiased = var.mean(0) * (S / (S - 1))
                running_var.copy_(running_var * (1.0 - m) + unbiased.to(running_var.dtype) * m)
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation over the channels (dim 1) of an (N, C, *) input
    (``torch.nn.functional.local_response_norm``): out = x / (k + alpha * avg)^beta with avg the
    mean of x^2 over the channel window [c - size//2, c + (size-1)//2], zero padded (divisor size)."""
    _check_args("local_response_norm", input=input)
    dim = input.dim()
    if dim < 3:
        # (torch's message, its run of spaces included)
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    from .nn import avg_pool2d

    N, C = input.shape[0], input.shape[1]
    # Composition: the channel window is a (size, 1) average pool over the (C, S) plane of each
    # sample, padded by size//2 on both sides; with an even size the last pooled row (the window
    # that would start past the front padding) is dropped, leaving PyTorch's asymmetric padding
    # (size//2 before, (size-1)//2 after). Count-include-pad averaging divides by size, as torch.
    sq = (input * input).reshape(N, 1, C, -1)
    div = avg_pool2d(sq, (size, 1), stride=1, padding=(size // 2, 0), count_include_pad=True)
    if div.shape[2] != C:
        div = div[:, :, :C]
    div = div.reshape(tuple(input.shape))
    div = (div * alpha + k) ** beta
    return input / div
