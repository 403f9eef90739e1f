"""A restricted unpickler for dataset files that are pickles (the CIFAR batches).

``pickle.load`` runs whatever callable a pickle names, so a planted ``data_batch_1`` could run
``os.system``. CIFAR batches only need dicts, lists, str/bytes, ints and NumPy arrays, so
``find_class`` resolves exactly the globals that rebuilding an ndarray takes and nothing else:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (NumPy 1 / 2
  spellings) -- only with ``numpy.ndarray`` as the array type;
* ``numpy.ndarray`` and ``numpy.dtype`` -- dtypes that hold Python objects are refused;
* ``numpy.core.multiarray.scalar`` (NumPy scalars) and ``numpy.core.numeric._frombuffer``
  (protocol-5 arrays), same dtype rule;
* ``_codecs.encode`` -- how Python 3 writes ``bytes`` into protocol-2 pickles (and ``bytes()``
  without arguments for an empty one).

Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) raises RuntimeError
naming the file *before* it is called; persistent ids are refused as well.
"""
import codecs
import pickle

import numpy as np

__all__ = ["restricted_load"]

_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")


class _Refused(pickle.UnpicklingError):
    pass


def _checked_dtype(dtype):
    if dtype.hasobject:
        raise _Refused(f"a NumPy dtype holding Python objects ({dtype}) is not allowed")
    return dtype


def _dtype(obj, align=False, copy=False):
    if not isinstance(obj, str):
        raise _Refused(f"numpy.dtype({obj!r}) is not allowed: only dtype names such as 'u1'")
    return _checked_dtype(np.dtype(obj, align, copy))


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise _Refused(f"only numpy.ndarray arrays are allowed, not {subtype!r}")
    if isinstance(dtype, (bytes, str)) and dtype not in (b"b", "b"):
        raise _Refused(f"unexpected dtype placeholder {dtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype("b"))


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype):
        raise _Refused("numpy scalar without a dtype")
    _checked_dtype(dtype)
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused("malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype)[0]


def _encode(obj, encoding="utf-8", errors="strict"):
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode is allowed only as pickle's latin1 encoding of bytes")
    return codecs.encode(obj, encoding, errors)


def _frombuffer(buf, dtype, shape, order):
    """How NumPy writes arrays with pickle protocol 5."""
    if not isinstance(dtype, np.dtype) or not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)):
        raise _Refused("malformed protocol-5 array")
    if order not in ("C", "F"):
        raise _Refused(f"unexpected array order {order!r}")
    _checked_dtype(dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy(order="K")


def _bytes(*args):
    if args:  # Python 3 writes only the empty bytes object as bytes() in protocol 2
        raise _Refused("bytes(...) with arguments is not allowed")
    return b""


_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _dtype, ("_codecs", "encode"): _encode,
    ("builtins", "bytes"): _bytes, ("__builtin__", "bytes"): _bytes,
}
for _module in _MULTIARRAY:
    _ALLOWED[(_module, "_reconstruct")] = _reconstruct
    _ALLOWED[(_module, "scalar")] = _scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _frombuffer


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"global '{module}.{name}' is not allowed in a dataset file") from None

    def persistent_load(self, pid):
        raise _Refused("persistent ids are not allowed in a dataset file")


def _check_arrays(obj, depth=0):
    """Walks the loaded containers: every ndarray must have a plain (object-free) dtype."""
    if depth > 32:
        raise _Refused("containers nested too deeply")
    if isinstance(obj, np.ndarray):
        _checked_dtype(obj.dtype)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_arrays(k, depth + 1)
            _check_arrays(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            if not isinstance(v, (int, float, str, bytes)):
                _check_arrays(v, depth + 1)


def restricted_load(path, encoding="latin1"):
    """Unpickles ``path`` allowing only the globals listed in the module docstring.

    ``encoding="latin1"`` reads Python 2 ``str`` (the original CIFAR files) as ``str`` and lets
    NumPy restore the array bytes, as torchvision's ``pickle.load(f, encoding="latin1")`` does.
    Any refusal or malformed content raises RuntimeError naming the file."""
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding=encoding).load()
        _check_arrays(obj)
    except _Refused as e:
        raise RuntimeError(f"refusing to load {path}: {e}; it is not a plain dataset pickle "
                           "(corrupted or tampered with)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, UnicodeDecodeError, OverflowError) as e:
        raise RuntimeError(f"cannot unpickle {path}: {type(e).__name__}: {e} (truncated or corrupted file?)") \
            from None
    return obj
