"""cnnkit.vision.transforms classes: repr equal to torchvision's, get_params distributions, seeded
reproducibility, behaviour with fixed draws against the functional forms, and bad input."""
import math

import numpy as np
import pytest

import cnnkit
from cnnkit.vision import transforms as T
from cnnkit.vision.transforms import functional as F

PIL = pytest.importorskip("PIL.Image")


def _np(t):
    return np.asarray(t.numpy())


def _img(c=3, h=12, w=14, seed=0):
    return cnnkit.from_numpy(np.random.default_rng(seed).random((c, h, w)).astype(np.float32))


def _pil(seed=0, h=12, w=14):
    return PIL.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _constructors(M):
    """The same transform built with cnnkit's (M = T) or torchvision's (M = tvt) classes."""
    return [
        lambda: M.ToTensor(), lambda: M.PILToTensor(), lambda: M.ToPILImage(), lambda: M.ToPILImage(mode="RGB"),
        lambda: M.Normalize((0.5, 0.4), [0.2, 0.3]), lambda: M.Resize(32),
        lambda: M.Resize((16, 20), interpolation=M.InterpolationMode.NEAREST, max_size=None, antialias=False),
        lambda: M.Resize([8], interpolation=3, max_size=12), lambda: M.CenterCrop(10), lambda: M.CenterCrop((4, 6)),
        lambda: M.RandomCrop(32, padding=4), lambda: M.RandomCrop((5, 7), padding=[1, 2], pad_if_needed=True, fill=3,
                                                                  padding_mode="reflect"),
        lambda: M.RandomResizedCrop(224), lambda: M.RandomResizedCrop((10, 12), scale=(0.5, 0.9), ratio=(0.7, 1.3),
                                                                       interpolation=M.InterpolationMode.BICUBIC,
                                                                       antialias=False),
        lambda: M.RandomHorizontalFlip(), lambda: M.RandomVerticalFlip(0.3), lambda: M.RandomRotation(30),
        lambda: M.RandomRotation((-10, 20), interpolation=M.InterpolationMode.BILINEAR, expand=True, center=(1, 2),
                                 fill=(1, 2, 3)),
        lambda: M.RandomAffine(15), lambda: M.RandomAffine(degrees=(-5, 10), translate=(0.1, 0.2), scale=(0.8, 1.2),
                                                           shear=8, interpolation=M.InterpolationMode.BILINEAR,
                                                           fill=4, center=(3, 3)),
        lambda: M.RandomAffine(0, shear=(1, 2, 3, 4)), lambda: M.ColorJitter(),
        lambda: M.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.2, hue=0.1), lambda: M.Grayscale(),
        lambda: M.Grayscale(3), lambda: M.RandomGrayscale(), lambda: M.RandomErasing(),
        lambda: M.RandomErasing(p=0.7, scale=(0.1, 0.2), ratio=(0.5, 2.0), value="random", inplace=True),
        lambda: M.GaussianBlur(3), lambda: M.GaussianBlur((5, 3), sigma=1.5), lambda: M.Pad(2),
        lambda: M.Pad((1, 2, 3, 4), fill=(1, 2, 3), padding_mode="symmetric"), lambda: M.Lambda(lambda x: x),
        lambda: M.RandomApply([M.RandomHorizontalFlip(), M.Grayscale()], p=0.3),
        lambda: M.RandomChoice([M.CenterCrop(3), M.Pad(1)]), lambda: M.RandomChoice([M.Pad(1)], p=[1.0]),
        lambda: M.RandomOrder([M.Pad(1), M.CenterCrop(3)]), lambda: M.FiveCrop(3), lambda: M.TenCrop((3, 4), True),
        lambda: M.RandomInvert(0.2),
        lambda: M.Compose([M.RandomCrop(32, padding=4), M.RandomHorizontalFlip(), M.ToTensor(),
                           M.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]),
    ]


def test_repr_matches_torchvision():
    from torchvision_helper import import_torchvision

    tvt = import_torchvision().transforms
    ours, theirs = _constructors(T), _constructors(tvt)
    for a, b in zip(ours, theirs):
        assert repr(a()) == repr(b())
    import torch

    assert repr(T.ConvertImageDtype(cnnkit.float32)) == repr(tvt.ConvertImageDtype(torch.float32))


