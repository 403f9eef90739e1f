"""Autograd Function and the public ``interpolate`` / ``upsample`` / ``upsample_nearest`` /
``upsample_bilinear`` (``torch.nn.functional`` names, signatures, argument checks and messages).

Modes 'nearest', 'nearest-exact', 'linear' (3-D input) / 'bilinear' (4-D input) and 'bicubic'
(4-D), and ``antialias=True`` for 'bilinear' / 'bicubic', run the ``_C.upsample_forward`` /
``_C.upsample_backward`` kernels (csrc/ops/upsample*.*), whose source-index rules are PyTorch's: when ``scale_factor`` is given and ``recompute_scale_factor`` is not True, the
output size is floor(input_size * scale_factor) and the coordinate map uses 1/scale_factor (not
input_size/output_size); with ``size`` (or ``recompute_scale_factor=True``) it uses
input_size/output_size. 'area' is adaptive average pooling (as in torch). The backward *writes* a
fresh input gradient, gathering each input's share of the output gradient.
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


class UpsampleFn(Function):
    @staticmethod
    def forward(ctx, x, output_size, mode, align_corners, scales, antialias=False):
        ctx.args = (list(x.shape), output_size, mode, align_corners, scales, antialias)
        return _wrap(_C.upsample_forward(x._t, output_size, mode, align_corners, scales, antialias))

    @staticmethod
    def backward(ctx, dout):
        return _wrap(_C.upsample_backward(dout._t, *ctx.args)), None, None, None, None, None


def _is_integer(x):
    return isinstance(x, numbers.Integral)  # bool included, as torch's check accepts it


def _floor_size(n, s):
    v = n * s
    if not math.isfinite(v) or abs(v) >= 2.0 ** 63:
        raise RuntimeError("value cannot be converted to type int64_t without overflow")
    return math.floor(v)


_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Down/up-samples ``input`` (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``
    (``torch.nn.functional.interpolate``). Modes: 'nearest', 'nearest-exact', 'linear' (3-D),
    'bilinear' and 'bicubic' (4-D; Keys cubic with a = -0.75, border pixels repeated), 'area'.
    ``antialias=True`` (4-D 'bilinear' / 'bicubic', as torchvision's Resize uses) applies PIL's
    separable filters: when downsampling, the triangle / cubic (a = -0.5) filter is stretched by the
    scale so every input pixel contributes; upsampling equals the plain mode for 'bilinear' (bicubic
    keeps a = -0.5). All of these have autograd. 'trilinear', 'lanczos' and 5-D input are not
    supported by cnnkit (ValueError)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate(): argument 'input' must be Tensor, not {type(input).__name__}")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False

    dim = input.dim() - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    elif size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(input.shape[2:])} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format.")
            if not all(_is_integer(x) for x in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                                f"Tuple[int, int, int], but got size with types {[type(x) for x in size]}")
            output_size = [int(v) for v in size]
        else:
            output_size = [int(size) for _ in range(dim)]
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "scale_factor in (s1, s2, ...,sK) format.")
            scale_factors = [float(s) for s in scale_factor]
        else:
            scale_factors = [float(scale_factor) for _ in range(dim)]
    else:
        raise ValueError("either size or scale_factor should be defined")

    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor is not None and recompute_scale_factor:
        output_size = [_floor_size(input.size(i + 2), scale_factors[i]) for i in range(dim)]
        scale_factors = None

    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.dim() == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a "
                         "4-D tensor as input")

    nd = input.dim()
    kernel_mode = {"nearest": "nearest", "nearest-exact": "nearest-exact", "linear": "linear",
                   "bilinear": "linear", "bicubic": "cubic"}.get(mode)
    if (mode in ("nearest", "nearest-exact") and nd in (3, 4)) or (mode == "linear" and nd == 3) or (
            mode in ("bilinear", "bicubic") and nd == 4):
        if output_size is None:  # the user's scale factors give the size and the coordinate map
            output_size = [_floor_size(input.size(i + 2), scale_factors[i]) for i in range(dim)]
        scales = [] if scale_factors is None else list(scale_factors)
        return UpsampleFn.apply(input, output_size, kernel_mode, bool(align_corners), scales, bool(antialias))
    if mode == "lanczos" and nd == 4:
        raise ValueError("cnnkit: interpolate mode 'lanczos' with 4-D input is not supported")
    if mode == "area" and nd in (3, 4):
        from .nn import adaptive_avg_pool2d

        if nd == 3:  # a 1-D adaptive average is the 2-D one over a (1, L) plane
            return adaptive_avg_pool2d(input.unsqueeze(2), (1, output_size[0])).squeeze(2)
        return adaptive_avg_pool2d(input, output_size)
    if (mode in ("nearest", "nearest-exact", "area") and nd == 5) or (mode == "trilinear" and nd == 5):
        raise ValueError(f"cnnkit: interpolate mode '{mode}' with {nd}-D input is not supported")
    if nd == 3 and mode == "bilinear":
        raise NotImplementedError("Got 3D input, but bilinear mode needs 4D input")
    if nd == 3 and mode == "trilinear":
        raise NotImplementedError("Got 3D input, but trilinear mode needs 5D input")
    if nd == 4 and mode == "linear":
        raise NotImplementedError("Got 4D input, but linear mode needs 3D input")
    if nd == 4 and mode == "trilinear":
        raise NotImplementedError("Got 4D input, but trilinear mode needs 5D input")
    if nd == 5 and mode == "linear":
        raise NotImplementedError("Got 5D input, but linear mode needs 3D input")
    if nd == 5 and mode == "bilinear":
        raise NotImplementedError("Got 5D input, but bilinear mode needs 4D input")
    raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {nd}D) for the modes: "
                              f"{_MODES} (got {mode})")


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of ``interpolate`` (with torch's warning)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')`` (with torch's warning)."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)`` (with torch's warning)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
