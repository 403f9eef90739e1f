"""cnnkit.vision.transforms.functional against NumPy references and torchvision (tensor and PIL inputs)."""
import numpy as np
import pytest

import cnnkit
from cnnkit.vision.transforms import functional as F
from cnnkit.vision.transforms import InterpolationMode

PIL = pytest.importorskip("PIL.Image")


def _np(t):
    return np.asarray(t.numpy())


def _tv():
    from torchvision_helper import import_torchvision

    return import_torchvision()


def _img_u8(c=3, h=11, w=13, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(c, h, w), dtype=np.uint8)


def _img_f(c=3, h=11, w=13, seed=0):
    return np.random.default_rng(seed).random((c, h, w)).astype(np.float32)


def _pil(c=3, h=11, w=13, seed=0):
    arr = _img_u8(c, h, w, seed).transpose(1, 2, 0)
    return PIL.fromarray(arr[:, :, 0] if c == 1 else arr)


def _both(arr):
    """The same image as a cnnkit tensor and a torch tensor."""
    import torch

    return cnnkit.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


# ---------------------------------------------------------------------------------------------
# references without torchvision
# ---------------------------------------------------------------------------------------------
def test_flips_crops_against_numpy():
    a = _img_f()
    t = cnnkit.from_numpy(a)
    np.testing.assert_array_equal(_np(F.hflip(t)), a[..., ::-1])
    np.testing.assert_array_equal(_np(F.vflip(t)), a[..., ::-1, :])
    np.testing.assert_array_equal(_np(F.crop(t, 2, 3, 5, 4)), a[:, 2:7, 3:7])
    out = _np(F.crop(t, -2, 10, 4, 6))  # partly outside: zero-filled
    ref = np.zeros((3, 4, 6), np.float32)
    ref[:, 2:, :3] = a[:, 0:2, 10:13]
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(_np(F.center_crop(t, [5, 7])), a[:, 3:8, 3:10])
    assert F.get_dimensions(t) == [3, 11, 13] and F.get_image_size(t) == [13, 11]


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("edge", "edge"), ("reflect", "reflect"),
                                          ("symmetric", "symmetric")])
def test_pad_modes_against_numpy(mode, np_mode):
    a = _img_u8()
    t = cnnkit.from_numpy(a)
    out = F.pad(t, [1, 2, 3, 4], fill=0, padding_mode=mode)  # left, top, right, bottom
    ref = np.pad(a, ((0, 0), (2, 4), (1, 3)), mode=np_mode)
    assert out.dtype == cnnkit.uint8
    np.testing.assert_array_equal(_np(out), ref)
    batch = cnnkit.from_numpy(np.stack([a, a]))
    np.testing.assert_array_equal(_np(F.pad(batch, 2, padding_mode=mode)), np.stack([np.pad(a, ((0, 0), (2, 2), (2, 2)),
                                                                                         mode=np_mode)] * 2))


