"""Checked reading of the containers checkpoints come in: zip archives (cnnkit's ``.npz``-style files
and PyTorch's zip checkpoints) and the ``.npy`` records inside cnnkit's.

Everything a file *declares* (an entry's size in the zip directory, a record's shape and dtype in its
``.npy`` header) is compared with the bytes actually present before anything is allocated from it, so a
corrupt or hostile file fails fast with :class:`CheckpointError` instead of trying to allocate 4 TiB or
surfacing ``zipfile``/NumPy internals (``BadZipFile``, ``KeyError``, NumPy's ``allow_pickle`` advice).
"""
from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

__all__ = ["CheckpointError", "open_zip", "read_entry", "check_header", "npy_array", "describe_head", "seekable_source"]


class CheckpointError(pickle.UnpicklingError, RuntimeError):
    """A file that ``cnnkit.load`` cannot or will not load: empty, truncated, corrupt, not a checkpoint,
    an unsupported format version, declared sizes that do not match the data, or a pickled object refused
    under ``weights_only``. The message names the file and what is wrong. A subclass of ``RuntimeError``
    (what torch.load raises for a bad archive) and of ``pickle.UnpicklingError`` (what it raises for a
    refused pickle), so code written against either keeps working."""


CheckpointError.__module__ = "cnnkit.serialization"

# Deflate's best case is about 1032:1 (RFC 1951: a 258-byte match costs at least 2 bits), so a deflated
# entry cannot legitimately expand by more than this: a larger declared size is a corrupt directory.
_DEFLATE_MAX_RATIO = 1032
_ZIP_LOCAL_HEADER = 30  # fixed part of a zip local file header


def describe_head(head):
    """A short, printable rendering of a file's first bytes for "not a checkpoint" messages."""
    return repr(bytes(head[:8]))


def open_zip(fh, size, name):
    """Opens ``fh`` (a seekable binary file of ``size`` bytes) as a zip archive and checks every entry of
    its directory against the file: compression method, encryption, and that the declared sizes fit in
    the bytes present. Returns the ``zipfile.ZipFile``."""
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as e:
        if "not a zip file" in str(e):
            raise CheckpointError(f"{name} is truncated or corrupt: a zip archive without its end-of-archive "
                                  f"record (a write cut short leaves this) ({size} bytes)") from None
        raise CheckpointError(f"{name} is corrupt: unreadable zip directory ({e})") from None
    except Exception as e:  # zipfile parses untrusted bytes: struct/Unicode/overflow errors are corruption too
        raise CheckpointError(f"{name} is corrupt: unreadable zip directory ({type(e).__name__}: {e})") from None
    for info in zf.infolist():
        entry = info.filename
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{name} is corrupt: entry {entry!r} is marked encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{name} is corrupt: entry {entry!r} uses zip compression method "
                                  f"{info.compress_type} (only stored and deflated entries are read)")
        if info.header_offset < 0 or info.header_offset + _ZIP_LOCAL_HEADER + info.compress_size > size:
            raise CheckpointError(f"{name} is truncated or corrupt: entry {entry!r} declares "
                                  f"{info.compress_size} bytes at offset {info.header_offset}, past the end of "
                                  f"the {size}-byte file")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or \
                (not stored and info.file_size > info.compress_size * _DEFLATE_MAX_RATIO + 1024):
            raise CheckpointError(f"{name} is corrupt: entry {entry!r} declares {info.file_size} bytes from "
                                  f"{info.compress_size} stored bytes")
    return zf


def read_entry(zf, info, name):
    """The bytes of one zip entry (sizes already checked by ``open_zip``); a CRC mismatch, a bad local
    header or a broken deflate stream becomes a CheckpointError naming the entry."""
    try:
        data = zf.read(info)
    except Exception as e:  # BadZipFile (CRC, header), zlib.error, EOFError, OSError: all mean corruption
        raise CheckpointError(f"{name} is corrupt: entry {info.filename!r} cannot be read "
                              f"({type(e).__name__}: {e})") from None
    if len(data) != info.file_size:
        raise CheckpointError(f"{name} is truncated or corrupt: entry {info.filename!r} holds {len(data)} "
                              f"bytes, its directory record says {info.file_size}")
    return data


