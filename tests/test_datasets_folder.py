"""cnnkit.vision.datasets: DatasetFolder / ImageFolder, FakeData and SVHN (generated files, torchvision twin)."""
import os
import sys

import numpy as np
import pytest

import cnnkit
from cnnkit.vision import datasets
from cnnkit.vision.datasets import folder as our_folder
from datasets_helpers import md5
from torchvision_helper import import_torchvision

Image = pytest.importorskip("PIL.Image")


def _make_tree(root):
    """Classes 'B_upper', 'a_lower', 'cls.with.dot', 'empty' (no valid file); nested folders, upper-case
    extensions, non-image files, a hidden file and a file directly in root."""
    rng = np.random.default_rng(0)
    files = {
        "a_lower/x2.png": "PNG", "a_lower/X1.PNG": "PNG", "a_lower/sub/deeper/z.jpeg": "JPEG",
        "a_lower/sub/a.JPG": "JPEG", "a_lower/notes.txt": None, "a_lower/.hidden.png": "PNG",
        "B_upper/img.bmp": "BMP", "B_upper/img.tif": "TIFF", "B_upper/b/c/d.ppm": "PPM",
        "cls.with.dot/g.pgm": "L", "cls.with.dot/h.webp": "WEBP",
        "empty/readme.md": None, "stray.png": "PNG",
    }
    for rel, fmt in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if fmt is None:
            with open(path, "w") as f:
                f.write("not an image")
            continue
        arr = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
        img = Image.fromarray(arr)
        if fmt == "L":
            img.convert("L").save(path, format="PPM")
        elif fmt == "WEBP":
            try:
                img.save(path, format="WEBP", lossless=True)
            except (KeyError, OSError):  # Pillow without WebP: any valid image under that name
                img.save(path, format="PNG")
        else:
            img.save(path, format=fmt)
    os.makedirs(os.path.join(root, "zz_really_empty"))
    return files


def _expected_samples(root, class_to_idx, valid):
    """Independent reference: every file under each class folder, filtered and sorted per folder."""
    out = []
    for cls in sorted(class_to_idx):
        base = os.path.join(root, cls)
        for dirpath, _, fnames in sorted(os.walk(base)):
            for f in sorted(fnames):
                p = os.path.join(dirpath, f)
                if valid(p):
                    out.append((p, class_to_idx[cls]))
    return out


def test_image_folder_order_and_empty_classes(tmp_path):
    root = str(tmp_path)
    _make_tree(root)
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty, zz_really_empty"):
        datasets.ImageFolder(root)
    ds = datasets.ImageFolder(root, allow_empty=True)
    assert ds.classes == ["B_upper", "a_lower", "cls.with.dot", "empty", "zz_really_empty"]
    assert ds.class_to_idx == {c: i for i, c in enumerate(ds.classes)}
    exts = our_folder.IMG_EXTENSIONS
    assert ds.samples == _expected_samples(root, ds.class_to_idx, lambda p: p.lower().endswith(exts))
    assert ds.imgs is ds.samples and ds.targets == [t for _, t in ds.samples]
    names = [os.path.relpath(p, root) for p, _ in ds.samples]
    assert "a_lower/X1.PNG" in names and "a_lower/notes.txt" not in names and "stray.png" not in names
    assert names.index("a_lower/.hidden.png") < names.index("a_lower/X1.PNG") < names.index("a_lower/x2.png")
    img, target = ds[names.index("cls.with.dot/g.pgm")]
    assert img.mode == "RGB" and img.size == (7, 5) and target == 2

    tv = import_torchvision()
    theirs = tv.datasets.ImageFolder(root, allow_empty=True)
    assert ds.classes == theirs.classes and ds.class_to_idx == theirs.class_to_idx
    assert ds.samples == theirs.samples and ds.targets == theirs.targets
    for i in range(len(ds)):
        (a, ta), (b, tb) = ds[i], theirs[i]
        assert ta == tb and a.mode == b.mode
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert repr(ds) == repr(theirs)
    assert our_folder.IMG_EXTENSIONS == tv.datasets.folder.IMG_EXTENSIONS


