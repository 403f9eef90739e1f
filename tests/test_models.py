"""cnnkit.vision.models against torchvision: names, repr, parameter counts, initialisation, and logits
from torchvision's weights read from a torch-saved .pth file by cnnkit's own reader."""
import math
import warnings

import numpy as np
import pytest

import cnnkit
from cnnkit.vision import models as M
from torchvision_helper import import_torchvision

_cache = {}


@pytest.fixture
def no_init(monkeypatch):
    """Skips the random initialisation (the slow part of building the big models): counts only."""
    for cls in (cnnkit.nn.Linear, cnnkit.nn.Conv2d):
        monkeypatch.setattr(cls, "reset_parameters", lambda self: None)
    monkeypatch.setattr(cnnkit.nn.init, "kaiming_normal_", lambda t, *a, **k: t)
    monkeypatch.setattr(cnnkit.nn.init, "normal_", lambda t, *a, **k: t)


def ours(name, **kw):
    key = (name, tuple(sorted(kw.items())))
    if key not in _cache:
        cnnkit.manual_seed(0)
        _cache[key] = getattr(M, name)(**kw)
    return _cache[key]


@pytest.mark.parametrize("name,expected", [
    ("alexnet", 61100840), ("vgg11", 132863336), ("resnet18", 11689512), ("resnet34", 21797672),
    ("resnet50", 25557032),
])
def test_param_counts(name, expected, no_init):
    m = getattr(M, name)(**({"init_weights": False} if name.startswith("vgg") else {}))
    assert sum(p.numel() for p in m.parameters()) == expected
    enum = M.get_model_weights(name)
    assert enum.DEFAULT.meta["num_params"] == expected


@pytest.mark.parametrize("name", ["vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
                                  "resnet101", "resnet152"])
def test_param_counts_large(name, no_init):
    m = getattr(M, name)(**({"init_weights": False} if name.startswith("vgg") else {}))
    assert sum(p.numel() for p in m.parameters()) == M.get_model_weights(name).DEFAULT.meta["num_params"]


@pytest.mark.parametrize("name,kw", [
    ("alexnet", {}), ("vgg11", {}), ("resnet18", {}), ("resnet50", {}),
    ("vgg11_bn", {"num_classes": 7, "dropout": 0.3, "init_weights": False}),
    ("resnet18", {"num_classes": 10, "zero_init_residual": True}),
    ("resnet50", {"groups": 2, "width_per_group": 32, "replace_stride_with_dilation": [False, True, True]}),
])
def test_repr_and_state_dict_keys_match_torchvision(name, kw, no_init):
    tv = import_torchvision()
    import torch

    with torch.device("meta"):  # structure only: no memory, no initialisation
        theirs = getattr(tv.models, name)(**kw)
    mine = getattr(M, name)(**kw)
    assert repr(mine).splitlines() == repr(theirs).splitlines()
    assert list(mine.state_dict().keys()) == list(theirs.state_dict().keys())
    for k, v in theirs.state_dict().items():
        assert tuple(mine.state_dict()[k].shape) == tuple(v.shape), k
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in theirs.parameters())


def _logits_match(name, shape, tmp_path, atol=1e-4, **kw):
    # our random initialisation is skipped (no_init): the checkpoint overwrites every tensor
    torch = pytest.importorskip("torch")
    tv = import_torchvision()
    torch.manual_seed(0)
    theirs = getattr(tv.models, name)(**kw).eval()
    # non-trivial batch-norm statistics, so running_mean/var are really used
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    mine = getattr(M, name)(weights=str(path), **kw).eval()
    x = np.random.RandomState(1).randn(*shape).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    with cnnkit.no_grad():
        out = mine(cnnkit.from_numpy(x)).numpy()
    assert out.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=0, atol=atol * scale)


def test_resnet18_logits_from_torchvision_weights(tmp_path, no_init):
    _logits_match("resnet18", (1, 3, 64, 64), tmp_path)


def test_resnet50_logits_from_torchvision_weights(tmp_path, no_init):
    _logits_match("resnet50", (1, 3, 32, 32), tmp_path, num_classes=10)


def test_vgg11_bn_logits_from_torchvision_weights(tmp_path, no_init):
    _logits_match("vgg11_bn", (1, 3, 32, 32), tmp_path, num_classes=10)


def test_alexnet_logits_from_torchvision_weights(tmp_path, no_init):
    _logits_match("alexnet", (2, 3, 63, 63), tmp_path, num_classes=10)


def test_resnet18_train_mode_backward():
    m = M.resnet18_cifar(num_classes=10)
    x = cnnkit.randn(2, 3, 16, 16)
    out = m(x)
    assert tuple(out.shape) == (2, 10)
    loss = cnnkit.nn.functional.cross_entropy(out, cnnkit.tensor([1, 7]))
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    assert float(m.conv1.weight.grad.abs().sum()) > 0


