"""MNIST, FashionMNIST, KMNIST and EMNIST from their IDX files, laid out as torchvision does.

Files live in ``root/<ClassName>/raw/`` under the official names (``train-images-idx3-ubyte``...);
each may be there extracted (what torchvision's download leaves, and what it reads) or only as the
downloaded ``.gz``, which is then read directly. ``.data`` is a uint8 tensor (N, H, W),
``.targets`` an int64 tensor (N,), and item i is ``(PIL image mode "L", int)`` like torchvision's
(Pillow is needed only for the items). torchvision's legacy ``processed/*.pt`` caches are not read.

The IDX parser checks the magic, the dtype code, the number of dimensions and that the byte count
equals the product of the dimensions *before* reading the payload, so a truncated or corrupt file
raises RuntimeError naming the file instead of allocating or mis-shaping anything.
"""
import gzip
import math
import os
import shutil
import string
import zlib

import numpy as np

from . import _pil
from .utils import check_integrity, download_and_extract_archive, extract_archive, verify_str_arg
from .vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "EMNIST", "read_sn3_pascalvincent_tensor", "read_image_file",
           "read_label_file"]

# IDX type codes -> big-endian NumPy dtypes (Lush's "SN3 Pascal Vincent" format).
SN3_PASCALVINCENT_TYPEMAP = {8: ">u1", 9: ">i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}
_MAX_DIMS = 4


def _open_idx(path):
    return gzip.open(path, "rb") if os.fspath(path).endswith(".gz") else open(path, "rb")


def _read_at_most(f, nbytes, chunk=1 << 24):
    """Reads up to ``nbytes`` in chunks, so a header claiming more than the (compressed) file holds
    costs memory only for the bytes really there."""
    parts, have = [], 0
    while have < nbytes:
        block = f.read(min(chunk, nbytes - have))
        if not block:
            break
        parts.append(block)
        have += len(block)
    return b"".join(parts)


def read_sn3_pascalvincent_tensor(path, strict=True):
    """Reads an IDX file (raw or ``.gz``) into a NumPy array of native byte order.

    RuntimeError naming ``path`` when the magic, type code, rank or payload size is wrong
    (``strict`` is accepted for torchvision's signature; sizes are always checked)."""
    def bad(what):
        return RuntimeError(f"{path} is not a valid IDX file: {what}")

    try:
        with _open_idx(path) as f:
            head = f.read(4)
            if len(head) < 4:
                raise bad(f"it has {len(head)} bytes, fewer than the 4-byte magic number")
            if head[0] != 0 or head[1] != 0:
                raise bad(f"magic number {head.hex()} does not start with two zero bytes")
            type_code, ndim = head[2], head[3]
            if type_code not in SN3_PASCALVINCENT_TYPEMAP:
                raise bad(f"unknown type code 0x{type_code:02x} (known: 0x08 uint8, 0x09 int8, 0x0b int16, "
                          "0x0c int32, 0x0d float32, 0x0e float64)")
            if not 1 <= ndim <= _MAX_DIMS:
                raise bad(f"{ndim} dimensions (expected 1 to {_MAX_DIMS})")
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise bad(f"the header is truncated ({4 + len(dims_raw)} of {4 + 4 * ndim} bytes)")
            shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
            dtype = np.dtype(SN3_PASCALVINCENT_TYPEMAP[type_code])
            nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on absurd headers
            # Compare with the file size before reading (raw files); .gz payloads are read with a cap.
            if not os.fspath(path).endswith(".gz"):
                have = os.path.getsize(path) - 4 - 4 * ndim
                if have != nbytes:
                    raise bad(f"shape {shape} of {dtype.name} needs {nbytes} data bytes, the file has {have} "
                              f"({'truncated' if have < nbytes else 'trailing bytes'})")
            payload = _read_at_most(f, nbytes)
            if len(payload) != nbytes:
                raise bad(f"shape {shape} of {dtype.name} needs {nbytes} data bytes, got {len(payload)} "
                          "(truncated)")
            if f.read(1):
                raise bad(f"shape {shape} of {dtype.name} needs {nbytes} data bytes, the file has more (trailing bytes)")
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise RuntimeError(f"cannot read IDX file {path}: {e} (corrupted or truncated download?)") from e
    return np.frombuffer(payload, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_label_file(path):
    """IDX labels (uint8, 1-D) as an int64 array."""
    x = read_sn3_pascalvincent_tensor(path, strict=False)
    if x.dtype != np.uint8 or x.ndim != 1:
        raise RuntimeError(f"{path}: expected a 1-D uint8 IDX label file, got {x.ndim}-D {x.dtype}")
    return x.astype(np.int64)


def read_image_file(path):
    """IDX images (uint8, 3-D: N, H, W)."""
    x = read_sn3_pascalvincent_tensor(path, strict=False)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise RuntimeError(f"{path}: expected a 3-D uint8 IDX image file, got {x.ndim}-D {x.dtype}")
    return x


def _existing(path):
    """``path`` if it exists, else ``path.gz`` if that exists, else None."""
    if os.path.isfile(path):
        return path
    if os.path.isfile(path + ".gz"):
        return path + ".gz"
    return None


class MNIST(VisionDataset):
    """`MNIST <http://yann.lecun.com/exdb/mnist/>`_: 60,000 training and 10,000 test digits, 28x28.

    Args: root (folder holding ``MNIST/raw``), train, transform, target_transform, download
    (fetch the four .gz files from the first mirror that answers, check their MD5, extract them;
    nothing is fetched when the files are already there)."""

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    training_file = "training.pt"
    test_file = "test.pt"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if not self._check_exists():
            raise RuntimeError("Dataset not found. You can use download=True to download it "
                               f"(or place {', '.join(self._file_names())} in {self.raw_folder})")
        self.data, self.targets = self._load_data()

    # -- files --------------------------------------------------------------------------------
    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "processed")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _split_files(self):
        """(images, labels) paths of this split, without .gz."""
        prefix = "train" if self.train else "t10k"
        return (os.path.join(self.raw_folder, f"{prefix}-images-idx3-ubyte"),
                os.path.join(self.raw_folder, f"{prefix}-labels-idx1-ubyte"))

    def _file_names(self):
        return [os.path.splitext(name)[0] for name, _ in self.resources]

    def _check_exists(self):
        return all(_existing(os.path.join(self.raw_folder, name)) is not None for name in self._file_names())

    def _load_data(self):
        from ... import from_numpy

        image_path, label_path = (_existing(p) for p in self._split_files())
        images = read_image_file(image_path)
        labels = read_label_file(label_path)
        if len(images) != len(labels):
            raise RuntimeError(f"{image_path} holds {len(images)} images but {label_path} {len(labels)} labels")
        return from_numpy(images), from_numpy(labels)

    def download(self):
        """Downloads and extracts the files that are missing (trying each mirror in turn); a .gz that is
        already there with the official MD5 is only extracted."""
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            extracted = os.path.join(self.raw_folder, os.path.splitext(filename)[0])
            if os.path.isfile(extracted):
                continue
            gz_path = os.path.join(self.raw_folder, filename)
            if check_integrity(gz_path, md5):  # downloaded before, never extracted
                extract_archive(gz_path, self.raw_folder)
                continue
            errors = []
            for mirror in self.mirrors:
                try:
                    download_and_extract_archive(f"{mirror}{filename}", download_root=self.raw_folder,
                                                 filename=filename, md5=md5)
                except RuntimeError as e:
                    errors.append(e)
                    continue
                break
            else:
                lines = [f"Error downloading {filename}:"]
                lines += [f"Tried {mirror}, got:\n{err}" for mirror, err in zip(self.mirrors, errors)]
                lines.append(f"To install it by hand, place {filename} (MD5 {md5}) or its extracted "
                             f"{os.path.basename(extracted)} in {self.raw_folder}")
                raise RuntimeError("\n".join(lines))

    # -- items --------------------------------------------------------------------------------
    def _numpy_views(self):
        """NumPy views sharing memory with ``.data`` / ``.targets`` (indexing them is ~100x cheaper
        than indexing the tensors); rebuilt whenever either attribute is replaced."""
        cache = self.__dict__.get("_views")
        if cache is None or cache[0] is not self.data or cache[1] is not self.targets:
            cache = (self.data, self.targets, self.data.numpy(), self.targets.numpy())
            self._views = cache
        return cache[2], cache[3]

    def __getitem__(self, index):
        data, targets = self._numpy_views()
        img, target = data[index], int(targets[index])
        img = _pil.fromarray(img, mode="L")
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    """`Fashion-MNIST <https://github.com/zalandoresearch/fashion-mnist>`_ (Zalando's clothes, MNIST's layout)."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class KMNIST(MNIST):
    """`Kuzushiji-MNIST <https://github.com/rois-codh/kmnist>`_ (cursive Japanese characters, MNIST's layout)."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


class EMNIST(MNIST):
    """`EMNIST <https://www.westernsydney.edu.au/bens/home/reproducible_research/emnist>`_: NIST letters
    and digits in MNIST's format. ``split`` is one of byclass, bymerge, balanced, letters, digits, mnist.

    Files: ``root/EMNIST/raw/emnist-<split>-<train|test>-<images-idx3|labels-idx1>-ubyte[.gz]``; the
    download is NIST's single ``gzip.zip``. As in torchvision, the images are returned exactly as
    stored, which is transposed (a character's rows are the file's columns): apply
    ``img.transpose(PIL.Image.TRANSPOSE)`` for upright characters."""

    url = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    md5 = "58c8d27c78d21e728a6bc7b3cc06412e"
    splits = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    # bymerge/balanced merge the upper- and lower-case forms that look alike into one class.
    _merged_classes = {"c", "i", "j", "k", "l", "m", "o", "p", "s", "u", "v", "w", "x", "y", "z"}
    _all_classes = set(string.digits + string.ascii_letters)
    classes_split_dict = {
        "byclass": sorted(_all_classes),
        "bymerge": sorted(_all_classes - _merged_classes),
        "balanced": sorted(_all_classes - _merged_classes),
        "letters": ["N/A"] + list(string.ascii_lowercase),
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }

    def __init__(self, root, split, **kwargs):
        self.split = verify_str_arg(split, "split", self.splits)
        self.training_file = f"training_{split}.pt"
        self.test_file = f"test_{split}.pt"
        super().__init__(root, **kwargs)
        self.classes = self.classes_split_dict[self.split]

    @property
    def _file_prefix(self):
        return f"emnist-{self.split}-{'train' if self.train else 'test'}"

    @property
    def images_file(self):
        return os.path.join(self.raw_folder, f"{self._file_prefix}-images-idx3-ubyte")

    @property
    def labels_file(self):
        return os.path.join(self.raw_folder, f"{self._file_prefix}-labels-idx1-ubyte")

    def _split_files(self):
        return self.images_file, self.labels_file

    def _file_names(self):
        return [os.path.basename(p) for p in self._split_files()]

    def _check_exists(self):
        return all(_existing(p) is not None for p in self._split_files())

    def download(self):
        """Downloads NIST's gzip.zip (all splits) and decompresses its .gz files into ``raw``."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        try:
            download_and_extract_archive(self.url, download_root=self.raw_folder, md5=self.md5)
        except RuntimeError as e:
            raise RuntimeError(f"Error downloading EMNIST: tried {self.url}, got:\n{e}\nTo install it by hand, "
                               f"unzip gzip.zip (MD5 {self.md5}) and place its emnist-*.gz files in "
                               f"{self.raw_folder}") from e
        gzip_folder = os.path.join(self.raw_folder, "gzip")
        for name in sorted(os.listdir(gzip_folder)):
            if name.endswith(".gz"):
                extract_archive(os.path.join(gzip_folder, name), self.raw_folder)
        shutil.rmtree(gzip_folder)
