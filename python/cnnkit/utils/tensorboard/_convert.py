"""Turning what users log into NumPy: tensors, arrays and numbers (``make_np``), image layouts into
(H, W, C) (``convert_to_HWC``, batches tiled by ``make_grid``), matplotlib figures into images."""
from __future__ import annotations

import math
import numbers

import numpy as np


def make_np(x, fn="SummaryWriter"):
    """A NumPy array from a cnnkit tensor (any device; halves widened to float32), a torch tensor, a
    NumPy array or a Python/NumPy number (as a 1-element array, as torch's writer does)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        return np.array([x])
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        t = x.detach().cpu()
        if t.is_floating_point() and t.element_size() < 4:
            t = t.float()
        return np.array(t.numpy())
    raise TypeError(f"{fn}: expected a tensor, NumPy array or number, got {type(x).__name__}")


def make_grid(images, ncols=8):
    """Tiles (N, C, H, W) images, C in (1, 3, 4), into one (C', H*rows, W*cols) array without padding
    (torch's writer layout: 8 per row; grey is repeated to RGB)."""
    if images.shape[1] == 1:
        images = np.concatenate([images, images, images], 1)
    if images.ndim != 4 or images.shape[1] not in (3, 4):
        raise ValueError(f"SummaryWriter: a batch of images needs 1, 3 or 4 channels, got shape "
                         f"{tuple(images.shape)}")
    n, c, h, w = images.shape
    cols = min(n, ncols)
    rows = int(math.ceil(n / cols))
    canvas = np.zeros((c, h * rows, w * cols), dtype=images.dtype)
    for k in range(n):
        r, q = divmod(k, cols)
        canvas[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = images[k]
    return canvas


def convert_to_HWC(tensor, input_format):
    """Rearranges an image array given as ``input_format`` (letters from N, C, H, W, e.g. 'CHW',
    'HWC', 'HW', 'NCHW', 'NHWC') into (H, W, C) with C in (3, 4); batches are tiled, grey becomes RGB."""
    if not isinstance(input_format, str):
        raise TypeError(f"SummaryWriter: dataformats must be a str such as 'CHW', got {type(input_format).__name__}")
    fmt = input_format.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or len(fmt) < 2:
        raise ValueError(f"SummaryWriter: dataformats must use each of N, C, H, W at most once (e.g. 'CHW'), "
                         f"got {input_format!r}")
    if tensor.ndim != len(fmt):
        raise ValueError(f"SummaryWriter: an image of shape {tuple(tensor.shape)} does not match dataformats "
                         f"{input_format!r}")
    if len(fmt) == 4:
        nchw = tensor.transpose([fmt.index(c) for c in "NCHW"])
        return make_grid(nchw).transpose(1, 2, 0)
    if len(fmt) == 3:
        if "N" in fmt:
            raise ValueError(f"SummaryWriter: 3-letter dataformats must be a permutation of CHW, got {input_format!r}")
        hwc = tensor.transpose([fmt.index(c) for c in "HWC"])
        if hwc.shape[2] == 1:
            hwc = np.concatenate([hwc, hwc, hwc], 2)
        if hwc.shape[2] not in (3, 4):
            raise ValueError(f"SummaryWriter: an image needs 1, 3 or 4 channels, got {hwc.shape[2]} "
                             f"(shape {tuple(tensor.shape)}, dataformats {input_format!r})")
        return hwc
    if fmt not in ("HW", "WH"):
        raise ValueError(f"SummaryWriter: 2-letter dataformats must be 'HW' or 'WH', got {input_format!r}")
    hw = tensor.transpose([fmt.index(c) for c in "HW"])
    return np.stack([hw, hw, hw], 2)


def figure_to_image(figures, close=True):
    """Renders a matplotlib Figure (or a list of them) to a uint8 (3, H, W) array ((N, 3, H, W) for a
    list, all figures of one size). ``close`` closes each figure in pyplot afterwards."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("SummaryWriter.add_figure needs matplotlib: pip install 'cnnkit[plot]'") from None

    def render(fig):
        if not isinstance(fig, Figure):
            raise TypeError(f"SummaryWriter.add_figure: expected a matplotlib Figure, got {type(fig).__name__}")
        canvas = fig.canvas if hasattr(fig.canvas, "buffer_rgba") else FigureCanvasAgg(fig)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        img = np.ascontiguousarray(rgba[:, :, :3].transpose(2, 0, 1))
        if close:
            import sys

            if "matplotlib.pyplot" in sys.modules:
                sys.modules["matplotlib.pyplot"].close(fig)
        return img

    if isinstance(figures, (list, tuple)):
        imgs = [render(f) for f in figures]
        if len({im.shape for im in imgs}) > 1:
            raise ValueError("SummaryWriter.add_figure: figures in one list must have the same size in pixels")
        return np.stack(imgs)
    return render(figures)
