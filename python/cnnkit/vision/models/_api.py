"""Pretrained-weight descriptors and the model registry, shaped like torchvision.models._api.

``Weights`` holds a checkpoint's URL and metadata; each model family has a ``WeightsEnum`` subclass
(``ResNet18_Weights.IMAGENET1K_V1``, ``...DEFAULT``) whose checkpoints are torchvision's own files on
download.pytorch.org, read by cnnkit's torch-checkpoint reader (no torch needed).

A builder's ``weights=`` takes ``None``, an enum member, its name (``"IMAGENET1K_V1"``,
``"DEFAULT"``, ``"ResNet18_Weights.IMAGENET1K_V1"``) or a path to a local checkpoint file
(``.pth``/``.pt`` torch zip, ``.safetensors`` or a ``cnnkit.save`` file). The deprecated
``pretrained=True/False`` maps to ``weights=<Enum>.IMAGENET1K_V1``/``None`` with a warning, as
torchvision's ``handle_legacy_interface`` does.
"""
from __future__ import annotations

import fnmatch
import functools
import os
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Optional

__all__ = ["Weights", "WeightsEnum", "get_model", "get_model_builder", "get_model_weights", "get_weight",
           "list_models", "register_model"]


@dataclass
class Weights:
    """A pretrained checkpoint: where it is (``url``), how to preprocess (``transforms``, may be
    None) and what it is (``meta``: ``num_params``, ``num_classes``, ``min_size``, ``_metrics``...)."""

    url: str
    transforms: Optional[Callable] = None
    meta: dict = field(default_factory=dict)


class WeightsEnum(Enum):
    """Base class of the per-model weight enums; members' values are ``Weights``."""

    @classmethod
    def verify(cls, obj):
        """Turns ``obj`` (None, a member, or a member's name) into a member of ``cls``."""
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            name = obj[len(cls.__name__) + 1:] if obj.startswith(cls.__name__ + ".") else obj
            try:
                return cls[name]
            except KeyError:
                valid = ", ".join(cls.__members__)
                raise ValueError(f"{cls.__name__}: unknown weights {obj!r}; expected one of {valid}, "
                                 "or a path to an existing checkpoint file") from None
        raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but received "
                        f"{type(obj).__name__}.")

    def get_state_dict(self, progress=True, check_hash=True, **kwargs):
        """Downloads (or finds in the torch.hub cache) and reads this checkpoint."""
        from ...hub import load_state_dict_from_url

        return load_state_dict_from_url(self.url, progress=progress, check_hash=check_hash, **kwargs)

    def __repr__(self):
        return f"{type(self).__name__}.{self._name_}"

    @property
    def url(self):
        return self.value.url

    @property
    def transforms(self):
        return self.value.transforms

    @property
    def meta(self):
        return self.value.meta


def _is_path(obj):
    return hasattr(obj, "__fspath__") or isinstance(obj, str)


def _resolve_weights(enum_cls, weights):
    """``(member or None, local path or None)`` for a builder's ``weights`` argument."""
    if weights is None or isinstance(weights, enum_cls):
        return weights, None
    if isinstance(weights, WeightsEnum):
        raise TypeError(f"Invalid Weight class provided; expected {enum_cls.__name__} but received "
                        f"{type(weights).__name__}.")
    if isinstance(weights, str):
        name = weights[len(enum_cls.__name__) + 1:] if weights.startswith(enum_cls.__name__ + ".") else weights
        if name in enum_cls.__members__:
            return enum_cls[name], None
    if _is_path(weights):
        path = os.fspath(weights)
        if os.path.isfile(path):
            return None, path
        valid = ", ".join(enum_cls.__members__)
        raise ValueError(f"weights={weights!r} is neither one of {enum_cls.__name__}'s members ({valid}) nor an "
                         "existing checkpoint file")
    raise TypeError(f"weights: expected None, a {enum_cls.__name__} member, its name or a file path, got "
                    f"{type(weights).__name__}")


def _overwrite_named_param(kwargs, param, new_value):
    if param in kwargs:
        if kwargs[param] != new_value:
            raise ValueError(f"The parameter '{param}' expected value {new_value} but got {kwargs[param]} instead.")
    else:
        kwargs[param] = new_value


def _load_weights(model, weights, path, progress):
    """Loads an enum member's checkpoint or a local file into ``model`` (strict key matching)."""
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    elif path is not None:
        from ...serialization import load

        state = load(path)
        if not isinstance(state, dict):
            raise TypeError(f"{path}: expected a state dict (a mapping of names to tensors), got "
                            f"{type(state).__name__}")
        model.load_state_dict(state)
    return model


