"""Shared helpers of cnnkit.plot: the lazy matplotlib import, array conversion, tile grids, saving.

matplotlib is an optional extra: it is imported inside the functions that draw, never by
``import cnnkit`` or ``import cnnkit.plot``. Figures are made with pyplot so that ``plt.show()``
and Jupyter's inline display work as users expect; on a machine without a display (no
``$DISPLAY``/``$WAYLAND_DISPLAY`` on Linux) the Agg backend is selected before pyplot is first
imported, unless the user chose a backend (``MPLBACKEND`` or ``matplotlib.use``).
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

_EXTRA_MSG = "cnnkit.plot needs matplotlib: pip install 'cnnkit[plot]'"


def pyplot():
    """Returns ``matplotlib.pyplot``, choosing Agg first when there is no display."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(_EXTRA_MSG) from None
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if headless:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_numpy(x, name, fn):
    """A host NumPy copy of a cnnkit/torch tensor, NumPy array or nested list (halves widened)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # cnnkit.Tensor, or a torch.Tensor
        t = x.detach().cpu()
        if getattr(t, "is_floating_point", lambda: False)() and getattr(t, "element_size", lambda: 4)() < 4:
            t = t.float()  # bfloat16 / float16 have no (or a lossy) NumPy view
        return np.asarray(t.numpy())
    if isinstance(x, (list, tuple)) or (np.isscalar(x) and not isinstance(x, (str, bytes))):
        try:
            return np.asarray(x)
        except Exception as e:
            raise TypeError(f"{fn}: {name} must be a tensor, NumPy array or nested list, got {type(x).__name__} "
                            f"that NumPy cannot convert ({e})") from None
    raise TypeError(f"{fn}: {name} must be a tensor, NumPy array or nested list, got {type(x).__name__}")


def grid_shape(n, ncols=None):
    """(rows, cols) of a near-square grid holding n tiles, or ncols columns when given."""
    if ncols is None:
        ncols = int(math.ceil(math.sqrt(n)))
    ncols = max(1, min(int(ncols), n))
    return int(math.ceil(n / ncols)), ncols


def tile_axes(plt, n, ncols=None, figsize=None, tile_inches=1.6):
    """A figure with a rows x cols grid of tick-less axes; returns (fig, list of the first n axes)."""
    rows, cols = grid_shape(n, ncols)
    if figsize is None:
        figsize = (max(2.0, cols * tile_inches), max(2.0, rows * tile_inches + 0.4))
    fig, axs = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
    flat = list(axs.ravel())
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def finish(fig, path, dpi, show, plt):
    """Saves the figure (PNG unless the path names another format) and shows it when asked."""
    if path is not None:
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        fig.savefig(path, dpi=dpi, format=ext or "png")
    if show:
        plt.show()
    return fig


def unnormalize(img, mean, std, fn):
    """Undoes ``Normalize(mean, std)`` on a (C, H, W) or (N, C, H, W) float array."""
    if mean is None and std is None:
        return img
    c = img.shape[-3]
    m = np.zeros(c) if mean is None else np.asarray(mean, dtype=np.float64).reshape(-1)
    s = np.ones(c) if std is None else np.asarray(std, dtype=np.float64).reshape(-1)
    for name, v in (("mean", m), ("std", s)):
        if v.size not in (1, c):
            raise ValueError(f"{fn}: {name} must have 1 or {c} (channels) values, got {v.size}")
    shape = (c, 1, 1)
    return img * np.broadcast_to(s, (c,)).reshape(shape) + np.broadcast_to(m, (c,)).reshape(shape)


def to_display(img, fn):
    """A (C, H, W) image as what ``imshow`` takes: (H, W) grey or (H, W, 3|4) colour, float in
    [0, 1] (clipped) or uint8 as is. Returns (array, cmap)."""
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3 or img.shape[0] not in (1, 3, 4):
        raise ValueError(f"{fn}: expected an image of shape (C, H, W) with C in (1, 3, 4) or (H, W), "
                         f"got shape {tuple(img.shape)}")
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64), 0.0, 1.0)
    if img.shape[0] == 1:
        return img[0], "gray"
    return np.ascontiguousarray(img.transpose(1, 2, 0)), None


def label_name(label, classes):
    """A class index as its name when ``classes`` holds it, else the number."""
    i = int(label)
    if classes is not None and 0 <= i < len(classes):
        return str(classes[i])
    return str(i)
