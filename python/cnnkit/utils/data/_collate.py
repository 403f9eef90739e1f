"""default_collate and default_convert: how samples become batches (torch.utils.data's rules)."""
import collections.abc
import re

from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_np_str_obj_array_pattern = re.compile(r"[SaUO]")
_default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_numpy(x):
    return type(x).__module__ == "numpy"


def default_convert(data):
    """Convert NumPy arrays (recursively inside mappings/sequences) to tensors; no batching."""
    from ... import as_tensor

    if isinstance(data, Tensor):
        return data
    if _is_numpy(data) and type(data).__name__ in ("ndarray", "memmap"):
        if _np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return as_tensor(data)
    if _is_numpy(data) and getattr(data, "shape", None) == ():
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({k: default_convert(v) for k, v in data.items()})
        except TypeError:
            return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Merge a list of samples into a batch, as torch.utils.data.default_collate:

    tensors -> stacked along a new dim 0; NumPy arrays -> tensors, then stacked; Python floats ->
    float64 tensor; ints -> int64 tensor (bools -> bool tensor); str/bytes -> left as a list;
    mappings -> the same keys, each collated; namedtuples -> the same type; other sequences ->
    transposed and collated element-wise (tuples come back as lists, as in PyTorch).
    """
    from ... import as_tensor, float64, stack, tensor

    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if _is_numpy(elem) and type(elem).__name__ in ("ndarray", "memmap"):
        if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(_default_collate_err_msg_format.format(elem.dtype))
        if all(type(b) is type(elem) and b.shape == elem.shape and b.dtype == elem.dtype for b in batch):
            import numpy as np

            return as_tensor(np.stack(batch))  # one copy into the batch, as stacking tensors would do
        return default_collate([as_tensor(b) for b in batch])
    if _is_numpy(elem) and getattr(elem, "shape", None) == ():
        return as_tensor(__import__("numpy").asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        elem_size = len(elem)
        if not all(len(e) == elem_size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return type(elem)([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_default_collate_err_msg_format.format(type(elem)))
