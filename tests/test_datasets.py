"""cnnkit.vision.datasets: MNIST family (IDX), CIFAR (restricted unpickling), VisionDataset.

Tiny files in the real formats are generated in tmp_path (tests/datasets_helpers.py); each dataset
is checked against the generating NumPy arrays and, when torchvision imports, against
torchvision's class reading the very same root.
"""
import gzip
import os
import pickle
import sys

import numpy as np
import pytest

import cnnkit
from cnnkit.vision import datasets
from cnnkit.vision.datasets import mnist as our_mnist
from cnnkit.vision.datasets._unpickle import restricted_load
from datasets_helpers import idx_bytes, make_cifar, make_mnist_raw, patch_cifar, py2_pickle_bytes, write_idx
from torchvision_helper import import_torchvision

PIL = pytest.importorskip("PIL.Image")


class Named:
    """A transform with a fixed repr, shared by ours and torchvision's datasets in repr tests."""

    def __init__(self, name):
        self.name = name

    def __call__(self, x):
        return x

    def __repr__(self):
        return f"{self.name}(\n  inner\n)"


def _assert_same_items(ours, theirs, n=None):
    for i in range(len(ours) if n is None else n):
        (a, ta), (b, tb) = ours[i], theirs[i]
        assert type(ta) is type(tb) and ta == tb
        assert a.mode == b.mode and a.size == b.size
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------------------------
# MNIST family


@pytest.mark.parametrize("compress,keep_raw", [(False, True), (True, False), (True, True)])
def test_mnist_reads_raw_and_gz(tmp_path, compress, keep_raw):
    _, arrays = make_mnist_raw(tmp_path, compress=compress, keep_raw=keep_raw)
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = datasets.MNIST(str(tmp_path), train=train)
        images, labels = arrays[prefix]
        assert ds.data.dtype == cnnkit.uint8 and tuple(ds.data.shape) == images.shape
        assert ds.targets.dtype == cnnkit.int64
        np.testing.assert_array_equal(ds.data.numpy(), images)
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
        assert len(ds) == len(labels)
        img, target = ds[2]
        assert isinstance(target, int) and target == labels[2]
        assert img.mode == "L" and img.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(img), images[2])
    assert ds.class_to_idx["3 - three"] == 3 and len(ds.classes) == 10


def test_mnist_matches_torchvision(tmp_path):
    tv = import_torchvision()
    make_mnist_raw(tmp_path)
    for train in (True, False):
        ours = datasets.MNIST(tmp_path, train=train, transform=Named("T"), target_transform=Named("U"))
        theirs = tv.datasets.MNIST(tmp_path, train=train, transform=Named("T"), target_transform=Named("U"))
        np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
        np.testing.assert_array_equal(ours.targets.numpy(), theirs.targets.numpy())
        assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
        assert len(ours) == len(theirs)
        _assert_same_items(ours, theirs)
        assert repr(ours) == repr(theirs)
        assert ours.raw_folder == theirs.raw_folder
    assert repr(datasets.MNIST(str(tmp_path))) == repr(tv.datasets.MNIST(str(tmp_path)))


@pytest.mark.parametrize("name", ["FashionMNIST", "KMNIST"])
def test_mnist_variants(tmp_path, name):
    _, arrays = make_mnist_raw(tmp_path, name=name, compress=True, keep_raw=False)
    ds = getattr(datasets, name)(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["t10k"][0])
    assert ds.raw_folder == os.path.join(tmp_path, name, "raw")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(tmp_path)  # files are under <root>/<ClassName>/raw only
    try:
        tv = import_torchvision()
    except pytest.skip.Exception:
        return
    tv_cls = getattr(tv.datasets, name)
    assert ds.classes == tv_cls.classes and ds.resources == tv_cls.resources and ds.mirrors == tv_cls.mirrors
    make_mnist_raw(tmp_path, name=name)  # torchvision reads only the extracted files
    theirs = tv_cls(tmp_path, train=False)
    np.testing.assert_array_equal(getattr(datasets, name)(tmp_path, train=False).data.numpy(), theirs.data.numpy())