def test_interpolation_mode_enum():
    assert T.InterpolationMode.BILINEAR.value == "bilinear"
    assert T.Resize(4, interpolation=0).interpolation is T.InterpolationMode.NEAREST
    assert T.RandomRotation(3, interpolation=2).interpolation is T.InterpolationMode.BILINEAR
    assert [m.name for m in T.InterpolationMode] == ["NEAREST", "NEAREST_EXACT", "BILINEAR", "BICUBIC", "BOX",
                                                     "HAMMING", "LANCZOS"]


def test_modules_sit_in_sequential():
    seq = cnnkit.nn.Sequential(T.CenterCrop(6), T.Normalize((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)))
    x = _img()
    np.testing.assert_allclose(_np(seq(x)), (_np(x)[:, 3:9, 4:10] - 0.5) / 0.2, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# get_params: ranges and distributions
# ---------------------------------------------------------------------------------------------
def test_random_crop_get_params_uniform_and_in_range():
    img = _img(h=6, w=5)
    draws = np.array([T.RandomCrop.get_params(img, (4, 2))[:2] for _ in range(3000)])
    assert draws[:, 0].min() == 0 and draws[:, 0].max() == 2 and draws[:, 1].max() == 3
    counts = np.bincount(draws[:, 0], minlength=3)
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.04)
    assert T.RandomCrop.get_params(img, (6, 5)) == (0, 0, 6, 5)
    with pytest.raises(ValueError, match=r"Required crop size \(7, 2\) is larger than input image size \(6, 5\)"):
        T.RandomCrop.get_params(img, (7, 2))


def test_random_resized_crop_get_params_distribution():
    img = _img(h=40, w=50)
    scale, ratio = (0.2, 0.6), (0.5, 2.0)
    areas, ratios = [], []
    for _ in range(1500):
        i, j, h, w = T.RandomResizedCrop.get_params(img, scale, ratio)
        assert 0 <= i <= 40 - h and 0 <= j <= 50 - w and 0 < h <= 40 and 0 < w <= 50
        areas.append(h * w / 2000)
        ratios.append(w / h)
    # rounding h and w to integers blurs the bounds by a pixel
    assert 0.17 < min(areas) and max(areas) < 0.64 and abs(np.mean(areas) - 0.4) < 0.03
    assert abs(np.mean(np.log(ratios))) < 0.06
    # impossible constraints: the central fallback
    assert T.RandomResizedCrop.get_params(_img(h=10, w=40), (1.0, 1.0), (1.0, 1.0)) == (0, 15, 10, 10)


def test_other_get_params():
    angles = [T.RandomRotation.get_params([-10.0, 30.0]) for _ in range(2000)]
    assert -10 <= min(angles) and max(angles) <= 30 and abs(np.mean(angles) - 10) < 1.0
    for _ in range(200):
        a, (tx, ty), s, (shx, shy) = T.RandomAffine.get_params([-5, 5], [0.1, 0.2], [0.8, 1.2], [-3, 3, 4, 6], [40, 30])
        assert -5 <= a <= 5 and abs(tx) <= 4 and abs(ty) <= 6 and 0.8 <= s <= 1.2 and -3 <= shx <= 3 and 4 <= shy <= 6
        assert isinstance(tx, int) and isinstance(ty, int)
    assert T.RandomAffine.get_params([0, 0], None, None, None, [4, 4]) == (0.0, (0, 0), 1.0, (0.0, 0.0))
    order, b, c, s, h = T.ColorJitter.get_params((0.5, 1.5), None, (0.9, 1.1), (-0.1, 0.1))
    assert sorted(order.tolist()) == [0, 1, 2, 3] and 0.5 <= b <= 1.5 and c is None and 0.9 <= s <= 1.1 and abs(h) <= 0.1
    sig = [T.GaussianBlur.get_params(0.1, 2.0) for _ in range(500)]
    assert 0.1 <= min(sig) and max(sig) <= 2.0
    img = _img(h=20, w=20)
    for _ in range(100):
        i, j, h, w, v = T.RandomErasing.get_params(img, (0.02, 0.33), (0.3, 3.3), value=[0.5])
        assert h < 20 and w < 20 and 0 <= i <= 20 - h and 0 <= j <= 20 - w and tuple(v.shape) == (1, 1, 1)
    i, j, h, w, v = T.RandomErasing.get_params(img, (0.1, 0.2), (1.0, 1.0), value=None)
    assert tuple(v.shape) == (3, h, w)
    assert T.RandomErasing.get_params(img, (1.0, 1.0), (1.0, 1.0))[:4] == (0, 0, 20, 20)  # never fits


