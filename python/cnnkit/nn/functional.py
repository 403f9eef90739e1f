"""``cnnkit.nn.functional``: the stateless ops that layers are made of (``torch.nn.functional``).

The differentiable ops live beside their autograd Functions in ``cnnkit/_functions/``:
``conv`` (conv2d, linear, matmul), ``batchnorm`` (batch_norm), ``nn`` (pooling, activations, softmax, losses, dropout);
this module gathers them and adds the few that are compositions of other ops.
"""
from __future__ import annotations

from .._functions.activation import (
    celu,
    celu_,
    elu,
    elu_,
    gelu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    selu_,
    silu,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
    threshold_,
)
from .._functions.batchnorm import batch_norm
from .._functions.conv import bmm, conv2d, linear, matmul, mm
from .._functions.nn import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    avg_pool2d,
    cross_entropy,
    dropout,
    leaky_relu,
    leaky_relu_,
    log_softmax,
    max_pool2d,
    max_pool2d_with_indices,
    mse_loss,
    nll_loss,
    relu,
    relu_,
    sigmoid,
    softmax,
    tanh,
)
from .._functions.nn import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from ..tensor import zeros


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def one_hot(tensor, num_classes=-1):
    """int64 labels of shape (*) -> int64 one-hot of shape (*, num_classes)."""
    if tensor.dtype.name != "int64":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    if tensor.numel() and (int(tensor.min().item()) < 0 or int(tensor.max().item()) >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes." if int(tensor.min().item()) >= 0
                           else "Class values must be non-negative.")
    from ..tensor import arange

    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


def pad(input, pad, mode="constant", value=None):
    """Constant padding of the last len(pad)//2 dims (``F.pad``); other modes are not supported."""
    if mode != "constant":
        raise ValueError(f"cnnkit: F.pad supports mode='constant' only, got mode={mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.dim():
        raise ValueError("Padding length must be divisible by 2 and at most twice the number of dimensions of the input")
    shape = list(input.shape)
    index = [slice(None)] * input.dim()
    for i in range(len(pad) // 2):
        d = input.dim() - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo < 0 or hi < 0:
            raise ValueError("cnnkit: F.pad with negative padding is not supported")
        shape[d] += lo + hi
        index[d] = slice(lo, lo + input.shape[d])
    out = zeros(shape, dtype=input.dtype, device=input.device)
    if value:
        out.fill_(value)
    out[tuple(index)] = input
    return out
