"""cnnkit's *safe* checkpoint format: a nested structure of containers, numbers, strings and tensors,
written as JSON (the ``__meta__`` entry) beside one ``.npy`` entry per tensor in a zip archive.

JSON encoding of a node (the same in format versions 0, 1 and 2):
  None / bool / int / float / str    themselves
  list                               a JSON list of nodes
  tuple                              {"__tuple__": [node, ...]}
  dict / OrderedDict                 {"__dict__": [[key node, value node], ...]} / {"__odict__": ...}
  tensor                             {"__tensor__": "t<i>", "requires_grad": bool[, "dtype": "bfloat16"]}
Version 2 adds, next to the root, a ``tensors`` table {"t<i>": {"dtype": name, "shape": [...]}} so every
entry's ``.npy`` header is checked against an independent declaration, and writes ``__meta__`` first.

Loading validates the whole tree (node kinds, nesting depth, references to entries, dtypes, shapes and
byte counts) before any tensor is allocated.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ._container import CheckpointError

# Containers nested deeper than this are refused on save and on load. Each container level is at most
# three JSON levels ({"__dict__": [[key, value]]}), which keeps json (recursive, in C) far from Python's
# recursion limit; a deeper __meta__ makes json raise RecursionError, reported as the same CheckpointError.
MAX_DEPTH = 100

_TAGS = ("__tensor__", "__odict__", "__dict__", "__tuple__")


class NotSafe(Exception):
    """``obj`` holds something the safe format cannot store: save falls back to pickling."""


def encode(obj, arrays, table, depth=0):
    """The JSON node for ``obj``; tensors go to ``arrays`` (key -> NumPy array) and ``table``."""
    from .._dtype import bfloat16, int16
    from ..tensor import Tensor

    if depth >= MAX_DEPTH and isinstance(obj, (dict, list, tuple)):
        raise ValueError(f"cnnkit.save: the object nests containers more than {MAX_DEPTH} levels deep")
    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        ct = obj.detach()._t.to_device("cpu")
        node = {"__tensor__": key, "requires_grad": bool(obj.requires_grad and obj.is_leaf)}
        # np.array(order="C"), not np.ascontiguousarray: that one turns a 0-d tensor into shape (1,)
        if obj.dtype is bfloat16:  # NumPy has no bfloat16: its bits as uint16, tagged in the node
            arrays[key] = np.array(np.asarray(ct.view_dtype(int16._c)), order="C").view(np.uint16)
            node["dtype"] = "bfloat16"
        else:
            arrays[key] = np.array(np.asarray(ct), order="C")
        table[key] = {"dtype": obj.dtype.name, "shape": list(obj.shape)}
        return node
    if isinstance(obj, dict) and type(obj) in (dict, OrderedDict):
        tag = "__odict__" if isinstance(obj, OrderedDict) else "__dict__"
        return {tag: [[encode(k, arrays, table, depth + 1), encode(v, arrays, table, depth + 1)]
                      for k, v in obj.items()]}
    if type(obj) is tuple:
        return {"__tuple__": [encode(v, arrays, table, depth + 1) for v in obj]}
    if type(obj) is list:
        return [encode(v, arrays, table, depth + 1) for v in obj]
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    raise NotSafe(type(obj).__name__)


def _child(path, key):
    """State-dict style dotted names for messages: model.layer1.0.weight."""
    key = key if isinstance(key, str) else repr(key)
    return key if not path else f"{path}.{key}"


def collect(node, name, path="", depth=0, refs=None):
    """Checks the JSON tree (node kinds, depth) and returns {entry key: (dotted path, tensor node)}."""
    refs = {} if refs is None else refs
    where = f" at {path!r}" if path else ""
    if node is None or type(node) in (bool, int, float, str):
        return refs
    if depth >= MAX_DEPTH and not (type(node) is dict and "__tensor__" in node):
        raise CheckpointError(f"{name} is corrupt: its structure nests more than {MAX_DEPTH} containers deep")
    if type(node) is list:
        for i, v in enumerate(node):
            collect(v, name, _child(path, i), depth + 1, refs)
        return refs
    if type(node) is not dict:
        raise CheckpointError(f"{name} is corrupt: unexpected {type(node).__name__} in its structure{where}")
    tags = [t for t in _TAGS if t in node]
    if len(tags) != 1:
        raise CheckpointError(f"{name} is corrupt: unknown record {sorted(node)[:4]!r:.120} in its structure{where}")
    tag = tags[0]
    body = node[tag]
    if tag == "__tensor__":
        if type(body) is not str or type(node.get("requires_grad", False)) is not bool or \
                node.get("dtype", "bfloat16") != "bfloat16" or set(node) - {"__tensor__", "requires_grad", "dtype"}:
            raise CheckpointError(f"{name} is corrupt: malformed tensor record {node!r:.120}{where}")
        if body in refs:
            raise CheckpointError(f"{name} is corrupt: entry {body!r} is referenced twice (at {refs[body][0]!r} "
                                  f"and {path!r})")
        refs[body] = (path or "<root>", node)
        return refs
    if type(body) is not list or len(node) != 1:
        raise CheckpointError(f"{name} is corrupt: malformed {tag} record{where}")
    if tag == "__tuple__":
        for i, v in enumerate(body):
            collect(v, name, _child(path, i), depth + 1, refs)
        return refs
    for pair in body:
        if type(pair) is not list or len(pair) != 2:
            raise CheckpointError(f"{name} is corrupt: a {tag} item{where} is not a [key, value] pair")
        key, value = pair
        if not _hashable_node(key):
            raise CheckpointError(f"{name} is corrupt: a dict key{where} is not a string, number or tuple")
        collect(value, name, _child(path, _plain(key)), depth + 1, refs)
    return refs


def _hashable_node(node, depth=0):
    """Keys are what save writes for a dict key: scalars, or tuples of them (tensors hash by identity in
    torch, but a key that is a fresh tensor could never be looked up: not accepted)."""
    if node is None or type(node) in (bool, int, float, str):
        return True
    if type(node) is dict and list(node) == ["__tuple__"] and type(node["__tuple__"]) is list and depth < 8:
        return all(_hashable_node(v, depth + 1) for v in node["__tuple__"])
    return False


def _plain(key):
    if type(key) is dict:
        return tuple(_plain(v) for v in key["__tuple__"])
    return key


def build(node, tensors):
    """The Python object for a node already checked by ``collect``; ``tensors``: entry key -> Tensor."""
    if type(node) is list:
        return [build(v, tensors) for v in node]
    if type(node) is not dict:
        return node
    if "__tensor__" in node:
        return tensors[node["__tensor__"]]
    if "__tuple__" in node:
        return tuple(build(v, tensors) for v in node["__tuple__"])
    out = OrderedDict() if "__odict__" in node else {}
    for k, v in node.get("__odict__", node.get("__dict__")):
        out[_plain(k)] = build(v, tensors)
    return out


def check_entry(shape, np_dtype, path, node, declared, name):
    """The cnnkit dtype of an entry whose ``.npy`` header declares ``shape``/``np_dtype``, checked against
    its tensor node (bfloat16 tag, requires_grad) and, in version 2, its declared dtype and shape. Runs
    before the entry's data is read."""
    from .._dtype import _BY_NAME, _BY_NUMPY, bfloat16

    np_dtype = np_dtype.newbyteorder("=")
    bf16 = node.get("dtype") == "bfloat16"
    got = bfloat16 if bf16 and np_dtype == np.uint16 else _BY_NUMPY.get(np_dtype)
    if got is None or (bf16 and got is not bfloat16):
        raise CheckpointError(f"{name} is corrupt: entry {path!r} holds NumPy dtype {np_dtype.str!r}, which "
                              f"does not match its record{' (bfloat16 travels as uint16)' if bf16 else ''}")
    if declared is not None:
        dname = declared.get("dtype") if isinstance(declared, dict) else None
        if dname not in _BY_NAME:
            raise CheckpointError(f"{name} is corrupt: entry {path!r} has unknown dtype "
                                  f"{dname if isinstance(dname, str) else declared!r:.40}")
        if _BY_NAME[dname] is not got or declared.get("shape") != list(shape):
            raise CheckpointError(f"{name} is corrupt: entry {path!r} is declared as {dname} of shape "
                                  f"{declared.get('shape')!r:.80} but holds {got.name} of shape {list(shape)}")
    if node.get("requires_grad", False) and not got.is_floating_point:
        raise CheckpointError(f"{name} is corrupt: entry {path!r} of dtype {got.name} is marked requires_grad "
                              "(only floating-point tensors can require gradients)")
    return got


def make_tensor(arr, dt, node):
    """A cnnkit tensor holding a copy of the checked entry ``arr`` (dtype ``dt`` from ``check_entry``)."""
    from .._dtype import bfloat16
    from ..tensor import _wrap, from_numpy

    if dt is bfloat16:
        t = _wrap(from_numpy(np.array(arr.view(np.int16), copy=True))._t.view_dtype(bfloat16._c))
    else:
        t = from_numpy(np.array(arr, copy=True))
    return t.requires_grad_(True) if node.get("requires_grad", False) else t
