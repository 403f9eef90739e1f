"""cnnkit.plot: figures render headless, carry the expected text and pixels, save valid PNGs of the
requested size, leave models as they were (hooks removed, modes restored) and reject bad input."""
import os
import subprocess
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
import cnnkit.plot as cplot
from cnnkit.utils.data import DataLoader, TensorDataset

pytest.importorskip("matplotlib")
import matplotlib.pyplot as plt  # noqa: E402

Image = pytest.importorskip("PIL.Image")



@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def _history():
    return {"loss": [1.0, 0.6, 0.4, 0.3], "val_loss": [1.1, 0.7, 0.5, 0.45],
            "accuracy": [0.5, 0.7, 0.8, 0.85], "val_accuracy": [0.45, 0.65, 0.75, 0.8],
            "lr": [0.1, 0.1, 0.01, 0.01], "time": [1.5, 1.4, 1.4, 1.3]}


# ----------------------------------------------------------------------------- optional dependency
def _run(code):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnkit.__file__)))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_import_cnnkit_does_not_import_matplotlib_or_tensorboard():
    r = _run("import sys, cnnkit, cnnkit.plot, cnnkit.utils.tensorboard\n"
             "print(sorted(m for m in ('matplotlib', 'tensorboard', 'PIL', 'tqdm', 'scipy') if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_missing_matplotlib_names_the_extra():
    r = _run("import sys; sys.modules['matplotlib'] = None\n"
             "import cnnkit.plot\n"
             "try:\n    cnnkit.plot.plot_history({'loss': [1.0]})\n"
             "except ImportError as e:\n    print('ERR', e)\n")
    assert r.returncode == 0, r.stderr
    assert "ERR cnnkit.plot needs matplotlib: pip install 'cnnkit[plot]'" in r.stdout


# ----------------------------------------------------------------------------- plot_history
class _FakeHistory:
    """Stands in for cnnkit.train.History: the per-epoch dict lives in ``.history``."""

    def __init__(self, h):
        self.history = h


@pytest.mark.parametrize("wrap", [dict, _FakeHistory])
def test_plot_history_panels_series_and_png(tmp_path, wrap):
    h = _history()
    path = tmp_path / "hist.png"
    fig = cplot.plot_history(wrap(h), path=path, figsize=(8, 3), dpi=50)
    assert _png_size(path) == (400, 150)
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["loss", "accuracy"]  # 'lr' and 'time' only when asked
    for ax, m in zip(fig.axes, ["loss", "accuracy"]):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["train", "val"]
        np.testing.assert_allclose(lines[0].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(lines[0].get_ydata(), h[m])
        np.testing.assert_allclose(lines[1].get_ydata(), h["val_" + m])
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]


def test_plot_history_with_cnnkit_train_history():
    train = pytest.importorskip("cnnkit.train")  # the training loop lives on another branch until merged
    h = _history()
    fig = cplot.plot_history(train.History(history=h, epoch=list(range(4))))
    assert [a.get_title() for a in fig.axes] == ["loss", "accuracy"]
    np.testing.assert_allclose(fig.axes[1].get_lines()[1].get_ydata(), h["val_accuracy"])


def test_plot_history_metrics_lr_log_scale_gaps_and_ax():
    h = {"loss": [2.0, None, 1.0], "lr": [0.1, 0.01, 0.001]}
    fig = cplot.plot_history(h, metrics=["lr", "loss"])
    assert [a.get_title() for a in fig.axes] == ["lr", "loss"]
    assert fig.axes[0].get_yscale() == "log"
    y = fig.axes[1].get_lines()[0].get_ydata()
    assert y[0] == 2.0 and np.isnan(y[1]) and y[2] == 1.0
    fig2, ax = plt.subplots()
    assert cplot.plot_history(h, metrics="loss", ax=ax) is fig2
    assert ax.get_title() == "loss" and len(ax.get_lines()) == 1
    # only a validation series is fine too
    fig3 = cplot.plot_history({"val_loss": [1.0, 0.5]})
    assert [ln.get_label() for ln in fig3.axes[0].get_lines()] == ["val"]


def test_plot_history_errors():
    with pytest.raises(ValueError, match="plot_history: unknown metric 'f1'"):
        cplot.plot_history(_history(), metrics="f1")
    with pytest.raises(ValueError, match="plot_history: the history is empty"):
        cplot.plot_history({})
    with pytest.raises(TypeError, match="plot_history: expected a History"):
        cplot.plot_history([1, 2, 3])
    with pytest.raises(TypeError, match="must hold numbers"):
        cplot.plot_history({"loss": ["a"]})
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="1 axes for 2 metric panels"):
        cplot.plot_history(_history(), ax=ax)


