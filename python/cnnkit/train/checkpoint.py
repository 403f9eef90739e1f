"""Resumable training checkpoints: what ``fit`` saves at the end of an epoch and restores on ``resume=``.

A checkpoint is one ``cnnkit.save`` file in the safe format (tensors, numbers, strings; loading runs
no code), a dict with:
``format`` ("cnnkit.train.checkpoint"), ``version``, ``epoch`` (epochs completed), ``model``,
``optimizer`` and ``scheduler`` state dicts, ``history`` (``History.to_dict()``), ``callbacks`` (each
callback's ``state_dict()``), ``meta`` (``fit(meta=...)``: e.g. the CLI's model name, dataset and
number of classes) and ``rng``: the states of every random stream the next epoch draws from -- cnnkit's
default generator (shuffling, dropout masks, random augmentations), the generators of the train
loader and its sampler, Python's ``random`` and NumPy's global generator. Restoring all of them makes
a resumed run draw exactly the numbers the uninterrupted run would have drawn.
"""
from __future__ import annotations

import glob
import os
import random

import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint", "find_checkpoint", "restore_checkpoint"]

FORMAT = "cnnkit.train.checkpoint"
VERSION = 1
LAST = "last.ckpt"


def _loader_generators(loader):
    """The distinct ``Generator`` objects a DataLoader's shuffling draws from (loader, sampler, batch sampler)."""
    found = []
    candidates = [getattr(loader, "generator", None), getattr(getattr(loader, "sampler", None), "generator", None)]
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates.append(getattr(getattr(batch_sampler, "sampler", None), "generator", None))
    for g in candidates:
        if g is not None and hasattr(g, "get_state") and all(g is not f for f in found):
            found.append(g)
    return found


def rng_state(train_loader=None):
    """The states of cnnkit's, the loader's, Python's and NumPy's random streams (safe-format values)."""
    from .. import from_numpy, get_rng_state

    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    return {
        "cnnkit": get_rng_state(),
        "loader": [g.get_state() for g in _loader_generators(train_loader)],
        "python": {"version": py_version, "state": from_numpy(np.asarray(py_state, dtype=np.int64)),
                   "gauss_next": py_gauss},
        "numpy": {"name": np_name, "keys": from_numpy(np.asarray(np_keys, dtype=np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_gauss)},
    }


def set_rng_state(state, train_loader=None):
    """Restores what :func:`rng_state` returned."""
    from .. import set_rng_state as set_cnnkit_state

    set_cnnkit_state(state["cnnkit"])
    generators = _loader_generators(train_loader)
    if len(generators) == len(state["loader"]):
        for g, s in zip(generators, state["loader"]):
            g.set_state(s)
    elif state["loader"]:
        import warnings

        warnings.warn(f"fit(resume=...): the checkpoint holds {len(state['loader'])} data-loader generator "
                      f"state(s) but the train loader has {len(generators)}; its shuffling will differ from "
                      "the original run", RuntimeWarning, stacklevel=3)
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    npst = state["numpy"]
    np.random.set_state((npst["name"], np.asarray(npst["keys"].tolist(), dtype=np.uint32), npst["pos"],
                         npst["has_gauss"], npst["cached_gaussian"]))


def checkpoint_dict(state, weights_only=False):
    """The checkpoint of a run (a :class:`~cnnkit.train.callbacks.FitState`) as it is now."""
    if weights_only:
        return state.model.state_dict()
    sched = state.scheduler
    return {
        "format": FORMAT,
        "version": VERSION,
        "epoch": len(state.history.epoch),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": None if sched is None else sched.state_dict(),
        "history": state.history.to_dict(),
        "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in state.callbacks],
        "meta": dict(state.meta or {}),
        "rng": rng_state(state.train_loader),
    }


def save_checkpoint(state, path, weights_only=False):
    """Writes ``state``'s checkpoint to ``path`` atomically (``cnnkit.save``); returns the path."""
    from ..serialization import save
    from ..serialization._safe import NotSafe, encode

    obj = checkpoint_dict(state, weights_only)
    try:
        encode(obj, {}, {})
    except NotSafe as e:
        raise TypeError(f"fit: cannot write checkpoint {os.fspath(path)}: it would hold a {e} (scheduler, "
                        "callback or meta state must be tensors, numbers, strings, lists or dicts)") from None
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    save(obj, path)
    return os.fspath(path)


def find_checkpoint(path):
    """The checkpoint file ``path`` names: a file itself, or in a directory ``last.ckpt`` or else the
    newest ``*.ckpt``. None when a directory holds none."""
    path = os.fspath(path)
    if os.path.isdir(path):
        last = os.path.join(path, LAST)
        if os.path.isfile(last):
            return last
        files = sorted(glob.glob(os.path.join(path, "*.ckpt")), key=os.path.getmtime)
        return files[-1] if files else None
    if os.path.isfile(path):
        return path
    raise FileNotFoundError(f"fit(resume=...): no checkpoint file or directory {path!r}")


def load_checkpoint(path):
    """Reads a checkpoint written by ``fit``/``ModelCheckpoint`` (``path``: a file or a directory)."""
    from ..serialization import load

    file = find_checkpoint(path)
    if file is None:
        raise FileNotFoundError(f"load_checkpoint: directory {os.fspath(path)!r} holds no *.ckpt file")
    ckpt = load(file, map_location="cpu")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: {file} is not a cnnkit.train checkpoint (expected a dict with "
                         f"format={FORMAT!r}; a weights-only file holds just a state_dict)")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(f"load_checkpoint: {file} has version {ckpt['version']}, newer than this cnnkit "
                         f"reads ({VERSION})")
    ckpt["path"] = file
    return ckpt


def restore_checkpoint(state, ckpt):
    """Loads ``ckpt`` into the run's model, optimizer, scheduler, callbacks and random streams; returns
    the restored History."""
    from .history import History

    state.model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scheduler is not None:
        if ckpt["scheduler"] is None:
            raise ValueError(f"fit(resume={ckpt['path']!r}): the checkpoint has no scheduler state but a "
                             "scheduler was given")
        state.scheduler.load_state_dict(ckpt["scheduler"])
    saved = ckpt.get("callbacks") or []
    for i, cb in enumerate(state.callbacks):
        if i < len(saved) and saved[i]["class"] == type(cb).__name__:
            cb.load_state_dict(saved[i]["state"])
    set_rng_state(ckpt["rng"], state.train_loader)
    return History.from_dict(ckpt["history"])
