"""FakeData: random images that are the same for the same index (for tests and pipelines).

As torchvision: image i is drawn from a normal distribution seeded with ``i + random_offset``,
converted the way ``ToPILImage`` converts a float tensor (``x * 255`` cast to uint8, wrapping
modulo 256), and its label drawn uniformly from ``range(num_classes)``. The draws use cnnkit's
generator (a private one per item, so the global random state is untouched), so the pixels differ
from torchvision's for the same index; shapes, modes and determinism are the same.
"""
import numpy as np

from . import _pil
from .vision import VisionDataset

__all__ = ["FakeData"]

_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


class FakeData(VisionDataset):
    """Args: size (number of items, 1000), image_size ((C, H, W), (3, 224, 224)), num_classes (10),
    transform, target_transform, random_offset (added to the per-index seed, 0)."""

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(transform=transform, target_transform=target_transform)
        image_size = tuple(image_size)
        if len(image_size) != 3 or image_size[0] not in _MODES or min(image_size) < 1:
            raise ValueError(f"FakeData: image_size must be (C, H, W) with C in 1..4, got {image_size}")
        if int(num_classes) < 1:
            raise ValueError(f"FakeData: num_classes must be positive, got {num_classes}")
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def _draw(self, index):
        """(uint8 HWC array, label) of item ``index``."""
        from ...random import Generator, randint, randn

        g = Generator().manual_seed(index + self.random_offset)
        img = randn(*self.image_size, generator=g).numpy()
        target = int(randint(0, self.num_classes, size=(1,), generator=g)[0])
        # ToPILImage of a float tensor: mul(255) then a truncating cast to uint8 that wraps.
        pixels = np.trunc(img * np.float32(255)).astype(np.int64).astype(np.uint8)
        return np.ascontiguousarray(pixels.transpose(1, 2, 0)), target

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        pixels, target = self._draw(index)
        # Pillow picks the mode from the channel count: L, LA, RGB or RGBA (ToPILImage's choice).
        img = _pil.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return self.size
