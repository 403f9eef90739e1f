"""``cnnkit.save`` / ``cnnkit.load``: tensors, state dicts and (on request) whole pickled objects.

``load`` also reads PyTorch checkpoints (``.pt``/``.pth``, zip and legacy formats) without torch and
without running code from them (``_torch_format.py``: a restricted unpickler that rebuilds only tensors
and OrderedDicts) and ``*.safetensors`` files. cnnkit's own files come in two kinds, both a NumPy
``.npz`` (zip) container:
- the *safe* format, for a (possibly nested) dict/OrderedDict/list/tuple of tensors, numbers, strings
  and None (state dicts of modules, optimizers and schedulers): the structure is JSON next to the
  arrays, so loading never executes code from the file;
- the *pickle* format, for anything else (``cnnkit.save(model, path)`` of a whole module): the object is
  pickled as ``torch.save`` does. Exactly PyTorch's contract (2.6+): ``load`` refuses such a file unless
  ``weights_only=False`` is passed explicitly, because unpickling can run arbitrary code.

Writes to a path are atomic: the file is written to a temporary file in the same directory, flushed and
fsync'ed, then renamed over the target, so a failure part-way leaves any old file intact. A file that is
truncated, corrupt or not a checkpoint raises :class:`UnpicklingError` naming the file.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from ._dtype import bfloat16, int16

__all__ = ["save", "load", "UnpicklingError"]

_PICKLE_KEY = "__pickle__"
_META_KEY = "__meta__"


class UnpicklingError(pickle.UnpicklingError, RuntimeError):
    """A file that ``cnnkit.load`` cannot or will not load (corrupt, truncated, not a checkpoint, or a
    pickle refused under ``weights_only=True``). Subclasses both ``pickle.UnpicklingError`` (as torch's
    error is) and ``RuntimeError``."""


def _encode(obj, arrays):
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        ct = obj.detach()._t.to_device("cpu")
        if obj.dtype is bfloat16:  # NumPy has no bfloat16: its bits as uint16, tagged in the meta
            arrays[key] = np.ascontiguousarray(np.asarray(ct.view_dtype(int16._c))).view(np.uint16)
            return {"__tensor__": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf), "dtype": "bfloat16"}
        arrays[key] = np.ascontiguousarray(np.asarray(ct))
        return {"__tensor__": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf)}
    if isinstance(obj, OrderedDict):
        return {"__odict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple) and type(obj) is tuple:
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list) and type(obj) is list:
        return [_encode(v, arrays) for v in obj]
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    raise _NotSafe(type(obj).__name__)


class _NotSafe(Exception):
    """``obj`` holds something the safe format cannot store: save falls back to pickling."""


def _decode(obj, arrays):
    from .tensor import _wrap, from_numpy, tensor

    if isinstance(obj, dict):
        if "__tensor__" in obj:
            arr = arrays[obj["__tensor__"]]
            if obj.get("dtype") == "bfloat16":
                t = _wrap(from_numpy(np.ascontiguousarray(arr).view(np.int16))._t.clone().view_dtype(bfloat16._c))
                return t.requires_grad_(True) if obj.get("requires_grad", False) else t
            return tensor(arr, requires_grad=obj.get("requires_grad", False))
        if "__odict__" in obj:
            return OrderedDict((_decode(k, arrays), _decode(v, arrays)) for k, v in obj["__odict__"])
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _is_path(f):
    return isinstance(f, (str, bytes)) or hasattr(f, "__fspath__")


def _write_atomic(path, write):
    """Runs ``write(fileobj)`` into a temporary file beside ``path``, then renames it over ``path``."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cnnkit-save-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(obj, f, pickle_module=pickle, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Saves ``obj`` to a path or a writable binary file object (``torch.save``'s signature).

    Tensors and nested dicts/lists/tuples of them (state dicts) use the safe format; any other object
    (a whole ``nn.Module``, a custom class) is pickled and will need ``load(..., weights_only=False)``.
    """
    arrays = {}
    try:
        meta = _encode(obj, arrays)
        meta = {"format": "cnnkit-safe", "version": 1, "root": meta}
    except _NotSafe:
        arrays = {_PICKLE_KEY: np.frombuffer(pickle_module.dumps(obj, protocol=max(2, pickle_protocol)),
                                             dtype=np.uint8)}
        meta = {"format": "cnnkit-pickle", "version": 1}
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    if _is_path(f):
        _write_atomic(f, lambda fh: np.savez(fh, **arrays))
    else:
        np.savez(f, **arrays)


_REFUSED = (
    "Weights only load failed: {name} holds a pickled Python object ({what}), and cnnkit.load only "
    "unpickles with weights_only=False. Re-running `cnnkit.load` with `weights_only=False` will likely "
    "succeed, but it can result in arbitrary code execution. Do it only if you got the file from a trusted "
    "source."
)


def _apply_map_location(obj, map_location):
    """``map_location`` (None, a device or string, a dict, or a callable; torch's kinds, implemented once
    in _torch_format) applied to every tensor of a loaded object. cnnkit's files store every tensor
    from the CPU, so the location each tensor is mapped from is "cpu". A pickled module is mapped
    parameter by parameter through ``Module._apply``."""
    from ._torch_format import _apply_location, _map_location_fn
    from .nn.module import Module

    if map_location is None:
        return obj
    fn = _map_location_fn(map_location)
    if isinstance(obj, Module):
        return obj._apply(lambda t: fn(t, "cpu"))
    return _apply_location(obj, fn)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Loads what ``save`` wrote (``torch.load``'s signature). Tensors come back on the CPU unless
    ``map_location`` names a device. A pickled object loads only with ``weights_only=False``."""
    from ._torch_format import _load_foreign  # PyTorch checkpoints (no code run) and .safetensors files

    found, obj = _load_foreign(f, map_location)
    if found:
        return obj
    name = repr(os.fspath(f)) if _is_path(f) else "the file object"
    src = f if _is_path(f) else io.BytesIO(f.read())
    try:
        with np.load(src, allow_pickle=False) as z:
            files = set(z.files)
            if _META_KEY not in files:
                raise UnpicklingError(f"cnnkit.load: {name} is not a cnnkit checkpoint (it has no '__meta__' entry)")
            arrays = {k: z[k] for k in z.files}
    except UnpicklingError:
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise UnpicklingError(f"cnnkit.load: {name} is truncated, corrupt or not a cnnkit checkpoint "
                              f"({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(bytes(arrays.pop(_META_KEY)).decode())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise UnpicklingError(f"cnnkit.load: {name} has an unreadable '__meta__' entry ({e})") from None
    if isinstance(meta, dict) and meta.get("format") == "cnnkit-pickle":
        if weights_only is not False:
            raise UnpicklingError(_REFUSED.format(name=name, what="saved from an object that is not a tensor "
                                                  "or a container of tensors"))
        obj = (pickle_module or pickle).loads(bytes(arrays[_PICKLE_KEY]))
        return _apply_map_location(obj, map_location)
    root = meta["root"] if isinstance(meta, dict) and meta.get("format") == "cnnkit-safe" else meta
    try:
        obj = _decode(root, arrays)
    except KeyError as e:
        raise UnpicklingError(f"cnnkit.load: {name} refers to a missing array entry {e}") from None
    return _apply_map_location(obj, map_location)
