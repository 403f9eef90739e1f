"""nn.Parameter: a Tensor subclass that a Module registers as one of its learnable parameters.

A Parameter shares its storage with the tensor it was made from (``Tensor._make_subclass``), exactly
as ``torch.nn.Parameter`` does; it is a leaf that requires grad unless told otherwise.
"""
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is automatically registered as a parameter when assigned to a Module."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .. import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): expected data to be a cnnkit.Tensor or None, got {type(data).__name__}"
            )
        return cls._make_subclass(data, requires_grad)

    def __init__(self, data=None, requires_grad=True):
        # All construction happens in __new__ (shared storage); Tensor.__init__ must not run again.
        pass

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)




def __getattr__(name):
    # torch.nn.parameter.UninitializedParameter / UninitializedBuffer live in nn/modules/lazy.py
    # (imported lazily here: lazy.py imports this module).
    if name in ("UninitializedParameter", "UninitializedBuffer"):
        from .modules import lazy

        return getattr(lazy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer"]