"""``cnnkit.save`` / ``cnnkit.load``: state dicts and tensors in a NumPy ``.npz`` container.

No pickle of arbitrary objects: a file holds a (possibly nested) dict/list/tuple of tensors,
numbers and strings. The structure is stored as JSON next to the arrays, so loading never
executes code from the file.
"""
from __future__ import annotations

import io
import json
from collections import OrderedDict

import numpy as np

from ._dtype import bfloat16, int16


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
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cnnkit.save: cannot store an object of type {type(obj).__name__}")


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


def save(obj, f):
    """Saves tensors / state dicts (nested containers of them) to a path or binary file object."""
    arrays = {}
    meta = _encode(obj, arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        with open(f, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f, map_location=None, weights_only=True):
    """Loads what ``save`` wrote; tensors come back on the CPU (move them with ``.to(device)``)."""
    src = f if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__") else io.BytesIO(f.read())
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays.pop("__meta__")).decode())
    return _decode(meta, arrays)