def test_flip_probability():
    img = _img()
    flips = sum(bool((T.RandomHorizontalFlip(0.3)(img) != img).any()) for _ in range(2000))
    assert abs(flips / 2000 - 0.3) < 0.04
    assert T.RandomVerticalFlip(0.0)(img) is img
    np.testing.assert_array_equal(_np(T.RandomVerticalFlip(1.0)(img)), _np(img)[:, ::-1])


# ---------------------------------------------------------------------------------------------
# seeded reproducibility and behaviour with the drawn parameters
# ---------------------------------------------------------------------------------------------
def _pipeline():
    return T.Compose([
        T.RandomResizedCrop(8, interpolation=T.InterpolationMode.NEAREST, antialias=False), T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2),
        T.RandomChoice([T.Pad(1), T.CenterCrop(6)]), T.RandomOrder([T.RandomVerticalFlip(), T.GaussianBlur(3)]),
        T.RandomErasing(p=0.9, value="random"),
    ])


def test_manual_seed_makes_a_pipeline_reproducible():
    img = _img(h=20, w=24)
    pipe = _pipeline()
    cnnkit.manual_seed(123)
    a = [_np(pipe(img)) for _ in range(5)]
    cnnkit.manual_seed(123)
    b = [_np(pipe(img)) for _ in range(5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(x.shape != a[0].shape or not np.array_equal(x, a[0]) for x in a[1:])  # it is random
    cnnkit.manual_seed(7)
    pil = T.Compose([T.RandomCrop(10, padding=2), T.RandomHorizontalFlip(), T.ColorJitter(0.3, 0.3, 0.3, 0.05)])
    p1 = np.asarray(pil(_pil()))
    cnnkit.manual_seed(7)
    np.testing.assert_array_equal(np.asarray(pil(_pil())), p1)


def test_random_crop_uses_get_params_draw():
    img = _img(h=10, w=11)
    t = T.RandomCrop((6, 7), padding=2, padding_mode="edge")
    cnnkit.manual_seed(5)
    out = t(img)
    cnnkit.manual_seed(5)
    i, j, h, w = T.RandomCrop.get_params(F.pad(img, 2, padding_mode="edge"), (6, 7))
    np.testing.assert_array_equal(_np(out), _np(F.crop(F.pad(img, 2, padding_mode="edge"), i, j, h, w)))
    padded = T.RandomCrop((14, 16), pad_if_needed=True)(img)
    assert tuple(padded.shape) == (3, 14, 16)
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop((14, 16))(img)


def test_random_resized_crop_and_color_jitter_use_their_draws():
    img = _img(h=16, w=18)
    t = T.RandomResizedCrop(6, interpolation=T.InterpolationMode.NEAREST)
    cnnkit.manual_seed(9)
    out = t(img)
    cnnkit.manual_seed(9)
    i, j, h, w = T.RandomResizedCrop.get_params(img, t.scale, t.ratio)
    np.testing.assert_array_equal(_np(out), _np(F.resized_crop(img, i, j, h, w, [6, 6], T.InterpolationMode.NEAREST)))
    cj = T.ColorJitter(0.5, 0.5, 0.5, 0.2)
    cnnkit.manual_seed(11)
    out = cj(img)
    cnnkit.manual_seed(11)
    order, b, c, s, hue = T.ColorJitter.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)
    ref = img
    for k in order.tolist():
        ref = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue][k](ref, [b, c, s, hue][k])
    np.testing.assert_allclose(_np(out), _np(ref), rtol=1e-6, atol=1e-6)


