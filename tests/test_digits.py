"""cnnkit.vision.datasets.Digits (the embedded UCI 8x8 digits) and cnnkit.vision.transforms."""
import hashlib
import os

import numpy as np
import pytest

import cnnkit
import cnnkit.vision as vision
from cnnkit.utils.data import DataLoader
from cnnkit.vision import transforms as T
from cnnkit.vision.datasets import Digits

# sha256 over train_images, train_labels, test_images, test_labels (C order bytes): guards the
# shipped file against accidental regeneration or corruption.
DIGITS_SHA256 = "5d1604b6c534402770658937fbb8e8c22393f3070b2080ea261d352123c6af65"
NPZ = os.path.join(os.path.dirname(vision.datasets.__file__), "digits.npz")


def _np(t):
    return np.asarray(t.detach().numpy())


@pytest.fixture(scope="module")
def train():
    return Digits(train=True)


@pytest.fixture(scope="module")
def test():
    return Digits(root="unused", train=False)


def test_file_integrity_and_licence_note():
    with np.load(NPZ) as z:
        h = hashlib.sha256()
        for k in ("train_images", "train_labels", "test_images", "test_labels"):
            h.update(np.ascontiguousarray(z[k]).tobytes())
        assert h.hexdigest() == DIGITS_SHA256
        assert z["train_images"].dtype == np.uint8 and z["train_labels"].dtype == np.int64
        assert int(z["seed"]) == 20240601
        train_idx, test_idx = z["train_indices"], z["test_indices"]
        assert len(np.intersect1d(train_idx, test_idx)) == 0
        assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(1797))
    licence = open(os.path.join(os.path.dirname(NPZ), "DIGITS_LICENSE.txt")).read()
    assert "CC BY 4.0" in licence and "Alpaydin" in licence and "10.24432/C50P49" in licence


def test_shapes_dtypes_and_split_sizes(train, test):
    assert len(train) == 1437 and len(test) == 360
    assert tuple(train.data.shape) == (1437, 8, 8) and train.data.dtype == cnnkit.uint8
    assert tuple(train.targets.shape) == (1437,) and train.targets.dtype == cnnkit.int64
    assert tuple(test.data.shape) == (360, 8, 8)
    assert train.classes[0] == "0 - zero" and len(train.classes) == 10
    assert train.class_to_idx["9 - nine"] == 9


def test_items_are_scaled_images_and_int_labels(train, test):
    for ds in (train, test):
        for i in (0, 1, len(ds) - 1, -1):
            img, label = ds[i]
            assert isinstance(img, cnnkit.Tensor) and tuple(img.shape) == (1, 8, 8)
            assert img.dtype == cnnkit.float32 and type(label) is int and 0 <= label <= 9
            np.testing.assert_array_equal(_np(img)[0], _np(ds.data[i]).astype(np.float32) / 16)
            assert label == int(_np(ds.targets)[i])
    img, _ = train[5]
    img.fill_(-1.0)  # items are copies: modifying one leaves the dataset intact
    assert _np(train[5][0]).min() >= 0


def test_pixel_range_and_class_balance(train, test):
    pixels = _np(train.data)
    assert pixels.min() == 0 and pixels.max() == 16
    tr = np.bincount(_np(train.targets), minlength=10)
    te = np.bincount(_np(test.targets), minlength=10)
    assert tr.tolist() == [142, 145, 142, 146, 145, 146, 145, 143, 139, 144]
    assert te.tolist() == [36, 37, 35, 37, 36, 36, 36, 36, 35, 36]
    # Stratified: every class has 20% (+-1 image) of its images in the test split.
    assert np.all(np.abs(te - 0.2 * (tr + te)) <= 1)


def test_matches_scikit_learn_source():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    with np.load(NPZ) as z:
        for split in ("train", "test"):
            idx = z[f"{split}_indices"]
            np.testing.assert_array_equal(z[f"{split}_images"], bunch.images[idx].astype(np.uint8))
            np.testing.assert_array_equal(z[f"{split}_labels"], bunch.target[idx])


def test_transforms_and_repr(train):
    ds = Digits(transform=T.Lambda(lambda x: x.reshape(64)), target_transform=lambda y: y + 100)
    img, label = ds[3]
    assert tuple(img.shape) == (64,) and label == int(_np(train.targets)[3]) + 100
    assert repr(Digits(train=False)) == "Dataset Digits\n    Number of datapoints: 360\n    Split: Test"
    assert "StandardTransform" in repr(ds)


def test_dataloader_over_digits(train):
    cnnkit.manual_seed(0)
    loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=False)
    assert len(loader) == 23
    images, labels = next(iter(loader))
    assert tuple(images.shape) == (64, 1, 8, 8) and images.dtype == cnnkit.float32
    assert tuple(labels.shape) == (64,) and labels.dtype == cnnkit.int64
    norm = Digits(transform=T.Normalize((0.3,), (0.4,)))
    np.testing.assert_allclose(_np(norm[0][0]), (_np(train[0][0]) - 0.3) / 0.4, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------
def test_to_tensor_hwc_uint8_to_chw_float():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    t = T.ToTensor()(hwc)
    assert tuple(t.shape) == (3, 5, 7) and t.dtype == cnnkit.float32
    np.testing.assert_array_equal(_np(t), hwc.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    gray = T.ToTensor()(hwc[:, :, 0])
    assert tuple(gray.shape) == (1, 5, 7)
    f64 = T.ToTensor()(np.full((2, 2, 1), 3.5))
    assert f64.dtype == cnnkit.float64 and np.all(_np(f64) == 3.5)  # non-uint8 keeps values
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), dtype=np.uint8))
    assert repr(T.ToTensor()) == "ToTensor()"


def test_to_tensor_matches_torchvision_when_installed():
    from torchvision_helper import import_torchvision

    tvt = import_torchvision().transforms
    hwc = np.random.default_rng(1).integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_np(T.ToTensor()(hwc)), tvt.ToTensor()(hwc).numpy())


def test_normalize_compose_lambda():
    x = cnnkit.from_numpy(np.random.default_rng(2).random((3, 4, 5)).astype(np.float32))
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    out = T.Normalize(mean, std)(x)
    expected = (_np(x) - np.array(mean, dtype=np.float32)[:, None, None]) / np.array(std, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(_np(out), expected, rtol=1e-6, atol=1e-6)
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,)), T.Lambda(lambda t: t * 2)])
    y = pipeline(np.full((2, 2), 255, dtype=np.uint8))
    np.testing.assert_allclose(_np(y), 2.0)
    assert repr(pipeline) == "Compose(\n    ToTensor()\n    Normalize(mean=(0.5,), std=(0.5,))\n    Lambda()\n)"
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize((0.5,), (0.5,))(cnnkit.zeros(1, 2, 2, dtype=cnnkit.int64))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(cnnkit.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)
