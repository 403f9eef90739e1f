"""Writers of tiny dataset files in the real on-disk formats (the tests never download anything).

* IDX (MNIST family): big-endian header ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32 sizes,
  then the payload; optionally gzip-compressed like the official downloads.
* CIFAR batches as the originals were written: Python 2 ``cPickle`` protocol 2, keys and the array
  bytes as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING opcodes), arrays through
  ``numpy.core.multiarray._reconstruct`` -- read back with ``encoding='bytes'`` they show the
  familiar ``b'data'`` / ``b'labels'`` keys.
"""
import gzip
import hashlib
import io
import os
import pickle
import struct

import numpy as np

IDX_CODES = {np.dtype(np.uint8): 8, np.dtype(np.int8): 9, np.dtype(np.int16): 11, np.dtype(np.int32): 12,
             np.dtype(np.float32): 13, np.dtype(np.float64): 14}


def idx_bytes(array):
    array = np.asarray(array)
    head = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, compress=False):
    data = idx_bytes(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
    return path


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def make_mnist_raw(root, name="MNIST", n_train=7, n_test=5, compress=False, keep_raw=True, seed=0,
                   prefix_train="train", prefix_test="t10k", image_hw=(28, 28), num_classes=10):
    """Writes root/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; returns the arrays."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, name, "raw")
    os.makedirs(raw, exist_ok=True)
    arrays = {}
    for prefix, n in ((prefix_train, n_train), (prefix_test, n_test)):
        images = rng.integers(0, 256, size=(n, *image_hw), dtype=np.uint8)
        labels = rng.integers(0, num_classes, size=n).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            base = os.path.join(raw, f"{prefix}-{kind}-ubyte")
            if compress:
                write_idx(base + ".gz", arr, compress=True)
            if keep_raw:
                write_idx(base, arr)
        arrays[prefix] = (images, labels.astype(np.int64))
    return raw, arrays


class _Py2Pickler(pickle._Pickler):
    """Pure-Python pickler emitting what Python 2's cPickle wrote for CIFAR's dicts and arrays."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def py2_pickle_bytes(obj):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_cifar(root, cifar100=False, per_batch=4, n_test=3, seed=0):
    """Writes a tiny CIFAR-10 (5 train batches) or CIFAR-100 (train/test) tree; returns
    ({file name: md5}, train (data, labels), test (data, labels), class names)."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-100-python" if cifar100 else "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    n_classes = 100 if cifar100 else 10
    names = [f"class_{i:03d}" for i in range(n_classes)]
    sums = {}

    def batch(n, label):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, n_classes, size=n)]
        entry = {"batch_label": label, "data": data, "filenames": [f"img_{i}.png" for i in range(n)]}
        if cifar100:
            entry["fine_labels"] = labels
            entry["coarse_labels"] = [v // 5 for v in labels]
        else:
            entry["labels"] = labels
        return entry, data, labels

    def write(name, obj):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(py2_pickle_bytes(obj))
        sums[name] = md5(path)

    train_files = ["train"] if cifar100 else [f"data_batch_{i}" for i in range(1, 6)]
    tr_data, tr_labels = [], []
    for name in train_files:
        entry, data, labels = batch(per_batch * (5 if cifar100 else 1), f"training batch {name}")
        write(name, entry)
        tr_data.append(data)
        tr_labels += labels
    entry, te_data, te_labels = batch(n_test, "testing batch 1 of 1")
    write("test" if cifar100 else "test_batch", entry)
    if cifar100:
        write("meta", {"fine_label_names": names, "coarse_label_names": [f"super_{i}" for i in range(20)]})
    else:
        write("batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    to_hwc = lambda d: d.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # noqa: E731
    return sums, (to_hwc(np.vstack(tr_data)), tr_labels), (to_hwc(te_data), te_labels), names


def cifar_lists(cls, sums):
    """(train_list, test_list, meta) class attributes with the generated files' MD5s."""
    train = [[name, sums[name]] for name, _ in cls.train_list]
    test = [[name, sums[name]] for name, _ in cls.test_list]
    meta = dict(cls.meta, md5=sums[cls.meta["filename"]])
    return train, test, meta


def patch_cifar(monkeypatch, cls, sums):
    train, test, meta = cifar_lists(cls, sums)
    monkeypatch.setattr(cls, "train_list", train)
    monkeypatch.setattr(cls, "test_list", test)
    monkeypatch.setattr(cls, "meta", meta)
