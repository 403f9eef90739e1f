"""``fit``: Keras' convenience around PyTorch's plain training loop.

The loop is the one every course writes, readable as is::

    for epoch in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
        model.eval()
        with no_grad():
            ... validation ...

plus what one otherwise adds by hand: device moves, running loss and metrics, a progress bar,
scheduler steps, callbacks, resumable checkpoints and a :class:`History` of every epoch.
"""
from __future__ import annotations

import math
import os
import sys
import time

from .callbacks import Callback, FitState
from .checkpoint import LAST, find_checkpoint, load_checkpoint, restore_checkpoint, save_checkpoint
from .history import History
from .metrics import resolve_metrics
from .progress import Progress, progress_mode

__all__ = ["fit", "to_device", "model_device"]


def model_device(model):
    """The device of the model's first parameter (or buffer); CPU for a model without either."""
    from .._dtype import device as Device

    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return Device("cpu")


def _is_pinned(t):
    fn = getattr(t, "is_pinned", None)
    try:
        return bool(fn()) if callable(fn) else False
    except (RuntimeError, TypeError):
        return False


def to_device(obj, device):
    """Moves the tensors in ``obj`` (a tensor, or lists/tuples/dicts of them) to ``device``; pinned host
    tensors are copied with ``non_blocking=True``. Anything else is returned unchanged."""
    from ..tensor import Tensor

    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=_is_pinned(obj))
    if isinstance(obj, dict):
        return type(obj)((k, to_device(v, device)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def split_batch(batch, who):
    """``(inputs, targets)`` of a loader's batch."""
    if isinstance(batch, (list, tuple)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(f"{who}: each batch must be a pair (inputs, targets), got "
                     f"{type(batch).__name__}{'' if not isinstance(batch, (list, tuple)) else f' of {len(batch)}'}")


def batch_size(inputs, targets):
    from ..tensor import Tensor

    for x in (targets, inputs):
        if isinstance(x, Tensor) and x.dim() > 0:
            return int(x.shape[0])
    return len(targets)


def _scheduler_mode(scheduler, scheduler_step):
    """'epoch', 'batch' or 'plateau' for ``scheduler`` (None: no scheduler)."""
    from ..optim import lr_scheduler as S

    if scheduler is None:
        return None
    if not hasattr(scheduler, "step") or not hasattr(scheduler, "state_dict"):
        raise TypeError(f"fit: scheduler must be an lr_scheduler (with step() and state_dict()), got "
                        f"{type(scheduler).__name__}")
    plateau = isinstance(scheduler, S.ReduceLROnPlateau)
    if scheduler_step is None:
        if plateau:
            return "plateau"
        return "batch" if isinstance(scheduler, (S.OneCycleLR, S.CyclicLR)) else "epoch"
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_step must be 'epoch', 'batch' or None (auto), got {scheduler_step!r}")
    if plateau:
        if scheduler_step == "batch":
            raise ValueError("fit: ReduceLROnPlateau steps once per epoch with the validation loss; "
                             "scheduler_step='batch' does not apply")
        return "plateau"
    return scheduler_step


def _check_args(model, train_loader, loss_fn, optimizer, epochs, callbacks):
    from ..nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    if not hasattr(train_loader, "__iter__"):
        raise TypeError(f"fit: train_loader must be iterable (a DataLoader), got {type(train_loader).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable (e.g. nn.CrossEntropyLoss()), got {type(loss_fn).__name__}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad") and hasattr(optimizer, "param_groups")):
        raise TypeError(f"fit: optimizer must be a cnnkit.optim optimizer, got {type(optimizer).__name__}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be cnnkit.train.Callback instances, got {type(cb).__name__}")
    return callbacks


class _Running:
    """Batch-size-weighted sums of the loss and the metrics over one pass."""

    def __init__(self, names):
        self.names = list(names)
        self.sums = {n: 0.0 for n in self.names}
        self.count = 0

    def add(self, n, values):
        self.count += n
        for k, v in values.items():
            self.sums[k] += float(v) * n

    def means(self, prefix=""):
        if self.count == 0:
            return {prefix + k: None for k in self.names}
        return {prefix + k: self.sums[k] / self.count for k in self.names}


def _lr(optimizer):
    return float(optimizer.param_groups[0]["lr"])


def validate(model, loader, loss_fn, metric_fns, device, prefix="val_"):
    """Mean loss and metrics of ``model`` over ``loader`` in eval mode without gradients."""
    from ..autograd import no_grad

    model.eval()
    run = _Running(["loss"] + [n for n, _ in metric_fns])
    with no_grad():
        for batch in loader:
            inputs, targets = split_batch(batch, "fit (validation)")
            inputs, targets = to_device(inputs, device), to_device(targets, device)
            outputs = model(inputs)
            values = {"loss": loss_fn(outputs, targets).item()}
            values.update({n: fn(outputs, targets) for n, fn in metric_fns})
            run.add(batch_size(inputs, targets), values)
    return run.means(prefix)


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, scheduler=None, device=None,
        callbacks=(), metrics=("accuracy",), *, resume=None, checkpoint_dir=None, verbose=True,
        scheduler_step=None, log_every=None, meta=None):
    """Trains ``model`` for ``epochs`` epochs (the total, counting epochs of a resumed run) and returns a
    :class:`History`.

    - ``val_loader``: evaluated after every epoch (``model.eval()``, no gradients): ``val_loss`` and
      ``val_<metric>`` in the History.
    - ``metrics``: names ("accuracy", "top5", "top_k_accuracy", "topK") or callables
      ``metric(outputs, targets) -> float``, or a dict name -> metric.
    - ``scheduler``: stepped once per epoch; per batch for OneCycleLR/CyclicLR (or as
      ``scheduler_step='epoch'|'batch'`` says); ReduceLROnPlateau with ``val_loss`` (``loss`` without
      a validation loader).
    - ``device``: the model is moved there and every batch too; default: the model's device.
    - ``callbacks``: :class:`Callback` instances (EarlyStopping, ModelCheckpoint, ...).
    - ``checkpoint_dir``: ``last.ckpt`` there is rewritten (atomically) after every epoch.
    - ``resume``: a checkpoint file or a directory (its ``last.ckpt``, else its newest ``*.ckpt``) to
      continue from; ``True`` resumes from ``checkpoint_dir`` when it holds a checkpoint and starts
      afresh otherwise. Model, optimizer, scheduler, callbacks, History and all random streams are
      restored, so the continued run equals the uninterrupted one batch for batch.
    - ``verbose``: 0 silent, 1/True a tqdm bar when possible (else lines), 2 one line per epoch;
      ``log_every=N`` adds a line every N batches in the line mode.
    - ``meta``: a dict stored in every checkpoint (e.g. model name, dataset, number of classes).

    The model's train/eval mode is restored when ``fit`` returns.
    """
    callbacks = _check_args(model, train_loader, loss_fn, optimizer, epochs, callbacks)
    metric_fns = resolve_metrics(metrics)
    sched_mode = _scheduler_mode(scheduler, scheduler_step)
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"fit: meta must be a dict or None, got {type(meta).__name__}")
    if device is None:
        device = model_device(model)
    else:
        model.to(device)
    try:
        steps = len(train_loader)
    except TypeError:
        steps = None

    history = History(params={"epochs": epochs, "steps": steps})
    state = FitState(model=model, optimizer=optimizer, scheduler=scheduler, loss_fn=loss_fn, history=history,
                     epochs=epochs, device=device, train_loader=train_loader, val_loader=val_loader,
                     callbacks=callbacks, meta=meta, metrics=[n for n, _ in metric_fns])
    stream = sys.stdout
    progress = Progress(progress_mode(verbose, stream), epochs, steps, stream, log_every)

    ckpt_file = None
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("fit: resume=True needs checkpoint_dir (or pass resume=<file or directory>)")
        ckpt_file = find_checkpoint(checkpoint_dir) if os.path.isdir(checkpoint_dir) else None
    elif resume not in (None, False):
        ckpt_file = find_checkpoint(resume)
        if ckpt_file is None:
            raise FileNotFoundError(f"fit(resume={os.fspath(resume)!r}): the directory holds no *.ckpt file")
    if ckpt_file is not None:
        ckpt = load_checkpoint(ckpt_file)
        history = restore_checkpoint(state, ckpt)
        history.params = {"epochs": epochs, "steps": steps}
        state.history = history
        progress.message(f"Resuming from {ckpt['path']} after epoch {ckpt['epoch']}")
    start_epoch = len(history.epoch)
    state.epoch = start_epoch

    was_training = model.training
    for cb in callbacks:
        cb.set_state(state)
    try:
        for cb in callbacks:
            cb.on_train_begin({})
        for epoch in range(start_epoch, epochs):
            state.epoch = epoch
            lr = _lr(optimizer)
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {"lr": lr})
            progress.epoch_begin(epoch)
            t0 = time.perf_counter()
            model.train()
            run = _Running(["loss"] + [n for n, _ in metric_fns])
            step = 0
            for step, batch in enumerate(train_loader, 1):
                for cb in callbacks:
                    cb.on_batch_begin(step - 1, {})
                inputs, targets = split_batch(batch, "fit")
                inputs, targets = to_device(inputs, device), to_device(targets, device)
                optimizer.zero_grad()
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
                loss.backward()
                optimizer.step()
                if sched_mode == "batch":
                    scheduler.step()
                values = {"loss": loss.item()}
                values.update({n: fn(outputs.detach(), targets) for n, fn in metric_fns})
                n = batch_size(inputs, targets)
                run.add(n, values)
                progress.batch(epoch, step, run.means(), run.count)
                for cb in callbacks:
                    cb.on_batch_end(step - 1, dict(values, batch_size=n))
            train_seconds = time.perf_counter() - t0
            logs = run.means()
            if val_loader is not None:
                logs.update(validate(model, val_loader, loss_fn, metric_fns, device))
            logs["lr"] = lr
            logs["time"] = time.perf_counter() - t0
            if sched_mode == "epoch":
                scheduler.step()
            elif sched_mode == "plateau":
                monitored = logs.get("val_loss", logs["loss"])
                scheduler.step(math.inf if monitored is None else monitored)
            history.append(epoch, logs)
            progress.epoch_end(epoch, logs, step, run.count, train_seconds)
            state._defer_checkpoints()
            for cb in callbacks:
                cb.on_epoch_end(epoch, dict(logs))
            state._write_deferred()
            if checkpoint_dir is not None:
                save_checkpoint(state, os.path.join(os.fspath(checkpoint_dir), LAST))
            if state.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end({k: v[-1] for k, v in history.history.items()} if history.epoch else {})
    finally:
        progress.close()
        model.train(was_training)
    return history
