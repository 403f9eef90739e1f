"""Autograd Function and the public ``max_unpool2d`` (``torch.nn.functional.max_unpool2d``): the
partial inverse of ``max_pool2d(..., return_indices=True)``. Each input value is placed at its
flat h*W+w index of a zero plane of the output size (``_C.max_unpool2d_forward``); the backward
gathers the output gradient at the same indices (``_C.max_unpool2d_backward``, which *writes* a
fresh gradient)."""
from __future__ import annotations

from .. import _C
from ..autograd import Function
from ..tensor import _wrap
from ._checks import check_tensor

__all__ = ["max_unpool2d"]


class MaxUnpool2dFn(Function):
    @staticmethod
    def forward(ctx, x, indices, output_size):
        ctx.save_for_backward(indices)
        return _wrap(_C.max_unpool2d_forward(x._t, indices._t, output_size))

    @staticmethod
    def backward(ctx, dout):
        (indices,) = ctx.saved_tensors
        return _wrap(_C.max_unpool2d_backward(dout._t, indices._t)), None, None


def _pair(v):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(e) for e in v)
    return (v[0], v[0]) if len(v) == 1 else v


def _unpool_output_size(input, kernel_size, stride, padding, output_size):
    """torch's rule: the default (in - 1) * stride + kernel - 2 * padding per dim, or a user size
    (2 or 4 entries) within stride of it."""
    input_size = input.size()
    default_size = [(input_size[-len(kernel_size) + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d]
                    for d in range(len(kernel_size))]
    if output_size is None:
        ret = default_size
    else:
        if len(output_size) == len(kernel_size) + 2:
            output_size = output_size[2:]
        if len(output_size) != len(kernel_size):
            raise ValueError(f"output_size should be a sequence containing {len(kernel_size)} or "
                             f"{len(kernel_size) + 2} elements, but it has a length of '{len(output_size)}'")
        for d in range(len(kernel_size)):
            min_size = default_size[d] - stride[d]
            max_size = default_size[d] + stride[d]
            if not min_size < output_size[d] < max_size:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {min_size} and '
                                 f'{max_size})')
        ret = output_size
    for d in range(len(kernel_size)):
        if ret[d] < 0:
            raise ValueError("max_unpooling: output_size must contain non-negative spatial dimensions, but got "
                             f"output_size[{d}]={ret[d]}")
    return [int(v) for v in ret]


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of 2-D max pooling: zeros except the pooled values at their ``indices``
    (``torch.nn.functional.max_unpool2d``); (N, C, H, W) or (C, H, W) input."""
    check_tensor("max_unpool2d", input)
    check_tensor("max_unpool2d", indices, "indices")
    kernel_size = _pair(kernel_size)
    _stride = _pair(stride) if stride is not None else kernel_size
    padding = _pair(padding)
    size = _unpool_output_size(input, kernel_size, _stride, padding, output_size)
    return MaxUnpool2dFn.apply(input, indices, size)
