"""The remaining v1 transforms (posterize, solarize, sharpness, autocontrast, equalize, perspective,
elastic, LinearTransformation) against torchvision and NumPy references."""
import numpy as np
import pytest

import cnnkit
from cnnkit.vision import transforms as T
from cnnkit.vision.transforms import functional as F

PIL = pytest.importorskip("PIL.Image")


def _np(t):
    return np.asarray(t.numpy())


def _tv():
    from torchvision_helper import import_torchvision

    return import_torchvision()


def _u8(seed=0, c=3, h=11, w=13):
    return np.random.default_rng(seed).integers(0, 256, (c, h, w), dtype=np.uint8)


def test_uint8_amin_regression_and_numpy_references():
    a = _u8()
    c = cnnkit.from_numpy(a)
    np.testing.assert_array_equal(_np(c.amin(dim=(-2, -1))), a.min(axis=(1, 2)))  # unsigned negation wrapped
    np.testing.assert_array_equal(_np(F.posterize(c, 3)), a & 0b11100000)
    np.testing.assert_array_equal(_np(F.solarize(c, 100)), np.where(a >= 100, 255 - a, a))
    lo, hi = a.min(axis=(1, 2), keepdims=True).astype(np.float32), a.max(axis=(1, 2), keepdims=True).astype(np.float32)
    ref = np.clip((a - lo) * (np.float32(255) / (hi - lo)), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(_np(F.autocontrast(c)), ref, atol=1)  # float32 rounding before truncation
    flat = cnnkit.from_numpy(np.full((1, 4, 4), 7, np.uint8))
    np.testing.assert_array_equal(_np(F.equalize(flat)), 7)
    np.testing.assert_array_equal(_np(F.autocontrast(flat)), 7)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_photometric_match_torchvision(dtype):
    import torch

    TF = _tv().transforms.functional
    a = _u8(1)
    if dtype == "float32":
        a = a.astype(np.float32) / 255
    c, t = cnnkit.from_numpy(a.copy()), torch.from_numpy(a.copy())
    cases = [("solarize", (100 if dtype == "uint8" else 0.4,)), ("adjust_sharpness", (1.7,)),
             ("adjust_sharpness", (0.3,)), ("autocontrast", ()), ("invert", ())]
    if dtype == "uint8":
        cases += [("posterize", (3,)), ("posterize", (0,)), ("posterize", (8,)), ("equalize", ())]
    for name, args in cases:
        np.testing.assert_allclose(_np(getattr(F, name)(c, *args)), getattr(TF, name)(t, *args).numpy(),
                                   atol=1e-6, err_msg=name)
    batch = cnnkit.from_numpy(np.stack([a, a[::-1].copy()]))
    np.testing.assert_allclose(_np(F.autocontrast(batch)), TF.autocontrast(torch.from_numpy(_np(batch))).numpy(),
                               atol=1e-6)
    img = PIL.fromarray(_u8(2).transpose(1, 2, 0))
    for name, args in [("posterize", (3,)), ("solarize", (100,)), ("adjust_sharpness", (1.7,)), ("autocontrast", ()),
                       ("equalize", ())]:
        np.testing.assert_array_equal(np.asarray(getattr(F, name)(img, *args)), np.asarray(getattr(TF, name)(img, *args)))


def test_perspective_and_elastic_match_torchvision():
    import torch

    tv = _tv()
    TF = tv.transforms.functional
    a = _u8(3).astype(np.float32) / 255
    c, t = cnnkit.from_numpy(a.copy()), torch.from_numpy(a.copy())
    sp, ep = [[0, 0], [12, 0], [12, 10], [0, 10]], [[1, 2], [11, 1], [12, 9], [2, 10]]
    np.testing.assert_allclose(F._get_perspective_coeffs(sp, ep), TF._get_perspective_coeffs(sp, ep), rtol=1e-6,
                               atol=1e-7)
    for mode in ("bilinear", "nearest"):
        ours = F.perspective(c, sp, ep, T.InterpolationMode(mode), fill=[0.5, 0.5, 0.5])
        theirs = TF.perspective(t, sp, ep, TF.InterpolationMode(mode), fill=[0.5, 0.5, 0.5])
        np.testing.assert_allclose(_np(ours), theirs.numpy(), atol=1e-5)
    img = PIL.fromarray(_u8(4).transpose(1, 2, 0))
    np.testing.assert_array_equal(np.asarray(F.perspective(img, sp, ep)), np.asarray(TF.perspective(img, sp, ep)))
    d = np.random.default_rng(1).uniform(-0.1, 0.1, (1, 11, 13, 2)).astype(np.float32)
    np.testing.assert_allclose(_np(F.elastic_transform(c, cnnkit.from_numpy(d), fill=[0.2])),
                               TF.elastic_transform(t, torch.from_numpy(d), fill=[0.2]).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="Argument displacement shape should be"):
        F.elastic_transform(c, cnnkit.zeros(1, 3, 3, 2))
    with pytest.raises(ValueError, match="Please provide exactly four corners"):
        F.perspective(c, sp[:3], ep)


def test_more_classes_repr_params_and_behaviour():
    import torch

    tvt = _tv().transforms
    m, mv = np.eye(6, dtype=np.float32) * 2, np.arange(6, dtype=np.float32)
    for ours, theirs in [
        (T.RandomPerspective(0.3, 0.2), tvt.RandomPerspective(0.3, 0.2)), (T.RandomPosterize(3), tvt.RandomPosterize(3)),
        (T.RandomSolarize(100, 0.1), tvt.RandomSolarize(100, 0.1)),
        (T.RandomAdjustSharpness(2), tvt.RandomAdjustSharpness(2)), (T.RandomAutocontrast(), tvt.RandomAutocontrast()),
        (T.RandomEqualize(0.3), tvt.RandomEqualize(0.3)), (T.ElasticTransform(20.0, (2.0, 3.0)),
                                                           tvt.ElasticTransform(20.0, (2.0, 3.0))),
        (T.LinearTransformation(cnnkit.from_numpy(m), cnnkit.from_numpy(mv)),
         tvt.LinearTransformation(torch.from_numpy(m), torch.from_numpy(mv))),
    ]:
        assert repr(ours) == repr(theirs)
    x = np.random.default_rng(2).random((6, 1, 2, 3)).astype(np.float32)
    out = T.LinearTransformation(cnnkit.from_numpy(m), cnnkit.from_numpy(mv))(cnnkit.from_numpy(x))
    np.testing.assert_allclose(_np(out), ((x.reshape(6, 6) - mv) @ m).reshape(x.shape), rtol=1e-6)
    with pytest.raises(ValueError, match="transformation_matrix should be square"):
        T.LinearTransformation(cnnkit.zeros(2, 3), cnnkit.zeros(2))
    for _ in range(50):
        start, end = T.RandomPerspective.get_params(20, 16, 0.5)
        assert start == [[0, 0], [19, 0], [19, 15], [0, 15]]
        assert 0 <= end[0][0] <= 5 and 0 <= end[0][1] <= 4 and 14 <= end[1][0] <= 19 and 11 <= end[2][1] <= 15
    img = cnnkit.from_numpy(_u8(5).astype(np.float32) / 255)
    cnnkit.manual_seed(3)
    out = T.RandomPerspective(p=1.0, fill=0.25)(img)
    cnnkit.manual_seed(3)
    cnnkit.rand(1)
    s, e = T.RandomPerspective.get_params(13, 11, 0.5)
    np.testing.assert_array_equal(_np(out), _np(F.perspective(img, s, e, fill=[0.25] * 3)))
    d = T.ElasticTransform.get_params([5.0, 5.0], [2.0, 2.0], [11, 13])
    assert tuple(d.shape) == (1, 11, 13, 2) and float(d.abs().max()) < 1.0
    cnnkit.manual_seed(4)
    a = _np(T.ElasticTransform(30.0, 1.0)(img))
    cnnkit.manual_seed(4)
    np.testing.assert_array_equal(_np(T.ElasticTransform(30.0, 1.0)(img)), a)
    u8 = cnnkit.from_numpy(_u8(6))
    assert T.RandomEqualize(0.0)(u8) is u8
    np.testing.assert_array_equal(_np(T.RandomPosterize(2, p=1.0)(u8)), _np(F.posterize(u8, 2)))
