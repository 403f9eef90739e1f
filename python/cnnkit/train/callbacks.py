"""Callbacks: code ``fit`` runs at fixed points of the loop (Keras' callback protocol).

``fit`` calls, in this order: ``on_train_begin(logs)``, then per epoch ``on_epoch_begin(epoch, logs)``,
per batch ``on_batch_begin(batch, logs)`` / ``on_batch_end(batch, logs)`` (``logs``: ``loss``,
``batch_size`` and the batch's metrics), ``on_epoch_end(epoch, logs)`` (``logs``: the epoch's History
entries), and finally ``on_train_end(logs)``. Epochs and batches are counted from 0. Before
training, each callback's ``state`` is set to the run's :class:`FitState` (model, optimizer,
scheduler, history, ...); setting ``state.stop_training = True`` ends training after the current
epoch. Callbacks with something to remember across a resumed run implement ``state_dict()`` /
``load_state_dict()``; ``fit`` stores them in its checkpoints.
"""
from __future__ import annotations

import csv
import math
import os
import warnings

__all__ = ["Callback", "FitState", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "CSVLogger"]


class FitState:
    """What a callback can see and steer during ``fit``: ``model``, ``optimizer``, ``scheduler``,
    ``loss_fn``, ``history``, ``epochs`` (the total), ``epoch`` (the current one, 0-based),
    ``device``, ``train_loader``, ``stop_training`` and ``checkpoint(path)`` (writes a resumable
    checkpoint of the run as it is now)."""

    def __init__(self, **kwargs):
        self.stop_training = False
        self.epoch = 0
        self._pending = None
        self.__dict__.update(kwargs)

    def checkpoint(self, path, weights_only=False):
        """Writes a checkpoint to ``path`` and returns the path. Called from ``on_epoch_end``, the write
        waits until every callback's ``on_epoch_end`` has run, so the file holds all their updated states
        whatever the callbacks' order."""
        import os

        if self._pending is not None:
            self._pending.append((path, weights_only))
            return os.fspath(path)
        from .checkpoint import save_checkpoint

        return save_checkpoint(self, path, weights_only=weights_only)

    def _defer_checkpoints(self):
        self._pending = []

    def _write_deferred(self):
        pending, self._pending = self._pending or [], None
        for path, weights_only in pending:
            self.checkpoint(path, weights_only)


class Callback:
    """Base class: every hook does nothing. ``self.state`` is the run's :class:`FitState`."""

    state = None

    def set_state(self, state):
        self.state = state

    @property
    def model(self):
        return None if self.state is None else self.state.model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def state_dict(self):
        """What to store in a checkpoint to resume this callback (plain values and tensors)."""
        return {}

    def load_state_dict(self, state_dict):
        pass


def _resolve_mode(monitor, mode, who):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    higher = ("acc" in name or name.startswith("top") or name.startswith("f1") or name in ("precision", "recall"))
    return "max" if higher else "min"