def test_dataset_folder_custom_loader_and_validity(tmp_path):
    root = str(tmp_path / "tree")
    for cls, n in (("dog", 2), ("cat", 3)):
        os.makedirs(os.path.join(root, cls, "nested"))
        for i in range(n):
            np.save(os.path.join(root, cls, "nested" if i else "", f"{i}.npy"), np.full(3, i + 10 * len(cls)))
        open(os.path.join(root, cls, "skip.NPY.bak"), "w").close()
    ds = datasets.DatasetFolder(root, loader=np.load, extensions=(".npy",), transform=lambda a: a.sum(),
                                target_transform=lambda t: -t)
    assert ds.classes == ["cat", "dog"] and len(ds) == 5 and ds.extensions == (".npy",)
    assert ds[0] == (90, 0) and ds[4][1] == -1
    only_nested = datasets.DatasetFolder(root, loader=np.load, is_valid_file=lambda p: "nested" in p)
    assert all("nested" in p for p, _ in only_nested.samples) and len(only_nested) == 3
    with pytest.raises(ValueError, match="Both extensions and is_valid_file cannot be None or not None"):
        datasets.DatasetFolder(root, loader=np.load)
    with pytest.raises(ValueError, match="Both extensions and is_valid_file"):
        datasets.DatasetFolder(root, loader=np.load, extensions=(".npy",), is_valid_file=bool)
    with pytest.raises(ValueError, match="must have at least one entry"):
        our_folder.make_dataset(root, {}, extensions=".npy")
    with pytest.raises(ValueError, match="class_to_idx parameter cannot be None"):
        datasets.DatasetFolder.make_dataset(root, None, extensions=".npy")
    assert our_folder.make_dataset(root, extensions=".npy") == ds.samples  # default: find_classes
    assert our_folder.make_dataset(root, {"dog": 7, "missing": 1}, extensions=".npy", allow_empty=True) == \
        [(p, 7) for p, t in ds.samples if t == 1]
    empty_root = tmp_path / "nothing"
    empty_root.mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(empty_root))
    assert our_folder.has_file_allowed_extension("A.JpEg", (".jpeg",)) and not our_folder.is_image_file("a.gif")

    class OnlyDogs(datasets.DatasetFolder):
        def find_classes(self, directory):
            return ["dog"], {"dog": 0}

    assert len(OnlyDogs(root, loader=np.load, extensions=(".npy",))) == 2
    tv = import_torchvision()
    theirs = tv.datasets.DatasetFolder(root, loader=np.load, extensions=(".npy",))
    assert theirs.samples == ds.samples


def test_image_folder_items_need_pillow_only_at_access(tmp_path, monkeypatch):
    _make_tree(str(tmp_path))
    monkeypatch.setitem(sys.modules, "PIL", None)
    ds = datasets.ImageFolder(str(tmp_path), allow_empty=True)
    with pytest.raises(ImportError, match=r"cnnkit\[vision\]"):
        ds[0]


# ----------------------------------------------------------------------------------------------
# FakeData


def test_fakedata_deterministic_and_reference():
    ds = datasets.FakeData(size=6, image_size=(3, 5, 4), num_classes=3, random_offset=2)
    state = cnnkit.get_rng_state()
    a, ta = ds[4]
    assert (cnnkit.get_rng_state() == state).all()  # the global generator is left alone
    b, tb = ds[4]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert ta == tb and isinstance(ta, int) and 0 <= ta < 3
    assert a.mode == "RGB" and a.size == (4, 5) and len(ds) == 6
    # Reference: the same draws from a generator seeded with index + random_offset, cast as ToPILImage does.
    g = cnnkit.Generator().manual_seed(4 + 2)
    x = cnnkit.randn(3, 5, 4, generator=g).numpy().astype(np.float64)
    label = int(cnnkit.randint(0, 3, size=(1,), generator=g)[0])
    expected = np.array([[[int(v * np.float32(255)) % 256 for v in row] for row in plane] for plane in x],
                        dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(a), expected.transpose(1, 2, 0))
    assert ta == label
    other = datasets.FakeData(size=6, image_size=(3, 5, 4), num_classes=3)
    assert not np.array_equal(np.asarray(other[4][0]), np.asarray(a))
    # item i of offset k is item i + k of offset 0 (same seed)
    np.testing.assert_array_equal(np.asarray(datasets.FakeData(8, (3, 5, 4), 3)[6][0]), np.asarray(a))
    with pytest.raises(IndexError, match="FakeData index out of range"):
        ds[6]
    labels = {datasets.FakeData(size=200, image_size=(1, 1, 1), num_classes=4)[i][1] for i in range(200)}
    assert labels == {0, 1, 2, 3}


