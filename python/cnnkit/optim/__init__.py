"""cnnkit.optim: optimizers with torch.optim's interfaces and update formulas."""
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
