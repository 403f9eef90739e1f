"""vision.datasets.Digits: the UCI 8x8 handwritten digits, shipped inside cnnkit (no download).

1,797 grey-scale 8x8 images of the digits 0-9 (UCI "Optical Recognition of Handwritten Digits",
Alpaydin & Kaynak 1998, CC BY 4.0; see DIGITS_LICENSE.txt), stored in digits.npz as uint8 counts
0..16 with a fixed stratified split: 1,437 training and 360 test images (tools/make_digits.py).

Like torchvision's MNIST: ``.data`` is a uint8 tensor (N, 8, 8), ``.targets`` an int64 tensor (N,),
``.classes`` the class names, and item i is ``(image, label)`` where image is a (1, 8, 8) float32
tensor in [0, 1] (counts / 16) and label a Python int. ``transform`` is applied to that image tensor
(so transforms.Normalize can be used directly) and ``target_transform`` to the label.
"""
import os

import numpy as np

from ...utils.data import Dataset

__all__ = ["Digits"]

_NPZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")


class Digits(Dataset):
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        # root and download exist for torchvision-style call sites; the data ship with cnnkit.
        from ... import from_numpy

        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        split = "train" if train else "test"
        with np.load(_NPZ) as archive:
            images = np.ascontiguousarray(archive[f"{split}_images"])
            labels = np.ascontiguousarray(archive[f"{split}_labels"])
        self.data = from_numpy(images)
        self.targets = from_numpy(labels)
        # Scaled once for the whole split when loading (exact: k/16 is representable in float32);
        # item i is row i, cloned on access so callers may modify it.
        scaled = (images.astype(np.float32) / np.float32(16.0)).reshape(len(labels), 1, 8, 8)
        self._images = from_numpy(scaled)
        self._labels = labels.tolist()

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        img = self._images[index].clone()
        target = self._labels[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self._labels)

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"    Root location: {self.root}")
        lines.append(f"    Split: {'Train' if self.train else 'Test'}")
        if self.transform is not None:
            lines.append("    StandardTransform")
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n" + " " * 11))
        return "\n".join(lines)
