"""Reading and writing PyTorch checkpoints (``torch.save`` zip format, torch >= 1.6) without torch.

The file is a zip archive whose records sit under one folder (``<name>/``):
  data.pkl        a pickle (protocol 2) of the saved object; each tensor is the call
                  ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``
                  and each storage a persistent id ``("storage", torch.FloatStorage, key, location, numel)``
  data/<key>      the raw bytes of storage ``key`` (``numel`` elements)
  byteorder       "little" or "big" (absent in files from torch < 1.13: little)
  version         the format version ("3\\n")

Reading never executes code from the file: the unpickler resolves only the globals a state dict needs
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` /
``_rebuild_parameter_with_state``, the ``torch.*Storage`` classes), each mapped to a function of
ours; any other global (``os.system``, ``builtins.eval``, a module class...) raises
``cnnkit.serialization.CheckpointError`` (a ``pickle.UnpicklingError`` and ``RuntimeError``) naming it, as
does any truncated or corrupt file: declared storage sizes and tensor extents are checked against the bytes
present before anything is allocated. Each storage becomes one 1-D cnnkit tensor and each tensor a
strided view of it, so tensors that shared storage in torch still share memory here.

Every torch dtype cnnkit has is kept (float16 and bfloat16 included: bfloat16 storages are read as their
16-bit patterns and reinterpreted); complex and quantized storages raise.

The legacy format (torch 0.4 - 1.5, still used by torchvision's older ImageNet files such as
vgg16-397923af.pth and alexnet-owt-7be5be79.pth) is read too: five pickles in a row (magic number,
protocol 1001, system info, the object, the storage keys), then per storage an int64 element count
and the raw bytes; the same restricted unpickler resolves its globals. The pre-0.4 tar format and
torch.hub's single-file zips are not read.

Writing (``save_torch_state_dict``) emits the same layout (pickle opcodes written directly, data
records 64-byte aligned like torch's), which ``torch.load(path, weights_only=True)`` reads.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from .serialization._container import CheckpointError

__all__ = ["is_torch_zip", "load_torch", "save_torch_state_dict"]

# torch storage class name -> (NumPy dtype as stored, dtype it becomes in cnnkit)
_STORAGE_TYPES = {
    "FloatStorage": ("f4", "f4"),
    "DoubleStorage": ("f8", "f8"),
    "HalfStorage": ("f2", "f2"),
    "BFloat16Storage": ("u2", "u2"),  # the high 16 bits of a float32, reinterpreted by _bits_tensor
    "LongStorage": ("i8", "i8"),
    "IntStorage": ("i4", "i4"),
    "ShortStorage": ("i2", "i2"),
    "CharStorage": ("i1", "i1"),
    "ByteStorage": ("u1", "u1"),
    "BoolStorage": ("b1", "b1"),
}
# cnnkit dtype name -> torch storage class name used when writing
_WRITE_TYPES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
                "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage",
                "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage"}


def _storage_tensor(arr, storage_name):
    """A cnnkit tensor sharing ``arr``'s memory: bfloat16 storages hold their bit patterns as uint16 and
    are reinterpreted (NumPy has no bfloat16)."""
    from ._dtype import bfloat16
    from .tensor import _wrap, from_numpy

    if storage_name == "BFloat16Storage":
        return _wrap(from_numpy(arr.view(np.int16))._t.view_dtype(bfloat16._c))
    return from_numpy(arr)


def _numpy_bits(t):
    """The host array ``save_torch_state_dict`` writes for tensor t (bfloat16 as its uint16 bits)."""
    from ._dtype import bfloat16, int16

    ct = t.detach().cpu()._t.contiguous()
    if t.dtype is bfloat16:
        return np.ascontiguousarray(np.asarray(ct.view_dtype(int16._c))).view(np.uint16)
    return np.ascontiguousarray(np.asarray(ct))


class _StorageType:
    """Stands for a ``torch.<Name>Storage`` class inside the pickle."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


