"""optim.Optimizer: parameter groups, per-parameter state and state_dict in torch.optim's format.

state_dict() == {'state': {index: {...}}, 'param_groups': [{hyper-parameters..., 'params': [index...]}]}
where parameters are numbered across groups in order; load_state_dict() zips those numbers with this
optimizer's parameters, and casts floating state tensors to the parameter's dtype and device.
"""
import warnings
from collections import defaultdict
from collections.abc import Iterable
from copy import deepcopy
from itertools import chain

from ..nn.module import RemovableHandle, _typename, _zero_grads
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


def _is_foreign_tensor(value):
    """A tensor of another library (a torch.Tensor from a torch optimizer's state_dict)."""
    return (not isinstance(value, Tensor) and hasattr(value, "detach") and hasattr(value, "cpu")
            and hasattr(value, "numpy") and hasattr(value, "dtype"))


def _from_foreign(value):
    import numpy as np

    from ..tensor import tensor

    return tensor(np.ascontiguousarray(value.detach().cpu().numpy()))


def _new_step(value=0.0):
    """The per-parameter step count: a 0-d float32 CPU tensor, as torch's non-capturable state."""
    from .. import float32
    from ..tensor import tensor

    return tensor(float(value), dtype=float32)


def _scalar(x):
    """A hyper-parameter given as a float or a 1-element tensor, as a Python float."""
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def _steps_as_tensors(optimizer):
    """__setstate__ helper: a state whose "step" is a Python number (an old state_dict) gets a tensor."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p_state = optimizer.state.get(p, None)
            if p_state and "step" in p_state and not isinstance(p_state["step"], Tensor):
                p_state["step"] = _new_step(float(p_state["step"]))


def _check_lr(lr):
    """torch's learning-rate check: a tensor lr has one element, and lr >= 0 (NaN is rejected)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_nonnegative(name, value):
    """torch's check of a hyper-parameter that must be >= 0 (NaN is rejected), with its message."""
    if not 0.0 <= value:
        raise ValueError(f"Invalid {name} value: {value}")


def _check_fused_foreach(fused, foreach, differentiable):
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


class _RequiredParameter:
    """Singleton marking a hyper-parameter a param group must specify."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                "but got " + _typename(params)
            )
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", {})
        self.__dict__.setdefault("_optimizer_step_post_hooks", {})

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        s += ")"
        return s

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params' and optional hyper-parameters) with torch's checks."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        # named_parameters() may be passed directly: (name, tensor) pairs keep their names.
        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            param_group.setdefault(name, default)

        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will "
                "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized parameters (to None by default, as torch 2.x)."""
        _zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def _setstate_defaults(self, defaults, tensor_steps=True):
        """__setstate__ helper: every param group gets the keys of ``defaults`` it lacks (a state
        pickled by an older version) and, with ``tensor_steps``, a Python-number "step" becomes a
        tensor (_steps_as_tensors)."""
        for group in self.param_groups:
            for key, value in defaults.items():
                group.setdefault(key, value)
        if tensor_steps:
            _steps_as_tensors(self)

    def _params_with_grad(self, group, init_state):
        """The per-parameter loop of the optimizers that count steps: yields (p, state, step) for
        each parameter of ``group`` that has a gradient. A new (empty) state first gets "step"
        (a 0-d tensor) and then ``init_state(p, state)`` adds the optimizer's buffers; "step" is
        then advanced, and ``step`` is the count after this step (a Python float), as in torch."""
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _new_step()
                init_state(p, state)
            step = float(state["step"].item()) + 1.0
            state["step"].fill_(step)
            yield p, state, step

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _run_step(self, closure, update_group):
        """step()'s frame shared by the optimizers: pre-hooks, the closure under enable_grad,
        update_group(group) for each param group, post-hooks; returns the closure's loss."""
        from ..autograd import enable_grad

        for hook in list(self._optimizer_step_pre_hooks.values()):
            hook(self, (), {})
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            update_group(group)
        for hook in list(self._optimizer_step_post_hooks.values()):
            hook(self, (), {})
        return loss

    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs before each step()."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs after each step()."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def state_dict(self):
        param_mappings = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start_index):
                param_mappings.setdefault(id(p), i)
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    @staticmethod
    def _cast_state_value(param, value, key):
        if key == "step":
            # torch keeps a non-capturable step as a float32 CPU tensor: so do we.
            return value if value.device.type == "cpu" else value.cpu()
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)

    def load_state_dict(self, state_dict):
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param, value, key=None):
            if _is_foreign_tensor(value):
                value = _from_foreign(value)
            if isinstance(value, Tensor):
                return Optimizer._cast_state_value(param, value, key)
            if isinstance(value, dict):
                return {k: cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, str):
                return type(value)(cast(param, v) for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
