"""``parameters_to_vector`` / ``vector_to_parameters`` (``torch.nn.utils.convert_parameters``)."""
from __future__ import annotations

from ...autograd import no_grad
from ...tensor import Tensor, cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_same_device(param, old):
    if old is not None and str(param.device) != old:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return str(param.device)


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter flattened, in order (differentiable, as in torch)."""
    dev, vec = None, []
    for p in parameters:
        dev = _check_same_device(p, dev)
        vec.append(p.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D ``vec`` into ``parameters`` (their ``.data``)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if vec.dim() != 1:
        raise RuntimeError(f"vector_to_parameters: expected a 1-D vector, got shape {tuple(vec.shape)}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise RuntimeError(f"vector_to_parameters: the vector has {vec.numel()} elements but the parameters "
                           f"hold {total}")
    dev, pointer = None, 0
    with no_grad():
        for p in params:
            dev = _check_same_device(p, dev)
            n = p.numel()
            p.data = vec[pointer:pointer + n].reshape(p.shape).clone()
            pointer += n
