"""Autograd Functions and PyTorch-signature functions for convolution, linear layers and matrix
products: ``conv2d``, ``conv1d``, ``conv_transpose2d``, ``conv_transpose1d``, ``linear``, ``matmul``,
``mm``, ``bmm``.

Each Function's forward calls one ``_C`` kernel and saves only what its backward needs; backward
calls the matching ``_C`` backward kernel (or gemm with transpose flags, which reads transposed
operands in place instead of copying them). Argument normalisation that PyTorch does in Python or
in its dispatcher (int-or-tuple arguments, ``padding='same'``, unbatched inputs, matmul's rank
rules and batch broadcasting) happens in the public functions, with torch's error messages where
torch raises them before any kernel runs; shape/dtype errors found by the kernels' bindings are
ValueError/TypeError naming the op and the shapes.

Backward returns fresh gradient tensors (the kernels write them, =); accumulating into ``.grad``
is the autograd engine's job.
"""
from __future__ import annotations

import math

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "linear", "matmul", "mm", "bmm"]


def _opt(ct):
    return None if ct is None else _wrap(ct)


# ---------------------------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------------------------
class Conv2dFn(Function):
    """out = conv2d(x, w, b): x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) or None."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.args = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        ctx.save_for_backward(x, w)
        return _wrap(_C.conv2d_forward(x._t, w._t, None if b is None else b._t, stride, padding, dilation, groups))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        dx, dw, db = _C.conv2d_backward(g._t, x._t, w._t, *ctx.args, (nx, nw, nb and ctx.has_bias))
        return _opt(dx), _opt(dw), _opt(db), None, None, None, None


def _int_tuple(name, value, n=2, op="conv2d"):
    """torch's IntArrayRef for an n-D convolution: an int, or a sequence of 1 or n ints."""
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)) and not hasattr(value, "__index__"):
        raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, not {type(value).__name__}")
    if not isinstance(value, (tuple, list)):
        v = int(value.__index__())
        return (v,) * n
    vals = []
    for v in value:
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, but found element of type "
                            f"{type(v).__name__}")
        vals.append(int(v.__index__()))
    if len(vals) == 1:
        return (vals[0],) * n
    if len(vals) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={vals}")
    return tuple(vals)


def _groups_arg(op, groups):
    if isinstance(groups, bool) or not hasattr(groups, "__index__"):
        raise TypeError(f"{op}(): argument 'groups' must be int, not {type(groups).__name__}")
    groups = int(groups.__index__())
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    return groups


def _check_channels(x, weight, groups, transposed):
    """torch's messages for weights that do not divide into groups and inputs with the wrong channels
    (x batched, 4-D; weight 4-D; the binding checks everything else again). An input with images of 0 pixels
    (but a batch and channels) is an error in torch, not a padding-only result."""
    if x.dim() == 4 and x.shape[0] and x.shape[1] and not (x.shape[2] and x.shape[3]):
        raise RuntimeError(f"Only zero batch or zero channel inputs are supported, but got input shape: "
                           f"{list(x.shape)}")
    if weight.dim() != 4 or x.dim() != 4:
        return
    w = list(weight.shape)
    if w[0] % groups != 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but "
                           f"got weight of size [{w}] instead")
    expected = w[0] if transposed else w[1] * groups
    if x.shape[1] != expected:
        given = "transposed=1" if transposed else f"groups={groups}"
        raise RuntimeError(f"Given {given}, weight of size {w}, expected input{list(x.shape)} to have {expected} "
                           f"channels, but got {x.shape[1]} channels instead")


