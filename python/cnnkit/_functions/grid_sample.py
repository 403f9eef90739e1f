"""``grid_sample`` and ``affine_grid`` (``torch.nn.functional`` names, signatures, defaults, warnings
and argument checks).

``grid_sample`` runs the ``_C.grid_sample_forward`` / ``_C.grid_sample_backward`` kernels
(csrc/ops/grid_sample.*): bilinear, nearest and bicubic sampling of a 4-D input at the normalised
locations of a grid, with zeros / border / reflection padding; the backward gives the input and
the grid gradients (nearest: the grid gets zeros, as in torch). ``affine_grid`` is composed of
tensor ops (a constant base grid times theta transposed), so its gradient w.r.t. theta comes from
the matmul's backward.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap
from ._checks import check_tensor

__all__ = ["grid_sample", "affine_grid"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. "
                  "See the documentation of grid_sample for details.")


class GridSampleFn(Function):
    """out = input sampled at grid; saves input and grid (both gradients read them)."""

    @staticmethod
    def forward(ctx, input, grid, mode, padding_mode, align_corners):
        ctx.args = (mode, padding_mode, align_corners)
        ctx.save_for_backward(input, grid)
        return _wrap(_C.grid_sample_forward(input._t, grid._t, mode, padding_mode, align_corners))

    @staticmethod
    def backward(ctx, dout):
        input, grid = ctx.saved_tensors
        needs = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        dinp, dgrid = _C.grid_sample_backward(dout._t, input._t, grid._t, *ctx.args, needs)
        return (None if dinp is None else _wrap(dinp), None if dgrid is None else _wrap(dgrid), None, None, None)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Samples ``input`` (N, C, H_in, W_in) at the locations ``grid`` (N, H_out, W_out, 2) holds,
    normalised to [-1, 1] ((x, y) = (-1, -1) is the top-left pixel), giving (N, C, H_out, W_out)
    (``torch.nn.functional.grid_sample``). ``mode``: 'bilinear' | 'nearest' | 'bicubic';
    ``padding_mode``: 'zeros' | 'border' | 'reflection' for locations outside the input;
    ``align_corners=None`` means False, with torch's warning. Differentiable w.r.t. input and grid.
    Only the spatial (4-D) case is supported (5-D input raises ValueError)."""
    check_tensor("grid_sampler", input, "input")
    check_tensor("grid_sampler", grid, "grid")
    if mode != "bilinear" and mode != "nearest" and mode != "bicubic":
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode != "zeros" and padding_mode != "border" and padding_mode != "reflection":
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    return GridSampleFn.apply(input, grid, mode, padding_mode, bool(align_corners))


def _linspace_from_neg_one(n, align_corners):
    """torch's base-grid coordinates along one dim: linspace(-1, 1, n), scaled by (n-1)/n when not
    align_corners (pixel centres); a single step is 0."""
    if n <= 1:
        return np.zeros(max(n, 0))
    v = np.linspace(-1.0, 1.0, n)
    return v if align_corners else v * (n - 1) / n


def _base_grid(spatial, align_corners):
    """(prod(spatial), len(spatial) + 1) rows (x, y[, z], 1) in the order of the output locations
    (the last spatial dim fastest), as float64."""
    axes = [_linspace_from_neg_one(s, align_corners) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # one array per spatial dim, (D,) H, W order
    cols = [m.reshape(-1) for m in reversed(mesh)]  # x (the W axis) first
    cols.append(np.ones(int(np.prod(spatial))))
    return np.stack(cols, axis=1)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta`` (N, 2, 3)
    (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or (N, C, D, H, W)), in grid_sample's
    normalised coordinates (``torch.nn.functional.affine_grid``). Differentiable w.r.t. theta."""
    check_tensor("affine_grid", theta, "theta")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if size[0] != theta.shape[0]:
        raise RuntimeError(f"affine_grid: expected theta with batch size {size[0]} for size {size}, "
                           f"got theta of shape {list(theta.shape)}")
    from ..tensor import tensor

    k = len(spatial)
    base = tensor(_base_grid(spatial, bool(align_corners)), dtype=theta.dtype, device=theta.device)
    from .conv import matmul

    grid = matmul(base, theta.transpose(1, 2))  # (HW, k+1) @ (N, k+1, k) -> (N, HW, k)
    return grid.reshape([size[0]] + list(spatial) + [k])
