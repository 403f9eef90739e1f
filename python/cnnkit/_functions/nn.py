"""Autograd Functions and public ops of the neural-network layers that are not convolutions:
pooling, activations, softmax, losses and dropout (``torch.nn.functional`` names and defaults).

Each Function's forward calls a ``_C`` kernel and saves only what its backward needs; the backward
calls the matching ``_C`` backward kernel, which *writes* a fresh gradient tensor.
In-place variants (``relu(x, inplace=True)``, ``leaky_relu_``, ``dropout(..., inplace=True)``) compute
out of place and copy the result into the input; when the input is part of a graph it takes over
the result's history (``Tensor._rebase``), as ``Tensor.relu_`` does.
"""
from __future__ import annotations

import operator
import warnings

from .. import _C
from ..autograd import Function
from ..tensor import _int_arg, _wrap
from ._checks import check_tensor

__all__ = [
    "max_pool2d", "max_pool2d_with_indices", "avg_pool2d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "relu", "relu_", "leaky_relu", "leaky_relu_", "sigmoid", "tanh",
    "softmax", "log_softmax",
    "cross_entropy", "nll_loss", "mse_loss",
    "dropout",
]


_check_tensor = check_tensor


def _pair(name, what, v):
    """int or 1-/2-sequence of ints -> (a, b), as torch's pooling arguments accept."""
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (int(v[0]), int(v[0]))
    if len(v) == 2:
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{name}: {what} must either be a single int, or a tuple of two ints, got {v}")


def _inplace_result(input, result):
    """Writes ``result`` into ``input`` (the in-place form of an op) and returns ``input``."""
    input._check_inplace()
    if result.requires_grad:
        return input._rebase(result)
    input._t.copy_(result._t)
    return input


# ---------------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------------
def _max_pool_outputs(ctx, x, out, idx):
    """A max-pool's (values, argmax indices) as Tensors; saves the indices and the input shape for the
    backward (the shared index scatter, max_pool2d_backward)."""
    out, idx = _wrap(out), _wrap(idx)
    ctx.input_shape = list(x.shape)
    ctx.save_for_backward(idx)
    ctx.mark_non_differentiable(idx)
    return out, idx


class MaxPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode):
        ctx.dilated = dilation not in (1, (1, 1), [1, 1])
        return _max_pool_outputs(ctx, x, *_C.max_pool2d_forward(x._t, kernel, stride, padding, dilation, ceil_mode))

    @staticmethod
    def backward(ctx, dout, _didx):
        (idx,) = ctx.saved_tensors
        if ctx.dilated:
            # A dilated window can lie wholly in the padding (it steps over a small input): its output is -inf
            # and its index (torch's convention, kept in the forward) points past the plane. Such a window has
            # no input to send its gradient to (torch's CPU kernel adds it into the next plane instead).
            plane = ctx.input_shape[-2] * ctx.input_shape[-1]
            outside = (idx < 0).logical_or(idx >= plane)
            if outside.any().item():
                dout, idx = dout.masked_fill(outside, 0), idx.masked_fill(outside, 0)
        return _wrap(_C.max_pool2d_backward(dout._t, idx._t, ctx.input_shape)), None, None, None, None, None


class AvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.args = (list(x.shape), kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return _wrap(_C.avg_pool2d_forward(x._t, kernel, stride, padding, ceil_mode, count_include_pad,
                                           divisor_override))

    @staticmethod
    def backward(ctx, dout):
        return (_wrap(_C.avg_pool2d_backward(dout._t, *ctx.args)),) + (None,) * 6


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    """(output, indices) of 2-D max pooling; indices are flat h*W+w positions within each plane."""
    _check_tensor("max_pool2d", input)
    k = _pair("max_pool2d", "kernel_size", kernel_size)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair("max_pool2d", "stride", stride)
    p = _pair("max_pool2d", "padding", padding)
    d = _pair("max_pool2d", "dilation", dilation)
    return MaxPool2dFn.apply(input, k, s, p, d, bool(ceil_mode))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W) input (``torch.nn.functional.max_pool2d``)."""
    out, idx = max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling (``torch.nn.functional.avg_pool2d``); divisors follow PyTorch exactly."""
    _check_tensor("avg_pool2d", input)
    k = _pair("avg_pool2d", "kernel_size", kernel_size)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair("avg_pool2d", "stride", stride)
    p = _pair("avg_pool2d", "padding", padding)
    div = None if divisor_override is None else int(divisor_override)
    return AvgPool2dFn.apply(input, k, s, p, bool(ceil_mode), bool(count_include_pad), div)


class AdaptiveAvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.input_shape = list(x.shape)
        return _wrap(_C.adaptive_avg_pool2d_forward(x._t, output_size))

    @staticmethod
    def backward(ctx, dout):
        return _wrap(_C.adaptive_avg_pool2d_backward(dout._t, ctx.input_shape)), None


class AdaptiveMaxPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        return _max_pool_outputs(ctx, x, *_C.adaptive_max_pool2d_forward(x._t, output_size))

    @staticmethod
    def backward(ctx, dout, _didx):
        (idx,) = ctx.saved_tensors
        return _wrap(_C.adaptive_max_pool2d_backward(dout._t, idx._t, ctx.input_shape)), None


def _output_size(output_size):
    """int, or a pair of ints/None, passed on to _C (which validates it); NumPy integers become ints."""
    def one(v):
        if v is None or isinstance(v, (int, bool)) or not hasattr(v, "__index__"):
            return v
        return operator.index(v)
    if isinstance(output_size, (list, tuple)):
        return tuple(one(v) for v in output_size)
    return one(output_size)


def adaptive_avg_pool2d(input, output_size):
    """2-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``): output (oh, ow)
    averages rows [floor(oh*H/OH), ceil((oh+1)*H/OH)) and the matching columns; None in
    ``output_size`` keeps that input dim."""
    _check_tensor("adaptive_avg_pool2d", input)
    return AdaptiveAvgPool2dFn.apply(input, _output_size(output_size))


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    """(output, indices) of 2-D adaptive max pooling; indices are flat h*W+w positions within each plane."""
    _check_tensor("adaptive_max_pool2d", input)
    return AdaptiveMaxPool2dFn.apply(input, _output_size(output_size))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool2d``)."""
    out, idx = adaptive_max_pool2d_with_indices(input, output_size)
    return (out, idx) if return_indices else out


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------
class ReLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        out = _wrap(_C.relu_forward(x._t))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        return _wrap(_C.relu_backward(dout._t, out._t))


class LeakyReLUFn(Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.slope = slope
        ctx.save_for_backward(x)
        return _wrap(_C.leaky_relu_forward(x._t, slope))

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        return _wrap(_C.leaky_relu_backward(dout._t, x._t, ctx.slope)), None


class SigmoidFn(Function):
    @staticmethod
    def forward(ctx, x):
        out = _wrap(_C.sigmoid_forward(x._t))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        return _wrap(_C.sigmoid_backward(dout._t, out._t))


class TanhFn(Function):
    @staticmethod
    def forward(ctx, x):
        out = _wrap(_C.tanh_forward(x._t))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        return _wrap(_C.tanh_backward(dout._t, out._t))


def relu(input, inplace=False):
    """max(input, 0) elementwise; NaN stays NaN (``torch.nn.functional.relu``)."""
    _check_tensor("relu", input)
    out = ReLUFn.apply(input)
    return _inplace_result(input, out) if inplace else out


def relu_(input):
    return relu(input, inplace=True)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input if input > 0 else negative_slope * input (``torch.nn.functional.leaky_relu``)."""
    _check_tensor("leaky_relu", input)
    out = LeakyReLUFn.apply(input, float(negative_slope))
    return _inplace_result(input, out) if inplace else out


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def sigmoid(input):
    _check_tensor("sigmoid", input)
    return SigmoidFn.apply(input)


def tanh(input):
    _check_tensor("tanh", input)
    return TanhFn.apply(input)


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------
class SoftmaxFn(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        ctx.dim, ctx.log = dim, log
        out = _wrap((_C.log_softmax_forward if log else _C.softmax_forward)(x._t, dim))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, dout):
        (out,) = ctx.saved_tensors
        fn = _C.log_softmax_backward if ctx.log else _C.softmax_backward
        return _wrap(fn(dout._t, out._t, ctx.dim)), None, None