def test_random_erasing_and_blur_use_their_draws():
    img = _img(h=16, w=16)
    cnnkit.manual_seed(3)
    out = T.RandomErasing(p=1.0, value=(1.0, 2.0, 3.0))(img)
    cnnkit.manual_seed(3)
    cnnkit.rand(1)
    i, j, h, w, v = T.RandomErasing.get_params(img, (0.02, 0.33), (0.3, 3.3), value=[1.0, 2.0, 3.0])
    ref = _np(img).copy()
    ref[:, i:i + h, j:j + w] = np.array([1, 2, 3], np.float32)[:, None, None]
    np.testing.assert_array_equal(_np(out), ref)
    cnnkit.manual_seed(4)
    out = T.GaussianBlur(5, (0.5, 1.5))(img)
    cnnkit.manual_seed(4)
    s = T.GaussianBlur.get_params(0.5, 1.5)
    np.testing.assert_allclose(_np(out), _np(F.gaussian_blur(img, [5, 5], [s, s])), rtol=1e-6, atol=1e-6)
    u8 = cnnkit.from_numpy(np.full((3, 8, 8), 200, np.uint8))
    erased = T.RandomErasing(p=1.0, scale=(0.2, 0.3), value=7)(u8)
    assert erased.dtype == cnnkit.uint8 and int((erased == 7).sum().item()) > 0


def test_rotation_and_affine_classes_use_their_draws():
    img = _pil(h=15, w=17)
    cnnkit.manual_seed(2)
    out = T.RandomRotation(40, fill=5)(img)
    cnnkit.manual_seed(2)
    a = T.RandomRotation.get_params([-40.0, 40.0])
    np.testing.assert_array_equal(np.asarray(out), np.asarray(F.rotate(img, a, fill=5)))
    t = T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)
    cnnkit.manual_seed(6)
    out = t(img)
    cnnkit.manual_seed(6)
    p = T.RandomAffine.get_params(t.degrees, t.translate, t.scale, t.shear, [17, 15])
    np.testing.assert_array_equal(np.asarray(out), np.asarray(F.affine(img, *p)))
    x = _img(h=9, w=7)
    cnnkit.manual_seed(8)
    out = T.RandomRotation((90, 90), expand=True)(x)
    np.testing.assert_allclose(_np(out), np.rot90(_np(x), 1, axes=(1, 2)), atol=1e-6)
    cnnkit.manual_seed(8)
    out = T.RandomAffine(10, fill=(1, 2, 3))(x)
    cnnkit.manual_seed(8)
    p = T.RandomAffine.get_params([-10.0, 10.0], None, None, None, [7, 9])
    np.testing.assert_array_equal(_np(out), _np(F.affine(x, *p, fill=[1.0, 2.0, 3.0])))


def test_random_choice_weights_and_order():
    calls = []
    ts = [T.Lambda(lambda x, k=k: calls.append(k) or x) for k in range(3)]
    for _ in range(3000):
        T.RandomChoice(ts, p=[0.2, 0.0, 0.8])(0)
    counts = np.bincount(calls, minlength=3) / 3000
    assert counts[1] == 0 and abs(counts[0] - 0.2) < 0.03
    calls.clear()
    T.RandomOrder(ts)(0)
    assert sorted(calls) == [0, 1, 2]
    seen = set()
    for _ in range(60):
        calls.clear()
        T.RandomOrder(ts)(0)
        seen.add(tuple(calls))
    assert len(seen) == 6
    applied = sum(T.RandomApply([T.Lambda(lambda x: x + 1)], p=0.25)(0) for _ in range(2000))
    assert abs(applied / 2000 - 0.25) < 0.04