# ----------------------------------------------------------------------------- confusion matrix
def _cm():
    return np.array([[5, 1, 0], [2, 7, 1], [0, 0, 0]])


def test_confusion_matrix_counts_labels_and_png(tmp_path):
    path = tmp_path / "cm.png"
    fig = cplot.plot_confusion_matrix(_cm(), class_names=["cat", "dog", "eel"], path=str(path),
                                      figsize=(5, 4), dpi=40)
    assert _png_size(path) == (200, 160)
    ax = fig.axes[0]
    assert ax.get_title() == "Confusion matrix"
    assert ax.get_xlabel() == "Predicted" and ax.get_ylabel() == "True"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "eel"]
    texts = [t.get_text() for t in ax.texts]
    assert texts == [str(v) for v in _cm().ravel()]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), _cm())


@pytest.mark.parametrize("mode", [True, "true", "pred", "all"])
def test_confusion_matrix_normalize_matches_numpy(mode):
    cm = _cm().astype(float)
    if mode in (True, "true"):
        s = cm.sum(1, keepdims=True)
    elif mode == "pred":
        s = cm.sum(0, keepdims=True)
    else:
        s = np.full((1, 1), cm.sum())
    ref = np.zeros_like(cm)
    for i in range(3):
        for j in range(3):
            d = s[i if s.shape[0] > 1 else 0, j if s.shape[1] > 1 else 0]
            ref[i, j] = cm[i, j] / d if d > 0 else 0.0
    fig = cplot.plot_confusion_matrix(cnnkit.tensor(_cm()), normalize=mode)
    ax = fig.axes[0]
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), ref)
    assert [t.get_text() for t in ax.texts] == [f"{100 * v:.1f}%" for v in ref.ravel()]
    assert "normalized" in ax.get_title()


def test_confusion_matrix_object_attribute_and_large_c():
    class Metric:  # like cnnkit.train.evaluate's EvalResult
        confusion_matrix = _cm()
        classes = ["x", "y", "z"]

    class MetricFn:
        def confusion_matrix(self):
            return _cm()

    for obj, names in ((Metric(), ["x", "y", "z"]), (MetricFn(), ["0", "1", "2"])):
        ax = cplot.plot_confusion_matrix(obj).axes[0]
        assert [t.get_text() for t in ax.texts][:2] == ["5", "1"]
        assert [t.get_text() for t in ax.get_xticklabels()] == names
    big = np.random.default_rng(0).integers(0, 9, (21, 21))
    assert len(cplot.plot_confusion_matrix(big).axes[0].texts) == 0  # too many cells to annotate
    assert len(cplot.plot_confusion_matrix(_cm(), annotate=False).axes[0].texts) == 0
    fig, ax = plt.subplots()
    assert cplot.plot_confusion_matrix(_cm(), ax=ax, title="val") is fig and ax.get_title() == "val"


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="plot_confusion_matrix: cm must be a square C x C matrix.*\\(2, 3\\)"):
        cplot.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square"):
        cplot.plot_confusion_matrix(np.zeros(4))
    with pytest.raises(ValueError, match="2 class_names for a 3 x 3"):
        cplot.plot_confusion_matrix(_cm(), class_names=["a", "b"])
    with pytest.raises(ValueError, match="non-negative"):
        cplot.plot_confusion_matrix(-np.eye(2))
    with pytest.raises(ValueError, match="normalize must be"):
        cplot.plot_confusion_matrix(_cm(), normalize="rows")
    with pytest.raises(TypeError, match="cm must be a tensor"):
        cplot.plot_confusion_matrix("cm")


# ----------------------------------------------------------------------------- filters
def _net():
    cnnkit.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5))


