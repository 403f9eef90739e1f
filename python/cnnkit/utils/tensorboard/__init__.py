"""cnnkit.utils.tensorboard: ``SummaryWriter`` with torch.utils.tensorboard's interface.

Event files are written by the optional ``tensorboard`` package (``pip install 'cnnkit[tensorboard]'``),
imported when the first writer is made; view them with ``tensorboard --logdir runs``."""
from .writer import FileWriter, SummaryWriter

__all__ = ["FileWriter", "SummaryWriter"]
