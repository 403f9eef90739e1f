"""Classification metrics for ``fit`` and ``evaluate``.

A metric is a callable ``metric(outputs, targets) -> float`` over one batch: ``outputs`` the model's
(N, C) (or (N, C, d1, ...)) scores, ``targets`` class indices (N,) (or (N, d1, ...)) or class
probabilities of the outputs' shape. ``fit`` averages a metric over an epoch weighted by batch size,
which is exact for accuracies. Names accepted in ``fit(metrics=...)``: ``"accuracy"`` (also "acc"),
``"top5"`` / ``"topK"`` / ``"top_k_accuracy"`` (k = 5); any callable is used as given.
"""
from __future__ import annotations

import re

import numpy as np

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "precision_recall_f1", "resolve_metrics"]


def _class_targets(outputs, targets, fn):
    """Class-index targets for ``outputs``: probability targets (same shape) become their argmax."""
    from ..tensor import Tensor

    if not isinstance(outputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(f"{fn}: outputs and targets must be Tensors, got {type(outputs).__name__} and "
                        f"{type(targets).__name__}")
    if outputs.dim() < 2:
        raise ValueError(f"{fn}: expected outputs of shape (N, C) or (N, C, d1, ...) (class scores), got shape "
                         f"{tuple(outputs.shape)}")
    if tuple(targets.shape) == tuple(outputs.shape) and targets.is_floating_point():
        return targets.argmax(1)
    expected = (outputs.shape[0],) + tuple(outputs.shape[2:])
    if tuple(targets.shape) != expected:
        raise ValueError(f"{fn}: targets must be class indices of shape {expected} or probabilities of shape "
                         f"{tuple(outputs.shape)}, got shape {tuple(targets.shape)}")
    return targets


def accuracy(outputs, targets):
    """Fraction of samples whose highest score is the target class."""
    targets = _class_targets(outputs, targets, "accuracy")
    n = targets.numel()
    if n == 0:
        return float("nan")
    return (outputs.detach().argmax(1) == targets).sum().item() / n


def top_k_accuracy(outputs, targets, k=5):
    """Fraction of samples whose target class is among the ``k`` highest scores (k >= C: 1.0)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be a positive int, got {k!r}")
    targets = _class_targets(outputs, targets, "top_k_accuracy")
    n = targets.numel()
    if n == 0:
        return float("nan")
    k = min(k, outputs.shape[1])
    top = outputs.detach().topk(k, dim=1).indices  # (N, k, d1, ...)
    return (top == targets.unsqueeze(1)).any(1).sum().item() / n


def _top_k_metric(k):
    def metric(outputs, targets):
        return top_k_accuracy(outputs, targets, k)

    metric.__name__ = f"top{k}"
    return metric


def resolve_metrics(metrics):
    """``[(name, callable), ...]`` from ``fit``'s ``metrics`` argument: a sequence of names/callables, or a
    dict name -> name/callable. History keys are the names (and ``val_<name>``)."""
    if metrics is None:
        return []
    if isinstance(metrics, (str,)) or callable(metrics):
        metrics = [metrics]
    items = list(metrics.items()) if isinstance(metrics, dict) else [(None, m) for m in metrics]
    out = []
    for name, m in items:
        if isinstance(m, str):
            key = m.lower()
            if key in ("accuracy", "acc"):
                fn, default = accuracy, "accuracy"
            elif key == "top_k_accuracy":
                fn, default = _top_k_metric(5), "top5"
            elif re.fullmatch(r"top(\d+)(_accuracy)?", key):
                k = int(re.fullmatch(r"top(\d+)(_accuracy)?", key).group(1))
                if k < 1:
                    raise ValueError(f"fit: metric {m!r}: k must be at least 1")
                fn, default = _top_k_metric(k), f"top{k}"
            else:
                raise ValueError(f"fit: unknown metric {m!r}; expected 'accuracy', 'top5' (any 'topK'), "
                                 "'top_k_accuracy' or a callable metric(outputs, targets) -> float")
        elif callable(m):
            fn, default = m, getattr(m, "__name__", type(m).__name__)
            if default == "<lambda>" and name is None:
                raise ValueError("fit: a lambda metric needs a name: pass metrics={'name': fn}")
        else:
            raise TypeError(f"fit: each metric must be a name or a callable, got {type(m).__name__}")
        name = default if name is None else str(name)
        if name in ("loss", "lr", "time") or name.startswith("val_"):
            raise ValueError(f"fit: metric name {name!r} clashes with a History key")
        if any(name == n for n, _ in out):
            raise ValueError(f"fit: metric {name!r} given twice")
        out.append((name, fn))
    return out


def confusion_matrix(targets, predictions, num_classes):
    """(C, C) int64 counts: row = true class, column = predicted class."""
    targets = np.asarray(targets, dtype=np.int64).ravel()
    predictions = np.asarray(predictions, dtype=np.int64).ravel()
    if targets.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: {targets.size} targets but {predictions.size} predictions")
    bad = (targets < 0) | (targets >= num_classes) | (predictions < 0) | (predictions >= num_classes)
    if bad.any():
        raise ValueError(f"confusion_matrix: class indices must be in [0, {num_classes}), got "
                         f"{int(np.concatenate([targets[bad], predictions[bad]])[0])}")
    flat = np.bincount(targets * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def precision_recall_f1(cm):
    """Per-class precision, recall, F1 (float64) and support (int64) from a confusion matrix. A class
    never predicted has precision 0, one never present recall 0, and F1 is 0 where both are 0
    (scikit-learn's ``zero_division=0``)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return precision, recall, f1, support.astype(np.int64)
