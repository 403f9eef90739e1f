"""Autograd Functions and public forms of the activations beyond relu/leaky_relu/sigmoid/tanh
(which stay in ``_functions/nn.py``): ``torch.nn.functional`` names, signatures and defaults.

The pointwise ones share one Function over the parametrised ``_C.activation_forward/backward``
kernels (formulas: csrc/ops/activation_functors.h); its backward needs the forward's input, except
hardtanh/relu6 whose gradient mask is read from the output. In-place forms (``inplace=True``,
``elu_``, ...) compute out of place and write the result into the input (``_inplace_result``); when
the input takes part in a graph, the Function keeps a copy of the original input for the backward
(the write would overwrite it). softmin is a composition: softmax of the negated input.
"""
from __future__ import annotations

from .. import _C
from ..autograd import Function, is_grad_enabled
from ..tensor import _wrap
from .nn import _check_tensor, _inplace_result, _softmax

__all__ = [
    "elu", "elu_", "celu", "celu_", "selu", "selu_", "gelu", "silu", "softplus", "hardtanh", "hardtanh_",
    "relu6", "prelu", "hardswish", "hardsigmoid", "mish", "softmin", "logsigmoid", "softsign", "tanhshrink",
    "threshold", "threshold_", "hardshrink", "softshrink",
]

# SELU's constants (Klambauer et al., "Self-Normalizing Neural Networks", 2017), as PyTorch's.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class PointwiseActFn(Function):
    """out = op(x; params). Saves x (a copy when ``clone_input``: the in-place form overwrites x),
    or the output when ``from_output`` (hardtanh)."""

    @staticmethod
    def forward(ctx, x, op, params, clone_input, from_output):
        ctx.op, ctx.params = op, params
        out = _wrap(_C.activation_forward(op, x._t, params))
        if from_output:
            ctx.save_for_backward(out)
        else:
            ctx.save_for_backward(_wrap(x._t.clone()) if clone_input else x)
        return out

    @staticmethod
    def backward(ctx, dout):
        (saved,) = ctx.saved_tensors
        return _wrap(_C.activation_backward(ctx.op, dout._t, saved._t, ctx.params)), None, None, None, None


def _act(name, input, op, params=(), inplace=False, from_output=False):
    _check_tensor(name, input)
    params = [float(p) for p in params]
    clone = bool(inplace) and not from_output and is_grad_enabled() and input.requires_grad
    out = PointwiseActFn.apply(input, op, params, clone, from_output)
    return _inplace_result(input, out) if inplace else out


def elu(input, alpha=1.0, inplace=False):
    """input if input > 0 else alpha * (exp(input) - 1) (``torch.nn.functional.elu``)."""
    return _act("elu", input, "elu", (alpha, 1.0, 1.0), inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (``torch.nn.functional.celu``)."""
    if float(alpha) == 0.0:
        raise RuntimeError("ZeroDivisionError")
    return _act("celu", input, "elu", (alpha, 1.0, 1.0 / float(alpha)), inplace)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))) with SELU's fixed alpha and scale."""
    return _act("selu", input, "elu", (_SELU_ALPHA * _SELU_SCALE, _SELU_SCALE, 1.0), inplace)


def selu_(input):
    return selu(input, inplace=True)


def gelu(input, approximate="none"):
    """x * Phi(x) (``approximate='none'``, the erf form) or its tanh approximation (``'tanh'``)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _act("gelu", input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input, inplace=False):
    """x * sigmoid(x) (``torch.nn.functional.silu``)."""
    return _act("silu", input, "silu", (), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    return _act("softplus", input, "softplus", (beta, threshold))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); the gradient is 0 at and beyond the limits (as PyTorch's)."""
    return _act("hardtanh", input, "hardtanh", (min_val, max_val), inplace, from_output=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """min(max(0, x), 6): hardtanh(x, 0, 6) (``torch.nn.functional.relu6``)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6 (``torch.nn.functional.hardswish``)."""
    return _act("hardswish", input, "hardswish", (), inplace)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6 (``torch.nn.functional.hardsigmoid``)."""
    return _act("hardsigmoid", input, "hardsigmoid", (), inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x)) (``torch.nn.functional.mish``)."""
    return _act("mish", input, "mish", (), inplace)


def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for large |x|."""
    return _act("logsigmoid", input, "logsigmoid")


def softsign(input):
    """x / (1 + |x|)."""
    return _act("softsign", input, "softsign")


def tanhshrink(input):
    """x - tanh(x)."""
    return _act("tanhshrink", input, "tanhshrink")


def threshold(input, threshold, value, inplace=False):
    """x if x > threshold else value (``torch.nn.functional.threshold``)."""
    return _act("threshold", input, "threshold", (threshold, value), inplace)


def threshold_(input, threshold, value):
    return _act("threshold", input, "threshold", (threshold, value), True)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return _act("hardshrink", input, "hardshrink", (lambd,))


def softshrink(input, lambd=0.5):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0; lambd must be >= 0."""
    if float(lambd) < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _act("softshrink", input, "softshrink", (lambd,))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input) along ``dim`` (``torch.nn.functional.softmin``); a composition of neg and softmax."""
    _check_tensor("softmin", input)
    return _softmax("softmin", -input, dim, dtype, False)


class PReLUFn(Function):
    """out = x > 0 ? x : weight[c] * x, c the channel (dim 1) or one weight for all."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return _wrap(_C.prelu_forward(x._t, weight._t))

    @staticmethod
    def backward(ctx, dout):
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dx, dw = _C.prelu_backward(dout._t, x._t, weight._t, need_x, need_w)
        return (_wrap(dx) if dx is not None else None), (_wrap(dw) if dw is not None else None)


def prelu(input, weight):
    """x if x > 0 else weight * x, ``weight`` (a scalar or one value per channel, dim 1) learnable."""
    _check_tensor("prelu", input)
    _check_tensor("prelu", weight, "weight")
    return PReLUFn.apply(input, weight)