def test_conversions_and_sizes():
    pil = _pil()
    t = T.ToTensor()(pil)
    assert t.dtype == cnnkit.float32 and tuple(t.shape) == (3, 12, 14)
    u = T.PILToTensor()(pil)
    assert u.dtype == cnnkit.uint8
    assert T.ConvertImageDtype(cnnkit.float64)(u).dtype == cnnkit.float64
    back = T.ToPILImage()(u)
    assert np.array_equal(np.asarray(back), np.asarray(pil))
    assert T.Resize(6)(pil).size == (7, 6) and T.Resize((5, 4))(pil).size == (4, 5)
    assert T.CenterCrop(20)(pil).size == (20, 20)
    assert T.Grayscale(3)(pil).mode == "RGB" and T.Grayscale()(pil).mode == "L"
    assert len(T.FiveCrop(4)(t)) == 5 and len(T.TenCrop(4)(t)) == 10
    assert T.RandomGrayscale(1.0)(pil).mode == "RGB"  # keeps the channel count


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_constructor_errors():
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize(2.5)
    with pytest.raises(ValueError, match="If size is a sequence, it should have 1 or 2 values"):
        T.Resize((1, 2, 3))
    with pytest.raises(ValueError, match="Please provide only two dimensions"):
        T.CenterCrop((1, 2, 3))
    with pytest.raises(ValueError, match="Padding mode should be"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(TypeError, match="Got inappropriate padding arg"):
        T.Pad("1")
    with pytest.raises(ValueError, match="If degrees is a single number, it must be positive"):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="degrees should be a sequence of length 2"):
        T.RandomRotation([1, 2, 3])
    with pytest.raises(ValueError, match="translation values should be between 0 and 1"):
        T.RandomAffine(0, translate=(0.5, 1.5))
    with pytest.raises(ValueError, match="scale values should be positive"):
        T.RandomAffine(0, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="brightness values should be between"):
        T.ColorJitter(brightness=(-1, 1))
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="Random erasing probability should be between 0 and 1"):
        T.RandomErasing(p=1.5)
    with pytest.raises(ValueError, match="If value is str, it should be 'random'"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match="Kernel size value should be an odd and positive number"):
        T.GaussianBlur(4)
    with pytest.raises(ValueError, match="sigma values should be positive and of the form"):
        T.GaussianBlur(3, (2.0, 1.0))
    with pytest.raises(TypeError, match="Argument transforms should be a sequence"):
        T.RandomChoice(T.Pad(1))
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(None)
    with pytest.warns(UserWarning, match="Scale and ratio should be of kind"):
        T.RandomResizedCrop(4, scale=(0.9, 0.1))


def test_call_errors():
    with pytest.raises(ValueError, match="If value is a sequence, it should have either a single value or 3"):
        T.RandomErasing(p=1.0, value=(1, 2))(_img())
    with pytest.raises(TypeError, match="RandomErasing: img should be a Tensor image"):
        T.RandomErasing(p=1.0)(_pil())
    with pytest.raises(TypeError, match="pic should be PIL Image"):
        T.PILToTensor()(_img())
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize((0.5,), (0.5,))(cnnkit.zeros(1, 2, 2, dtype=cnnkit.uint8))
    assert math.isclose(T.Normalize((0.5,), (0.5,))(cnnkit.ones(1, 2, 2))[0, 0, 0].item(), 1.0)


# ---------------------------------------------------------------------------------------------
# optional dependency and ndarray inputs
# ---------------------------------------------------------------------------------------------
def test_pillow_is_lazy_and_named_when_missing():
    import os
    import subprocess
    import sys

    code = ("import sys, cnnkit, cnnkit.vision.transforms as T; import numpy as np; "
            "assert 'PIL' not in sys.modules; "
            "T.Compose([T.RandomCrop(3, padding=1), T.RandomHorizontalFlip(), T.ColorJitter(0.2)])"
            "(T.ToTensor()(np.zeros((4, 4, 3), np.uint8))); assert 'PIL' not in sys.modules")
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    code = ("import sys, cnnkit; sys.modules['PIL'] = None; import cnnkit.vision.transforms as T\n"
            "try:\n    T.ToPILImage()(cnnkit.zeros(3, 2, 2))\nexcept ImportError as e:\n"
            "    assert \"pip install 'cnnkit[vision]'\" in str(e), e\nelse:\n    raise SystemExit('no ImportError')")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_ndarray_images_through_classes():
    hwc = np.random.default_rng(3).integers(0, 256, (12, 14, 3), dtype=np.uint8)
    pipe = T.Compose([T.RandomCrop(8, padding=2, padding_mode="reflect"), T.RandomHorizontalFlip(1.0),
                      T.ColorJitter(0.3, 0.3, 0.3, 0.1), T.RandomRotation(10, fill=3), T.GaussianBlur(3)])
    cnnkit.manual_seed(1)
    out = pipe(hwc)
    assert isinstance(out, np.ndarray) and out.shape == (8, 8, 3) and out.dtype == np.uint8
    cnnkit.manual_seed(1)
    t = cnnkit.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))
    np.testing.assert_array_equal(out, _np(pipe(t)).transpose(1, 2, 0))  # same draws, same pixels
    assert T.ToTensor()(out).shape == (3, 8, 8)
