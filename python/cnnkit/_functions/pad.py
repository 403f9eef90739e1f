"""``pad`` (``torch.nn.functional.pad``) and its autograd Function.

The kernel (``_C.pad_forward`` / ``_C.pad_backward``, csrc/ops/pad.*) pads the last one to three dims in
one of torch's four modes; negative pads crop. Backward is a gather: each input element sums the
output gradient over the positions that copied it (its own, and the mirrored / replicated / wrapped
ones at the edges), written (=) into a fresh tensor.

Constant padding of more than three dims (torch allows any number) is composed here: the last three
dims are padded first, then the earlier dims two at a time, each call seeing the already padded
trailing dims merged into one unpadded dim (a reshape view), so every call stays differentiable.
"""
from __future__ import annotations

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


class PadFn(Function):
    """out = pad(x, pad, mode, value) over the last len(pad)//2 (<= 3) dims of x."""

    @staticmethod
    def forward(ctx, x, pad, mode, value):
        ctx.shape = list(x.shape)
        ctx.pad = pad
        ctx.mode = mode
        return _wrap(_C.pad_forward(x._t, pad, mode, value))

    @staticmethod
    def backward(ctx, g):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        return _wrap(_C.pad_backward(g._t, ctx.shape, ctx.pad, ctx.mode)), None, None, None


def _pad_list(pad):
    if isinstance(pad, Tensor) or not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad(): argument 'pad' (position 2) must be tuple of ints, not {type(pad).__name__}")
    out = []
    for i, v in enumerate(pad):
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise TypeError(f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type "
                            f"{type(v).__name__} at pos {i}")
        out.append(int(v.__index__()))
    return out


def pad(input, pad, mode="constant", value=None):
    """Pads ``input``: ``pad = (left, right, top, bottom, front, back)`` from the last dim backwards.

    mode 'constant' (any number of dims, fill ``value``, default 0), 'reflect', 'replicate' or
    'circular' (the last 1, 2 or 3 dims of a 2-D/3-D, 3-D/4-D or 4-D/5-D input). Negative pads crop.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pad(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    pad = _pad_list(pad)
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    nd = input.dim()
    if len(pad) // 2 > nd:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {nd}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        k = len(pad) // 2
        if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
            raise NotImplementedError(f"Padding size {len(pad)} is not supported for {nd}D input tensor.")
        return PadFn.apply(input, pad, mode, 0.0)
    value = 0.0 if value is None else value
    if len(pad) == 0:
        return input.clone()
    if len(pad) <= 6:
        return PadFn.apply(input, pad, mode, value)
    out = PadFn.apply(input, pad[:6], mode, value)
    done = 3  # trailing dims already padded
    while done < len(pad) // 2:
        step = min(2, len(pad) // 2 - done)
        lead = list(out.shape[:nd - done - step])
        mid = list(out.shape[nd - done - step:nd - done])
        merged = 1
        for s in out.shape[nd - done:]:
            merged *= s
        tail = list(out.shape[nd - done:])
        view = out.reshape(*lead, *mid, merged)
        step_pad = [0, 0] + pad[2 * done:2 * (done + step)]
        out = PadFn.apply(view, step_pad, mode, value)
        out = out.reshape(*out.shape[:-1], *tail)
        done += step
    return out
