"""SVHN (Street View House Numbers, cropped 32x32 digits) from the official .mat files.

``root/{train,test,extra}_32x32.mat`` (directly in root, as torchvision). Reading a .mat needs
SciPy (the optional ``scipy`` extra; ImportError naming it otherwise). The file's label 10 (digit 0)
becomes 0, as torchvision does. ``.data`` is uint8 (N, 3, 32, 32), ``.labels`` int64 (N,); item i is
``(PIL RGB image, int)``.
"""
import os

import numpy as np

from . import _pil
from .utils import check_integrity, download_url, verify_str_arg
from .vision import VisionDataset

__all__ = ["SVHN"]


class SVHN(VisionDataset):
    """`SVHN <http://ufldl.stanford.edu/housenumbers/>`_. Args: root, split ('train', 'test' or
    'extra'), transform, target_transform, download."""

    split_list = {
        "train": ["http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "train_32x32.mat",
                  "e26dedcc434d2e4c54c9b2d4a06d8373"],
        "test": ["http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat",
                 "eb5a983be6a315427106f1b164d9cef3"],
        "extra": ["http://ufldl.stanford.edu/housenumbers/extra_32x32.mat", "extra_32x32.mat",
                  "a93ce644f1a588dc4d68dda5feec44a7"],
    }

    def __init__(self, root, split="train", transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.split = verify_str_arg(split, "split", tuple(self.split_list.keys()))
        self.url, self.filename, self.file_md5 = self.split_list[split]
        if download:
            self.download()
        fpath = os.path.join(self.root, self.filename)
        if not self._check_integrity():
            why = "missing" if not os.path.isfile(fpath) else "MD5 mismatch for"
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it "
                               f"({why} {fpath})")
        try:
            import scipy.io as sio
        except ImportError as e:
            raise ImportError("cnnkit.vision.datasets.SVHN needs scipy to read .mat files: "
                              "pip install 'cnnkit[scipy]'") from e
        try:
            loaded = sio.loadmat(fpath)
        except Exception as e:  # scipy raises ValueError/MatReadError/OSError on bad files
            raise RuntimeError(f"SVHN: cannot read {fpath}: {e}") from e
        x, y = loaded.get("X"), loaded.get("y")
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[2] != 3 or x.dtype != np.uint8:
            got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else "nothing"
            raise RuntimeError(f"SVHN: {fpath}: expected 'X' uint8 (32, 32, 3, N), got {got}")
        if not isinstance(y, np.ndarray) or y.size != x.shape[3]:
            raise RuntimeError(f"SVHN: {fpath}: expected 'y' with {x.shape[3]} labels")
        self.labels = y.astype(np.int64).reshape(-1)
        np.place(self.labels, self.labels == 10, 0)  # the files label the digit 0 as 10
        # (H, W, C, N) -> (N, C, H, W) as torchvision, kept contiguous.
        self.data = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)))

    def __getitem__(self, index):
        img, target = self.data[index], int(self.labels[index])
        img = _pil.fromarray(np.transpose(img, (1, 2, 0)))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def _check_integrity(self):
        return check_integrity(os.path.join(self.root, self.filename), self.split_list[self.split][2])

    def download(self):
        download_url(self.url, self.root, self.filename, self.split_list[self.split][2])

    def extra_repr(self):
        return f"Split: {self.split}"
