"""Autograd Functions and public forms of the losses (``torch.nn.functional`` names, signatures,
defaults, shapes and error messages).

Kernels (csrc/ops/loss.*):
- cross_entropy / nll_loss: fused kernels over the (N, C, S) layout, S the product of the spatial
  dims, so K-dimensional input (N, C, d1, ..., dk) needs no transpose copy: the class axis is read
  with stride S. Class weights, ignore_index, label smoothing, probability targets and PyTorch's
  weighted 'mean' (divided by the total weight of the non-ignored targets) are in the kernels.
- mse_loss: its own kernel; l1, smooth_l1, huber, binary_cross_entropy(_with_logits), kl_div and
  soft_margin: one pointwise-loss kernel family (``_C.pointwise_loss_forward/backward``) fusing the
  elementwise loss with the reduction. Operands are broadcast here (``expand``, differentiable)
  before the call, as PyTorch's Python layer does.
- margin_ranking, hinge_embedding, cosine_embedding, gaussian_nll and poisson_nll are compositions
  of existing differentiable cnnkit ops (noted at each), so they run on CPU and CUDA alike.
Each Function's backward *writes* fresh gradient tensors.
"""
from __future__ import annotations

import math
import warnings

from .. import _C
from ..autograd import Function
from ..tensor import _wrap, where
from ._checks import check_tensor

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "margin_ranking_loss",
    "hinge_embedding_loss", "soft_margin_loss", "cosine_embedding_loss", "gaussian_nll_loss",
    "poisson_nll_loss",
]

# torch's scalar-type names, used in its error messages
_TORCH_DTYPE = {"float32": "Float", "float64": "Double", "int64": "Long", "uint8": "Byte", "bool": "Bool",
                "int32": "Int", "int16": "Short", "int8": "Char", "float16": "Half"}


def _tname(dtype):
    return _TORCH_DTYPE.get(dtype.name, dtype.name)


_check_tensor = check_tensor


