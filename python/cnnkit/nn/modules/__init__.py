"""The layer classes of cnnkit.nn (each file mirrors the matching torch/nn/modules file)."""
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .activation import (
    CELU, ELU, GELU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish, PReLU, ReLU6, SiLU,
    Softmax2d, Softmin, Softplus, Softshrink, Softsign, Tanhshrink, Threshold,
)
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Sequential", "ModuleList", "ModuleDict", "Conv2d", "Linear", "Identity", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Dropout",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
]
__all__ += [
    "ELU", "CELU", "SELU", "GELU", "SiLU", "Softplus", "Hardtanh", "ReLU6", "PReLU", "Hardswish", "Hardsigmoid",
    "Mish", "Softmax2d", "Softmin", "LogSigmoid", "Softsign", "Tanhshrink", "Threshold", "Hardshrink", "Softshrink",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
]
