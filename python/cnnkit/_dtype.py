"""dtypes and devices, PyTorch-shaped: ``cnnkit.float32``, ``cnnkit.device("cpu")``."""
from __future__ import annotations

import builtins

import numpy as np

from . import _C


class dtype:
    """An element type. ``is_floating_point`` and ``itemsize`` as in torch."""

    __slots__ = ("name", "_c", "itemsize", "is_floating_point", "numpy", "_category")

    def __init__(self, name, c, itemsize, is_floating_point, np_dtype, category):
        self.name = name
        self._c = c
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.numpy = np.dtype(np_dtype)
        self._category = category  # 0 bool, 1 integer, 2 floating (type promotion)

    def __repr__(self):
        return f"cnnkit.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


float32 = dtype("float32", _C.DType.float32, 4, True, np.float32, 2)
float64 = dtype("float64", _C.DType.float64, 8, True, np.float64, 2)
int64 = dtype("int64", _C.DType.int64, 8, False, np.int64, 1)
uint8 = dtype("uint8", _C.DType.uint8, 1, False, np.uint8, 1)
bool_ = dtype("bool", _C.DType.bool, 1, False, np.bool_, 0)

_ALL = (float32, float64, int64, uint8, bool_)
_BY_C = {d._c: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}


def _dtype_by_name(name):
    return _BY_NAME[name]


def _from_c(c):
    return _BY_C[c]


_default_dtype = float32


def get_default_dtype():
    return _default_dtype


def set_default_dtype(d):
    global _default_dtype
    if d not in (float32, float64):
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _default_dtype = d


def _from_numpy_dtype(npd):
    npd = np.dtype(npd)
    for d in _ALL:
        if d.numpy == npd:
            return d
    raise TypeError(
        f"can't convert np.ndarray of type numpy.{npd}. The only supported types are: "
        "float64, float32, int64, uint8, and bool."
    )


def promote_types(a, b):
    """The smallest dtype both a and b convert to without losing their category (torch's rule)."""
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    if a._category == 2:
        return float64
    return int64  # uint8 with int64


def _scalar_dtype(v):
    if isinstance(v, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(v, (int, np.integer)):
        return int64
    return _default_dtype


class device:
    """``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``, ``device("cuda", 1)``."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        if ":" in type:
            if index is not None:
                raise ValueError(f"device(): type (string) must not include an index because index was passed explicitly: {type}")
            type, _, idx = type.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'") from None
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = type
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"


def _as_device(d):
    if d is None:
        return None
    if isinstance(d, int):
        return device("cuda", d)
    return d if isinstance(d, device) else device(d)


def _device_str(d):
    """The ``_C`` device string for a device argument (None -> "cpu"); "cuda" keeps no index, and
    _C resolves it to the current device, raising a clear RuntimeError when CUDA is unusable."""
    d = _as_device(d)
    return "cpu" if d is None else str(d)