def _make_emnist(root, split, n=6, num_classes=10, compress=False):
    rng = np.random.default_rng(3)
    raw = os.path.join(root, "EMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    out = {}
    for part in ("train", "test"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, num_classes, size=n).astype(np.uint8)
        write_idx(os.path.join(raw, f"emnist-{split}-{part}-images-idx3-ubyte" + (".gz" if compress else "")),
                  images, compress)
        write_idx(os.path.join(raw, f"emnist-{split}-{part}-labels-idx1-ubyte" + (".gz" if compress else "")),
                  labels, compress)
        out[part] = images, labels
    return out


@pytest.mark.parametrize("split,n_classes", [("byclass", 62), ("bymerge", 47), ("balanced", 47), ("letters", 27),
                                              ("digits", 10), ("mnist", 10)])
def test_emnist_splits(tmp_path, split, n_classes):
    arrays = _make_emnist(tmp_path, split, num_classes=min(n_classes, 10))
    ds = datasets.EMNIST(tmp_path, split=split, train=False)
    assert len(ds.classes) == n_classes and ds.split == split
    np.testing.assert_array_equal(ds.data.numpy(), arrays["test"][0])  # stored (transposed) orientation
    np.testing.assert_array_equal(ds.targets.numpy(), arrays["test"][1])
    np.testing.assert_array_equal(np.asarray(ds[1][0]), arrays["test"][0][1])
    try:
        tv = import_torchvision()
    except pytest.skip.Exception:
        return
    theirs = tv.datasets.EMNIST(tmp_path, split=split, train=False)
    assert ds.classes == theirs.classes
    np.testing.assert_array_equal(ds.data.numpy(), theirs.data.numpy())
    _assert_same_items(ds, theirs)
    assert repr(ds) == repr(theirs)


def test_mnist_items_follow_data_changes(tmp_path):
    _, arrays = make_mnist_raw(tmp_path)
    ds = datasets.MNIST(tmp_path)
    assert np.asarray(ds[-1][0]).tolist() == arrays["train"][0][-1].tolist()
    ds.data[1] = 0  # in-place change of the tensor shows in the items
    assert not np.asarray(ds[1][0]).any()
    ds.data, ds.targets = ds.data[4:], ds.targets[4:] + 100  # replaced attributes are used
    assert len(ds) == 3 and ds[0][1] == arrays["train"][1][4] + 100
    np.testing.assert_array_equal(np.asarray(ds[0][0]), arrays["train"][0][4])


def test_mnist_with_totensor_and_dataloader(tmp_path):
    from cnnkit.utils.data import DataLoader
    from cnnkit.vision import transforms

    _, arrays = make_mnist_raw(tmp_path)
    ds = datasets.MNIST(tmp_path, transform=transforms.Compose([transforms.ToTensor(),
                                                                transforms.Normalize((0.5,), (0.5,))]))
    images, labels = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(images.shape) == (4, 1, 28, 28) and labels.dtype == cnnkit.int64
    np.testing.assert_allclose(images.numpy()[:, 0], (arrays["train"][0][:4] / 255.0 - 0.5) / 0.5, atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), arrays["train"][1][:4])
    assert "StandardTransform\nTransform: Compose(" in repr(ds)


def test_emnist_gz_and_bad_split(tmp_path):
    arrays = _make_emnist(tmp_path, "balanced", compress=True)
    ds = datasets.EMNIST(tmp_path, "balanced")
    np.testing.assert_array_equal(ds.targets.numpy(), arrays["train"][1])
    assert ds.classes[:12] == list("0123456789AB") and "c" not in ds.classes and "d" in ds.classes
    with pytest.raises(ValueError, match="Unknown value 'upper' for argument split"):
        datasets.EMNIST(tmp_path, "upper")
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it"):
        datasets.EMNIST(tmp_path, "letters")


def test_mnist_missing_files(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it") as e:
        datasets.MNIST(tmp_path)
    assert os.path.join(str(tmp_path), "MNIST", "raw") in str(e.value)


def test_idx_reader_dtypes_against_numpy_and_torchvision(tmp_path):
    rng = np.random.default_rng(0)
    cases = [rng.integers(-100, 100, size=(3, 4)).astype(np.int16), rng.standard_normal((2, 3, 2)).astype(np.float32),
             rng.standard_normal(5), rng.integers(-2**31, 2**31 - 1, size=(4,)).astype(np.int32),
             rng.integers(-128, 127, size=(2, 2)).astype(np.int8)]
    for k, arr in enumerate(cases):
        path = write_idx(str(tmp_path / f"f{k}"), arr)
        got = our_mnist.read_sn3_pascalvincent_tensor(path)
        assert got.dtype == arr.dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, arr)
        gz = write_idx(str(tmp_path / f"f{k}.gz"), arr, compress=True)
        np.testing.assert_array_equal(our_mnist.read_sn3_pascalvincent_tensor(gz), arr)
        try:
            tv = import_torchvision()
        except pytest.skip.Exception:
            continue
        from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
        np.testing.assert_array_equal(read_sn3_pascalvincent_tensor(path).numpy(), got)


