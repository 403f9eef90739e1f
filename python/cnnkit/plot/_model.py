"""Looking inside a model: conv filters (``plot_filters``), one layer's activations
(``plot_feature_maps``) and the images it gets wrong (``plot_misclassified``)."""
from __future__ import annotations

import contextlib

import numpy as np

from ._common import finish, label_name, pyplot, tile_axes, to_display, to_numpy, unnormalize

__all__ = ["plot_filters", "plot_feature_maps", "plot_misclassified"]


def _is_module(obj):
    from ..nn import Module

    return isinstance(obj, Module)


def _find_layer(model, layer, fn):
    """(name, module) for a layer given by its ``named_modules`` name or as the module itself."""
    if isinstance(layer, str):
        named = dict(model.named_modules())
        if layer not in named:
            names = [n for n in named if n]
            shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
            raise ValueError(f"{fn}: no layer named {layer!r} in {type(model).__name__}; its layers are {shown}")
        return layer, named[layer]
    if _is_module(layer):
        for n, m in model.named_modules():
            if m is layer:
                return n or type(m).__name__, m
        raise ValueError(f"{fn}: the given {type(layer).__name__} module is not part of the model")
    raise TypeError(f"{fn}: layer must be a layer name (str) or a Module, got {type(layer).__name__}")


@contextlib.contextmanager
def _inference(model):
    """eval() mode and no_grad() for the block; every submodule's own training flag is restored."""
    from ..autograd import no_grad

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def _model_device(model):
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


def _conv_weight(model_or_weight, layer):
    """(title, weight array (O, I, kH, kW)) from a model (first Conv2d or the named layer) or a weight."""
    fn = "plot_filters"
    if _is_module(model_or_weight):
        from ..nn import Conv2d

        model = model_or_weight
        if layer is None:
            found = next(((n, m) for n, m in model.named_modules() if isinstance(m, Conv2d)), None)
            if found is None:
                raise ValueError(f"plot_filters: no Conv2d layer in {type(model).__name__}; pass layer= to pick "
                                 f"a layer with a 4-D weight")
            name, mod = found
        else:
            name, mod = _find_layer(model, layer, fn)
        w = getattr(mod, "weight", None)
        if w is None or getattr(w, "dim", lambda: 0)() != 4:
            raise ValueError(f"plot_filters: layer {name!r} ({type(mod).__name__}) has no 4-D convolution weight")
        title = f"{name or type(mod).__name__}: {type(mod).__name__} weight {tuple(w.shape)}"
        return title, to_numpy(w, "weight", fn)
    if layer is not None:
        raise ValueError("plot_filters: layer= needs a model, not a weight tensor")
    w = to_numpy(model_or_weight, "model_or_weight", fn)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: a weight must be 4-D (out_channels, in_channels, kH, kW), got shape "
                         f"{tuple(w.shape)}")
    return f"weight {tuple(w.shape)}", w


def _minmax(a):
    """Scales a to [0, 1]; a constant array becomes mid grey."""
    lo, hi = float(a.min()), float(a.max())
    if hi - lo <= 0 or not np.isfinite(hi - lo):
        return np.full(a.shape, 0.5)
    return (a - lo) / (hi - lo)


