"""cnnkit.utils: data loading utilities (cnnkit.utils.data)."""
from . import data

__all__ = ["data"]
