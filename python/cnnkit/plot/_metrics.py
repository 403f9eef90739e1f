"""Training curves (``plot_history``) and confusion matrices (``plot_confusion_matrix``)."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._common import finish, pyplot, to_numpy

__all__ = ["plot_history", "plot_confusion_matrix"]


def _history_dict(history):
    """The name -> per-epoch list mapping of a ``cnnkit.train.History`` (``.history``) or a dict."""
    h = getattr(history, "history", history)
    if not isinstance(h, Mapping):
        raise TypeError(f"plot_history: expected a History (with a .history dict) or a dict of per-epoch "
                        f"lists, got {type(history).__name__}")
    return h


def _series(values, name):
    """A per-epoch list as floats (None and missing entries become NaN, so gaps stay gaps)."""
    if np.isscalar(values):
        values = [values]
    out = []
    for v in values:
        if v is None:
            out.append(math.nan)
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise TypeError(f"plot_history: history[{name!r}] must hold numbers per epoch, got "
                            f"{type(v).__name__}") from None
    return np.asarray(out, dtype=np.float64)


def _default_metrics(h):
    """Base metric names in first-seen order ('val_x' joins 'x'); the bookkeeping series 'lr' and
    'time' (seconds per epoch) only when nothing else was recorded."""
    names = []
    for k in h:
        base = k[4:] if k.startswith("val_") else k
        if base not in names:
            names.append(base)
    shown = [n for n in names if n not in ("lr", "time")]
    return shown or names


def plot_history(history, metrics=None, path=None, *, ax=None, figsize=None, dpi=100, show=False):
    """Training curves, one panel per metric with the train ('x') and validation ('val_x') series.

    ``history`` is a ``cnnkit.train.History`` (its ``.history``) or a dict name -> list per epoch.
    ``metrics``: a name or list of names (without the 'val_' prefix); by default every metric in the
    history except 'lr' and 'time' (ask for them explicitly; 'lr' is drawn on a log scale). ``ax``: one Axes (for
    one panel) or a sequence of one Axes per panel, to draw into an existing figure. Epochs count
    from 1; None entries leave gaps. Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    h = _history_dict(history)
    if len(h) == 0:
        raise ValueError("plot_history: the history is empty (no metric recorded yet)")
    if metrics is None:
        metrics = _default_metrics(h)
    elif isinstance(metrics, str):
        metrics = [metrics]
    else:
        metrics = list(metrics)
    if not metrics:
        raise ValueError("plot_history: metrics must name at least one metric")
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError(f"plot_history: metric names must be str, got {type(m).__name__}")
        if m not in h and "val_" + m not in h:
            raise ValueError(f"plot_history: unknown metric {m!r}; the history has {sorted(h)}")

    plt = pyplot()
    if ax is None:
        if figsize is None:
            figsize = (4.5 * len(metrics), 3.6)
        fig, axs = plt.subplots(1, len(metrics), figsize=figsize, squeeze=False)
        axs = list(axs.ravel())
    else:
        axs = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axs) != len(metrics):
            raise ValueError(f"plot_history: got {len(axs)} axes for {len(metrics)} metric panels {metrics}")
        fig = axs[0].figure

    for a, m in zip(axs, metrics):
        for key, label, style in ((m, "train", "-o"), ("val_" + m, "val", "-s")):
            if key not in h:
                continue
            y = _series(h[key], key)
            a.plot(np.arange(1, len(y) + 1), y, style, markersize=3, label=label)
        a.set_title(m)
        a.set_xlabel("epoch")
        a.set_ylabel(m)
        if m == "lr":
            ys = _series(h[m], m) if m in h else np.array([])
            if ys.size and np.all(ys[np.isfinite(ys)] > 0):
                a.set_yscale("log")
        a.grid(True, alpha=0.3)
        a.xaxis.get_major_locator().set_params(integer=True)
        if len(a.get_lines()) > 1 or m != "lr":
            a.legend()
    if ax is None:
        fig.tight_layout()
    return finish(fig, path, dpi, show, plt)


_NORMALIZE = {True: "true", False: None, None: None, "true": "true", "pred": "pred", "all": "all"}


def plot_confusion_matrix(cm, class_names=None, normalize=False, path=None, *, ax=None, figsize=None,
                          cmap="Blues", title=None, annotate=None, dpi=100, show=False):
    """A confusion-matrix heat map: rows are the true classes, columns the predicted ones.

    ``cm``: a C x C NumPy array / tensor / nested list of counts, or an object with a
    ``.confusion_matrix`` attribute (or method), such as ``cnnkit.train.evaluate``'s result, whose
    ``.classes`` then name the classes unless ``class_names`` is given. ``normalize``: False (counts),
    True or 'true' (each row sums to 1: per-class recall), 'pred' (each column), 'all' (the whole
    matrix), as in scikit-learn; empty rows/columns stay 0. ``annotate`` (default: when C <= 20) writes the count
    or percentage in each cell. Returns the Figure; ``path`` saves it as PNG at ``dpi``."""
    src = getattr(cm, "confusion_matrix", None)
    if src is not None and not isinstance(cm, np.ndarray):
        if class_names is None:
            class_names = getattr(cm, "classes", None)
        cm = src() if callable(src) else src
    arr = to_numpy(cm, "cm", "plot_confusion_matrix")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: cm must be a square C x C matrix (C >= 1), got shape "
                         f"{tuple(arr.shape)}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"plot_confusion_matrix: cm must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("plot_confusion_matrix: cm entries must be finite and non-negative")
    c = arr.shape[0]
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if len(class_names) != c:
            raise ValueError(f"plot_confusion_matrix: {len(class_names)} class_names for a {c} x {c} matrix")
    if isinstance(normalize, str) or isinstance(normalize, bool) or normalize is None:
        mode = _NORMALIZE.get(normalize, "bad")
    else:
        mode = "bad"
    if mode == "bad":
        raise ValueError(f"plot_confusion_matrix: normalize must be False, True, 'true', 'pred' or 'all', "
                         f"got {normalize!r}")
    if mode is not None:
        denom = {"true": arr.sum(1, keepdims=True), "pred": arr.sum(0, keepdims=True), "all": arr.sum()}[mode]
        arr = np.divide(arr, denom, out=np.zeros_like(arr), where=np.asarray(denom) > 0)

    plt = pyplot()
    own = ax is None
    if own:
        side = min(12.0, max(4.0, 0.55 * c + 2.5))
        fig, ax = plt.subplots(figsize=figsize or (side + 1.0, side))
    else:
        fig = ax.figure
    vmax = 1.0 if mode is not None else max(arr.max(), 1.0)
    im = ax.imshow(arr, interpolation="nearest", cmap=cmap, vmin=0.0, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    names = class_names if class_names is not None else [str(i) for i in range(c)]
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(names, rotation=45 if c > 4 else 0, ha="right" if c > 4 else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title if title is not None else
                 "Confusion matrix" + ("" if mode is None else f" (normalized over {mode})"))
    if annotate is None:
        annotate = c <= 20
    if annotate:
        cut = vmax / 2.0
        for i in range(c):
            for j in range(c):
                v = arr[i, j]
                txt = f"{100.0 * v:.1f}%" if mode is not None else f"{v:.0f}" if v == int(v) else f"{v:.2f}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=8 if c > 10 else 10,
                        color="white" if v > cut else "black")
    if own:
        fig.tight_layout()
    return finish(fig, path, dpi, show, plt)
