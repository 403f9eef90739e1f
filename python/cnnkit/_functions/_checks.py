"""Argument checks shared by the functional forms (torch's wording for a non-tensor argument)."""
from ..tensor import Tensor


def check_tensor(op, x, what="input"):
    """TypeError unless ``x`` is a Tensor: ``op(): argument 'what' must be Tensor, not <type>``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{what}' must be Tensor, not {type(x).__name__}")


def check_tensor_args(op, **tensors):
    """check_tensor for each keyword; every argument but ``input`` may also be None."""
    for what, t in tensors.items():
        if t is not None or what == "input":
            check_tensor(op, t, what)
