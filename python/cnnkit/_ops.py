"""Function forms of tensor methods (``cnnkit.add(a, b)``, ``cnnkit.sum(x, 1)``, ...), as in torch."""
from __future__ import annotations

import builtins

from . import autograd as _ag
from .tensor import Tensor, _binary, tensor
from .tensor import cat as _cat, stack as _stack, where as _where

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "pow", "neg", "negative", "exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "abs", "absolute", "sign",
    "sin", "cos", "floor", "ceil", "round", "trunc", "reciprocal", "square", "clamp", "clip", "maximum", "minimum",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "logical_xor", "isnan",
    "isinf", "isfinite", "sum", "mean", "var", "std", "prod", "max", "min", "amax", "amin", "argmax", "argmin",
    "all", "any", "norm", "count_nonzero", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "transpose",
    "swapaxes", "permute", "t", "narrow", "select", "chunk", "split", "unbind", "index_select", "gather",
    "masked_fill", "masked_select", "nonzero", "topk", "sort", "argsort", "equal", "allclose", "isclose", "clone",
    "matmul", "mm", "bmm", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "numel", "lerp", "broadcast_to",
    "detach", "conv2d",
    "cumsum", "cumprod", "msort", "flip", "fliplr", "flipud", "roll", "tril", "triu", "scatter", "scatter_add",
    "index_add", "index_fill", "index_copy", "masked_scatter", "diagonal", "diag", "trace", "dot", "vdot", "inner",
    "outer", "ger", "var_mean", "std_mean", "tile", "repeat_interleave", "sinh", "cosh", "tan", "asin", "acos",
    "atan", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "erf", "erfc",
    "atan2", "arctan2", "hypot", "einsum", "meshgrid", "cat", "concat", "concatenate", "stack", "where",
    "kthvalue", "median", "logsumexp", "take_along_dim",
]

_NOT_METHODS = ("matmul", "mm", "bmm", "floor_divide", "remainder", "numel", "conv2d", "einsum", "meshgrid", "cat",
                "concat", "concatenate", "stack", "where")


def _write_out(op, result, out, inputs):
    """torch's out= contract, shared by every function form that takes it: the result is computed
    without a graph, written into `out` (resized when its shape differs; a new storage when the
    element count differs), and `out` is returned. Tuple results take a tuple of outs."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{op}(): argument 'out' must be a tuple of {builtins.len(result)} Tensors")
        written = tuple(_write_out(op, r, o, inputs) for r, o in zip(result, out))
        return type(result)(*written) if hasattr(result, "_fields") else written
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out._t.device != result._t.device:
        raise RuntimeError(f"Expected out tensor to have device {result._t.device}, but got {out._t.device} instead")
    rd, od = result.dtype, out.dtype
    if rd._category > od._category:
        raise RuntimeError(f"result type {_torch_name(rd)} can't be cast to the desired output type {_torch_name(od)}")
    if tuple(out.shape) != tuple(result.shape):
        if out.numel() != 0:
            import warnings

            warnings.warn(f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
                          f"which does not match the required output shape {list(result.shape)}. This behavior is "
                          f"deprecated, and in a future PyTorch release outputs will not be resized unless they have "
                          f"zero elements. You can explicitly reuse an out tensor t by resizing it, inplace, to zero "
                          f"elements with t.resize_(0).", UserWarning, stacklevel=4)
        if out.numel() == result.numel() and out._t.is_contiguous():
            out._t = out._t.reshape(list(result.shape))
        else:
            from . import _C

            out._t = _C.empty(list(result.shape), out._t.dtype, out._t.device)
    out._t.copy_(result._t)
    return out


def _torch_name(dt):
    return {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "uint8": "Byte"}.get(
        dt.name, dt.name)


def _with_out(op, fn, out, inputs):
    if out is None:
        return fn()
    if _ag.is_grad_enabled() and builtins.any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, but "
                           f"one of the arguments requires grad.")
    with _ag.no_grad():
        result = fn()
    return _write_out(op, result, out, inputs)


def _method(name):
    def fn(input, *args, out=None, **kwargs):
        if not isinstance(input, Tensor):
            input = tensor(input)
        return _with_out(name, lambda: getattr(input, name)(*args, **kwargs), out, (input,) + args)

    fn.__name__ = name
    fn.__doc__ = f"``cnnkit.{name}(input, ...)`` is ``input.{name}(...)``."
    return fn


for _name in __all__:
    if _name not in _NOT_METHODS:
        globals()[_name] = _method(_name)


def floor_divide(input, other, *, out=None):
    return _with_out("floor_divide", lambda: _binary("floor_divide", input, other), out, (input, other))


def remainder(input, other, *, out=None):
    return _with_out("remainder", lambda: _binary("remainder", input, other), out, (input, other))


def numel(input):
    return input.numel()


def matmul(input, other, *, out=None):
    from .nn import functional as F

    return _with_out("matmul", lambda: F.matmul(input, other), out, (input, other))


def mm(input, mat2, *, out=None):
    from .nn import functional as F

    return _with_out("mm", lambda: F.mm(input, mat2), out, (input, mat2))


def bmm(input, mat2, *, out=None):
    from .nn import functional as F

    return _with_out("bmm", lambda: F.bmm(input, mat2), out, (input, mat2))


def cat(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    return _with_out("cat", lambda: _cat(tensors, dim), out, tensors)


concat = cat
concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    return _with_out("stack", lambda: _stack(tensors, dim), out, tensors)


def where(condition, input=None, other=None, *, out=None):
    return _with_out("where", lambda: _where(condition, input, other), out, (condition, input, other))


def einsum(equation, *operands):
    """``torch.einsum`` (see _functions/basic.einsum: pairwise bmm contractions)."""
    from ._functions.basic import einsum as _einsum

    return _einsum(equation, *operands)


def meshgrid(*tensors, indexing=None):
    """``torch.meshgrid``: 'ij' (the default, as torch's current behaviour) or 'xy' (first two
    outputs' dims swapped). Outputs are expanded views of the inputs (differentiable)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): expected Tensor arguments, got {type(t).__name__}")
        if t.dim() > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.dim()}D")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.shape[0] for t in ts]
    n = len(ts)
    grids = [t.reshape([1] * i + [-1] + [1] * (n - i - 1)).expand(shape) for i, t in enumerate(ts)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    from .nn import functional as F

    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _functional(name):
    """``cnnkit.<name>`` for the nn ops torch also exposes at the top level (``torch.conv_transpose2d``,
    ``torch.layer_norm``, ``torch.dropout``, ...): the same function as ``cnnkit.nn.functional.<name>``."""

    def fn(*args, **kwargs):
        from .nn import functional as F

        return getattr(F, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``cnnkit.{name}(...)`` is ``cnnkit.nn.functional.{name}(...)``."
    return fn


_FUNCTIONAL = ("conv1d", "conv_transpose1d", "conv_transpose2d", "layer_norm", "group_norm", "batch_norm",
               "instance_norm", "dropout", "alpha_dropout", "feature_alpha_dropout", "selu", "celu", "prelu",
               "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "hardshrink")
for _name in _FUNCTIONAL:
    globals()[_name] = _functional(_name)
__all__ += list(_FUNCTIONAL)