def test_normalize_erase_grayscale_against_numpy():
    a = _img_f()
    t = cnnkit.from_numpy(a)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.6, 0.7]
    ref = (a - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(_np(F.normalize(t, mean, std)), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(_np(t), a)  # not in place
    e = F.erase(t, 1, 2, 3, 4, cnnkit.tensor([7.0, 8.0, 9.0])[:, None, None])
    ref = a.copy()
    ref[:, 1:4, 2:6] = np.array([7, 8, 9], np.float32)[:, None, None]
    np.testing.assert_array_equal(_np(e), ref)
    g = F.rgb_to_grayscale(t)
    np.testing.assert_allclose(_np(g)[0], 0.2989 * a[0] + 0.587 * a[1] + 0.114 * a[2], rtol=1e-6, atol=1e-6)
    assert tuple(F.rgb_to_grayscale(t, 3).shape) == (3, 11, 13)


def test_gaussian_blur_against_scipy_style_loop():
    a = _img_f(1, 9, 10)
    t = cnnkit.from_numpy(a)
    k, s = 5, 1.3
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (x / s) ** 2)
    g /= g.sum()
    p = np.pad(a[0], 2, mode="reflect").astype(np.float64)
    ref = np.zeros((9, 10))
    for i in range(9):
        for j in range(10):
            ref[i, j] = (p[i:i + k, j:j + k] * np.outer(g, g)).sum()
    np.testing.assert_allclose(_np(F.gaussian_blur(t, [k, k], [s, s]))[0], ref, rtol=1e-5, atol=1e-5)


def test_convert_image_dtype_and_to_tensor():
    u = cnnkit.from_numpy(_img_u8())
    f = F.convert_image_dtype(u, cnnkit.float32)
    np.testing.assert_allclose(_np(f), _img_u8() / 255.0, rtol=1e-6)
    back = F.convert_image_dtype(f, cnnkit.uint8)
    np.testing.assert_array_equal(_np(back), _img_u8())
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(f, cnnkit.int64)
    img = _pil()
    t = F.to_tensor(img)
    np.testing.assert_allclose(_np(t), np.asarray(img).transpose(2, 0, 1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(_np(F.pil_to_tensor(img)), np.asarray(img).transpose(2, 0, 1))
    back = F.to_pil_image(F.pil_to_tensor(img))
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(img))
    assert F.to_pil_image(cnnkit.from_numpy(np.zeros((1, 3, 4), np.float32))).mode == "L"
    assert F.to_pil_image(np.zeros((3, 4), np.float32), mode="F").mode == "F"


def test_ndarray_inputs_go_through_the_tensor_path():
    hwc = _img_u8().transpose(1, 2, 0).copy()
    out = F.hflip(hwc)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, hwc[:, ::-1])
    np.testing.assert_array_equal(F.pad(hwc, 1, padding_mode="reflect"), np.pad(hwc, ((1, 1), (1, 1), (0, 0)), "reflect"))
    np.testing.assert_array_equal(F.crop(hwc[:, :, 0], 1, 1, 3, 3), hwc[1:4, 1:4, 0])
    assert F.get_dimensions(hwc) == [3, 11, 13]
    assert F.resize(hwc, [5, 6], InterpolationMode.NEAREST).shape == (5, 6, 3)


# ---------------------------------------------------------------------------------------------
# against torchvision: tensors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensor_geometry_matches_torchvision(dtype):
    TF = _tv().transforms.functional
    a = _img_u8() if dtype == "uint8" else _img_f()
    c, t = _both(a)
    checks = [
        (F.hflip(c), TF.hflip(t)), (F.vflip(c), TF.vflip(t)), (F.crop(c, 2, 3, 5, 4), TF.crop(t, 2, 3, 5, 4)),
        (F.crop(c, -3, -2, 20, 6), TF.crop(t, -3, -2, 20, 6)),
        (F.center_crop(c, 6), TF.center_crop(t, 6)), (F.center_crop(c, [14, 17]), TF.center_crop(t, [14, 17])),
        (F.pad(c, [1, 2], fill=3), TF.pad(t, [1, 2], fill=3)),
        (F.pad(c, [-1, 2, 3, -2], padding_mode="symmetric"), TF.pad(t, [-1, 2, 3, -2], padding_mode="symmetric")),
        (F.pad(c, [2, 1, 0, 3], padding_mode="edge"), TF.pad(t, [2, 1, 0, 3], padding_mode="edge")),
        (F.pad(c, 3, padding_mode="reflect"), TF.pad(t, 3, padding_mode="reflect")),
    ]
    checks += list(zip(F.five_crop(c, 4), TF.five_crop(t, 4)))
    for ours, theirs in checks:
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_array_equal(_np(ours), theirs.numpy())


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensor_colour_matches_torchvision(dtype):
    TF = _tv().transforms.functional
    a = _img_u8(seed=3) if dtype == "uint8" else _img_f(seed=3)
    c, t = _both(a)
    atol = 1 if dtype == "uint8" else 1e-5
    for name, arg in [("adjust_brightness", 1.3), ("adjust_brightness", 0.4), ("adjust_contrast", 0.6),
                      ("adjust_contrast", 1.7), ("adjust_saturation", 0.3), ("adjust_saturation", 1.8),
                      ("adjust_hue", 0.2), ("adjust_hue", -0.45), ("adjust_gamma", 0.7), ("rgb_to_grayscale", 1),
                      ("rgb_to_grayscale", 3)]:
        ours, theirs = getattr(F, name)(c, arg), getattr(TF, name)(t, arg)
        np.testing.assert_allclose(_np(ours).astype(np.float64), theirs.numpy().astype(np.float64), atol=atol,
                                   rtol=1e-5, err_msg=name)
    np.testing.assert_array_equal(_np(F.invert(c)), TF.invert(t).numpy())
    g1 = cnnkit.from_numpy(a[:1].copy())
    assert F.adjust_hue(g1, 0.3) is g1 and F.adjust_saturation(g1, 0.3) is g1  # as PIL: one channel unchanged


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensor_blur_normalize_convert_match_torchvision(dtype):
    TF = _tv().transforms.functional
    import torch

    a = _img_u8(seed=4) if dtype == "uint8" else _img_f(seed=4)
    c, t = _both(a)
    atol = 1 if dtype == "uint8" else 1e-5
    for ks, sg in [([3, 3], None), ([5, 3], [1.5, 0.7]), (7, 2.0)]:
        np.testing.assert_allclose(_np(F.gaussian_blur(c, ks, sg)).astype(float),
                                   TF.gaussian_blur(t, ks, sg).numpy().astype(float), atol=atol, rtol=1e-5)
    if dtype == "float32":
        np.testing.assert_allclose(_np(F.normalize(c, [0.4, 0.5, 0.6], [0.2, 0.3, 0.4])),
                                   TF.normalize(t, [0.4, 0.5, 0.6], [0.2, 0.3, 0.4]).numpy(), rtol=1e-6, atol=1e-6)
        for dt in ("uint8", "int16", "int32"):
            if dt == "int32":
                continue  # float32 -> int32 is refused by both
            np.testing.assert_array_equal(_np(F.convert_image_dtype(c, getattr(cnnkit, dt))),
                                          TF.convert_image_dtype(t, getattr(torch, dt)).numpy())
    else:
        for dt in ("float32", "float64", "int16", "int32", "int64"):
            np.testing.assert_allclose(_np(F.convert_image_dtype(c, getattr(cnnkit, dt))),
                                       TF.convert_image_dtype(t, getattr(torch, dt)).numpy(), rtol=1e-7)


def _resize_cases():
    return [([7, 9], "nearest", False), ([17, 21], "nearest", False), (8, "nearest-exact", False),
            ([7, 9], "bilinear", False), ([20, 23], "bilinear", False), (9, "bilinear", False),
            ([20, 23], "bilinear", True), ([11, 30], "bilinear", True)]  # enlarging: the default antialias=True


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensor_resize_matches_torchvision(dtype):
    TF = _tv().transforms.functional
    a = _img_u8(seed=5) if dtype == "uint8" else _img_f(seed=5)
    c, t = _both(a)
    atol = 1 if dtype == "uint8" else 1e-5
    for size, mode, aa in _resize_cases():
        ours = F.resize(c, size, InterpolationMode(mode), antialias=aa)
        theirs = TF.resize(t, size, TF.InterpolationMode(mode), antialias=aa)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(_np(ours).astype(float), theirs.numpy().astype(float), atol=atol, rtol=1e-5,
                                   err_msg=f"{size} {mode}")
    ours = F.resize(c, 6, max_size=7, interpolation=0)  # Pillow int constant
    assert tuple(ours.shape) == tuple(TF.resize(t, 6, max_size=7, interpolation=TF.InterpolationMode.NEAREST).shape)


def test_tensor_resize_bicubic_and_antialias_match_torchvision():
    TF = _tv().transforms.functional
    for dtype in ("uint8", "float32"):
        a = _img_u8(seed=6) if dtype == "uint8" else _img_f(seed=6)
        c, t = _both(a)
        atol = 1 if dtype == "uint8" else 1e-4
        for size, mode in [([5, 6], "bilinear"), ([6, 4], "bicubic"), ([19, 22], "bicubic"), (4, "bilinear"),
                           ([3, 20], "bicubic")]:
            ours = F.resize(c, size, InterpolationMode(mode))
            theirs = TF.resize(t, size, TF.InterpolationMode(mode))
            np.testing.assert_allclose(_np(ours).astype(float), theirs.numpy().astype(float), atol=atol, rtol=1e-4)
        ours, theirs = F.resized_crop(c, 1, 2, 8, 9, [5, 4]), TF.resized_crop(t, 1, 2, 8, 9, [5, 4])
        np.testing.assert_allclose(_np(ours).astype(float), theirs.numpy().astype(float), atol=atol, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensor_rotate_affine_match_torchvision(dtype):
    TF = _tv().transforms.functional
    a = _img_u8(seed=7) if dtype == "uint8" else _img_f(seed=7)
    c, t = _both(a)
    atol = 1 if dtype == "uint8" else 1e-4
    cases = [
        (lambda m, x: m.rotate(x, 30.0)), (lambda m, x: m.rotate(x, 90)),
        (lambda m, x: m.rotate(x, -37.0, m.InterpolationMode.BILINEAR, expand=True, fill=[1.0, 2.0, 3.0])),
        (lambda m, x: m.rotate(x, 15.0, center=[2, 3], fill=[5.0])),
        (lambda m, x: m.affine(x, 20.0, [2, -1], 1.2, [10.0, 5.0])),
        (lambda m, x: m.affine(x, -10.0, [0, 3], 0.8, 12.0, m.InterpolationMode.BILINEAR, fill=[7.0, 7.0, 7.0])),
        (lambda m, x: m.affine(x, 45, [1, 1], 1.0, [0.0, 0.0], center=[4, 5])),
    ]
    for k, case in enumerate(cases):
        ours, theirs = case(F, c), case(TF, t)
        assert tuple(ours.shape) == tuple(theirs.shape), k
        diff = np.abs(_np(ours).astype(float) - theirs.numpy().astype(float))
        # nearest sampling may pick the other neighbour where a coordinate lands on a pixel edge
        assert (diff > atol).mean() < 0.01, (k, diff.max())


# ---------------------------------------------------------------------------------------------
# against torchvision: PIL images
# ---------------------------------------------------------------------------------------------
def test_pil_ops_match_torchvision():
    TF = _tv().transforms.functional
    img = _pil(seed=8)
    cases = [
        lambda m: m.hflip(img), lambda m: m.vflip(img), lambda m: m.crop(img, 2, 3, 5, 4),
        lambda m: m.center_crop(img, [15, 4]), lambda m: m.pad(img, [1, 2, 3, 4], fill=(1, 2, 3)),
        lambda m: m.pad(img, 2, padding_mode="symmetric"), lambda m: m.pad(img, [3, 1], padding_mode="reflect"),
        lambda m: m.pad(img, [-1, 1, 2, -2], padding_mode="edge"),
        lambda m: m.resize(img, [7, 9]), lambda m: m.resize(img, 6, m.InterpolationMode.BICUBIC),
        lambda m: m.resize(img, [20, 5], m.InterpolationMode.NEAREST),
        lambda m: m.resized_crop(img, 1, 2, 6, 7, [9, 9]),
        lambda m: m.adjust_brightness(img, 1.4), lambda m: m.adjust_contrast(img, 0.5),
        lambda m: m.adjust_saturation(img, 1.5), lambda m: m.adjust_hue(img, 0.1), lambda m: m.adjust_gamma(img, 1.5),
        lambda m: m.rotate(img, 33.0), lambda m: m.rotate(img, 20, m.InterpolationMode.BILINEAR, expand=True),
        lambda m: m.affine(img, 15.0, [2, 1], 1.1, [5.0, 3.0], fill=[9, 8, 7]),
        lambda m: m.to_grayscale(img), lambda m: m.to_grayscale(img, 3), lambda m: m.rgb_to_grayscale(img),
        lambda m: m.gaussian_blur(img, [3, 5], [0.8, 1.2]), lambda m: m.invert(img),
    ]
    for k, case in enumerate(cases):
        ours, theirs = case(F), case(TF)
        assert ours.mode == theirs.mode and ours.size == theirs.size, k
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=str(k))
    for mode in ("L", "F", "I"):
        im = img.convert(mode)
        np.testing.assert_array_equal(np.asarray(F.pad(im, 2, padding_mode="reflect")),
                                      np.asarray(TF.pad(im, 2, padding_mode="reflect")))
        np.testing.assert_array_equal(_np(F.to_tensor(im)), TF.to_tensor(im).numpy())


def test_to_pil_image_matches_torchvision():
    TF = _tv().transforms.functional
    for arr in (_img_f(1), _img_f(3), _img_u8(4), _img_u8(2)):
        ours = F.to_pil_image(cnnkit.from_numpy(arr))
        import torch

        theirs = TF.to_pil_image(torch.from_numpy(arr))
        assert ours.mode == theirs.mode
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_bad_inputs():
    t = cnnkit.from_numpy(_img_f())
    with pytest.raises(TypeError, match="img should be PIL Image"):
        F.hflip([1, 2, 3])
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        F.to_tensor(t)
    with pytest.raises(TypeError, match="Tensor is not a torch image"):
        F.hflip(cnnkit.zeros(3))
    with pytest.raises(ValueError, match="Padding mode should be"):
        F.pad(t, 1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4"):
        F.pad(t, [1, 2, 3])
    with pytest.raises(ValueError, match="kernel_size should have odd and positive"):
        F.gaussian_blur(t, 4)
    with pytest.raises(ValueError, match="hue_factor"):
        F.adjust_hue(t, 0.7)
    with pytest.raises(ValueError, match="brightness_factor"):
        F.adjust_brightness(t, -1)
    with pytest.raises(TypeError, match="Argument interpolation should be"):
        F.resize(t, 5, "bilinear")
    with pytest.raises(ValueError, match="Size must be an int or a 1 or 2 element"):
        F.resize(t, [1, 2, 3])
    with pytest.raises(ValueError, match="max_size = 4 must be strictly greater"):
        F.resize(t, 5, max_size=4)
    with pytest.raises(TypeError, match="permitted channel values"):
        F.adjust_contrast(cnnkit.zeros(2, 4, 4), 0.5)
    with pytest.raises(ValueError, match="Requested crop size"):
        F.five_crop(t, 20)
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        F.erase(_pil(), 0, 0, 1, 1, cnnkit.zeros(1))
    with pytest.raises(ValueError, match="pic should not have > 4 channels"):
        F.to_pil_image(cnnkit.zeros(5, 2, 2))
    with pytest.raises(ValueError, match="Argument scale should be positive"):
        F.affine(t, 0.0, [0, 0], 0.0, 0.0)