def _minmax(a):
    return (a - a.min()) / (a.max() - a.min())


def test_plot_filters_rgb_first_conv(tmp_path):
    net = _net()
    path = tmp_path / "f.png"
    fig = cplot.plot_filters(net, path=path, figsize=(3, 3), dpi=30)
    assert _png_size(path) == (90, 90)
    assert fig._suptitle.get_text() == "0: Conv2d weight (6, 3, 3, 3)"
    w = net[0].weight.detach().numpy().astype(np.float64)
    imgs = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(imgs) == 6
    for k, im in enumerate(imgs):
        np.testing.assert_allclose(np.asarray(im.get_array()), _minmax(w[k]).transpose(1, 2, 0), atol=1e-12)


def test_plot_filters_grey_channels_named_layer_and_weight():
    net = _net()
    w = net[2].weight.detach().numpy().astype(np.float64)
    fig = cplot.plot_filters(net, layer="2")
    assert fig._suptitle.get_text() == "2: Conv2d weight (4, 6, 3, 3)"
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 4 * 6
    for k in range(4):
        f = _minmax(w[k])
        for c in range(6):
            np.testing.assert_allclose(np.asarray(axes[k * 6 + c].images[0].get_array()), f[c], atol=1e-12)
    assert axes[0].get_title() == "in 0" and axes[0].get_ylabel() == "f0"
    fig = cplot.plot_filters(net, layer=net[2], max_filters=1, max_channels=2)  # the module itself
    assert fig._suptitle.get_text() == "2: Conv2d weight (4, 6, 3, 3) (first 1 of 4 filters)"
    # a weight directly; grey single-channel filters; caps
    wg = np.random.default_rng(0).standard_normal((10, 1, 5, 5))
    fig = cplot.plot_filters(wg, max_filters=7)
    assert len([ax for ax in fig.axes if ax.images]) == 7
    assert "first 7 of 10 filters" in fig._suptitle.get_text()
    np.testing.assert_allclose(np.asarray(fig.axes[3].images[0].get_array()), _minmax(wg[3, 0]))
    const = cplot.plot_filters(np.ones((1, 1, 3, 3)))
    np.testing.assert_allclose(np.asarray(const.axes[0].images[0].get_array()), 0.5)
    fig = cplot.plot_filters(cnnkit.randn(2, 8, 3, 3), max_channels=3)
    assert len([ax for ax in fig.axes if ax.images]) == 6


def test_plot_filters_errors():
    with pytest.raises(ValueError, match="plot_filters: no Conv2d layer in Sequential"):
        cplot.plot_filters(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="plot_filters: no layer named 'conv9'.*'0', '1'"):
        cplot.plot_filters(_net(), layer="conv9")
    with pytest.raises(ValueError, match="layer '4' \\(Linear\\) has no 4-D convolution weight"):
        cplot.plot_filters(_net(), layer="4")
    with pytest.raises(ValueError, match="weight must be 4-D"):
        cplot.plot_filters(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="not part of the model"):
        cplot.plot_filters(_net(), layer=nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="layer must be a layer name"):
        cplot.plot_filters(_net(), layer=3)
    with pytest.raises(TypeError, match="model_or_weight must be"):
        cplot.plot_filters(object())


# ----------------------------------------------------------------------------- feature maps
def test_plot_feature_maps_values_hooks_and_modes(tmp_path):
    net = _net()
    net.train()
    net[1].eval()  # mixed modes must come back exactly
    x = cnnkit.randn(3, 7, 7)
    path = tmp_path / "fm.png"
    fig = cplot.plot_feature_maps(net, "1", x, path=path, figsize=(4, 3), dpi=25)
    assert _png_size(path) == (100, 75)
    assert net.training and net[0].training and not net[1].training
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    assert cnnkit.is_grad_enabled()
    with cnnkit.no_grad():
        ref = net[1](net[0](x.unsqueeze(0))).numpy()[0]
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 6
    for k, ax in enumerate(axes):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), ref[k], rtol=1e-6, atol=1e-6)
        assert ax.get_title() == f"ch {k}"
    assert fig._suptitle.get_text() == "1: ReLU output (6, 5, 5)"
    fig = cplot.plot_feature_maps(net, net[0], x.unsqueeze(0), max_maps=4)
    assert len([ax for ax in fig.axes if ax.images]) == 4
    assert "first 4 of 6 channels" in fig._suptitle.get_text()


