"""dtypes and devices, PyTorch-shaped: ``cnnkit.float32``, ``cnnkit.device("cpu")``."""
from __future__ import annotations

import builtins

import numpy as np

from . import _C


class dtype:
    """An element type: ``name``, ``itemsize``, ``is_floating_point``, ``is_signed``, ``is_complex``
    as in torch. ``numpy`` is the NumPy dtype that holds its values (float32 for bfloat16, which
    NumPy lacks)."""

    __slots__ = ("name", "_c", "itemsize", "is_floating_point", "is_signed", "numpy", "_category", "_rank")

    def __init__(self, name, c, itemsize, is_floating_point, is_signed, np_dtype, category, rank):
        self.name = name
        self._c = c
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.is_signed = is_signed
        self.numpy = np.dtype(np_dtype)
        self._category = category  # 0 bool, 1 integer, 2 floating (type promotion)
        self._rank = rank  # order within the category (promotion between same-category dtypes)

    is_complex = False

    def __repr__(self):
        return f"cnnkit.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))

    def to_real(self):
        return self


float32 = dtype("float32", _C.DType.float32, 4, True, True, np.float32, 2, 2)
float64 = dtype("float64", _C.DType.float64, 8, True, True, np.float64, 2, 3)
float16 = dtype("float16", _C.DType.float16, 2, True, True, np.float16, 2, 1)
bfloat16 = dtype("bfloat16", _C.DType.bfloat16, 2, True, True, np.float32, 2, 1)
int64 = dtype("int64", _C.DType.int64, 8, False, True, np.int64, 1, 8)
int32 = dtype("int32", _C.DType.int32, 4, False, True, np.int32, 1, 4)
int16 = dtype("int16", _C.DType.int16, 2, False, True, np.int16, 1, 2)
int8 = dtype("int8", _C.DType.int8, 1, False, True, np.int8, 1, 1)
uint8 = dtype("uint8", _C.DType.uint8, 1, False, False, np.uint8, 1, 1)
bool_ = dtype("bool", _C.DType.bool, 1, False, False, np.bool_, 0, 0)

_ALL = (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool_)
_HALF = (float16, bfloat16)
_BY_C = {d._c: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
# NumPy dtype -> ours (bfloat16 has no NumPy twin: it is never inferred from an array).
_BY_NUMPY = {d.numpy: d for d in _ALL if d is not bfloat16}


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
    d = _BY_NUMPY.get(npd)
    if d is None or npd.byteorder == ">":
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{npd}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        )
    return d


def promote_types(a, b):
    """torch.promote_types: bool < integers < floating. Two integers: the larger one when both are
    signed (or both uint8); uint8 with a signed integer needs the next signed size up (uint8 + int8 ->
    int16). Two floats: the larger; float16 with bfloat16 -> float32 (neither holds the other)."""
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    if a._category == 1:
        if a.is_signed != b.is_signed:  # uint8 with a signed integer
            s = a if a.is_signed else b
            return int16 if s is int8 else s
        return a if a._rank > b._rank else b
    if {a, b} == {float16, bfloat16}:
        return float32
    return a if a._rank > b._rank else b


def _scalar_dtype(v):
    if isinstance(v, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(v, (int, np.integer)):
        return int64
    return _default_dtype


class finfo:
    """Machine limits of a floating dtype (``torch.finfo``): bits, eps, max, min, tiny,
    smallest_normal, resolution, dtype (its name)."""

    def __init__(self, type=None):
        type = _default_dtype if type is None else type
        if not isinstance(type, dtype) or not type.is_floating_point:
            raise TypeError(f"finfo(): expected a floating point dtype, got {type!r}")
        if type is bfloat16:
            self.bits, self.eps, self.resolution = 16, 2.0 ** -7, 0.01
            self.max = (2.0 - 2.0 ** -7) * 2.0 ** 127
            self.tiny = self.smallest_normal = 2.0 ** -126
        else:
            fi = np.finfo(type.numpy)
            self.bits, self.eps, self.resolution = fi.bits, builtins.float(fi.eps), 10.0 ** -builtins.int(fi.precision)
            self.max = builtins.float(fi.max)
            self.tiny = self.smallest_normal = builtins.float(fi.tiny)
        self.min = -self.max
        self.dtype = type.name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (``torch.iinfo``): bits, min, max, dtype (its name)."""

    def __init__(self, type):
        if not isinstance(type, dtype) or type._category != 1:
            raise TypeError(f"iinfo(): expected an integer dtype, got {type!r}")
        ii = np.iinfo(type.numpy)
        self.bits, self.min, self.max, self.dtype = ii.bits, builtins.int(ii.min), builtins.int(ii.max), type.name

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


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