def _check_tensor_args(op, input, weight, bias):
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}(): expected input and weight to be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}(): argument 'bias' must be Tensor, not {type(bias).__name__}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (``torch.nn.functional.conv2d``).

    input (N, C, H, W) or unbatched (C, H, W); weight (OC, C/groups, KH, KW); bias (OC) or None.
    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (output size = input size;
    stride 1 only). With 'same' and an even effective kernel the extra row/column of padding goes at
    the bottom/right, as in torch: the kernel runs with one more row/column of symmetric padding and
    the first output row/column is dropped, which is the same thing. Depthwise convolutions
    (groups == C > 1) run the direct depthwise kernels, everything else im2col + GEMM.
    """
    _check_tensor_args("conv2d", input, weight, bias)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                           f"{list(input.shape)}")
    groups = _groups_arg("conv2d", groups)
    stride = _int_tuple("stride", stride)
    dilation = _int_tuple("dilation", dilation)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    _check_channels(x, weight, groups, transposed=False)
    crop = (0, 0)  # leading output rows / columns to drop (asymmetric 'same' padding)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            if weight.dim() != 4:
                raise ValueError(f"conv2d: expected weight to be 4-D, got {weight.dim()}-D with shape "
                                 f"{list(weight.shape)}")
            total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            padding = tuple((t + 1) // 2 for t in total)
            crop = tuple(t % 2 for t in total)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        padding = _int_tuple("padding", padding)
    out = Conv2dFn.apply(x, weight, bias, stride, padding, dilation, groups)
    if crop != (0, 0):
        out = out[:, :, crop[0]:, crop[1]:]
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation (``torch.nn.functional.conv1d``): input (N, C, L) or (C, L), weight
    (OC, C/groups, K). Composed: conv2d on a height-1 view ((N, C, 1, L), weight (OC, C/groups, 1, K))."""
    _check_tensor_args("conv1d", input, weight, bias)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
                           f"{list(input.shape)}")
    if weight.dim() != 3:
        raise RuntimeError(f"conv1d: expected weight to be 3-D, got {weight.dim()}-D with shape {list(weight.shape)}")
    stride = (1,) + _int_tuple("stride", stride, 1, "conv1d")
    dilation = (1,) + _int_tuple("dilation", dilation, 1, "conv1d")
    if not isinstance(padding, str):
        padding = (0,) + _int_tuple("padding", padding, 1, "conv1d")
    out = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, stride, padding, dilation, groups)
    return out.squeeze(-2)