def test_plot_feature_maps_linear_bar_chart():
    net = _net()
    x = cnnkit.randn(1, 3, 7, 7)
    fig = cplot.plot_feature_maps(net, "4", x)
    with cnnkit.no_grad():
        ref = net.eval()(x).numpy()[0]
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, ref, rtol=1e-6, atol=1e-6)


def test_plot_feature_maps_errors_leave_no_hook():
    net = _net()
    with pytest.raises(ValueError, match="plot_feature_maps: no layer named 'nope'"):
        cplot.plot_feature_maps(net, "nope", cnnkit.randn(3, 7, 7))
    with pytest.raises(ValueError, match="one image \\(C, H, W\\).*\\(2, 3, 7, 7\\)"):
        cplot.plot_feature_maps(net, "0", cnnkit.randn(2, 3, 7, 7))
    with pytest.raises(TypeError, match="floating-point"):
        cplot.plot_feature_maps(net, "0", np.zeros((3, 7, 7), dtype=np.int64))
    with pytest.raises(TypeError, match="model must be a cnnkit.nn.Module"):
        cplot.plot_feature_maps("net", "0", cnnkit.randn(3, 7, 7))
    # a forward that fails (wrong channels) must still remove the hook and restore the mode
    net.train()
    with pytest.raises(Exception):
        cplot.plot_feature_maps(net, "0", cnnkit.randn(2, 7, 7))
    assert net.training and all(len(m._forward_hooks) == 0 for m in net.modules())

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Conv2d(1, 2, 1)
            self.unused = nn.ReLU()

        def forward(self, x):
            return self.used(x)

    with pytest.raises(RuntimeError, match="layer 'unused' was not called"):
        cplot.plot_feature_maps(Skip(), "unused", cnnkit.randn(1, 4, 4))


# ----------------------------------------------------------------------------- misclassified
class _FirstPixels(nn.Module):
    """Predicts from the first K pixel values (they are the logits), so the expected mistakes are
    known; Dropout makes the eval/train mode observable."""

    def __init__(self, k):
        super().__init__()
        self.k = k
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(x.reshape(x.shape[0], -1)[:, :self.k])


def _mis_data(n=30, k=3):
    rng = np.random.default_rng(5)
    x = rng.random((n, 3, 4, 4)).astype(np.float32)
    y = rng.integers(0, k, n)
    pred = x.reshape(n, -1)[:, :k].argmax(1)
    return x, y, pred


def test_plot_misclassified_titles_order_and_unnormalize(tmp_path):
    x, y, pred = _mis_data()
    wrong = np.flatnonzero(pred != y)
    assert len(wrong) > 6
    classes = ["ant", "bee", "cow"]
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    model = _FirstPixels(3)
    model.train()
    ds = TensorDataset(cnnkit.from_numpy(x), cnnkit.from_numpy(y))
    path = tmp_path / "mis.png"
    fig = cplot.plot_misclassified(model, ds, classes=classes, n=5, mean=mean, std=std, path=path,
                                   figsize=(5, 5), dpi=20, batch_size=7)
    assert _png_size(path) == (100, 100)
    assert model.training and model.drop.training
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == [f"{classes[pred[i]]} / {classes[y[i]]}" for i in wrong[:5]]
    m, s = np.array(mean).reshape(3, 1, 1), np.array(std).reshape(3, 1, 1)
    for ax, i in zip(axes, wrong[:5]):
        ref = np.clip(x[i].astype(np.float64) * s + m, 0, 1).transpose(1, 2, 0)
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), ref, rtol=1e-6)
    # a DataLoader gives the same images; without classes, numbers are used
    fig2 = cplot.plot_misclassified(model, DataLoader(ds, batch_size=4), n=5)
    assert [ax.get_title() for ax in fig2.axes if ax.images] == [f"{pred[i]} / {y[i]}" for i in wrong[:5]]


