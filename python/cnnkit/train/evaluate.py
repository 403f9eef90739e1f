"""``evaluate`` and ``predict``: a trained classifier over a whole loader.

``evaluate`` runs the model once over the loader (eval mode, no gradients) and gathers every
prediction, then computes from them: the mean loss, accuracy, top-k accuracy and error per k, the
confusion matrix (rows = true class, columns = predicted class), per-class precision, recall, F1 and
support. Everything is returned in an :class:`EvalResult`, whose ``summary()`` prints a table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .fit import batch_size, model_device, split_batch, to_device
from .metrics import confusion_matrix as _confusion_matrix
from .metrics import precision_recall_f1

__all__ = ["EvalResult", "evaluate", "predict"]


@dataclass(repr=False)
class EvalResult:
    """What ``evaluate`` measured. ``topk_accuracy``/``topk_error`` map k -> fraction;
    ``confusion_matrix`` is (C, C) int64 with rows = true class; ``precision``, ``recall``, ``f1``
    (float64) and ``support`` (int64) have one entry per class; ``predictions`` and ``targets`` are
    the int64 class indices of every sample in loader order."""

    loss: Optional[float]
    accuracy: float
    topk_accuracy: dict
    topk_error: dict
    confusion_matrix: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    predictions: np.ndarray
    targets: np.ndarray
    classes: Optional[list] = field(default=None)

    @property
    def num_samples(self):
        return int(self.targets.size)

    @property
    def num_classes(self):
        return int(self.confusion_matrix.shape[0])

    @property
    def error(self):
        return 1.0 - self.accuracy

    @property
    def macro_precision(self):
        return float(self.precision.mean())

    @property
    def macro_recall(self):
        return float(self.recall.mean())

    @property
    def macro_f1(self):
        return float(self.f1.mean())

    def to_dict(self):
        """Plain Python values (lists for arrays), JSON-ready."""
        return {"loss": self.loss, "accuracy": self.accuracy,
                "topk_accuracy": {str(k): v for k, v in self.topk_accuracy.items()},
                "topk_error": {str(k): v for k, v in self.topk_error.items()},
                "confusion_matrix": self.confusion_matrix.tolist(), "precision": self.precision.tolist(),
                "recall": self.recall.tolist(), "f1": self.f1.tolist(), "support": self.support.tolist(),
                "num_samples": self.num_samples, "classes": self.classes}

    def summary(self, max_classes=50):
        """A readable report: overall figures, then one row per class (at most ``max_classes``)."""
        lines = [f"samples: {self.num_samples}    classes: {self.num_classes}"]
        if self.loss is not None:
            lines.append(f"loss: {self.loss:.4f}")
        lines.append(f"accuracy: {self.accuracy:.2%}    error: {self.error:.2%}")
        for k in self.topk_accuracy:
            lines.append(f"top-{k} accuracy: {self.topk_accuracy[k]:.2%}    top-{k} error: {self.topk_error[k]:.2%}")
        names = self.classes if self.classes is not None else [str(i) for i in range(self.num_classes)]
        width = max([5] + [len(str(n)) for n in names[:max_classes]])
        lines.append("")
        lines.append(f"{'class':<{width}}  precision  recall     f1  support")
        for i in range(min(self.num_classes, max_classes)):
            lines.append(f"{str(names[i]):<{width}}  {self.precision[i]:9.4f}  {self.recall[i]:6.4f}  "
                         f"{self.f1[i]:.4f}  {int(self.support[i]):7d}")
        if self.num_classes > max_classes:
            lines.append(f"... ({self.num_classes - max_classes} more classes)")
        lines.append(f"{'macro':<{width}}  {self.macro_precision:9.4f}  {self.macro_recall:6.4f}  "
                     f"{self.macro_f1:.4f}  {int(self.support.sum()):7d}")
        return "\n".join(lines)

    def __repr__(self):
        parts = [f"samples={self.num_samples}", f"classes={self.num_classes}"]
        if self.loss is not None:
            parts.append(f"loss={self.loss:.4f}")
        parts.append(f"accuracy={self.accuracy:.4f}")
        parts += [f"top{k}_error={v:.4f}" for k, v in self.topk_error.items()]
        parts.append(f"macro_f1={self.macro_f1:.4f}")
        return f"EvalResult({', '.join(parts)})"


def _flatten_scores(outputs, targets, who):
    """(M, C) scores and (M,) class indices from (N, C[, d...]) outputs and index/probability targets."""
    if outputs.dim() < 2:
        raise ValueError(f"{who}: expected outputs of shape (N, C) or (N, C, d1, ...), got {tuple(outputs.shape)}")
    c = outputs.shape[1]
    if tuple(targets.shape) == tuple(outputs.shape) and targets.is_floating_point():
        targets = targets.argmax(1)
    if outputs.dim() > 2:
        outputs = outputs.permute(0, *range(2, outputs.dim()), 1).reshape(-1, c)
    targets = targets.reshape(-1)
    if targets.shape[0] != outputs.shape[0]:
        raise ValueError(f"{who}: {targets.shape[0]} targets for {outputs.shape[0]} predictions")
    return outputs, targets


def _check_topk(topk):
    if isinstance(topk, int):
        topk = (topk,)
    topk = tuple(topk or ())
    for k in topk:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"evaluate: topk must hold positive ints, got {topk!r}")
    return tuple(dict.fromkeys(topk))


def evaluate(model, loader, loss_fn=None, device=None, topk=(1, 5), num_classes=None, *, classes=None):
    """Runs ``model`` over ``loader`` (batches ``(inputs, targets)``) and returns an :class:`EvalResult`.

    ``loss_fn``: also the mean loss (weighted by batch size; a ``reduction='sum'`` loss is summed).
    ``topk``: the k's for top-k accuracy/error (k >= number of classes counts every sample correct).
    ``num_classes``: the confusion matrix's size (default: the outputs' class dimension).
    ``classes``: class names for ``summary()`` (default: the dataset's ``classes`` if it has them).
    The model's train/eval mode is restored afterwards."""
    from ..autograd import no_grad
    from ..nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"evaluate: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    topk = _check_topk(topk)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"evaluate: loss_fn must be callable or None, got {type(loss_fn).__name__}")
    if device is None:
        device = model_device(model)
    reduction = getattr(loss_fn, "reduction", "mean")
    preds, trues, correct = [], [], {k: 0 for k in topk}
    loss_sum, loss_count, c = 0.0, 0, None
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                inputs, targets = split_batch(batch, "evaluate")
                inputs, targets = to_device(inputs, device), to_device(targets, device)
                outputs = model(inputs)
                if loss_fn is not None:
                    value = loss_fn(outputs, targets).item()
                    n = batch_size(inputs, targets)
                    loss_sum += value if reduction == "sum" else value * n
                    loss_count += n
                scores, t = _flatten_scores(outputs, targets, "evaluate")
                c = scores.shape[1]
                if topk:
                    kmax = min(max(topk), c)
                    top = scores.topk(kmax, dim=1).indices
                    hit = top == t.unsqueeze(1)
                    for k in topk:
                        correct[k] += int(hit[:, :min(k, c)].any(1).sum().item())
                preds.append(np.asarray(scores.argmax(1).cpu().numpy(), dtype=np.int64))
                trues.append(np.asarray(t.cpu().numpy(), dtype=np.int64))
    finally:
        model.train(was_training)
    if c is None:
        raise ValueError("evaluate: the loader yielded no batches")
    predictions, targets = np.concatenate(preds), np.concatenate(trues)
    if num_classes is None:
        num_classes = c
    elif not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"evaluate: num_classes must be a positive int, got {num_classes!r}")
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"evaluate: targets must be class indices in [0, {num_classes}), got values from "
                         f"{int(targets.min())} to {int(targets.max())}")
    cm = _confusion_matrix(targets, predictions, num_classes)
    precision, recall, f1, support = precision_recall_f1(cm)
    n = targets.size
    topk_acc = {k: correct[k] / n for k in topk}
    if classes is None:
        ds = getattr(loader, "dataset", None)
        while ds is not None and not hasattr(ds, "classes") and hasattr(ds, "dataset"):  # Subset(...)
            ds = ds.dataset
        classes = getattr(ds, "classes", None)
        if classes is not None and len(classes) != num_classes:
            classes = None
    return EvalResult(loss=None if loss_fn is None else loss_sum / loss_count,
                      accuracy=float((predictions == targets).mean()), topk_accuracy=topk_acc,
                      topk_error={k: 1.0 - v for k, v in topk_acc.items()}, confusion_matrix=cm,
                      precision=precision, recall=recall, f1=f1, support=support, predictions=predictions,
                      targets=targets, classes=None if classes is None else list(classes))


def predict(model, loader, device=None, probabilities=False):
    """The model's outputs for every sample of ``loader`` (batches ``(inputs, targets)`` or inputs
    alone), concatenated in loader order on the CPU; ``probabilities=True`` applies softmax over dim 1."""
    from .. import cat
    from ..autograd import no_grad
    from ..tensor import Tensor

    if device is None:
        device = model_device(model)
    outs = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                inputs = batch[0] if isinstance(batch, (list, tuple)) and not isinstance(batch, Tensor) else batch
                out = model(to_device(inputs, device))
                outs.append((out.softmax(1) if probabilities else out).cpu())
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError("predict: the loader yielded no batches")
    return cat(outs, 0)
