"""The layer classes of cnnkit.nn (each file mirrors the matching torch/nn/modules file)."""
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .pooling import MaxUnpool2d
from .normalization import GroupNorm, LayerNorm, LocalResponseNorm
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "Sequential", "ModuleList", "ModuleDict", "Conv2d", "Linear", "Identity", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Dropout",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "MaxUnpool2d", "GroupNorm", "LayerNorm", "LocalResponseNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
]
