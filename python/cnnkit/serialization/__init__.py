"""``cnnkit.save`` / ``cnnkit.load``: tensors, state dicts and (on request) whole pickled objects.

``load`` also reads PyTorch checkpoints (``.pt``/``.pth``, zip and legacy formats) without torch and
without running code from them (``_torch_format.py``: a restricted unpickler that rebuilds only tensors
and OrderedDicts) and ``*.safetensors`` files. cnnkit's own files are a zip archive of ``.npy`` entries
(NumPy's ``.npz`` layout) in one of two kinds:
- the *safe* format, for a (possibly nested) dict/OrderedDict/list/tuple of tensors, numbers, strings
  and None (state dicts of modules, optimizers and schedulers): the structure is JSON in the
  ``__meta__`` entry (``_safe.py``), so loading never executes code from the file;
- the *pickle* format, for anything else (``cnnkit.save(model, path)`` of a whole module): the object is
  pickled as ``torch.save`` does. Exactly PyTorch's contract (2.6+): ``load`` refuses such a file unless
  ``weights_only=False`` is passed explicitly, because unpickling can run arbitrary code.
The ``__meta__`` entry is the header: ``{"format": "cnnkit-safe" | "cnnkit-pickle", "version": 2, ...}``;
files of versions 0 (no header) and 1 still load, newer versions are refused by name.

Saving to a path is atomic: the data goes to a temporary file in the same directory, is flushed and
fsync'ed, then renamed over the target (and the directory fsync'ed), so a failure part-way (an exception,
a full disk) leaves any old file intact and removes the temporary. Saving to a file object writes in
place: no atomicity is possible there.

Loading validates before it allocates (``_container.py``): every bad file raises :class:`CheckpointError`
(a ``RuntimeError``) naming the file and what is wrong.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import stat
import tempfile

import numpy as np

from . import _safe
from ._container import CheckpointError, check_header, describe_head, npy_array, open_zip, seekable_source

__all__ = ["save", "load", "CheckpointError", "UnpicklingError"]

UnpicklingError = CheckpointError  # the name earlier cnnkit versions raised; the same class

_PICKLE_KEY = "__pickle__"
_META_KEY = "__meta__"
_FORMATS = ("cnnkit-safe", "cnnkit-pickle")
_VERSION = 2  # version 2: __meta__ written first, and a dtype/shape table for every tensor entry


def _is_path(f):
    return isinstance(f, (str, bytes)) or hasattr(f, "__fspath__")


def _umask():
    """The process umask, read without changing it where the OS tells it (Linux /proc), else by the
    set-and-restore idiom."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory):
    """Makes the rename durable: fsync of the directory entry, where the OS allows it (not Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path, write):
    """Runs ``write(fileobj)`` into a temporary file beside ``path``, then renames it over ``path``. The
    new file gets the mode ``open(path, "wb")`` would give it: an existing file's permission bits, else
    0o666 less the umask (``mkstemp`` creates 0o600). A symlink is followed: its target is replaced."""
    path = os.fsdecode(os.fspath(path))
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cnnkit-save-", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(e.errno, f"cnnkit.save: cannot create a temporary file in {directory!r} to write {path!r} "
                               f"atomically ({e.strerror})") from e
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if hasattr(os, "chmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, f"cnnkit.save: writing {path!r} failed ({e.strerror}); the previous file, if "
                                   "any, is unchanged") from e
        raise
    _fsync_dir(directory)


def save(obj, f, pickle_module=pickle, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Saves ``obj`` to a path or a writable binary file object (``torch.save``'s signature).

    Tensors and nested dicts/lists/tuples of them (state dicts) use the safe format; any other object
    (a whole ``nn.Module``, a custom class) is pickled and will need ``load(..., weights_only=False)``.
    Writing to a path is atomic (a temporary file renamed over the target); writing to a file object is
    not. Containers nested more than 100 levels deep raise ``ValueError``.
    """
    arrays, table = {}, {}
    try:
        root = _safe.encode(obj, arrays, table)
        meta = {"format": "cnnkit-safe", "version": _VERSION, "root": root, "tensors": table}
    except _safe.NotSafe:
        arrays = {_PICKLE_KEY: np.frombuffer(pickle_module.dumps(obj, protocol=max(2, pickle_protocol)),
                                             dtype=np.uint8)}
        meta = {"format": "cnnkit-pickle", "version": _VERSION}
    entries = {_META_KEY: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    if _is_path(f):
        _write_atomic(f, lambda fh: np.savez(fh, **entries))
    else:
        np.savez(f, **entries)


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
    from .._torch_format import _apply_location, _map_location_fn
    from ..nn.module import Module

    if map_location is None:
        return obj
    fn = _map_location_fn(map_location)
    if isinstance(obj, Module):
        return obj._apply(lambda t: fn(t, "cpu"))
    return _apply_location(obj, fn)


def _read_meta(zf, name):
    """The ``__meta__`` entry, parsed and checked: ``(format, version, meta)``."""
    info = zf.getinfo(_META_KEY + ".npy")
    arr = npy_array(zf, info, "the '__meta__' entry", name)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise CheckpointError(f"{name} is corrupt: the '__meta__' entry is {arr.dtype} of shape {list(arr.shape)}, "
                              "expected 1-D uint8 (JSON text)")
    try:
        meta = json.loads(arr.tobytes().decode("utf-8"))
    except RecursionError:
        raise CheckpointError(f"{name} is corrupt: its '__meta__' structure nests more than "
                              f"{_safe.MAX_DEPTH} containers deep") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{name} is corrupt: the '__meta__' entry is not valid JSON ({e})") from None
    if not (isinstance(meta, dict) and "format" in meta):
        return "cnnkit-safe", 0, {"root": meta}  # version 0 (before the header): the structure itself
    fmt, version = meta.get("format"), meta.get("version")
    if fmt not in _FORMATS:
        raise CheckpointError(f"{name} is not a cnnkit checkpoint: its '__meta__' names format {fmt!r:.60}")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{name} is corrupt: invalid format version {version!r:.40}")
    if version > _VERSION:
        raise CheckpointError(f"{name} has cnnkit format version {version}, newer than this cnnkit reads "
                              f"(versions up to {_VERSION}): upgrade cnnkit to load it")
    if fmt == "cnnkit-safe" and ("root" not in meta or (version >= 2 and not isinstance(meta.get("tensors"), dict))):
        raise CheckpointError(f"{name} is corrupt: its '__meta__' entry lacks the "
                              f"{'root' if 'root' not in meta else 'tensors'} record")
    return fmt, version, meta


def _entry(zf, key, path, name):
    try:
        return zf.getinfo(f"{key}.npy")
    except KeyError:
        raise CheckpointError(f"{name} is truncated or corrupt: entry {path!r} refers to array {key!r}, which the "
                              "archive does not hold") from None


def _load_cnnkit(zf, name, map_location, weights_only, pickle_module):
    fmt, version, meta = _read_meta(zf, name)
    if fmt == "cnnkit-pickle":
        if weights_only is not False:
            raise CheckpointError(_REFUSED.format(name=name, what="saved from an object that is not a tensor "
                                                  "or a container of tensors"))
        from .._torch_format import _prescan

        blob = npy_array(zf, _entry(zf, _PICKLE_KEY, _PICKLE_KEY, name), f"entry {_PICKLE_KEY!r}", name)
        _prescan(io.BytesIO(blob.tobytes()), name, "pickled object")  # lengths and memo indices, as for torch files
        try:
            obj = (pickle_module or pickle).loads(blob.tobytes())
        except Exception as e:
            raise CheckpointError(f"{name} is corrupt: its pickled object cannot be unpickled "
                                  f"({type(e).__name__}: {e})") from e
        return _apply_map_location(obj, map_location)
    refs = _safe.collect(meta["root"], name)
    table = meta.get("tensors") if version >= 2 else None
    # pass 1: every entry's header against its size (and the table), before any data is read
    checked = {}
    for key, (path, node) in refs.items():
        info = _entry(zf, key, path, name)
        if table is not None and key not in table:
            raise CheckpointError(f"{name} is corrupt: entry {path!r} ({key!r}) is missing from the tensor table")
        shape, _, np_dtype, _ = check_header(zf, info, f"entry {path!r}", name)
        checked[key] = info, _safe.check_entry(shape, np_dtype, path, node, None if table is None else table[key], name)
    # pass 2: the data
    tensors = {}
    for key, (path, node) in refs.items():
        info, dt = checked[key]
        tensors[key] = _safe.make_tensor(npy_array(zf, info, f"entry {path!r}", name), dt, node)
    return _apply_map_location(_safe.build(meta["root"], tensors), map_location)


def _display_name(f):
    if _is_path(f):
        return f"cnnkit.load: {os.fsdecode(os.fspath(f))!r}"
    fname = getattr(f, "name", None)
    return f"cnnkit.load: the file object {fname!r}" if isinstance(fname, str) else "cnnkit.load: the file object"


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Loads what ``save`` wrote, a PyTorch checkpoint (zip or legacy format) or a ``.safetensors`` file
    (``torch.load``'s signature). Tensors come back on the CPU unless ``map_location`` names a device.
    A pickled object loads only with ``weights_only=False``.

    Every bad file raises :class:`CheckpointError` (a ``RuntimeError``; also a ``pickle.UnpicklingError``)
    whose message names the file and what is wrong: empty, truncated, not a cnnkit or PyTorch checkpoint,
    an unsupported format version, an entry whose declared dtype or shape does not match the bytes it holds,
    structure nested too deep, a missing entry, or a pickle refused under ``weights_only``. Sizes a file
    declares are checked against the bytes present before anything is allocated. A missing file raises
    ``FileNotFoundError`` as ``open`` does.
    """
    from .._torch_format import _is_legacy_torch, _load_legacy, _load_zip

    name = _display_name(f)
    if _is_path(f) and os.fsdecode(os.fspath(f)).endswith(".safetensors"):
        return _load_safetensors(f, name, map_location)
    fh, size, close = seekable_source(f)
    try:
        if size == 0:
            raise CheckpointError(f"{name} is empty (0 bytes): not a cnnkit or PyTorch checkpoint")
        start = fh.tell()
        head = fh.read(16)
        fh.seek(start)
        if not isinstance(head, (bytes, bytearray)):
            raise TypeError(f"cnnkit.load: expected a path or a binary file object, got a file whose read() returns "
                            f"{type(head).__name__} (open it with 'rb')")
        if head[:2] == b"PK":
            with open_zip(fh, size, name) as zf:
                names = zf.namelist()
                if _META_KEY + ".npy" in names:
                    return _load_cnnkit(zf, name, map_location, weights_only, pickle_module)
                if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                    return _load_zip(zf, name, map_location)
                raise CheckpointError(f"{name} is not a cnnkit or PyTorch checkpoint: a zip archive holding "
                                      "neither a '__meta__.npy' nor a 'data.pkl' entry")
        if _is_legacy_torch(fh):
            return _load_legacy(fh, name, map_location, size)
        raise CheckpointError(f"{name} is not a cnnkit or PyTorch checkpoint (it starts with {describe_head(head)}, "
                              f"{size} bytes)")
    finally:
        if close:
            fh.close()


def _load_safetensors(f, name, map_location):
    from .._torch_format import _map_location_fn
    from ..utils.safetensors import load_file

    open(f, "rb").close()  # a missing file is FileNotFoundError, as for every other format
    try:
        out = load_file(f)
    except RuntimeError as e:  # the package's own parse errors, already re-raised with the file's name
        raise CheckpointError(f"{name}: {e}") from e
    return {k: _map_location_fn(map_location)(v, "cpu") for k, v in out.items()}