@pytest.mark.parametrize("mutate,message", [
    (lambda b: b[:-7], "truncated"),
    (lambda b: b + b"\x00", "trailing bytes"),
    (lambda b: b[:2], "fewer than the 4-byte magic"),
    (lambda b: b"\x01" + b[1:], "does not start with two zero bytes"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown type code 0x07"),
    (lambda b: b[:3] + b"\x09" + b[4:], "9 dimensions"),
    (lambda b: b[:3] + b"\x02" + b[4:], "needs"),  # 2-D header over a 3-D payload: size mismatch
    (lambda b: b[:10], "header is truncated"),
    (lambda b: b[:3] + b"\x04" + b"\xff" * 16 + b[16:], "needs 340282366604025813516997721482669850625 data"),
])
def test_corrupt_idx_files(tmp_path, mutate, message):
    raw, _ = make_mnist_raw(tmp_path)
    path = os.path.join(raw, "train-images-idx3-ubyte")
    with open(path, "rb") as f:
        good = f.read()
    with open(path, "wb") as f:
        f.write(mutate(good))
    with pytest.raises(RuntimeError, match=message) as e:
        datasets.MNIST(tmp_path)
    assert "train-images-idx3-ubyte" in str(e.value)
    # The same bytes gzip-compressed: the checks run on the decompressed stream.
    os.remove(path)
    with open(path + ".gz", "wb") as f:
        f.write(gzip.compress(mutate(good)))
    with pytest.raises(RuntimeError, match=message):
        datasets.MNIST(tmp_path)


def test_corrupt_gzip_and_wrong_kind(tmp_path):
    raw, _ = make_mnist_raw(tmp_path, compress=True, keep_raw=False)
    path = os.path.join(raw, "train-labels-idx1-ubyte.gz")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF  # bit flip inside the deflate stream / CRC
    open(path, "wb").write(bytes(data))
    with pytest.raises(RuntimeError, match="train-labels-idx1-ubyte.gz"):
        datasets.MNIST(tmp_path)
    open(path, "wb").write(gzip.compress(b"\x00\x00\x08"))  # truncated header inside a valid gzip
    with pytest.raises(RuntimeError, match="fewer than the 4-byte magic"):
        datasets.MNIST(tmp_path)
    # labels stored as int32 / images with the wrong rank / count mismatch
    write_idx(path, np.zeros(7, np.int32), compress=True)
    with pytest.raises(RuntimeError, match="expected a 1-D uint8 IDX label file, got 1-D int32"):
        datasets.MNIST(tmp_path)
    write_idx(path, np.zeros(6, np.uint8), compress=True)
    with pytest.raises(RuntimeError, match="holds 7 images but .* 6 labels"):
        datasets.MNIST(tmp_path)
    write_idx(os.path.join(raw, "train-images-idx3-ubyte.gz"), np.zeros((6, 28), np.uint8), compress=True)
    with pytest.raises(RuntimeError, match="expected a 3-D uint8 IDX image file, got 2-D"):
        datasets.MNIST(tmp_path)


def test_items_need_pillow_only_at_access(tmp_path, monkeypatch):
    make_mnist_raw(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    ds = datasets.MNIST(tmp_path)  # constructing works without Pillow
    assert len(ds) == 7
    with pytest.raises(ImportError, match=r"pip install 'cnnkit\[vision\]'"):
        ds[0]


def test_vision_dataset_base_and_standard_transform(tmp_path):
    with pytest.raises(ValueError, match="Only transforms or transform/target_transform"):
        datasets.VisionDataset("x", transforms=lambda a, b: (a, b), transform=str)
    base = datasets.VisionDataset("~/somewhere")
    assert base.root == os.path.expanduser("~/somewhere") and base.transforms is None
    with pytest.raises(NotImplementedError):
        base[0]
    from cnnkit.vision.datasets.vision import StandardTransform
    st = StandardTransform(lambda x: x + 1, lambda y: y * 10)
    assert st(1, 2) == (2, 20)
    make_mnist_raw(tmp_path)
    ds = datasets.MNIST(tmp_path, transform=lambda img: np.asarray(img).sum())
    assert isinstance(ds.transforms, StandardTransform) and ds.transforms.target_transform is None
    assert ds[0][0] == np.asarray(datasets.MNIST(tmp_path)[0][0]).sum()
    tv = import_torchvision()
    from torchvision.datasets.vision import StandardTransform as TvStandardTransform
    for t, u in ((Named("A"), None), (None, Named("B")), (Named("A"), Named("B"))):
        assert repr(StandardTransform(t, u)) == repr(TvStandardTransform(t, u))
    assert repr(datasets.MNIST(tmp_path, train=False, target_transform=Named("B"))) == \
        repr(tv.datasets.MNIST(tmp_path, train=False, target_transform=Named("B")))


# ----------------------------------------------------------------------------------------------
# CIFAR


@pytest.mark.parametrize("cifar100", [False, True])
def test_cifar_against_generated_and_torchvision(tmp_path, monkeypatch, cifar100):
    cls = datasets.CIFAR100 if cifar100 else datasets.CIFAR10
    sums, (tr_x, tr_y), (te_x, te_y), names = make_cifar(tmp_path, cifar100=cifar100)
    patch_cifar(monkeypatch, cls, sums)
    for train, (x, y) in ((True, (tr_x, tr_y)), (False, (te_x, te_y))):
        ds = cls(str(tmp_path), train=train)
        assert isinstance(ds.data, np.ndarray) and ds.data.dtype == np.uint8 and ds.data.shape == x.shape
        np.testing.assert_array_equal(ds.data, x)
        assert isinstance(ds.targets, list) and ds.targets == y
        assert ds.classes == names and ds.class_to_idx[names[7]] == 7
        img, target = ds[1]
        assert img.mode == "RGB" and img.size == (32, 32) and target == y[1]
        np.testing.assert_array_equal(np.asarray(img), x[1])
    tv = import_torchvision()
    tv_cls = getattr(tv.datasets, cls.__name__)
    assert (tv_cls.url, tv_cls.tgz_md5, tv_cls.base_folder) == (cls.url, cls.tgz_md5, cls.base_folder)
    assert [n for n, _ in tv_cls.train_list] == [n for n, _ in cls.train_list]
    patch_cifar(monkeypatch, tv_cls, sums)
    for train in (True, False):
        ours, theirs = cls(tmp_path, train=train, transform=Named("T")), tv_cls(tmp_path, train=train,
                                                                                 transform=Named("T"))
        np.testing.assert_array_equal(ours.data, theirs.data)
        assert ours.targets == theirs.targets and ours.classes == theirs.classes and len(ours) == len(theirs)
        _assert_same_items(ours, theirs)
        assert repr(ours) == repr(theirs)


def test_official_urls_md5s_and_classes_are_torchvision_s():
    tv = import_torchvision()
    for name in ("CIFAR10", "CIFAR100"):
        ours, theirs = getattr(datasets, name), getattr(tv.datasets, name)
        assert ours.train_list == theirs.train_list and ours.test_list == theirs.test_list
        assert ours.meta == theirs.meta and ours.filename == theirs.filename
    for name in ("MNIST", "FashionMNIST", "KMNIST"):
        ours, theirs = getattr(datasets, name), getattr(tv.datasets, name)
        assert (ours.mirrors, ours.resources, ours.classes) == (theirs.mirrors, theirs.resources, theirs.classes)
    assert (datasets.EMNIST.url, datasets.EMNIST.md5, datasets.EMNIST.splits) == \
        (tv.datasets.EMNIST.url, tv.datasets.EMNIST.md5, tv.datasets.EMNIST.splits)
    assert datasets.EMNIST.classes_split_dict == tv.datasets.EMNIST.classes_split_dict
    assert datasets.SVHN.split_list == tv.datasets.SVHN.split_list


def test_cifar_missing_and_corrupted(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted. You can use download=True") as e:
        datasets.CIFAR10(tmp_path)
    assert "data_batch_1" in str(e.value)
    sums, *_ = make_cifar(tmp_path)
    patch_cifar(monkeypatch, datasets.CIFAR10, sums)
    path = os.path.join(tmp_path, "cifar-10-batches-py", "data_batch_3")
    data = bytearray(open(path, "rb").read())
    data[100] ^= 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(RuntimeError, match="MD5 mismatch for .*data_batch_3"):
        datasets.CIFAR10(tmp_path)


def test_cifar_python3_protocol2_bytes_keys(tmp_path, monkeypatch):
    """Re-pickled batches (Python 3, protocol 2: bytes keys through _codecs.encode) load too."""
    sums, (tr_x, tr_y), _, names = make_cifar(tmp_path, per_batch=2)
    folder = os.path.join(tmp_path, "cifar-10-batches-py")
    for name in sums:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        with open(path, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        assert b"_codecs" in open(path, "rb").read() or name == "batches.meta"
        sums[name] = __import__("datasets_helpers").md5(path)
    patch_cifar(monkeypatch, datasets.CIFAR10, sums)
    ds = datasets.CIFAR10(tmp_path)
    np.testing.assert_array_equal(ds.data, tr_x)
    assert ds.targets == tr_y and ds.classes == names


def test_cifar_bad_batch_contents(tmp_path, monkeypatch):
    sums, *_ = make_cifar(tmp_path)
    path = os.path.join(tmp_path, "cifar-10-batches-py", "data_batch_2")
    for entry, message in (({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, r"uint8 array \(N, 3072\)"),
                           ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "list of 2 labels"),
                           ([1, 2], "expected a pickled dict")):
        with open(path, "wb") as f:
            f.write(py2_pickle_bytes(entry))
        sums["data_batch_2"] = __import__("datasets_helpers").md5(path)
        patch_cifar(monkeypatch, datasets.CIFAR10, sums)
        with pytest.raises(RuntimeError, match=message):
            datasets.CIFAR10(tmp_path)


# ----------------------------------------------------------------------------------------------
# Restricted unpickler


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd,)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_unpickler_refuses_os_system_without_running_it(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({"data": _Evil(f"touch {marker}"), "labels": [1]}, f, protocol=protocol)
    with pytest.raises(RuntimeError, match=r"refusing to load .*data_batch_1.*'(posix|os|nt)\.system' is not allowed"):
        restricted_load(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    lambda: __import__("builtins").eval,                               # a bare dangerous global
    lambda: np.array([1, "x"], dtype=object),                          # object arrays
    lambda: {"d": np.dtype([("a", "O")])},                             # object-holding structured dtype
    lambda: pickle.loads(pickle.dumps(np.float64(2.5))),               # fine: numpy scalar (allowed)
    lambda: np.ma.array([1, 2]),                                       # ndarray subclass
])
def test_unpickler_allow_list(tmp_path, payload):
    obj = payload()
    path = tmp_path / "f"
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    if isinstance(obj, np.floating):
        assert restricted_load(path) == obj
    else:
        with pytest.raises(RuntimeError, match="refusing to load"):
            restricted_load(path)


def test_unpickler_loads_arrays_and_rejects_garbage(tmp_path):
    arrays = {"u8": np.arange(12, dtype=np.uint8).reshape(3, 4), "f": np.linspace(0, 1, 5),
              "i": np.array([[1, -2]], dtype=">i4"), "empty": np.zeros((0, 3), np.uint8), "s": "text", "b": b"\x00\xff"}
    for proto in (2, 4, 5):
        path = tmp_path / f"ok{proto}"
        path.write_bytes(pickle.dumps(arrays, protocol=proto))
        got = restricted_load(path)
        expected = pickle.loads(path.read_bytes())  # the unrestricted loader is the reference
        assert got.keys() == expected.keys()
        for k, v in expected.items():
            if isinstance(v, np.ndarray):
                assert got[k].dtype == v.dtype
                np.testing.assert_array_equal(got[k], v)
                np.testing.assert_array_equal(got[k], arrays[k])
            else:
                assert got[k] == v == arrays[k]
    good = pickle.dumps(arrays, protocol=2)
    (tmp_path / "trunc").write_bytes(good[: len(good) // 2])
    with pytest.raises(RuntimeError, match="cannot unpickle .*trunc"):
        restricted_load(tmp_path / "trunc")
    (tmp_path / "junk").write_bytes(b"not a pickle at all")
    with pytest.raises(RuntimeError, match="junk"):
        restricted_load(tmp_path / "junk")
    with open(tmp_path / "pid", "wb") as f:
        p = pickle.Pickler(f, protocol=2)
        p.persistent_id = lambda obj: "x" if obj == "marker" else None
        p.dump(["marker"])
    with pytest.raises(RuntimeError, match="persistent ids are not allowed"):
        restricted_load(tmp_path / "pid")


def test_py2_style_pickle_is_what_the_originals_look_like():
    raw = py2_pickle_bytes({"data": np.zeros((1, 3), np.uint8), "labels": [0]})
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and b"_codecs" not in raw
    assert set(pickle.loads(raw, encoding="bytes")) == {b"data", b"labels"}
    assert idx_bytes(np.zeros((2, 3), np.uint8))[:4] == b"\x00\x00\x08\x02"


def test_importing_datasets_loads_no_optional_dependency():
    import subprocess

    code = ("import sys, cnnkit, cnnkit.vision.datasets\n"
            "bad = [m for m in ('PIL', 'scipy', 'tqdm', 'matplotlib', 'torch', 'torchvision') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
