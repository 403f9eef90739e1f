"""cnnkit.vision.transforms.batch: each sample equals the per-sample functional op with the drawn
parameters; draws are independent per sample, seeded, and the batch stays on its device."""
import numpy as np
import pytest

import cnnkit
from cnnkit.vision.transforms import batch as B
from cnnkit.vision.transforms import functional as F


def _np(t):
    return np.asarray(t.cpu().numpy())


def _batch(n=16, c=3, h=9, w=10, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return cnnkit.from_numpy(rng.integers(0, 256, (n, c, h, w), dtype=np.uint8))
    return cnnkit.from_numpy(rng.random((n, c, h, w)).astype(dtype))


_DEVICES = ["cpu"] + (["cuda"] if cnnkit.cuda.is_available() else [])


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("padding,mode,size", [(None, "constant", (5, 6)), (2, "constant", (9, 10)),
                                                ([1, 3], "reflect", (6, 7)), ([1, 0, 2, 3], "edge", (8, 8)),
                                                (1, "symmetric", (4, 11))])
def test_random_crop_matches_per_sample_crop(device, padding, mode, size):
    x = _batch().to(device)
    t = B.RandomCrop(size, padding=padding, fill=0.5, padding_mode=mode)
    out = t(x)
    assert out.device == x.device and tuple(out.shape) == (16, 3) + size
    p = t.last_params
    for n in range(16):
        img = x[n].cpu()
        if padding is not None:
            img = F.pad(img, padding, 0.5, mode)
        ref = F.crop(img, int(p["top"][n]), int(p["left"][n]), *size)
        np.testing.assert_array_equal(_np(out[n]), _np(ref))
    assert len(set(zip(p["top"].tolist(), p["left"].tolist()))) > 1 or size == (9, 10) and padding is None


def test_random_crop_pad_if_needed_and_uint8():
    x = _batch(dtype=np.uint8, h=5, w=6)
    t = B.RandomCrop((8, 7), pad_if_needed=True, fill=9)
    out = t(x)
    assert out.dtype == cnnkit.uint8 and tuple(out.shape) == (16, 3, 8, 7)
    p = t.last_params
    for n in range(16):
        img = F.pad(F.pad(x[n], [1, 0], 9), [0, 3], 9)
        np.testing.assert_array_equal(_np(out[n]), _np(F.crop(img, int(p["top"][n]), int(p["left"][n]), 8, 7)))
    with pytest.raises(ValueError, match="Required crop size"):
        B.RandomCrop(7)(x)


@pytest.mark.parametrize("device", _DEVICES)
def test_flips_match_per_sample_flip(device):
    x = _batch(n=64).to(device)
    for cls, fn in ((B.RandomHorizontalFlip, F.hflip), (B.RandomVerticalFlip, F.vflip)):
        t = cls(0.5)
        out = t(x)
        flip = t.last_params["flip"].tolist()
        assert 10 < sum(flip) < 54  # independent per sample
        for n in range(64):
            ref = fn(x[n].cpu()) if flip[n] else x[n].cpu()
            np.testing.assert_array_equal(_np(out[n]), _np(ref))
    np.testing.assert_array_equal(_np(B.RandomVerticalFlip(0.0)(x)), _np(x))
    np.testing.assert_array_equal(_np(B.RandomHorizontalFlip(1.0)(x)), _np(x)[..., ::-1])


@pytest.mark.parametrize("device", _DEVICES)
def test_normalize_matches_functional(device):
    x = _batch().to(device)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    out = B.Normalize(mean, std)(x)
    assert out.device == x.device
    np.testing.assert_allclose(_np(out), _np(F.normalize(x.cpu(), mean, std)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("value", [0, (0.1, 0.2, 0.3), "random"])
def test_random_erasing_matches_per_sample_erase(device, value):
    x = _batch(n=40, h=16, w=15).to(device)
    t = B.RandomErasing(p=0.7, value=value)
    out = t(x)
    p = t.last_params
    erased = p["erase"].tolist()
    assert 15 < sum(erased) < 40
    for n in range(40):
        img = x[n].cpu()
        if not erased[n]:
            np.testing.assert_array_equal(_np(out[n]), _np(img))
            continue
        i, j, h, w = (int(p[k][n]) for k in ("top", "left", "height", "width"))
        assert 0 < h < 16 and 0 < w < 15 and 0 <= i <= 16 - h and 0 <= j <= 15 - w
        if value == "random":
            v = out[n].cpu()[:, i:i + h, j:j + w]  # the noise itself: check everything around it
        else:
            v = cnnkit.tensor([float(value)] if isinstance(value, int) else list(value))[:, None, None]
        np.testing.assert_array_equal(_np(out[n]), _np(F.erase(img, i, j, h, w, v)))


def test_random_erasing_area_and_ratio_distribution():
    x = _batch(n=2000, c=1, h=20, w=20)
    t = B.RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0))
    t(x)
    p = t.last_params
    h, w = p["height"].double(), p["width"].double()
    frac = _np(h * w)[_np(p["erase"])] / 400
    assert 0.03 < frac.min() and frac.max() < 0.24 and abs(frac.mean() - 0.125) < 0.01
    assert abs(np.mean(np.log(_np(h / w)[_np(p["erase"])]))) < 0.05
    counts = np.bincount(_np(p["top"]).astype(int)[_np(p["height"]) == 4], minlength=17)
    assert counts[0] > 0 and counts[16] > 0  # the whole range of corners is reachable


def test_compose_seed_reproducible_and_params_listed():
    x = _batch(n=32)
    aug = B.Compose([B.RandomCrop(9, padding=2), B.RandomHorizontalFlip(), B.RandomErasing(value="random"),
                     B.Normalize((0.5,) * 3, (0.2,) * 3)])
    cnnkit.manual_seed(42)
    a = _np(aug(x))
    params = aug.last_params
    assert len(params) == 4 and set(params[0]) == {"top", "left"} and params[3] == {}
    cnnkit.manual_seed(42)
    np.testing.assert_array_equal(_np(aug(x)), a)
    assert not np.array_equal(_np(aug(x)), a)
    assert repr(aug).startswith("Compose(\n    RandomCrop(size=(9, 9), padding=2)\n    RandomHorizontalFlip(p=0.5)")


def test_batch_bad_input():
    with pytest.raises(ValueError, match=r"batch.RandomHorizontalFlip: expected a 4-D batch \(N, C, H, W\)"):
        B.RandomHorizontalFlip()(cnnkit.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="batch.RandomCrop: expected a Tensor batch"):
        B.RandomCrop(2)(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="If value is a sequence, it should have either a single value or 3"):
        B.RandomErasing(p=1.0, value=(1, 2))(_batch(h=20, w=20))
    with pytest.raises(ValueError, match="Random erasing probability"):
        B.RandomErasing(p=2)