def test_fakedata_modes_transforms_and_torchvision():
    modes = {c: datasets.FakeData(size=2, image_size=(c, 3, 2))[0][0].mode for c in (1, 2, 3, 4)}
    assert modes == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
    ds = datasets.FakeData(size=3, image_size=(1, 2, 2), transform=lambda im: np.asarray(im).shape,
                           target_transform=lambda t: ("t", t))
    img, target = ds[1]
    assert img == (2, 2) and target[0] == "t"
    with pytest.raises(ValueError, match=r"image_size must be \(C, H, W\)"):
        datasets.FakeData(image_size=(5, 2, 2))
    with pytest.raises(ValueError, match="num_classes must be positive"):
        datasets.FakeData(num_classes=0)
    tv = import_torchvision()
    torch = pytest.importorskip("torch")
    theirs = tv.datasets.FakeData(size=3, image_size=(3, 4, 5))
    ours = datasets.FakeData(size=3, image_size=(3, 4, 5))
    assert len(ours) == len(theirs) and repr(ours) == repr(theirs)
    (a, ta), (b, tb) = ours[0], theirs[0]
    assert a.mode == b.mode and a.size == b.size and type(ta) is type(tb)
    # The float -> uint8 conversion equals torchvision's ToPILImage on the same numbers.
    x = cnnkit.randn(3, 4, 5, generator=cnnkit.Generator().manual_seed(0)).numpy()
    ref = tv.transforms.ToPILImage()(torch.from_numpy(x))
    np.testing.assert_array_equal(np.asarray(ref), np.asarray(datasets.FakeData(size=1, image_size=(3, 4, 5))[0][0]))


# ----------------------------------------------------------------------------------------------
# SVHN


def _make_svhn(root, split="train", n=6):
    sio = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
    y[0, 0] = 10
    path = os.path.join(root, f"{split}_32x32.mat")
    sio.savemat(path, {"X": x, "y": y})
    return path, x, y


def _patch_svhn(monkeypatch, cls, split, path):
    table = {k: list(v) for k, v in cls.split_list.items()}
    table[split][2] = md5(path)
    monkeypatch.setattr(cls, "split_list", table)


@pytest.mark.parametrize("split", ["train", "test", "extra"])
def test_svhn(tmp_path, monkeypatch, split):
    path, x, y = _make_svhn(str(tmp_path), split)
    _patch_svhn(monkeypatch, datasets.SVHN, split, path)
    ds = datasets.SVHN(str(tmp_path), split=split)
    assert ds.data.dtype == np.uint8 and ds.data.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(ds.data, x.transpose(3, 2, 0, 1))
    expected_labels = np.where(y[:, 0] == 10, 0, y[:, 0]).astype(np.int64)
    assert ds.labels.dtype == np.int64 and ds.labels[0] == 0
    np.testing.assert_array_equal(ds.labels, expected_labels)
    img, target = ds[2]
    assert img.mode == "RGB" and target == expected_labels[2] and isinstance(target, int)
    np.testing.assert_array_equal(np.asarray(img), x[:, :, :, 2])  # (H, W, C) as stored
    tv = import_torchvision()
    _patch_svhn(monkeypatch, tv.datasets.SVHN, split, path)
    theirs = tv.datasets.SVHN(str(tmp_path), split=split)
    np.testing.assert_array_equal(ds.data, theirs.data)
    np.testing.assert_array_equal(ds.labels, theirs.labels)
    for i in range(len(ds)):
        np.testing.assert_array_equal(np.asarray(ds[i][0]), np.asarray(theirs[i][0]))
        assert ds[i][1] == theirs[i][1]
    assert repr(ds) == repr(theirs)


def test_svhn_errors(tmp_path, monkeypatch):
    assert datasets.SVHN.split_list["train"][2] == "e26dedcc434d2e4c54c9b2d4a06d8373"
    with pytest.raises(ValueError, match="Unknown value 'valid' for argument split"):
        datasets.SVHN(str(tmp_path), split="valid")
    with pytest.raises(RuntimeError, match=r"Dataset not found or corrupted.*missing .*train_32x32.mat"):
        datasets.SVHN(str(tmp_path))
    path, _, _ = _make_svhn(str(tmp_path))
    with pytest.raises(RuntimeError, match="MD5 mismatch for .*train_32x32.mat"):
        datasets.SVHN(str(tmp_path))  # the official MD5 does not match the generated file
    _patch_svhn(monkeypatch, datasets.SVHN, "train", path)
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match=r"needs scipy .*pip install 'cnnkit\[scipy\]'"):
        datasets.SVHN(str(tmp_path))
    monkeypatch.undo()
    with open(path, "wb") as f:
        f.write(b"MATLAB 5.0 garbage" * 4)
    _patch_svhn(monkeypatch, datasets.SVHN, "train", path)
    with pytest.raises(RuntimeError, match="SVHN: cannot read .*train_32x32.mat"):
        datasets.SVHN(str(tmp_path))
