"""cnnkit.nn: modules, parameters, initialisers and the functional interface (PyTorch's torch.nn)."""
from . import functional, init, utils
from .module import Module
from .modules import *  # noqa: F401,F403 -- the public layer classes, listed in modules.__all__
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Module", "Parameter", "functional", "init", "utils"] + list(_modules_all)