def _legacy_reduction(size_average, reduce, emit_warning=True):
    """torch's _Reduction.legacy_get_string: size_average/reduce mapped to a reduction string."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if (size_average and reduce) else ("sum" if reduce else "none")
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      UserWarning, stacklevel=3)
    return ret


def _reduction(size_average, reduce, reduction):
    """The reduction string of a functional loss (legacy arguments win, with torch's warning); validated."""
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    return _check_reduction(reduction)


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    """PyTorch's apply_loss_reduction for the composed losses."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _float_pair(input, target):
    """input and target in one floating dtype (torch's type promotion for the floating losses)."""
    if input.dtype == target.dtype:
        return input, target
    if input.dtype.is_floating_point and target.dtype.is_floating_point:
        wide = input.dtype if input.dtype.itemsize >= target.dtype.itemsize else target.dtype
        return input.to(wide), target.to(wide)
    if input.dtype.is_floating_point:
        return input, target.to(input.dtype)
    return input.to(target.dtype), target


def _broadcast_shape(a, b):
    """The broadcast of shapes a and b, with PyTorch's RuntimeError when they do not broadcast."""
    a, b = list(a), list(b)
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + a, [1] * (n - len(b)) + b
    out = []
    for d, (x, y) in enumerate(zip(a, b)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                               f"non-singleton dimension {d}")
        out.append(y if x == 1 else x)
    return out


def _broadcast(*ts):
    """torch.broadcast_tensors for Tensors (None passes through); expand is differentiable."""
    shape = None
    for t in ts:
        if t is not None:
            shape = list(t.shape) if shape is None else _broadcast_shape(shape, t.shape)
    return tuple(None if t is None or list(t.shape) == shape else t.expand(tuple(shape)) for t in ts)


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# cross_entropy / nll_loss
# ---------------------------------------------------------------------------------------------
def _check_class_loss(name, input, target, weight, ignore_index, label_smoothing=0.0):
    """PyTorch's checks of cross_entropy / nll_loss, with its messages; returns the target to pass on
    (uint8 class targets become int64; a (1,) target of a (C,) input becomes 0-d)."""
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"{name}" not implemented for \'{_tname(input.dtype)}\'')
    n_cls = input.shape[1] if input.dim() > 1 else input.shape[0]
    if not (0.0 <= label_smoothing <= 1.0):
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if name == "cross_entropy" and tuple(target.shape) == tuple(input.shape):  # class probabilities
        if not target.dtype.is_floating_point:
            raise RuntimeError(f"Expected floating point type for target with class probabilities, "
                               f"got {_tname(target.dtype)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if weight is not None and (weight.dim() != 1 or weight.shape[0] != n_cls):
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {n_cls} classes or "
                               f"no classes but got weight tensor of shape: {list(weight.shape)}")
        _check_weight_dtype(input, weight)
        return target
    if target.dtype.name == "uint8":
        target = target.long()
    elif target.dtype.name != "int64":
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_tname(target.dtype)}")
    ts, xs = list(target.shape), list(input.shape)
    if input.dim() != 1 and (target.dim() == 0 or xs[0] != ts[0]):
        raise ValueError(f"Expected input batch_size ({xs[0]}) to match target batch_size "
                         f"({ts[0] if ts else 0}).")
    if input.dim() <= 2:
        if target.dim() > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if input.dim() == 1 and target.dim() == 1:
            if ts[0] != 1:
                raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {ts[0]}")
            target = target.reshape(())
    elif input.dim() == 4:
        if target.dim() != 3:
            raise RuntimeError(f"only batches of spatial targets supported (3D tensors) but got targets of "
                               f"dimension: {target.dim()}")
        if ts[1:] != xs[2:]:
            raise RuntimeError(f"size mismatch (got input: {xs} , target: {ts}")
    elif ts != [xs[0]] + xs[2:]:
        raise RuntimeError(f"Expected target size {[xs[0]] + xs[2:]}, got {ts}")
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != n_cls):
        raise RuntimeError(f"weight tensor should be defined either for all {n_cls} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")
    _check_weight_dtype(input, weight)
    return target


def _check_weight_dtype(input, weight):
    if weight is not None and weight.dtype != input.dtype:
        raise RuntimeError(f"expected scalar type {_tname(input.dtype)} but found {_tname(weight.dtype)}")


