"""CIFAR10 and CIFAR100 from the official "python version" batches, laid out as torchvision does.

``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``root/cifar-100-python/{train, test, meta}`` -- what the official tar.gz extracts to. Every file's
MD5 is checked against the official one (as torchvision does), and the pickles are read with a
restricted unpickler (``_unpickle.restricted_load``): a batch that names any callable other than
NumPy's array-rebuilding ones is refused without running it.

``.data`` is a uint8 NumPy array (N, 32, 32, 3), ``.targets`` a list of ints (CIFAR-100: the fine
labels, as torchvision), ``.classes`` the label names; item i is ``(PIL RGB image, int)``.
"""
import os

import numpy as np

from . import _pil
from ._unpickle import restricted_load
from .utils import check_integrity, download_and_extract_archive
from .vision import VisionDataset

__all__ = ["CIFAR10", "CIFAR100"]


def _str_keys(entry, path):
    """Batch dicts have str keys when read with latin1 (Python 2 files); Python 3 protocol-2 rewrites
    have bytes keys. Both are accepted."""
    if not isinstance(entry, dict):
        raise RuntimeError(f"{path}: expected a pickled dict, got {type(entry).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


class CIFAR10(VisionDataset):
    """`CIFAR10 <https://www.cs.toronto.edu/~kriz/cifar.html>`_: 50,000 training and 10,000 test 32x32
    colour images in 10 classes. Args: root, train, transform, target_transform, download."""

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names", "md5": "5ff9c542aee3614f3951f8cda6e48888"}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        bad = self._first_bad_file()
        if bad is not None:
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it "
                               f"({bad}; or extract {self.filename} into {self.root})")

        chunks, self.targets = [], []
        for file_name, _ in (self.train_list if self.train else self.test_list):
            path = os.path.join(self.root, self.base_folder, file_name)
            entry = _str_keys(restricted_load(path), path)
            data = entry.get("data")
            labels = entry["labels"] if "labels" in entry else entry.get("fine_labels")
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                    or data.shape[1] != 3 * 32 * 32:
                got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
                raise RuntimeError(f"{path}: expected 'data' to be a uint8 array (N, 3072), got {got}")
            if not isinstance(labels, list) or len(labels) != len(data):
                raise RuntimeError(f"{path}: expected a list of {len(data)} labels under 'labels'/'fine_labels'")
            chunks.append(data)
            self.targets.extend(int(t) for t in labels)
        # Stored as channel planes (N, 3, 32, 32); kept as contiguous (N, 32, 32, 3) for PIL.
        self.data = np.ascontiguousarray(np.vstack(chunks).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self._load_meta()

    def _load_meta(self):
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        if not check_integrity(path, self.meta["md5"]):
            raise RuntimeError("Dataset metadata file not found or corrupted. You can use download=True to "
                               f"download it ({path})")
        entry = _str_keys(restricted_load(path), path)
        names = entry.get(self.meta["key"])
        if not isinstance(names, list):
            raise RuntimeError(f"{path}: expected a list of class names under '{self.meta['key']}'")
        self.classes = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        img = _pil.fromarray(img)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def _first_bad_file(self):
        """A sentence naming the first missing or corrupted batch file, else None."""
        for filename, md5 in self.train_list + self.test_list:
            fpath = os.path.join(self.root, self.base_folder, filename)
            if not os.path.isfile(fpath):
                return f"missing {fpath}"
            if not check_integrity(fpath, md5):
                return f"MD5 mismatch for {fpath}"
        return None

    def _check_integrity(self):
        return self._first_bad_file() is None

    def download(self):
        if self._check_integrity():
            return
        download_and_extract_archive(self.url, self.root, filename=self.filename, md5=self.tgz_md5)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class CIFAR100(CIFAR10):
    """`CIFAR100 <https://www.cs.toronto.edu/~kriz/cifar.html>`_: as CIFAR10 with 100 (fine) classes."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