def test_resnet18_cifar_layout():
    m = M.resnet18_cifar()
    assert sum(p.numel() for p in m.parameters()) == 11173962
    assert list(m.state_dict().keys()) == list(ours("resnet18").state_dict().keys())
    assert tuple(m.conv1.weight.shape) == (64, 3, 3, 3)
    assert m.conv1.stride == (1, 1) and isinstance(m.maxpool, cnnkit.nn.Identity)
    with pytest.raises(ValueError, match="resnet18_cifar: weights must be None or a path"):
        M.resnet18_cifar(weights="IMAGENET1K_V1")


def test_lenet5():
    m = M.lenet5()
    assert sum(p.numel() for p in m.parameters()) == 61706
    x = cnnkit.randn(3, 1, 32, 32)
    assert tuple(m(x).shape) == (3, 10)
    assert tuple(m.features(x).shape) == (3, 120, 1, 1)
    assert "tanh" in M.LeNet5.__doc__ and "average pooling" in M.LeNet5.__doc__
    assert isinstance(m.features[1], cnnkit.nn.Tanh) and isinstance(m.features[2], cnnkit.nn.AvgPool2d)
    assert tuple(M.lenet5(num_classes=4, in_channels=3)(cnnkit.randn(1, 3, 32, 32)).shape) == (1, 4)


def test_initialisation_follows_torchvision(monkeypatch):
    m = ours("resnet18", num_classes=10, zero_init_residual=True)
    # VGG's own loop re-initialises every layer, so Linear's default initialisation is skipped (speed)
    monkeypatch.setattr(cnnkit.nn.Linear, "reset_parameters", lambda self: None)
    w = m.layer3[0].conv1.weight.detach().numpy()
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert abs(w.std() / math.sqrt(2.0 / fan_out) - 1) < 0.05
    assert np.all(m.bn1.weight.detach().numpy() == 1) and np.all(m.bn1.bias.detach().numpy() == 0)
    assert np.all(m.layer1[0].bn2.weight.detach().numpy() == 0)
    assert np.all(m.layer1[0].bn1.weight.detach().numpy() == 1)
    v = M.vgg11()
    lw = v.classifier[0].weight.detach().numpy()
    assert abs(lw.std() - 0.01) < 5e-4 and np.all(v.classifier[0].bias.detach().numpy() == 0)
    cw = v.features[0].weight.detach().numpy()
    assert abs(cw.std() / math.sqrt(2.0 / (64 * 9)) - 1) < 0.1
    assert np.all(v.features[0].bias.detach().numpy() == 0)


def test_weights_arguments(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    tv = import_torchvision()
    W = M.ResNet18_Weights
    assert W.verify("IMAGENET1K_V1") is W.IMAGENET1K_V1 and W.DEFAULT is W.IMAGENET1K_V1
    assert W.verify("ResNet18_Weights.DEFAULT") is W.IMAGENET1K_V1
    assert W.IMAGENET1K_V1.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert repr(W.IMAGENET1K_V1) == "ResNet18_Weights.IMAGENET1K_V1"
    assert M.get_weight("ResNet50_Weights.DEFAULT") is M.ResNet50_Weights.IMAGENET1K_V2
    assert "resnet18" in M.list_models() and M.list_models(include="vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    with pytest.raises(ValueError, match="neither one of ResNet18_Weights's members"):
        M.resnet18(weights="IMAGENET1K_V9")
    with pytest.raises(TypeError, match="expected ResNet18_Weights but received ResNet34_Weights"):
        M.resnet18(weights=M.ResNet34_Weights.DEFAULT)
    with pytest.raises(ValueError, match="num_classes"):
        M.resnet18(weights=W.DEFAULT, num_classes=10)

    # a file already in the torch.hub cache under the official name is used, not downloaded
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(cnnkit.hub, "_hub_dir", None)
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.manual_seed(3)
    ref = tv.models.resnet18().eval()
    torch.save(ref.state_dict(), ckpt / "resnet18-f37072fd.pth")
    for kwargs in ({"weights": "DEFAULT"}, {"weights": W.IMAGENET1K_V1}):
        m = M.resnet18(**kwargs)
        assert np.array_equal(m.fc.weight.detach().numpy(), ref.fc.weight.detach().numpy())
    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        m = M.resnet18(pretrained=True)
    assert np.array_equal(m.conv1.weight.detach().numpy(), ref.conv1.weight.detach().numpy())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = M.resnet18(pretrained=False)
    assert any("weights=None" in str(r.message) for r in rec)
    assert float(m.fc.bias.abs().sum()) != float(np.abs(ref.fc.bias.detach().numpy()).sum())


def test_get_model():
    m = M.get_model("resnet18_cifar", num_classes=3)
    assert m.fc.out_features == 3
    with pytest.raises(ValueError, match="Unknown model"):
        M.get_model("resnet9000")
    assert M.get_model_weights(M.vgg16) is M.VGG16_Weights
    assert M.VGG16_Weights.IMAGENET1K_FEATURES.meta["num_classes"] is None
