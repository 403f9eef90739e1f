"""cnnkit.vision.utils.make_grid / save_image against torchvision.utils."""
import sys

import numpy as np
import pytest

import cnnkit
from cnnkit.vision.utils import make_grid, save_image
from torchvision_helper import import_torchvision


def _pair(shape, seed=0):
    torch = pytest.importorskip("torch")
    x = np.random.RandomState(seed).randn(*shape).astype(np.float32) * 2 + 0.3
    return cnnkit.from_numpy(x.copy()), torch.from_numpy(x.copy())


@pytest.mark.parametrize("shape", [(5, 3, 7, 6), (1, 3, 4, 4), (9, 1, 5, 3), (3, 2, 4, 5), (2, 6, 3)])
@pytest.mark.parametrize("kw", [
    {}, {"nrow": 3, "padding": 0}, {"nrow": 2, "padding": 3, "pad_value": 0.7},
    {"normalize": True}, {"normalize": True, "scale_each": True, "nrow": 4},
    {"normalize": True, "value_range": (-1.0, 1.5)}, {"normalize": True, "value_range": (-1, 1), "scale_each": True},
])
def test_make_grid_matches_torchvision(shape, kw):
    tv = import_torchvision()
    ours, theirs = _pair(shape)
    out = make_grid(ours, **kw)
    ref = tv.utils.make_grid(theirs, **kw)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)
    # the input is not modified by normalize
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_make_grid_list_and_2d_inputs():
    tv = import_torchvision()
    imgs = [_pair((3, 4, 5), seed=i) for i in range(5)]
    np.testing.assert_array_equal(make_grid([a for a, _ in imgs], nrow=2).numpy(),
                                  tv.utils.make_grid([b for _, b in imgs], nrow=2).numpy())
    a, b = _pair((6, 7))
    np.testing.assert_array_equal(make_grid(a).numpy(), tv.utils.make_grid(b).numpy())
    a, b = _pair((4, 1, 3, 3))
    a64 = a.double()
    out = make_grid(a64, nrow=3)
    assert out.dtype == cnnkit.float64
    np.testing.assert_allclose(out.numpy(), tv.utils.make_grid(b.double(), nrow=3).numpy())


def test_make_grid_errors():
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid(np.zeros((2, 3, 4, 4)))
    with pytest.raises(TypeError, match="list containing"):
        make_grid([cnnkit.zeros(3, 2, 2), 5])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(cnnkit.zeros(2, 3, 2, 2), normalize=True, value_range=[0, 1])
    with pytest.raises(ValueError, match="make_grid: expected a 2-D, 3-D or 4-D tensor"):
        make_grid(cnnkit.zeros(1, 2, 3, 2, 2))


def test_save_image_matches_torchvision(tmp_path):
    tv = import_torchvision()
    from PIL import Image

    x = np.random.RandomState(3).rand(6, 3, 5, 7).astype(np.float32) * 1.2 - 0.1
    x[0, 0, 0, :3] = [0.5 / 255, 1.5 / 255, 254.5 / 255]  # rounding edges
    import torch

    save_image(cnnkit.from_numpy(x), str(tmp_path / "ours.png"), nrow=4, padding=1)
    tv.utils.save_image(torch.from_numpy(x), str(tmp_path / "theirs.png"), nrow=4, padding=1)
    a = np.asarray(Image.open(tmp_path / "ours.png"))
    b = np.asarray(Image.open(tmp_path / "theirs.png"))
    assert a.shape == b.shape == (2 * 6 + 1, 4 * 8 + 1, 3)
    np.testing.assert_array_equal(a, b)
    save_image(cnnkit.from_numpy(x[:1]), str(tmp_path / "one.jpg"), format="JPEG")
    assert Image.open(tmp_path / "one.jpg").format == "JPEG"


def test_save_image_without_pillow(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "cnnkit\[vision\]"'):
        save_image(cnnkit.zeros(3, 4, 4), str(tmp_path / "x.png"))
