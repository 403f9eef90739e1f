"""``.safetensors`` files for cnnkit tensors, through the safetensors package's NumPy API
(optional: ``pip install "cnnkit[safetensors]"``).

``load_file(path, device="cpu") -> dict[str, Tensor]`` and ``save_file(tensors, path, metadata=None)``
mirror ``safetensors.torch``; ``cnnkit.load`` also reads ``*.safetensors`` paths through
``load_file``. dtypes cnnkit lacks are widened on load (float16 -> float32, int8/16/32 and
uint16/32 -> int64); bfloat16 and float8 files raise (NumPy has no such dtype).
"""
import os

import numpy as np

__all__ = ["load_file", "save_file"]

_WIDEN = {np.dtype(np.float16): np.float32, np.dtype(np.int8): np.int64, np.dtype(np.int16): np.int64,
          np.dtype(np.int32): np.int64, np.dtype(np.uint16): np.int64, np.dtype(np.uint32): np.int64}


def _package():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError('reading or writing .safetensors files needs the safetensors package; install it '
                          'with: pip install "cnnkit[safetensors]"') from None
    return st


def load_file(filename, device="cpu"):
    """Reads every tensor of a ``.safetensors`` file into a dict of cnnkit tensors (on ``device``)."""
    from ..tensor import from_numpy

    st = _package()
    try:
        arrays = st.load_file(os.fspath(filename))
    except Exception as e:  # the package raises its own SafetensorError / TypeError for unknown dtypes
        raise RuntimeError(f"{os.fspath(filename)}: cannot read this safetensors file ({e})") from e
    out = {}
    for k, a in arrays.items():
        a = np.ascontiguousarray(a.astype(_WIDEN.get(a.dtype, a.dtype), copy=False))
        t = from_numpy(a.copy() if not a.flags.writeable else a)
        out[k] = t if str(device) == "cpu" else t.to(device)
    return out


def save_file(tensors, filename, metadata=None):
    """Writes a dict of name -> cnnkit tensor (contiguous copies, on the CPU) as ``.safetensors``.
    ``metadata``: an optional dict of str -> str stored in the header."""
    from ..tensor import Tensor

    st = _package()
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file: expected a dict of name -> Tensor, got {type(tensors).__name__}")
    arrays = {}
    for k, t in tensors.items():
        if not isinstance(k, str) or not isinstance(t, Tensor):
            raise TypeError(f"save_file: expected str keys and Tensor values, got {type(k).__name__} -> "
                            f"{type(t).__name__}")
        arrays[k] = np.ascontiguousarray(np.asarray(t.detach().cpu()))
    st.save_file(arrays, os.fspath(filename), metadata=metadata)
