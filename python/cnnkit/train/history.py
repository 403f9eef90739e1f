"""``History``: what ``fit`` measured, one value per epoch and name (Keras' ``History`` object).

``history.history`` maps a name to a list with one entry per epoch: ``'loss'`` and the training
metrics (``'accuracy'``, ...), their validation twins (``'val_loss'``, ``'val_accuracy'``, ...), the
learning rate ``'lr'`` the epoch ran with and its wall time ``'time'`` in seconds. ``history.epoch``
lists the (0-based) epoch indices. ``cnnkit.plot.plot_history`` draws from these keys.
"""
from __future__ import annotations

import json
import math
import os

__all__ = ["History"]

# The keys every consumer (progress lines, cnnkit.plot) may rely on come first, in this order.
_KEY_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


def _plain(value):
    """A JSON-friendly Python scalar (tensors/NumPy scalars become floats; NaN/inf become None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


class History:
    """Per-epoch records of a training run (``fit``'s return value).

    ``History(history=None, epoch=None, params=None)``: ``history`` a dict name -> list, ``epoch`` the
    epoch indices, ``params`` what the run was started with (``epochs``, ``steps``)."""

    def __init__(self, history=None, epoch=None, params=None):
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.epoch = list(epoch or [])
        self.params = dict(params or {})
        lengths = {len(v) for v in self.history.values()}
        if lengths - {len(self.epoch)}:
            raise ValueError(f"History: every list must have one entry per epoch ({len(self.epoch)}), got "
                             f"lengths {sorted(lengths)}")

    def append(self, epoch, logs):
        """Records epoch ``epoch``'s ``logs`` (a dict name -> number). A name first seen now is padded
        with None for the earlier epochs; a name missing now gets None."""
        if not isinstance(logs, dict):
            raise TypeError(f"History.append: logs must be a dict, got {type(logs).__name__}")
        n = len(self.epoch)
        for key in logs:
            if key not in self.history:
                self.history[key] = [None] * n
        for key, values in self.history.items():
            values.append(_plain(logs.get(key)))
        self.epoch.append(int(epoch))
        order = {k: i for i, k in enumerate(_KEY_ORDER)}
        self.history = dict(sorted(self.history.items(), key=lambda kv: self._rank(kv[0], order)))

    @staticmethod
    def _rank(key, order):
        # loss, metrics, val_loss, val metrics, then lr/time/anything else, each group stably ordered.
        if key in ("lr", "time"):
            return (4, order[key])
        if key == "loss":
            return (0, 0)
        if key == "val_loss":
            return (2, 0)
        if key.startswith("val_"):
            return (3, order.get(key, 99))
        return (1, order.get(key, 99))

    def __len__(self):
        return len(self.epoch)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def keys(self):
        return self.history.keys()

    def last(self, key, default=None):
        """The latest value of ``key`` (``default`` when never recorded)."""
        values = self.history.get(key)
        return values[-1] if values else default

    def best(self, key, mode="min"):
        """``(epoch, value)`` of the best recorded ``key`` (``mode`` 'min' or 'max'); None entries skipped."""
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        if key not in self.history:
            raise KeyError(f"History.best: no key {key!r}; recorded keys: {list(self.history)}")
        pairs = [(e, v) for e, v in zip(self.epoch, self.history[key]) if v is not None]
        if not pairs:
            return None
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda ev: ev[1])

    def to_dict(self):
        """``{'epoch': [...], 'history': {...}, 'params': {...}}`` of plain Python values (JSON-ready)."""
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()},
                "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict) or "history" not in data:
            raise ValueError("History.from_dict: expected a dict with 'history' and 'epoch' entries (to_dict's "
                             f"output), got {type(data).__name__}")
        return cls(data["history"], data.get("epoch"), data.get("params"))

    def save(self, path):
        """Writes ``to_dict()`` as JSON to ``path`` (atomically: a temporary file renamed over it)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path):
        """Reads a file written by ``save``."""
        with open(os.fspath(path), encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as e:
                raise ValueError(f"History.load: {os.fspath(path)} is not a History JSON file ({e})") from None
        return cls.from_dict(data)

    def __eq__(self, other):
        return isinstance(other, History) and self.to_dict() == other.to_dict()

    def __repr__(self):
        if not self.epoch:
            return "History(epochs=0)"
        last = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in ((k, vs[-1]) for k, vs in self.history.items()) if k != "time")
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)}, last: {last})"