def test_plot_misclassified_none_wrong_and_errors():
    x, _, pred = _mis_data()
    ds = TensorDataset(cnnkit.from_numpy(x), cnnkit.from_numpy(pred))
    fig = cplot.plot_misclassified(_FirstPixels(3), ds)
    assert fig.axes[0].texts[0].get_text() == "No misclassified images among 30"
    with pytest.raises(ValueError, match="n must be a positive int"):
        cplot.plot_misclassified(_FirstPixels(3), ds, n=0)
    with pytest.raises(TypeError, match="expected a Dataset or a DataLoader"):
        cplot.plot_misclassified(_FirstPixels(3), 5)
    wrong = TensorDataset(cnnkit.from_numpy(x), cnnkit.zeros(30, dtype=cnnkit.int64) + 2)
    with pytest.raises(ValueError, match="mean must have 1 or 3"):
        cplot.plot_misclassified(_FirstPixels(3), wrong, mean=[0.1, 0.2])


# ----------------------------------------------------------------------------- plot_images
def test_plot_images_batch_labels_and_png(tmp_path):
    imgs = cnnkit.rand(5, 3, 6, 6)
    path = tmp_path / "im.png"
    fig = cplot.plot_images(imgs, labels=cnnkit.tensor([0, 2, 1, 1, 0]), classes=["a", "b", "c"], ncols=3,
                            path=path, figsize=(3, 2), dpi=50)
    assert _png_size(path) == (150, 100)
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["a", "c", "b", "b", "a"]
    np.testing.assert_allclose(np.asarray(axes[1].images[0].get_array()), imgs[1].numpy().transpose(1, 2, 0))
    fig = cplot.plot_images(imgs * 3 - 1, mean=0.5, std=0.5, titles=list("vwxyz"), max_images=2)
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["v", "w"]
    ref = np.clip((imgs[0].numpy() * 3 - 1) * 0.5 + 0.5, 0, 1).transpose(1, 2, 0)
    np.testing.assert_allclose(np.asarray(axes[0].images[0].get_array()), ref, rtol=1e-6)


def test_plot_images_other_inputs():
    rng = np.random.default_rng(0)
    nhwc = (rng.random((4, 5, 6, 3)) * 255).astype(np.uint8)
    ax = [a for a in cplot.plot_images(nhwc).axes if a.images][2]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), nhwc[2])
    pil = [Image.fromarray(nhwc[0]), Image.fromarray(nhwc[1, :, :, 0])]
    axes = [a for a in cplot.plot_images(pil, labels=[3, 4]).axes if a.images]
    assert [a.get_title() for a in axes] == ["3", "4"]
    np.testing.assert_array_equal(np.asarray(axes[1].images[0].get_array()), nhwc[1, :, :, 0])
    grey = cplot.plot_images(rng.random((2, 4, 4)))
    assert [a for a in grey.axes if a.images][0].images[0].get_cmap().name == "gray"


def test_plot_images_errors():
    with pytest.raises(ValueError, match="plot_images: 2 labels for 3 images"):
        cplot.plot_images(cnnkit.rand(3, 1, 4, 4), labels=[0, 1])
    with pytest.raises(ValueError, match="plot_images: images must be a batch"):
        cplot.plot_images(cnnkit.rand(4, 4))
    with pytest.raises(ValueError, match="C in \\(1, 3, 4\\)"):
        cplot.plot_images(cnnkit.rand(2, 5, 4, 4))
    with pytest.raises(ValueError, match="no images"):
        cplot.plot_images([])


@pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs a CUDA GPU")
def test_plots_with_a_cuda_model():
    net = _net().to("cuda")
    x = cnnkit.randn(3, 7, 7)  # a host image goes to the model's device
    fig = cplot.plot_feature_maps(net, "1", x)
    with cnnkit.no_grad():
        ref = net.eval()[1](net[0](x.unsqueeze(0).to("cuda"))).cpu().numpy()[0]
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), ref[0], rtol=1e-5, atol=1e-5)
    assert len(cplot.plot_filters(net).axes) >= 6
    ds = TensorDataset(cnnkit.rand(8, 3, 7, 7), cnnkit.randint(0, 5, (8,)))
    cplot.plot_misclassified(net, ds, n=3)
