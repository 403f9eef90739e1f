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
from .._functions.conv import bmm, conv1d, conv2d, conv_transpose1d, conv_transpose2d, linear, matmul, mm
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
from .._functions.pad import pad
from .._functions.loss import (  # noqa: E402  the losses beyond cross_entropy / nll_loss / mse_loss
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
)
from .._functions.norm import group_norm, instance_norm, layer_norm, local_response_norm
from .._functions.upsample import interpolate, upsample, upsample_bilinear, upsample_nearest
from .._functions.unpool import max_unpool2d
from .._functions.grid_sample import affine_grid, grid_sample
from .._functions.nn import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout


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
