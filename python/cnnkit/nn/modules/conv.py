"""nn.Conv2d: 2-D convolution layer with PyTorch's constructor, parameter shapes, init and repr.

weight (out_channels, in_channels // groups, kH, kW), bias (out_channels) or None. forward calls
F.conv2d. Only padding_mode='zeros' is supported: 'reflect', 'replicate' and 'circular' raise a
ValueError (cnnkit has no padding kernels). padding may be an int, a pair, 'valid' or 'same' (stride 1).
"""
import math

from ... import empty
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

__all__ = ["Conv2d"]


def _pair(x):
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"Conv2d: expected an int or a pair, got {x!r}")
        return tuple(x)
    return (x, x)


class Conv2d(Module):
    """Applies a 2-D convolution over an (N, C_in, H, W) input."""

    __constants__ = ["stride", "padding", "dilation", "groups", "padding_mode", "output_padding",
                     "in_channels", "out_channels", "kernel_size"]

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel_size, stride, dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        valid_padding_strings = {"same", "valid"}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _pair(padding)
        valid_padding_modes = {"zeros", "reflect", "replicate", "circular"}
        if padding_mode not in valid_padding_modes:
            raise ValueError(
                f"padding_mode must be one of {valid_padding_modes}, but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: padding_mode='{padding_mode}' is not supported by cnnkit; only 'zeros' is supported")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        factory = {"device": device, "dtype": dtype}
        self.weight = Parameter(empty((out_channels, in_channels // groups, *kernel_size), **factory))
        if bias:
            self.bias = Parameter(empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _conv_forward(self, input, weight, bias):
        padding = self.padding
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            # Total padding d*(k-1) per dim; the odd extra row/column goes at the bottom/right, as
            # PyTorch does, by padding the input once and convolving with the symmetric part.
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            padding = tuple(t // 2 for t in totals)
            extra_h, extra_w = (t % 2 for t in totals)
            if extra_h or extra_w:
                input = F.pad(input, [0, extra_w, 0, extra_h])
        return F.conv2d(input, weight, bias, self.stride, padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)