def _softmax_dim(name, ndim):
    """torch's legacy implicit dim: 0 for 0-, 1- and 3-D input, else 1 (with its warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(name, input, dim, dtype, log):
    _check_tensor(name, input)
    if dim is None:
        dim = _softmax_dim(name, input.dim())
    if dtype is not None:
        input = input.to(dtype)
    return SoftmaxFn.apply(input, _int_arg(name, dim), log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably (``torch.nn.functional.softmax``)."""
    return _softmax("softmax", input, dim, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along ``dim`` (``torch.nn.functional.log_softmax``)."""
    return _softmax("log_softmax", input, dim, dtype, True)


# ---------------------------------------------------------------------------------------------
# losses: moved to _functions/loss.py; re-exported here so `from ._functions.nn import cross_entropy` works
# ---------------------------------------------------------------------------------------------
from .loss import CrossEntropyFn, MSELossFn, NLLLossFn, cross_entropy, mse_loss, nll_loss  # noqa: E402,F401


# ---------------------------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------------------------
__all__ += ["dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]


class DropoutFn(Function):
    """Fused dropout: ``_C.dropout_forward`` draws a Philox4x32-10 mask (one entry per element, or
    per channel of ``inner`` elements for feature dropout) and applies it in the same pass; alpha
    dropout shifts as PyTorch's. Saves only the bool mask; backward = dout * mask * scale."""

    @staticmethod
    def forward(ctx, x, p, seed, inner, alpha):
        out, mask = _C.dropout_forward(x._t, p, seed, 0, inner, alpha)
        ctx.args = (p, inner, alpha)
        ctx.save_for_backward(_wrap(mask))
        return _wrap(out)

    @staticmethod
    def backward(ctx, dout):
        (mask,) = ctx.saved_tensors
        p, inner, alpha = ctx.args
        return _wrap(_C.dropout_backward(dout._t, mask._t, p, inner, alpha)), None, None, None, None


def _check_dropout_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout_impl(input, p, training, inplace, alpha=False, feature=None):
    """PyTorch's _dropout_impl: the identity when not training, p == 0 or the input is empty;
    input * 0 when p == 1 (no alpha shift); otherwise a fresh mask from cnnkit's generator
    (``cnnkit.manual_seed`` makes it reproducible; the masks differ from PyTorch's).
    ``feature``: None (elementwise) or the number of leading dims that index a channel (2 for
    (N, C, ...), 1 for an unbatched (C, ...)); a mask entry then covers one channel's elements."""
    _check_tensor("dropout", input)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    inner = 1
    if feature is not None:
        if input.dim() < feature:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        for s in input.shape[feature:]:
            inner *= s
    p = float(p)
    if p == 1.0:
        out = DropoutFn.apply(input, 1.0, 0, inner, False)
    else:
        from ..random import _philox_seed

        out = DropoutFn.apply(input, p, _philox_seed(), inner, bool(alpha))
    return _inplace_result(input, out) if inplace else out


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability ``p`` and scales the rest by 1/(1-p) during training;
    the identity otherwise (``torch.nn.functional.dropout``)."""
    _check_dropout_p(p)
    return _dropout_impl(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped elements take SELU's negative saturation and the result is
    rescaled to keep zero mean and unit variance (``torch.nn.functional.alpha_dropout``)."""
    _check_dropout_p(p)
    return _dropout_impl(input, p, training, inplace, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout of whole channels of (N, C, ...) input (``torch.nn.functional.feature_alpha_dropout``)."""
    _check_dropout_p(p)
    return _dropout_impl(input, p, training, inplace, alpha=True, feature=2)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or unbatched (C, L) input (``torch.nn.functional.dropout1d``)."""
    _check_dropout_p(p)
    _check_tensor("dropout1d", input)
    d = input.dim()
    if d not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {d}D input. Note that dropout1d "
                           "exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel "
                           "dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _dropout_impl(input, p, training, inplace, feature=2 if d == 3 else 1)


def _warn_deprecated_rank(n, d):
    """PyTorch's warning when dropout{n}d gets a d-D input that is neither the unbatched nor the
    batched rank (n+1 or n+2); stacklevel 3 names the caller of dropout{n}d."""
    warnings.warn(f"dropout{n}d: Received a {d}-D input to dropout{n}d, which is deprecated and will result in an "
                  f"error in a future release. To retain the behavior and silence this warning, please use "
                  f"dropout instead. Note that dropout{n}d exists to provide channel-wise dropout on inputs with {n} "
                  f"spatial dimensions, a channel dimension, and an optional batch dimension (i.e. {n + 1}D or "
                  f"{n + 2}D inputs).", stacklevel=3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) input (``torch.nn.functional.dropout2d``). As PyTorch, a
    3-D input is taken as (N, C, L) with a warning, other ranks warn and use dims 0, 1 as (N, C)."""
    _check_dropout_p(p)
    _check_tensor("dropout2d", input)
    d = input.dim()
    if d not in (3, 4):
        _warn_deprecated_rank(2, d)
    if d == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _dropout_impl(input, p, training, inplace, feature=2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) input
    (``torch.nn.functional.dropout3d``); other ranks warn, as PyTorch."""
    _check_dropout_p(p)
    _check_tensor("dropout3d", input)
    d = input.dim()
    if d not in (4, 5):
        _warn_deprecated_rank(3, d)
    return _dropout_impl(input, p, training, inplace, feature=2 if d == 5 else 1)