# NumPy dtypes a cnnkit tensor can be built from (bfloat16 travels as its uint16 bit patterns)
_NPY_KINDS = {"f": (2, 4, 8), "i": (1, 2, 4, 8), "u": (1, 2), "b": (1,)}


def npy_header(fh, entry_size, label, name):
    """Parses the ``.npy`` header at the start of ``fh`` (an entry of ``entry_size`` bytes) and checks it:
    a plain numeric dtype cnnkit can hold, non-negative dimensions, and a data size (computed without
    overflow) equal to the bytes that follow the header. Returns ``(shape, fortran_order, dtype,
    header_length)``. ``label`` names the record in messages (``entry 'layer1.0.weight'``)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except Exception as e:  # ValueError/SyntaxError from NumPy's header parser: a corrupt header
        raise CheckpointError(f"{name} is corrupt: {label} has an unreadable array header ({e})") from None
    header_length = fh.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
            dtype.itemsize not in _NPY_KINDS.get(dtype.kind, ()):
        raise CheckpointError(f"{name} is corrupt: {label} holds NumPy dtype {dtype.str!r}, which is not a "
                              "tensor dtype cnnkit can load")
    if not all(type(d) is int and d >= 0 for d in shape):
        raise CheckpointError(f"{name} is corrupt: {label} declares an invalid shape {list(shape)}")
    count = 1
    for d in shape:  # Python ints: no overflow, however large the declared dimensions
        count *= d
    nbytes = count * dtype.itemsize
    present = entry_size - header_length
    if nbytes != present:
        raise CheckpointError(f"{name} is corrupt: {label} declares shape {list(shape)} of {dtype.name} "
                              f"({nbytes} bytes) but holds {present} bytes")
    return tuple(shape), bool(fortran), dtype, header_length


def npy_array(zf, info, label, name):
    """Reads one checked ``.npy`` entry into a native-byte-order NumPy array (a read-only view of the
    entry's bytes): the header is validated against the entry size before its data is read."""
    shape, fortran, dtype, header_length = check_header(zf, info, label, name)
    data = read_entry(zf, info, name)
    count = (len(data) - header_length) // dtype.itemsize
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header_length)
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _open_entry(zf, info, name):
    try:
        return zf.open(info)
    except Exception as e:  # a local header that disagrees with the directory
        raise CheckpointError(f"{name} is corrupt: entry {info.filename!r} cannot be opened "
                              f"({type(e).__name__}: {e})") from None


def check_header(zf, info, label, name):
    """Validates an entry's ``.npy`` header against its size without reading its data; returns what
    ``npy_header`` returns."""
    with _open_entry(zf, info, name) as fh:
        try:
            return npy_header(fh, info.file_size, label, name)
        except CheckpointError:
            raise
        except Exception as e:  # a deflate stream broken inside the header
            raise CheckpointError(f"{name} is corrupt: {label} cannot be read ({type(e).__name__}: {e})") from None


def seekable_source(f):
    """``(binary file, size, close_it)`` for a path or a file object; a non-seekable file object is read
    into memory first (a zip archive is read from its end)."""
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        fh = open(f, "rb")
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        return fh, size, True
    try:
        start = f.tell()
        f.seek(0, 2)
        size = f.tell() - start
        f.seek(start)
        if start:
            raise OSError  # zipfile reads offsets from the start of the file: copy from here on
        return f, size, False
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        data = f.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"cnnkit.load: expected a path or a binary file object, got a file whose read() "
                            f"returns {type(data).__name__}") from None
        return io.BytesIO(data), len(data), True
