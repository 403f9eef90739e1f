"""cnnkit.vision.datasets: datasets that ship with cnnkit (torchvision.datasets-style)."""
from .digits import Digits

__all__ = ["Digits"]