class _Monitor:
    """Tracks the best value of ``monitor`` in ``mode`` ('min'/'max') with a ``min_delta`` margin."""

    def __init__(self, monitor, mode, min_delta, who):
        if not isinstance(monitor, str):
            raise TypeError(f"{who}: monitor must be a History key (str), got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = _resolve_mode(monitor, mode, who)
        self.min_delta = abs(float(min_delta))
        self.best = math.inf if self.mode == "min" else -math.inf
        self.who = who

    def current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            warnings.warn(f"{self.who}: monitored metric {self.monitor!r} is not available; available: "
                          f"{sorted(logs or {})}", RuntimeWarning, stacklevel=3)
            return None
        return float(value)

    def improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras' EarlyStopping). ``mode='auto'`` maximises names with 'acc'/'top'/'f1' in them and
    minimises the rest. ``baseline``: the value to beat first. ``restore_best_weights``: when training
    ends, the model gets the weights of the best epoch back. ``start_from_epoch``: epochs to wait
    before watching."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        self._m = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.monitor, self.mode, self.min_delta = monitor, self._m.mode, self._m.min_delta
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    @property
    def best(self):
        return self._m.best

    def on_train_begin(self, logs=None):
        if self.baseline is not None and self.best_epoch is None:
            self._m.best = float(self.baseline)

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self._m.current(logs)
        if value is None:
            return
        self.wait += 1
        if self._m.improved(value):
            self._m.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in self.state.model.state_dict().items()}
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.state.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} best {self.best:.4g} at epoch "
                  f"{None if self.best_epoch is None else self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.state.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"wait": self.wait, "best": self._m.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state_dict):
        self.wait = state_dict["wait"]
        self._m.best = state_dict["best"]
        self.best_epoch = state_dict["best_epoch"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_weights = state_dict.get("best_weights")


class ModelCheckpoint(Callback):
    """Saves a resumable checkpoint (model, optimizer, scheduler, epoch, History, RNG states) into
    ``dirpath`` at the end of every ``every_n_epochs``-th epoch, through ``cnnkit.save`` (atomic).

    ``filename`` is a ``str.format`` pattern over ``epoch`` (1-based, as printed) and the epoch's logs,
    e.g. ``"epoch{epoch:03d}-{val_loss:.3f}.ckpt"``. With ``save_best_only``, a file is written only
    when ``monitor`` improves (``mode`` as in EarlyStopping); ``best_model_path``/``best`` tell where
    and what. ``save_last`` also keeps ``last.ckpt`` current each epoch. ``save_weights_only``
    writes just the model's state_dict. ``fit(resume=dirpath)`` resumes from ``last.ckpt``, or
    else the newest checkpoint in the directory."""

    def __init__(self, dirpath, monitor="val_loss", mode="auto", save_best_only=False, every_n_epochs=1,
                 filename="epoch{epoch:03d}.ckpt", save_last=False, save_weights_only=False, verbose=0):
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be a positive int, got {every_n_epochs!r}")
        if not isinstance(filename, str) or not filename:
            raise TypeError(f"ModelCheckpoint: filename must be a non-empty format string, got {filename!r}")
        self.dirpath = os.fspath(dirpath)
        self._m = _Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.monitor, self.mode = monitor, self._m.mode
        self.save_best_only = save_best_only
        self.every_n_epochs = every_n_epochs
        self.filename = filename
        self.save_last = save_last
        self.save_weights_only = save_weights_only
        self.verbose = verbose
        self.best_model_path = None
        self.last_model_path = None
        self.saved = []

    @property
    def best(self):
        return self._m.best

    def format_path(self, epoch, logs):
        fields = {k: (math.nan if v is None else v) for k, v in (logs or {}).items()}
        try:
            name = self.filename.format(epoch=epoch + 1, **fields)
        except (KeyError, ValueError, IndexError) as e:
            raise ValueError(f"ModelCheckpoint: filename {self.filename!r} cannot be formatted with epoch and "
                             f"the logs {sorted(fields)}: {e}") from None
        return os.path.join(self.dirpath, name)

    def on_train_begin(self, logs=None):
        os.makedirs(self.dirpath, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_last:
            self.last_model_path = self.state.checkpoint(os.path.join(self.dirpath, "last.ckpt"),
                                                         weights_only=self.save_weights_only)
        if (epoch + 1) % self.every_n_epochs:
            return
        if self.save_best_only:
            value = self._m.current(logs)
            if value is None or not self._m.improved(value):
                return
            self._m.best = value
        path = self.format_path(epoch, logs)
        self.state.checkpoint(path, weights_only=self.save_weights_only)
        self.saved.append(path)
        if self.save_best_only:
            self.best_model_path = path
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved checkpoint {path}")

    def state_dict(self):
        return {"best": self._m.best, "best_model_path": self.best_model_path}

    def load_state_dict(self, state_dict):
        self._m.best = state_dict["best"]
        self.best_model_path = state_dict["best_model_path"]


class LambdaCallback(Callback):
    """A callback from plain functions (Keras' LambdaCallback): ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end", "on_train_begin", "on_train_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None):
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_batch_begin=on_batch_begin,
                     on_batch_end=on_batch_end, on_train_begin=on_train_begin, on_train_end=on_train_end)
        for name, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
                setattr(self, name, fn)


class CSVLogger(Callback):
    """Appends one row per epoch (epoch, then the History keys) to a CSV file (Keras' CSVLogger).
    ``append=False`` starts a new file; ``append=True`` (what a resumed run wants) keeps the rows."""

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self._keys = None

    def on_train_begin(self, logs=None):
        self._keys = None
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh, delimiter=self.sep), None)
            self._keys = header[1:] if header else None
        elif not self.append:
            open(self.filename, "w", encoding="utf-8").close()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        write_header = self._keys is None
        if write_header:
            self._keys = list(logs)
        with open(self.filename, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, delimiter=self.sep)
            if write_header:
                w.writerow(["epoch"] + self._keys)
            w.writerow([epoch] + ["" if logs.get(k) is None else logs.get(k) for k in self._keys])