# ---------------------------------------------------------------------------------------------
# conv_transpose2d
# ---------------------------------------------------------------------------------------------
class ConvTranspose2dFn(Function):
    """out = conv_transpose2d(x, w, b): x (N, C_in, H, W), w (C_in, C_out/groups, KH, KW), b (C_out) or None.

    The kernels reuse conv2d's: forward is conv2d's input gradient (GEMM W^T x, then col2im), the input
    gradient is conv2d's forward and the weight gradient conv2d's with the roles of x and dout exchanged."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, dilation, groups):
        ctx.args = (stride, padding, output_padding, dilation, groups)
        ctx.has_bias = b is not None
        ctx.save_for_backward(x, w)
        return _wrap(_C.conv_transpose2d_forward(x._t, w._t, None if b is None else b._t, stride, padding,
                                                 output_padding, dilation, groups))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        dx, dw, db = _C.conv_transpose2d_backward(g._t, x._t, w._t, *ctx.args, (nx, nw, nb and ctx.has_bias))
        return _opt(dx), _opt(dw), _opt(db), None, None, None, None, None


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (``torch.nn.functional.conv_transpose2d``), the adjoint of conv2d.

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_in, C_out/groups, KH, KW); bias (C_out) or
    None -> (N, C_out, OH, OW), OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1.
    output_padding must be smaller than the stride or the dilation (per dim), as in torch.
    """
    op = "conv_transpose2d"
    _check_tensor_args(op, input, weight, bias)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of "
                           f"size: {list(input.shape)}")
    groups = _groups_arg(op, groups)
    stride = _int_tuple("stride", stride, 2, op)
    padding = _int_tuple("padding", padding, 2, op)
    output_padding = _int_tuple("output_padding", output_padding, 2, op)
    dilation = _int_tuple("dilation", dilation, 2, op)
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got output_padding_height: "
            f"{output_padding[0]} output_padding_width: {output_padding[1]} stride_height: {stride[0]} stride_width: "
            f"{stride[1]} dilation_height: {dilation[0]} dilation_width: {dilation[1]}")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    _check_channels(x, weight, groups, transposed=True)
    if bias is not None and weight.dim() == 4 and (bias.dim() != 1 or bias.shape[0] != weight.shape[1] * groups):
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {weight.shape[1] * groups} elements, but got bias of size "
                           f"{list(bias.shape)} instead")
    out = ConvTranspose2dFn.apply(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution (``torch.nn.functional.conv_transpose1d``): input (N, C_in, L) or (C_in, L),
    weight (C_in, C_out/groups, K). Composed: conv_transpose2d on a height-1 view."""
    op = "conv_transpose1d"
    _check_tensor_args(op, input, weight, bias)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of "
                           f"size: {list(input.shape)}")
    if weight.dim() != 3:
        raise RuntimeError(f"conv_transpose1d: expected weight to be 3-D, got {weight.dim()}-D with shape "
                           f"{list(weight.shape)}")
    one = lambda name, v, fill: (fill,) + _int_tuple(name, v, 1, op)  # noqa: E731
    out = conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, one("stride", stride, 1),
                           one("padding", padding, 0), one("output_padding", output_padding, 0), groups,
                           one("dilation", dilation, 1))
    return out.squeeze(-2)


# ---------------------------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------------------------
class LinearFn(Function):
    """out = x @ w^T + b: x (N, IN), w (OUT, IN), b (OUT) or None."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.has_bias = b is not None
        ctx.save_for_backward(x, w)
        return _wrap(_C.linear_forward(x._t, w._t, None if b is None else b._t))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        dx, dw, db = _C.linear_backward(g._t, x._t, w._t, (nx, nw, nb and ctx.has_bias))
        return _opt(dx), _opt(dw), _opt(db)


def linear(input, weight, bias=None):
    """``torch.nn.functional.linear``: input (*, IN), weight (OUT, IN) (or (IN,)), bias (OUT) -> (*, OUT)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"linear(): expected input and weight to be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if input.dim() == 0 or weight.dim() == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are {input.dim()}D and "
                           f"{weight.dim()}D")
    if weight.dim() == 1:  # a single output feature without its own axis, as torch allows
        if bias is not None:  # torch 2.13 rejects this combination; so do we
            raise RuntimeError("mat2 must be a matrix, got 1-D tensor")
        return matmul(input, weight)
    if weight.dim() != 2:
        raise ValueError(f"linear: expected weight to be 1-D or 2-D, got {weight.dim()}-D with shape "
                         f"{list(weight.shape)}")
    lead = tuple(input.shape[:-1])
    x2 = input.reshape(-1, input.shape[-1]) if input.dim() != 2 else input
    out = LinearFn.apply(x2, weight, bias)
    return out if input.dim() == 2 else out.reshape(*lead, weight.shape[0])


# ---------------------------------------------------------------------------------------------
# matrix products
# ---------------------------------------------------------------------------------------------
class MmFn(Function):
    """out (M, N) = a (M, K) @ b (K, N)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _wrap(_C.gemm(a._t, b._t))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        da = _wrap(_C.gemm(g._t, b._t, False, True)) if na else None  # g @ b^T
        db = _wrap(_C.gemm(a._t, g._t, True, False)) if nb else None  # a^T @ g
        return da, db


class BmmFn(Function):
    """out (B, M, N) = a (B, M, K) @ b (B, K, N)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _wrap(_C.bmm(a._t, b._t))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        # Transposed views: the bmm binding reads them in place (transpose flag), no copy.
        da = _wrap(_C.bmm(g._t, b._t.transpose(1, 2))) if na else None
        db = _wrap(_C.bmm(a._t.transpose(1, 2), g._t)) if nb else None
        return da, db


def _check_tensors(op, a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}(): expected Tensor arguments, got {type(a).__name__} and {type(b).__name__}")
    if a.dtype is not b.dtype:
        raise TypeError(f"{op}: expected both operands to have the same dtype, got {a.dtype} and {b.dtype}")
    if not a.dtype.is_floating_point:
        raise TypeError(f"{op}: expected float32 or float64 operands, got {a.dtype}")


def _check_inner(op, a, b, k_a, k_b):
    if k_a != k_b:
        raise ValueError(f"{op}: shapes {list(a.shape)} and {list(b.shape)} cannot be multiplied "
                         f"({k_a} != {k_b})")


def mm(input, mat2):
    """``torch.mm``: (M, K) @ (K, N), no broadcasting."""
    _check_tensors("mm", input, mat2)
    if input.dim() != 2 or mat2.dim() != 2:
        raise ValueError(f"mm: expected 2-D tensors, got shapes {list(input.shape)} and {list(mat2.shape)}")
    _check_inner("mm", input, mat2, input.shape[1], mat2.shape[0])
    return MmFn.apply(input, mat2)


def bmm(input, mat2):
    """``torch.bmm``: (B, M, K) @ (B, K, N), no broadcasting."""
    _check_tensors("bmm", input, mat2)
    if input.dim() != 3 or mat2.dim() != 3:
        raise ValueError(f"bmm: expected 3-D tensors, got shapes {list(input.shape)} and {list(mat2.shape)}")
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expected the same batch size, got shapes {list(input.shape)} and "
                         f"{list(mat2.shape)}")
    _check_inner("bmm", input, mat2, input.shape[2], mat2.shape[1])
    return BmmFn.apply(input, mat2)


def matmul(input, other):
    """``torch.matmul``: dot product for 1-D @ 1-D, matrix product for 2-D @ 2-D, a 1-D operand
    promoted to a matrix (prepended / appended 1, removed afterwards), and batched products with
    the batch dimensions broadcast for higher ranks."""
    _check_tensors("matmul", input, other)
    da, db = input.dim(), other.dim()
    if da == 0 or db == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
    _check_inner("matmul", input, other, input.shape[-1], other.shape[0] if db == 1 else other.shape[-2])
    if da == 1 and db == 1:
        return MmFn.apply(input.unsqueeze(0), other.unsqueeze(1)).reshape(())
    if da <= 2 and db <= 2:
        a = input.unsqueeze(0) if da == 1 else input
        b = other.unsqueeze(1) if db == 1 else other
        out = MmFn.apply(a, b)
        if da == 1:
            out = out.squeeze(0)
        if db == 1:
            out = out.squeeze(-1)
        return out
    if db <= 2:
        # (..., M, K) @ (K, N) or (K,): fold the batch into the rows, one GEMM.
        b = other.unsqueeze(1) if db == 1 else other
        lead = tuple(input.shape[:-1])
        out = MmFn.apply(input.reshape(-1, input.shape[-1]), b)
        return out.reshape(*lead) if db == 1 else out.reshape(*lead, b.shape[1])
    # Batched: promote a 1-D input to (1, K), broadcast the batch dims, one bmm.
    a = input.unsqueeze(0) if da == 1 else input
    M, K = a.shape[-2:]
    N = other.shape[-1]
    try:
        batch = tuple(_C.broadcast_shapes(list(a.shape[:-2]), list(other.shape[:-2])))
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {list(input.shape)} and {list(other.shape)} do not "
                         f"broadcast") from None
    nb = math.prod(batch)
    if tuple(a.shape[:-2]) != batch:
        a = a.expand(*batch, M, K)
    b = other if tuple(other.shape[:-2]) == batch else other.expand(*batch, K, N)
    a3, b3 = a.reshape(nb, M, K), b.reshape(nb, K, N)
    out = BmmFn.apply(a3, b3).reshape(*batch, M, N)
    return out.squeeze(-2) if da == 1 else out