class CrossEntropyFn(Function):
    """Fused log_softmax + NLL. Saves the log-probabilities (what the backward needs)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        wt = None if weight is None else weight._t
        loss, logp = _C.cross_entropy_forward(x._t, target._t, wt, ignore_index, reduction, label_smoothing)
        logp = _wrap(logp)
        ctx.args = (ignore_index, reduction, label_smoothing)
        ctx.save_for_backward(logp, target, weight)
        return _wrap(loss)

    @staticmethod
    def backward(ctx, dloss):
        logp, target, weight = ctx.saved_tensors
        ignore_index, reduction, ls = ctx.args
        wt = None if weight is None else weight._t
        dx = None
        if ctx.needs_input_grad[0]:
            dx = _wrap(_C.cross_entropy_backward(dloss._t, logp._t, target._t, wt, ignore_index, reduction, ls))
        dtarget = None
        if ctx.needs_input_grad[1]:  # probability targets: d loss / d target = -g * w * logp * (1 - ls)
            dtarget = _prob_target_grad(dloss, logp, weight, reduction, ls).to(target.dtype)
        return dx, dtarget, None, None, None, None


def _prob_target_grad(dloss, logp, weight, reduction, ls):
    cdim = 1 if logp.dim() > 1 else 0
    g = dloss
    if reduction == "none" and logp.dim() > 1:
        g = g.unsqueeze(1)
    elif reduction == "mean":
        n_cls = logp.shape[cdim]
        g = g / (logp.numel() // max(n_cls, 1))
    grad = -(g * logp)
    if weight is not None:
        shape = [1] * logp.dim()
        shape[cdim] = weight.shape[0]
        grad = grad * weight.reshape(shape)
    return grad * (1.0 - ls) if ls else grad


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy of unnormalised scores ``input`` (N, C), (N, C, d1, ..., dk) or (C,) against int64
    class indices (N,), (N, d1, ..., dk) or () or class probabilities of the input's shape
    (``torch.nn.functional.cross_entropy``)."""
    _check_tensor("cross_entropy", input)
    _check_tensor("cross_entropy", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    target = _check_class_loss("cross_entropy", input, target, weight, int(ignore_index), float(label_smoothing))
    return CrossEntropyFn.apply(input, target, weight, int(ignore_index), reduction, float(label_smoothing))


class NLLLossFn(Function):
    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction):
        wt = None if weight is None else weight._t
        loss, total_weight = _C.nll_loss_forward(logp._t, target._t, wt, ignore_index, reduction)
        ctx.args = (list(logp.shape), ignore_index, reduction, total_weight)
        ctx.save_for_backward(target, weight)
        return _wrap(loss)

    @staticmethod
    def backward(ctx, dloss):
        target, weight = ctx.saved_tensors
        shape, ignore_index, reduction, total_weight = ctx.args
        wt = None if weight is None else weight._t
        dx = _C.nll_loss_backward(dloss._t, shape, target._t, wt, ignore_index, reduction, total_weight)
        return _wrap(dx), None, None, None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C), (N, C, d1, ..., dk) or (C,) at int64
    class indices ``target`` (``torch.nn.functional.nll_loss``)."""
    _check_tensor("nll_loss", input)
    _check_tensor("nll_loss", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    target = _check_class_loss("nll_loss", input, target, weight, int(ignore_index))
    return NLLLossFn.apply(input, target, weight, int(ignore_index), reduction)


# ---------------------------------------------------------------------------------------------
# mse and the pointwise-loss kernel family
# ---------------------------------------------------------------------------------------------
class MSELossFn(Function):
    @staticmethod
    def forward(ctx, x, target, reduction):
        ctx.reduction = reduction
        ctx.save_for_backward(x, target)
        return _wrap(_C.mse_loss_forward(x._t, target._t, reduction))

    @staticmethod
    def backward(ctx, dloss):
        x, target = ctx.saved_tensors
        dx, dt = _C.mse_loss_backward(dloss._t, x._t, target._t, ctx.reduction)
        return (_wrap(dx) if ctx.needs_input_grad[0] else None,
                _wrap(dt) if ctx.needs_input_grad[1] else None, None)


class PointwiseLossFn(Function):
    """One elementwise loss of the _C pointwise family (op: 'l1', 'smooth_l1', 'huber', 'bce',
    'bce_with_logits', 'kl_div', 'kl_div_log_target', 'soft_margin'); operands of one shape."""

    @staticmethod
    def forward(ctx, op, x, target, weight, pos_weight, reduction, param):
        ctx.args = (op, reduction, param)
        ctx.save_for_backward(x, target, weight, pos_weight)
        wt = None if weight is None else weight._t
        pw = None if pos_weight is None else pos_weight._t
        return _wrap(_C.pointwise_loss_forward(op, x._t, target._t, wt, pw, reduction, param))

    @staticmethod
    def backward(ctx, dloss):
        x, target, weight, pos_weight = ctx.saved_tensors
        op, reduction, param = ctx.args
        wt = None if weight is None else weight._t
        pw = None if pos_weight is None else pos_weight._t
        dx, dt = _C.pointwise_loss_backward(op, dloss._t, x._t, target._t, wt, pw, reduction, param,
                                            bool(ctx.needs_input_grad[2]))
        return (None, _wrap(dx) if ctx.needs_input_grad[1] else None, None if dt is None else _wrap(dt),
                None, None, None, None)


def _pointwise(op, input, target, reduction, weight=None, pos_weight=None, param=0.0):
    return PointwiseLossFn.apply(op, input, target, weight, pos_weight, reduction, float(param))


def _weighted_elementwise(loss, weight, reduction, mean_by_weight):
    """torch's weighted l1/mse/huber (Python compositions there too): loss * weight, then 'mean' is
    sum / sum(weight) (l1, mse) or the plain mean (huber)."""
    w = loss * weight
    if reduction == "none":
        return w
    if reduction == "sum":
        return w.sum()
    return w.sum() / weight.sum() if mean_by_weight else w.mean()


def _regression(name, op, input, target, size_average, reduce, reduction, weight, param=0.0,
                mean_by_weight=True):
    _check_tensor(name, input)
    _check_tensor(name, target, "target")
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    input, target = _float_pair(input, target)
    x, t = _broadcast(input, target)
    x = input if x is None else x
    t = target if t is None else t
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    if weight is None:
        if op == "mse":
            return MSELossFn.apply(x, t, reduction)
        return _pointwise(op, x, t, reduction, param=param)
    if op == "mse":
        elem = MSELossFn.apply(x, t, "none")
    else:
        elem = _pointwise(op, x, t, "none", param=param)
    return _weighted_elementwise(elem, weight, reduction, mean_by_weight)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (``torch.nn.functional.mse_loss``); target broadcasts to the input with
    PyTorch's UserWarning when their sizes differ."""
    return _regression("mse_loss", "mse", input, target, size_average, reduce, reduction, weight)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error (``torch.nn.functional.l1_loss``)."""
    return _regression("l1_loss", "l1", input, target, size_average, reduce, reduction, weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is l1_loss
    (``torch.nn.functional.smooth_l1_loss``)."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    op = "l1" if beta == 0.0 else "smooth_l1"
    return _regression("smooth_l1_loss", op, input, target, size_average, reduce, reduction, None, beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (``torch.nn.functional.huber_loss``)."""
    if not delta > 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _regression("huber_loss", "huber", input, target, None, None, reduction, weight, delta,
                       mean_by_weight=False)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped at -100 as PyTorch does; input and target
    must lie in [0, 1] (``torch.nn.functional.binary_cross_entropy``)."""
    _check_tensor("binary_cross_entropy", input)
    _check_tensor("binary_cross_entropy", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input size "
                         f"({input.size()}) is deprecated. Please ensure they have the same size.")
    input, target = _float_pair(input, target)
    if weight is not None:
        weight = _broadcast_weight(weight, input)
    return _pointwise("bce", input, target, reduction, weight=weight)


def _broadcast_weight(weight, input):
    """weight broadcast to the input's shape, in the input's dtype (detached: no gradient to weights)."""
    w = weight.detach().to(input.dtype)
    if tuple(w.shape) != tuple(input.shape):
        shape = tuple(_broadcast_shape(w.shape, input.shape))
        if shape != tuple(input.shape):
            raise RuntimeError(f"weight of shape {list(weight.shape)} does not broadcast to the input's shape "
                               f"{list(input.shape)}")
        w = w.expand(shape)
    return w


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in the stable form w ((1 - y) x - (1 + (pw - 1) y) log_sigmoid(x))
    (``torch.nn.functional.binary_cross_entropy_with_logits``); pos_weight broadcasts over the last dim."""
    _check_tensor("binary_cross_entropy_with_logits", input)
    _check_tensor("binary_cross_entropy_with_logits", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    input, target = _float_pair(input, target)
    w = None if weight is None else _broadcast_weight(weight, input)
    pw = None if pos_weight is None else _broadcast_weight(pos_weight, input)
    return _pointwise("bce_with_logits", input, target, reduction, weight=w, pos_weight=pw)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence of log-probabilities ``input`` from ``target``: xlogy(t, t) - t x, or
    exp(t) (t - x) with log_target; 'batchmean' divides the sum by the batch size
    (``torch.nn.functional.kl_div``)."""
    _check_tensor("kl_div", input)
    _check_tensor("kl_div", target, "target")
    if size_average is not None or reduce is not None:
        red = _legacy_reduction(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          UserWarning, stacklevel=2)
        if reduction == "batchmean":
            red = "sum"
        else:
            red = _check_reduction(reduction)
    input, target = _float_pair(input, target)
    x, t = _broadcast(input, target)
    x = input if x is None else x
    t = target if t is None else t
    out = _pointwise("kl_div_log_target" if log_target else "kl_div", x, t, red)
    if reduction == "batchmean" and input.dim() != 0:
        out = out / input.shape[0]
    return out


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x)) (``torch.nn.functional.soft_margin_loss``); not differentiable in target."""
    _check_tensor("soft_margin_loss", input)
    _check_tensor("soft_margin_loss", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    if target.requires_grad:
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect to argument "
                           "'target'. This input cannot have requires_grad True.")
    input, target = _float_pair(input, target)
    x, t = _broadcast(input, target)
    return _pointwise("soft_margin", input if x is None else x, target if t is None else t, reduction)


# ---------------------------------------------------------------------------------------------
# composed losses (existing differentiable cnnkit ops; CPU and CUDA alike)
# ---------------------------------------------------------------------------------------------
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -y (x1 - x2) + margin) (``torch.nn.functional.margin_ranking_loss``). Composition:
    sub, mul, add, clamp_min and the reduction."""
    for x, what in ((input1, "input1"), (input2, "input2"), (target, "target")):
        _check_tensor("margin_ranking_loss", x, what)
    reduction = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where y == 1, max(0, margin - x) where y == -1 (both terms where y is neither)
    (``torch.nn.functional.hinge_embedding_loss``). Composition: clamp_min, where and the reduction."""
    _check_tensor("hinge_embedding_loss", input)
    _check_tensor("hinge_embedding_loss", target, "target")
    reduction = _reduction(size_average, reduce, reduction)
    margin_clamp = (margin - input).clamp_min(0)
    out_margin = where(target != 1, margin_clamp, 0.0)
    out_self = where(target != -1, input, 0.0)
    return _reduce(out_margin + out_self, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where y == 1, max(0, cos - margin) where y == -1, cos computed as PyTorch does
    with 1e-12 added to each squared norm (``torch.nn.functional.cosine_embedding_loss``).
    Composition: mul, sum over the feature dim, sqrt, where and the reduction."""
    for x, what in ((input1, "input1"), (input2, "input2"), (target, "target")):
        _check_tensor("cosine_embedding_loss", x, what)
    reduction = _reduction(size_average, reduce, reduction)
    td = target.dim()
    if td not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if td == 1 and (input1.dim() != 2 or input2.dim() != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    if td == 0 and (input1.dim() != 1 or input2.dim() != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    eps = 1e-12
    prod_sum = (input1 * input2).sum(td)
    mag1 = (input1 * input1).sum(td) + eps
    mag2 = (input2 * input2).sum(td) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    out = where(target == 1, 1 - cos, 0.0) + where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(out, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log max(var, eps) + (x - y)^2 / max(var, eps)) (+ 0.5 log 2 pi when full); var of the input's
    shape, one dim short, or with one broadcast dim (``torch.nn.functional.gaussian_nll_loss``).
    Composition: log, pow, div and the reduction; the clamp passes gradients through as PyTorch's
    no-grad clamp_ does."""
    _check_tensor("gaussian_nll_loss", input)
    _check_tensor("gaussian_nll_loss", target, "target")
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        from ..tensor import full as _full

        var = _full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif input.dim() == var.dim() and sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(x) - y x (log_input) or x - y log(x + eps), plus Stirling's term
    y log y - y + 0.5 log(2 pi y) where y > 1 when full (``torch.nn.functional.poisson_nll_loss``).
    Composition: exp, log, mul, where and the reduction."""
    _check_tensor("poisson_nll_loss", input)
    _check_tensor("poisson_nll_loss", target, "target")
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        # where() keeps log's argument at 1 for y <= 1, so no NaN reaches the masked-out gradient
        safe = where(target > 1, target, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)
