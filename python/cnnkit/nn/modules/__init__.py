"""The layer classes of cnnkit.nn (each file mirrors the matching torch/nn/modules file)."""
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .activation import (
    CELU, ELU, GELU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, SiLU,
    Softmax2d, Softmin, Softplus, Softshrink, Softsign, Tanhshrink, Threshold,
)
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .dropout import Dropout
from .dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                      ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                      ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss,
                   KLDivLoss, L1Loss, MarginRankingLoss, PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss)
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d, LazyConvTranspose1d,
                   LazyConvTranspose2d, LazyLinear, LazyModuleMixin, UninitializedBuffer, UninitializedParameter)
from .pooling import MaxUnpool2d
from .normalization import GroupNorm, LayerNorm, LocalResponseNorm
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "Sequential", "ModuleList", "ModuleDict", "Conv2d", "Linear", "Identity", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Dropout",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyModuleMixin",
    "UninitializedParameter", "UninitializedBuffer",
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "Conv1d", "ConvTranspose1d", "ConvTranspose2d",
    "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "MarginRankingLoss",
    "HingeEmbeddingLoss", "SoftMarginLoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "PoissonNLLLoss",
    "MaxUnpool2d", "GroupNorm", "LayerNorm", "LocalResponseNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
]
__all__ += [
    "ELU", "CELU", "SELU", "GELU", "SiLU", "Softplus", "Hardtanh", "ReLU6", "PReLU", "Hardswish", "Hardsigmoid",
    "Mish", "Softmax2d", "Softmin", "LogSigmoid", "Softsign", "Tanhshrink", "Threshold", "Hardshrink", "Softshrink",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
]