def plot_filters(model_or_weight, layer=None, path=None, *, max_filters=64, max_channels=16, ncols=None,
                 figsize=None, dpi=100, show=False):
    """A grid of convolution filters: the first Conv2d of a model, the layer named by ``layer`` (a
    ``named_modules`` name or the module), or a weight (O, I, kH, kW) given directly.

    Each filter is min-max normalised on its own (over all its channels, so their relative strength
    shows). With 3 input channels a filter is one RGB tile; with 1 it is one grey tile; otherwise each
    filter is a row of grey tiles, one per input channel (the first ``max_channels``). At most
    ``max_filters`` filters are drawn. Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    title, w = _conv_weight(model_or_weight, layer)
    if w.size == 0:
        raise ValueError(f"plot_filters: the weight is empty (shape {tuple(w.shape)})")
    w = w.astype(np.float64)
    o, i = w.shape[:2]
    nf = min(o, int(max_filters))
    plt = pyplot()
    if i in (1, 3):
        fig, axs = tile_axes(plt, nf, ncols, figsize, tile_inches=1.1)
        for k, ax in enumerate(axs):
            f = _minmax(w[k])
            ax.imshow(f[0] if i == 1 else f.transpose(1, 2, 0), cmap="gray" if i == 1 else None,
                      vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(str(k), fontsize=8)
    else:
        nc = min(i, int(max_channels))
        if figsize is None:
            figsize = (max(2.0, nc * 0.9), max(2.0, nf * 0.9 + 0.4))
        fig, axs = plt.subplots(nf, nc, figsize=figsize, squeeze=False)
        for k in range(nf):
            f = _minmax(w[k])
            for c in range(nc):
                ax = axs[k, c]
                ax.imshow(f[c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.set_title(f"in {c}", fontsize=7)
                if c == 0:
                    ax.set_ylabel(f"f{k}", fontsize=7)
    shown = f" (first {nf} of {o} filters)" if nf < o else ""
    fig.suptitle(title + shown, fontsize=10)
    return finish(fig, path, dpi, show, plt)


def _as_batch(image, fn):
    """One image (C, H, W) or (1, C, H, W) as a float32 cnnkit tensor of shape (1, C, H, W)."""
    from ..tensor import Tensor, from_numpy

    t = image if isinstance(image, Tensor) else from_numpy(np.ascontiguousarray(to_numpy(image, "image", fn)))
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1:
        raise ValueError(f"{fn}: image must be one image (C, H, W) or a batch of one (1, C, H, W), got shape "
                         f"{tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"{fn}: image must be a floating-point tensor (transformed as for the model), got {t.dtype}")
    return t


def plot_feature_maps(model, layer, image, max_maps=32, path=None, *, ncols=None, cmap="viridis",
                      figsize=None, dpi=100, show=False):
    """The activations of one layer for one image: a grid of its first ``max_maps`` channels.

    ``layer`` is a name from ``model.named_modules()`` or the module itself; ``image`` one input
    (C, H, W) or (1, C, H, W), moved to the model's device. The output is captured with a forward hook
    that is removed afterwards; the model runs in eval mode under no_grad and every module's mode is
    restored. 4-D outputs give one map per channel, 3-D ones one row per channel, 2-D ones (a linear
    layer's features) a bar chart. Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    fn = "plot_feature_maps"
    if not _is_module(model):
        raise TypeError(f"{fn}: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    name, mod = _find_layer(model, layer, fn)
    x = _as_batch(image, fn)
    dev = _model_device(model)
    if dev is not None:
        x = x.to(dev)
    captured = []

    def hook(module, args, output):
        out = output[0] if isinstance(output, (tuple, list)) and output else output
        captured.append(out)

    handle = mod.register_forward_hook(hook)
    try:
        with _inference(model):
            model(x)
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"{fn}: layer {name!r} was not called during the model's forward pass")
    act = to_numpy(captured[0], "the layer output", fn)
    if act.ndim < 2 or act.shape[0] != 1:
        raise RuntimeError(f"{fn}: layer {name!r} returned shape {tuple(act.shape)}; expected (1, C, ...)")
    act = act[0].astype(np.float64)
    head = f"{name}: {type(mod).__name__} output {tuple(act.shape)}"
    plt = pyplot()
    if act.ndim == 1:
        fig, ax = plt.subplots(figsize=figsize or (6.0, 3.0))
        ax.bar(np.arange(act.size), act)
        ax.set_xlabel("feature")
        ax.set_ylabel("activation")
        fig.suptitle(head, fontsize=10)
        return finish(fig, path, dpi, show, plt)
    if act.ndim == 2:
        act = act[:, None, :]
    act = act.reshape(act.shape[0], act.shape[1], -1) if act.ndim > 3 else act
    n = min(act.shape[0], int(max_maps))
    fig, axs = tile_axes(plt, n, ncols, figsize, tile_inches=1.4)
    for k, ax in enumerate(axs):
        ax.imshow(act[k], cmap=cmap, interpolation="nearest", aspect="auto" if act.shape[1] == 1 else "equal")
        ax.set_title(f"ch {k}", fontsize=8)
    fig.suptitle(head + (f" (first {n} of {act.shape[0]} channels)" if n < act.shape[0] else ""), fontsize=10)
    return finish(fig, path, dpi, show, plt)


def _batches(data, batch_size):
    """Iterates (inputs, targets) batches of a DataLoader (or any iterable of pairs) or a Dataset."""
    from ..utils.data import DataLoader, Dataset

    if isinstance(data, DataLoader) or (not hasattr(data, "__getitem__") and hasattr(data, "__iter__")):
        return data, getattr(getattr(data, "dataset", None), "classes", None)
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return DataLoader(data, batch_size=batch_size, shuffle=False), getattr(data, "classes", None)
    raise TypeError(f"plot_misclassified: expected a Dataset or a DataLoader, got {type(data).__name__}")


def plot_misclassified(model, dataset_or_loader, classes=None, n=16, mean=None, std=None, path=None, *,
                       ncols=None, batch_size=64, figsize=None, dpi=100, show=False):
    """A grid of the first ``n`` images the model gets wrong, titled "predicted / true".

    ``dataset_or_loader`` yields (image, label) samples or (inputs, targets) batches; a dataset is read
    in order in batches of ``batch_size``. ``classes`` (default: the dataset's ``.classes``) names the
    labels. ``mean``/``std`` undo a ``Normalize`` before display (values are then clipped to [0, 1]).
    The model runs in eval mode under no_grad on its own device; modes are restored. When nothing is
    misclassified the figure says so. Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    fn = "plot_misclassified"
    if not _is_module(model):
        raise TypeError(f"{fn}: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{fn}: n must be a positive int, got {n!r}")
    batches, ds_classes = _batches(dataset_or_loader, batch_size)
    classes = classes if classes is not None else ds_classes
    dev = _model_device(model)
    found, seen = [], 0
    with _inference(model):
        for batch in batches:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise TypeError(f"{fn}: each batch must be (inputs, targets), got {type(batch).__name__}")
            x, y = batch[0], batch[1]
            xin = x.to(dev) if dev is not None and hasattr(x, "to") else x
            out = model(xin)
            logits = to_numpy(out, "the model output", fn)
            if logits.ndim != 2:
                raise RuntimeError(f"{fn}: the model must return (N, num_classes) scores, got shape "
                                   f"{tuple(logits.shape)}")
            pred = logits.argmax(1)
            true = to_numpy(y, "targets", fn).reshape(-1).astype(np.int64)
            imgs = to_numpy(x, "inputs", fn)
            if true.shape[0] != pred.shape[0]:
                raise RuntimeError(f"{fn}: {pred.shape[0]} predictions for {true.shape[0]} targets")
            seen += true.shape[0]
            for k in np.nonzero(pred != true)[0]:
                found.append((imgs[k], int(pred[k]), int(true[k])))
                if len(found) >= n:
                    break
            if len(found) >= n:
                break
    plt = pyplot()
    if not found:
        fig, ax = plt.subplots(figsize=figsize or (4.0, 2.0))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No misclassified images among {seen}", ha="center", va="center")
        return finish(fig, path, dpi, show, plt)
    fig, axs = tile_axes(plt, len(found), ncols, figsize, tile_inches=1.7)
    for ax, (img, p, t) in zip(axs, found):
        img = img.astype(np.float64) if img.dtype != np.uint8 or mean is not None or std is not None else img
        img, cm = to_display(unnormalize(img, mean, std, fn), fn)
        ax.imshow(img, cmap=cm, vmin=0 if cm else None, vmax=(255 if img.dtype == np.uint8 else 1) if cm else None)
        ax.set_title(f"{label_name(p, classes)} / {label_name(t, classes)}", fontsize=8, color="tab:red")
    fig.suptitle(f"Misclassified (predicted / true): first {len(found)} of {seen} images checked", fontsize=10)
    return finish(fig, path, dpi, show, plt)
