"""pin_memory(batch): every tensor of a (nested) batch copied into page-locked host memory, so that a
later ``.to('cuda', non_blocking=True)`` is an asynchronous DMA transfer (torch's _utils.pin_memory).

The DataLoader pins each batch in the main process when it is handed out (inline, not in a separate
thread as torch: the copy into pinned memory runs in C++ without the GIL held by Python code).
"""
import collections.abc

from ...tensor import Tensor

__all__ = ["pin_memory"]


def pin_memory(data):
    """Tensors -> ``t.pin_memory()``; mappings, namedtuples, tuples and lists are rebuilt with their
    elements pinned; objects with a ``pin_memory()`` method (custom batch types) are asked to pin
    themselves; anything else (str, numbers) is returned unchanged."""
    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({k: pin_memory(v) for k, v in data.items()})
        except TypeError:
            return {k: pin_memory(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(pin_memory(v) for v in data))
    if isinstance(data, tuple):
        return tuple(pin_memory(v) for v in data)
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([pin_memory(v) for v in data])
        except TypeError:
            return [pin_memory(v) for v in data]
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data
