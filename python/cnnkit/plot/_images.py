"""``plot_images``: a batch of images as a titled grid (augmentation previews, dataset samples)."""
from __future__ import annotations

import numpy as np

from ._common import finish, label_name, pyplot, tile_axes, to_display, to_numpy, unnormalize

__all__ = ["plot_images"]


def _image_list(images, fn):
    """A list of (C, H, W) arrays from a batch tensor/array (N, C, H, W), (N, H, W) or NHWC NumPy
    array, or a list of (C, H, W) / (H, W) tensors, arrays or PIL images."""
    if isinstance(images, (list, tuple)):
        out = []
        for k, im in enumerate(images):
            if hasattr(im, "getbands") and hasattr(im, "size"):  # a PIL image
                a = np.asarray(im)
                a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
            else:
                a = to_numpy(im, f"images[{k}]", fn)
                if a.ndim == 2:
                    a = a[None]
            if a.ndim != 3:
                raise ValueError(f"{fn}: images[{k}] must be (C, H, W) or (H, W), got shape {tuple(a.shape)}")
            out.append(a)
        return out
    arr = to_numpy(images, "images", fn)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"{fn}: images must be a batch (N, C, H, W) or (N, H, W), or a list of images, got "
                         f"shape {tuple(arr.shape)}")
    if isinstance(images, np.ndarray) and arr.shape[1] not in (1, 3, 4) and arr.shape[3] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # NumPy NHWC
    return list(arr)


def plot_images(images, labels=None, classes=None, *, titles=None, mean=None, std=None, ncols=8,
                max_images=64, path=None, figsize=None, dpi=100, show=False):
    """A grid of images, each titled by its label (as a class name when ``classes`` is given) or by
    ``titles``. ``images``: a batch (N, C, H, W) / (N, H, W) tensor or array (NumPy NHWC too), or a
    list of images (tensors, arrays, PIL images). Float images are shown in [0, 1] (clipped; ``mean``/
    ``std`` undo a ``Normalize`` first), uint8 ones as 0..255. At most ``max_images`` are drawn.
    Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    fn = "plot_images"
    imgs = _image_list(images, fn)
    if not imgs:
        raise ValueError(f"{fn}: no images given")
    if labels is not None:
        labels = to_numpy(labels, "labels", fn).reshape(-1)
        if labels.shape[0] != len(imgs):
            raise ValueError(f"{fn}: {labels.shape[0]} labels for {len(imgs)} images")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(imgs):
            raise ValueError(f"{fn}: {len(titles)} titles for {len(imgs)} images")
    count = min(len(imgs), int(max_images))
    plt = pyplot()
    fig, axs = tile_axes(plt, count, ncols, figsize, tile_inches=1.6)
    for k, ax in enumerate(axs):
        img = imgs[k]
        if mean is not None or std is not None:
            img = unnormalize(img.astype(np.float64), mean, std, fn)
        disp, cm = to_display(img, fn)
        ax.imshow(disp, cmap=cm, vmin=0 if cm else None, vmax=(255 if disp.dtype == np.uint8 else 1) if cm else None)
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
        elif labels is not None:
            ax.set_title(label_name(labels[k], classes), fontsize=8)
    fig.tight_layout()
    return finish(fig, path, dpi, show, plt)