def is_torch_zip(f):
    """True if the path or seekable binary file is a zip archive holding a ``data.pkl`` record."""
    try:
        pos = f.tell() if hasattr(f, "read") else None
        try:
            if not zipfile.is_zipfile(f):
                return False
            if pos is not None:
                f.seek(pos)
            with zipfile.ZipFile(f) as z:
                return any(n == "data.pkl" or n.endswith("/data.pkl") for n in z.namelist())
        finally:
            if pos is not None:
                f.seek(pos)
    except (OSError, zipfile.BadZipFile):
        return False


def _is_legacy_torch(f):
    """True for a pre-1.6 torch file: a bare pickle starting with torch's magic number."""
    if hasattr(f, "read"):
        pos = f.tell()
        head = f.read(32)
        f.seek(pos)
    else:
        with open(f, "rb") as fh:
            head = fh.read(32)
    # protocol-2 pickle of the int 0x1950a86a20f9469cfc6c: PROTO 2, LONG1 10 bytes, ...
    return head[:4] == b"\x80\x02\x8a\x0a" and head[4:14] == (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _map_location_fn(map_location):
    """A function (storage tensor, location string) -> tensor implementing torch's map_location kinds."""
    from ._dtype import device as Device

    if map_location is None:
        return lambda s, loc: s  # cnnkit loads onto the CPU unless told otherwise
    if callable(map_location) and not isinstance(map_location, Device):
        def call(s, loc):
            out = map_location(s, loc)
            return s if out is None else out
        return call
    if isinstance(map_location, dict):
        def lookup(s, loc):
            target = map_location.get(loc, loc)
            return s.to(target) if target != "cpu" else s
        return lookup
    if isinstance(map_location, (str, Device)):
        target = Device(map_location)
        return lambda s, loc: s if target.type == "cpu" else s.to(target)
    raise TypeError(f"map_location: expected None, a string, a cnnkit.device, a dict or a callable, got "
                    f"{type(map_location).__name__}")


class _Reader:
    def __init__(self, zf, prefix, name, map_location):
        self.zf = zf
        self.prefix = prefix
        self.name = name
        self.map_location = _map_location_fn(map_location)
        self.little = True
        if prefix + "byteorder" in zf.namelist():
            from .serialization._container import read_entry

            order = read_entry(zf, zf.getinfo(prefix + "byteorder"), name).decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise CheckpointError(f"{name}: unknown byteorder record {order!r:.40}")
            self.little = order == "little"
        self.storages = {}

    def storage(self, pid):
        """The persistent id ``("storage", <StorageType>, key, location, numel)`` -> a 1-D tensor."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"{self.name}: unsupported persistent id {pid!r:.80} (expected a "
                                  "('storage', type, key, location, numel) record)")
        _, stype, key, location, numel = pid
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"{self.name}: storage record names {stype!r:.80}, not a torch storage type")
        key = str(key)
        if key in self.storages:
            return self.storages[key]
        stored, target = _STORAGE_TYPES[stype.name]
        member = f"{self.prefix}data/{key}"
        try:
            info = self.zf.getinfo(member)
        except KeyError:
            raise CheckpointError(f"{self.name}: the archive has no record {member!r} for storage {key} "
                                  "(truncated or corrupt checkpoint)") from None
        dt = np.dtype(stored).newbyteorder("<" if self.little else ">")
        # the declared element count against the record's size, before the record is read
        if type(numel) is not int or numel < 0 or info.file_size < numel * dt.itemsize:
            raise CheckpointError(f"{self.name}: storage {key} declares {numel!r:.40} elements of {stype} "
                                  f"({numel * dt.itemsize if type(numel) is int else '?'} bytes), "
                                  f"the record has {info.file_size} bytes")
        from .serialization._container import read_entry

        raw = bytearray(read_entry(self.zf, info, self.name))
        arr = np.frombuffer(raw, dtype=dt, count=numel)
        arr = arr.astype(np.dtype(target).newbyteorder("="), copy=False)
        if not arr.flags.writeable:
            arr = arr.copy()
        try:
            t = self.map_location(_storage_tensor(arr, stype.name), str(location))
        except Exception as e:  # the caller's map_location failed: not a file problem, re-raised as is
            raise _MapLocationFailed(e) from e
        self.storages[key] = t
        return t

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        from .tensor import Tensor, _wrap

        if not isinstance(storage, Tensor):
            raise CheckpointError(f"{self.name}: _rebuild_tensor_v2 got {type(storage).__name__} as its "
                                  "storage, expected a storage record")
        if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))):
            raise CheckpointError(f"{self.name}: invalid tensor record (size {size!r:.60}, stride {stride!r:.60})")
        size, stride = tuple(size), tuple(stride)
        if len(size) != len(stride) or any(type(v) is not int or v < 0 for v in size + stride + (offset,)):
            raise CheckpointError(f"{self.name}: invalid tensor record (size {size!r:.60}, stride {stride!r:.60}, "
                                  f"offset {offset!r:.20})")
        # the furthest element the view reaches, against the storage it views (Python ints: no overflow)
        if all(size):
            last = storage.storage_offset() + offset + sum((n - 1) * st for n, st in zip(size, stride))
            limit = storage.storage_offset() + storage.numel()
            if last >= limit:
                raise CheckpointError(f"{self.name}: a tensor declares size {list(size)} with stride {list(stride)} "
                                      f"at offset {offset}, past the end of its storage of {storage.numel()} "
                                      "elements")
        # a legacy storage view is a 1-D view with its own offset into the root storage
        t = _wrap(storage._t.as_strided(list(size), list(stride), storage.storage_offset() + int(offset)))
        if requires_grad:
            t.requires_grad_(True)
        return t

    def rebuild_parameter(self, data, requires_grad, hooks, state=None):
        from .nn.parameter import Parameter

        return Parameter(data, requires_grad=bool(requires_grad))


class _MapLocationFailed(Exception):
    """Carries an exception raised by the caller's ``map_location`` out of the unpickler unchanged."""

    def __init__(self, exc):
        super().__init__(exc)
        self.exc = exc


class _LegacyReader(_Reader):
    """Pre-1.6 files: storages are announced in the main pickle and their bytes follow it. Each is
    allocated (in cnnkit's dtype) when announced and filled in place once its bytes are read, so the
    tensor views built meanwhile see the data."""

    def __init__(self, name, size):
        self.name = name
        self.map_location = _map_location_fn(None)
        self.storages = {}
        self.pending = {}  # key -> (target array, stored dtype name, numel)
        self.budget = size  # bytes in the file: what all announced storages together can hold at most

    def storage(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointError(f"{self.name}: unsupported persistent id {pid!r:.80} (expected a "
                                  "('storage', type, key, location, numel, view) record)")
        _, stype, key, location, numel, view = pid
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"{self.name}: storage record names {stype!r:.80}, not a torch storage type")
        key = str(key)
        if key not in self.storages:
            if type(numel) is not int or numel < 0:
                raise CheckpointError(f"{self.name}: storage {key} has an invalid size {numel!r:.40}")
            nbytes = numel * np.dtype(_STORAGE_TYPES[stype.name][0]).itemsize
            if nbytes > self.budget:  # checked before the storage is allocated
                raise CheckpointError(f"{self.name}: storage {key} declares {numel} elements ({nbytes} bytes), more "
                                      "than the file holds (truncated or corrupt)")
            self.budget -= nbytes
            arr = np.zeros(numel, dtype=np.dtype(_STORAGE_TYPES[stype.name][1]).newbyteorder("="))
            self.storages[key] = _storage_tensor(arr, stype.name)
            self.pending[key] = (arr, stype.name, numel)
        root = self.storages[key]
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise CheckpointError(f"{self.name}: storage {key} has an invalid view record {view!r:.60}")
        view_key, offset, view_size = view
        if not (type(offset) is int and type(view_size) is int and 0 <= offset and 0 <= view_size
                and offset + view_size <= root.numel()):
            raise CheckpointError(f"{self.name}: storage view {view_key} is out of bounds")
        return root.narrow(0, offset, view_size)

    def fill(self, f, keys, little):
        for key in keys:
            key = str(key)
            if key not in self.pending:
                raise CheckpointError(f"{self.name}: data for unknown storage {key:.40}")
            arr, sname, numel = self.pending.pop(key)
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{self.name}: file ends before the data of storage {key} (truncated)")
            n = int.from_bytes(head, "little" if little else "big", signed=True)
            if n != numel:  # the count before the bytes against the count announced in the pickle
                raise CheckpointError(f"{self.name}: storage {key} was announced with {numel} elements, its data "
                                      f"record declares {n} (corrupt)")
            dt = np.dtype(_STORAGE_TYPES[sname][0]).newbyteorder("<" if little else ">")
            raw = f.read(numel * dt.itemsize)
            if len(raw) != numel * dt.itemsize:
                raise CheckpointError(f"{self.name}: storage {key} should hold {numel} elements, the file has "
                                      f"{len(raw) // dt.itemsize} (truncated)")
            arr[...] = np.frombuffer(raw, dtype=dt)
        if self.pending:
            raise CheckpointError(f"{self.name}: no data for storages {sorted(self.pending)[:5]} "
                                  "(truncated or corrupt)")


def _apply_location(obj, fn):
    """Applies ``map_location`` to every tensor of a loaded legacy object (location "cpu")."""
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        return fn(obj, "cpu")
    if isinstance(obj, OrderedDict):
        out = OrderedDict((k, _apply_location(v, fn)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, dict):
        return {k: _apply_location(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_apply_location(v, fn) for v in obj)
    return obj


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Bounded:
    """A read-only view of ``fh`` that never asks it for more bytes than the file holds, so a length
    declared inside a damaged pickle cannot make a read preallocate gigabytes."""

    def __init__(self, fh, size):
        self.fh = fh
        self.end = fh.tell() + size

    def read(self, n=-1):
        left = max(0, self.end - self.fh.tell())
        return self.fh.read(left if n is None or n < 0 else min(n, left))

    def readline(self, limit=-1):
        left = max(0, self.end - self.fh.tell())
        return self.fh.readline(left if limit is None or limit < 0 else min(limit, left))

    def tell(self):
        return self.fh.tell()

    def seek(self, pos, whence=0):
        return self.fh.seek(pos, whence)


def _prescan(fh, name, what):
    """Walks one pickle's opcodes (pickletools, reading through ``_Bounded``) before it is unpickled:
    every length argument must fit in the bytes present and every memo index must be one the pickler
    could have assigned (at most one per opcode so far). Without this, a flipped bit can make the C
    unpickler allocate a bytearray or a memo table from a 4-8 byte length it has not checked."""
    import pickletools

    start = fh.tell()
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(fh)):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and not (isinstance(arg, int) and 0 <= arg <= count):
                raise ValueError(f"memo index {arg!r:.20} at opcode {count}")
    except CheckpointError:
        raise
    except Exception as e:  # ValueError: truncated argument, unknown opcode, bad memo index
        raise CheckpointError(f"{name}: corrupt {what} ({type(e).__name__}: {str(e)[:200]})") from None
    fh.seek(start)


def _unpickle(fh, reader, name, what):
    """One restricted unpickle from ``fh``. Whatever goes wrong parsing the bytes is a corrupt file
    (the unpickler raises EOFError, ValueError, TypeError, ... on damaged data): one CheckpointError
    naming it. Refusals and bad records (already CheckpointErrors) and the caller's own map_location
    errors pass through unchanged."""
    _prescan(fh, name, what)
    try:
        return _RestrictedUnpickler(fh, reader).load()
    except CheckpointError:
        raise
    except _MapLocationFailed as e:
        raise e.exc
    except MemoryError:
        raise
    except RecursionError:
        raise CheckpointError(f"{name}: corrupt {what} (nested too deeply)") from None
    except Exception as e:
        raise CheckpointError(f"{name}: corrupt {what} ({type(e).__name__}: {str(e)[:200]})") from e


def _load_legacy(f, name, map_location, size=None):
    """A pre-1.6 torch file from the seekable binary file ``f`` (``size`` bytes from its position)."""
    if size is None:
        pos = f.tell()
        size = f.seek(0, 2) - pos
        f.seek(pos)
    reader = _LegacyReader(name, size)
    f = _Bounded(f, size)
    magic = _unpickle(f, reader, name, "legacy checkpoint")
    version = _unpickle(f, reader, name, "legacy checkpoint")
    if magic != _LEGACY_MAGIC or version != 1001:
        raise CheckpointError(f"{name}: not a torch checkpoint (magic {magic!r:.40}, protocol {version!r:.40})")
    sys_info = _unpickle(f, reader, name, "legacy checkpoint")
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    result = _unpickle(f, reader, name, "legacy checkpoint")
    keys = _unpickle(f, reader, name, "legacy checkpoint")
    if not isinstance(keys, list):
        raise CheckpointError(f"{name}: corrupt legacy checkpoint (storage key list missing)")
    reader.fill(f, keys, little)
    if map_location is not None:
        result = _apply_location(result, _map_location_fn(map_location))
    return result


def _load_zip(zf, name, map_location):
    """A torch zip checkpoint from an archive already opened and checked by ``open_zip``."""
    from .serialization._container import read_entry

    pkl = sorted((n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")), key=len)
    prefix = pkl[0][: -len("data.pkl")]
    reader = _Reader(zf, prefix, name, map_location)
    data = read_entry(zf, zf.getinfo(pkl[0]), name)
    return _unpickle(io.BytesIO(data), reader, name, "data.pkl record")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, reader):
        super().__init__(file)
        self.reader = reader

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils":
            if name == "_rebuild_tensor_v2":
                return self.reader.rebuild_tensor
            if name == "_rebuild_tensor":  # torch < 0.4: (storage, offset, size, stride)
                return lambda storage, offset, size, stride: self.reader.rebuild_tensor(storage, offset, size, stride)
            if name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
                return self.reader.rebuild_parameter
        if module == "torch" and name in _STORAGE_TYPES:
            return _StorageType(name)
        hint = ""
        if module == "torch" and name.endswith("Storage"):
            hint = " (a storage type cnnkit cannot hold)"
        raise CheckpointError(
            f"{self.reader.name}: refusing to load global '{module}.{name}'{hint}. cnnkit reads only "
            "tensors, numbers, strings and containers (dict/OrderedDict/list/tuple) from torch checkpoints, "
            "like torch.load(weights_only=True); save a state_dict instead of a whole object.")

    def persistent_load(self, pid):
        return self.reader.storage(pid)


def load_torch(f, map_location=None):
    """Reads a torch checkpoint (zip or legacy format; a path or a binary file object) into cnnkit tensors
    and containers. A bad file raises ``cnnkit.serialization.CheckpointError`` naming it."""
    from .serialization._container import describe_head, open_zip, seekable_source

    name = os.fsdecode(os.fspath(f)) if not hasattr(f, "read") else getattr(f, "name", "<file object>")
    fh, size, close = seekable_source(f)
    try:
        start = fh.tell()
        head = fh.read(16)
        fh.seek(start)
        if head[:2] == b"PK":
            with open_zip(fh, size, name) as zf:
                if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                    raise CheckpointError(f"{name}: not a PyTorch zip checkpoint (the zip archive has no data.pkl "
                                          "record)")
                return _load_zip(zf, name, map_location)
        if _is_legacy_torch(fh):
            return _load_legacy(fh, name, map_location, size)
        raise CheckpointError(f"{name}: not a PyTorch checkpoint (it starts with {describe_head(head)}, {size} bytes;"
                              " the file may be truncated or corrupt)")
    finally:
        if close:
            fh.close()


# ---------------------------------------------------------------------------------------------
# Writing: a protocol-2 pickle emitted opcode by opcode (pickle.Pickler would import torch to
# name torch's globals), plus one zip record per storage.

class _Emitter:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.storages = []                 # (key, contiguous numpy array)
        self.tensor_keys = {}              # id(tensor) -> key: the same object is written once

    def global_(self, module, name):
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def obj(self, v):
        from .tensor import Tensor

        o = self.out
        if isinstance(v, Tensor):
            self.tensor(v)
        elif v is None:
            o += b"N"
        elif v is True:
            o += b"\x88"
        elif v is False:
            o += b"\x89"
        elif isinstance(v, int):
            if -(2 ** 31) <= v < 2 ** 31:
                o += b"J" + struct.pack("<i", v)
            else:
                n = (v.bit_length() + 8) // 8
                o += b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)
        elif isinstance(v, float):
            o += b"G" + struct.pack(">d", v)
        elif isinstance(v, str):
            b = v.encode("utf-8")
            o += b"X" + struct.pack("<I", len(b)) + b
        elif isinstance(v, tuple):
            o += b"("
            for x in v:
                self.obj(x)
            o += b"t"
        elif isinstance(v, list):
            o += b"]("
            for x in v:
                self.obj(x)
            o += b"e"
        elif isinstance(v, dict):
            if isinstance(v, OrderedDict):
                self.global_("collections", "OrderedDict")
                o += b")R"
            else:
                o += b"}"
            if v:
                o += b"("
                for k, x in v.items():
                    self.obj(k)
                    self.obj(x)
                o += b"u"
        else:
            raise TypeError(f"save_torch_state_dict: cannot store an object of type {type(v).__name__} "
                            "(tensors, numbers, strings, None and dict/list/tuple of them only)")

    def tensor(self, t):
        from .nn.parameter import Parameter

        dname = t.dtype.name
        if dname not in _WRITE_TYPES:
            raise TypeError(f"save_torch_state_dict: no torch storage type for dtype {t.dtype}")
        key = self.tensor_keys.get(id(t))
        arr = None
        if key is None:
            arr = _numpy_bits(t)
            key = str(len(self.storages))
            self.tensor_keys[id(t)] = key
            self.storages.append((key, arr, t))  # keeps t alive so id(t) stays unique
        shape = tuple(t.shape)
        strides, acc = [], 1
        for s in reversed(shape):
            strides.append(acc)
            acc *= s
        o = self.out
        is_param = isinstance(t, Parameter)
        if is_param:
            self.global_("torch._utils", "_rebuild_parameter")
            o += b"("
        self.global_("torch._utils", "_rebuild_tensor_v2")
        o += b"(("  # the argument tuple, then the persistent id tuple
        self.obj("storage")
        self.global_("torch", _WRITE_TYPES[dname])
        self.obj(key)
        self.obj("cpu")
        self.obj(t.numel())
        o += b"tQ"
        self.obj(0)
        self.obj(shape)
        self.obj(tuple(reversed(strides)))
        self.obj(False if is_param else bool(t.requires_grad))
        self.global_("collections", "OrderedDict")
        o += b")R"
        o += b"tR"
        if is_param:
            self.obj(bool(t.requires_grad))
            self.global_("collections", "OrderedDict")
            o += b")RtR"


def _aligned_writestr(zf, name, data, alignment=64):
    """Stores ``data`` uncompressed with its bytes starting at a multiple of ``alignment`` in the
    file (torch's reader memory-maps records at such offsets), padding with an extra field."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    offset = zf.fp.tell()
    header = 30 + len(name.encode("utf-8"))
    pad = (-(offset + header + 4)) % alignment
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # "FB" padding field, as torch writes
    zf.writestr(info, bytes(data))


def save_torch_state_dict(state_dict, f):
    """Writes ``state_dict`` (tensors, numbers, strings, None and nested dict/OrderedDict/list/tuple)
    as a torch zip checkpoint that ``torch.load(f, weights_only=True)`` reads. Each tensor is stored
    contiguous in its own storage (views are not kept as views); the same tensor object appearing
    twice is stored once. Parameters stay ``nn.Parameter``."""
    em = _Emitter()
    em.obj(state_dict)
    em.out += b"."
    own = not hasattr(f, "write")
    fh = open(f, "wb") if own else f
    try:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            _aligned_writestr(zf, "archive/data.pkl", em.out)
            _aligned_writestr(zf, "archive/.format_version", b"1")
            _aligned_writestr(zf, "archive/.storage_alignment", b"64")
            _aligned_writestr(zf, "archive/byteorder", b"little")
            for key, arr, _ in em.storages:
                _aligned_writestr(zf, f"archive/data/{key}", arr.astype(arr.dtype.newbyteorder("<")).tobytes())
            _aligned_writestr(zf, "archive/version", b"3\n")
    finally:
        if own:
            fh.close()