def _legacy_pretrained(enum_cls, default_name="IMAGENET1K_V1"):
    """Maps the deprecated ``pretrained=`` keyword to ``weights=`` (torchvision's rule): True -> the
    enum's ``default_name`` member, False -> None, each with a deprecation warning. Also records
    ``enum_cls`` on the builder for ``get_model_weights``."""

    def decorate(builder):

        @functools.wraps(builder)
        def wrapper(*args, **kwargs):
            if len(args) > 2:
                raise TypeError(f"{builder.__name__}() takes at most 2 positional arguments (weights, progress), "
                                f"got {len(args)}")
            for name, value in zip(("weights", "progress"), args):
                if name in kwargs:
                    raise TypeError(f"{builder.__name__}() got multiple values for argument '{name}'")
                kwargs[name] = value
            if args:
                warnings.warn(f"Using {' and '.join(('weights', 'progress')[:len(args)])} as positional "
                              "parameter(s) is deprecated since 0.13 and may be removed in the future. Please "
                              "use keyword parameter(s) instead.")
            legacy_keyword = "pretrained" in kwargs
            if legacy_keyword:
                if kwargs.get("weights") is not None:
                    raise ValueError(f"{builder.__name__}(): pass either 'weights' or the deprecated "
                                     "'pretrained', not both")
                pretrained = kwargs.pop("pretrained")
            elif isinstance(kwargs.get("weights"), bool):
                pretrained = kwargs["weights"]  # the old positional `pretrained`
            else:
                return builder(**kwargs)
            new = getattr(enum_cls, default_name) if pretrained else None
            if legacy_keyword:
                warnings.warn("The parameter 'pretrained' is deprecated since 0.13 and may be removed in the "
                              "future, please use 'weights' instead.")
            msg = ("Arguments other than a weight enum or `None` for 'weights' are deprecated since 0.13 and "
                   "may be removed in the future. The current behavior is equivalent to passing "
                   f"`weights={new}`.")
            if pretrained:
                msg += f" You can also use `weights={enum_cls.__name__}.DEFAULT` to get the most up-to-date weights."
            warnings.warn(msg)
            kwargs["weights"] = new
            return builder(**kwargs)

        wrapper._weights_enum = enum_cls
        return wrapper

    return decorate


BUILTIN_MODELS: dict = {}


def register_model(name=None):
    """Decorator: registers a builder under ``name`` (default: its function name)."""

    def wrapper(fn):
        key = name if name is not None else fn.__name__
        if key in BUILTIN_MODELS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        BUILTIN_MODELS[key] = fn
        return fn

    return wrapper


def list_models(module=None, include=None, exclude=None):
    """Sorted names of the registered builders, filtered with fnmatch patterns."""
    names = {k for k, v in BUILTIN_MODELS.items()
             if module is None or v.__module__.rsplit(".", 1)[0] == module.__name__}
    if include:
        pats = [include] if isinstance(include, str) else include
        names = set().union(*(fnmatch.filter(names, p) for p in pats))
    if exclude:
        pats = [exclude] if isinstance(exclude, str) else exclude
        for p in pats:
            names -= set(fnmatch.filter(names, p))
    return sorted(names)


def get_model_builder(name):
    try:
        return BUILTIN_MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None


def get_model(name, **config):
    """Builds a registered model by name: ``get_model("resnet18", num_classes=10)``."""
    return get_model_builder(name)(**config)


def get_model_weights(name):
    """The weights enum of a builder (or of the builder registered under ``name``)."""
    fn = get_model_builder(name) if isinstance(name, str) else name
    enum_cls = getattr(fn, "_weights_enum", None)
    if enum_cls is None:
        raise ValueError(f"The WeightsEnum class for {getattr(fn, '__name__', fn)} couldn't be retrieved.")
    return enum_cls


def get_weight(name):
    """A weights member by its full name: ``get_weight("ResNet50_Weights.IMAGENET1K_V2")``."""
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    from .. import models

    enum_cls = getattr(models, enum_name, None)
    if not (isinstance(enum_cls, type) and issubclass(enum_cls, WeightsEnum)):
        raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be retrieved.")
    return enum_cls[value_name]


def _imagenet_meta(num_params, acc1, acc5, min_size, **extra):
    meta = {"num_params": num_params, "num_classes": 1000, "min_size": min_size,
            "_metrics": {"ImageNet-1K": {"acc@1": acc1, "acc@5": acc5}}}
    meta.update(extra)
    return meta


def _num_classes(weights):
    return weights.meta.get("num_classes") if weights is not None else None

