"""Function forms of tensor methods (``cnnkit.add(a, b)``, ``cnnkit.sum(x, 1)``, ...), as in torch."""
from __future__ import annotations

from .tensor import Tensor, _binary, tensor

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
]


def _method(name):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            input = tensor(input)
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``cnnkit.{name}(input, ...)`` is ``input.{name}(...)``."
    return fn


for _name in __all__:
    if _name not in ("matmul", "mm", "bmm", "floor_divide", "remainder", "numel", "conv2d"):
        globals()[_name] = _method(_name)


def floor_divide(input, other):
    return _binary("floor_divide", input, other)


def remainder(input, other):
    return _binary("remainder", input, other)


def numel(input):
    return input.numel()


def matmul(input, other):
    from .nn import functional as F

    return F.matmul(input, other)


def mm(input, mat2):
    from .nn import functional as F

    return F.mm(input, mat2)


def bmm(input, mat2):
    from .nn import functional as F

    return F.bmm(input, mat2)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    from .nn import functional as F

    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
