"""Smoke tests of examples/*.py: each example's main(argv) runs in-process with --limit 64 --epochs 1 on
tiny synthetic data written in the real on-disk formats (MNIST IDX .gz under root/MNIST/raw, CIFAR-10 pickled
batches under root/cifar-10-batches-py, an ImageFolder tree of PNGs, a torch-format resnet18 checkpoint),
or on the embedded digits; the tests check the printed lines and the files produced."""
import gzip
import hashlib
import importlib
import os
import pickle
import re
import struct
import sys

import numpy as np
import pytest

import cnnkit

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")
SMOKE = ["--limit", "64", "--epochs", "1", "--device", "cpu"]


@pytest.fixture
def example(monkeypatch):
    """Import examples/<name>.py as a module (examples/ on sys.path, as when the script runs)."""
    monkeypatch.syspath_prepend(EXAMPLES)

    def load(name):
        return importlib.import_module(name)

    return load


# ---------------------------------------------------------------------------------------------------------
# writers of small synthetic datasets in the real formats


def _class_images(rng, n, shape, classes):
    """uint8 images whose brightness pattern depends on the label (so the data are learnable), and labels."""
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 60, (n,) + shape).astype(np.uint8)
    rows = shape[0] if len(shape) == 2 else shape[0]
    band = max(1, rows // classes)
    for i, k in enumerate(labels):
        images[i, k * band:(k + 1) * band] = 220
    return images, labels.astype(np.uint8)


def _idx_bytes(array):
    """IDX (LeCun's MNIST format): magic 0x0000 0x08 (ubyte) ndim, big-endian int32 sizes, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(root, n_train=80, n_test=40, seed=0):
    """root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz with 28x28 images, and each file
    extracted beside it: what a finished download leaves (MNIST(download=True) checks that the .gz files
    have the official MD5s unless the extracted files are there)."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = _class_images(rng, n, (28, 28), 10)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            with gzip.open(os.path.join(raw, f"{prefix}-{kind}-ubyte.gz"), "wb") as f:
                f.write(_idx_bytes(array))
            with open(os.path.join(raw, f"{prefix}-{kind}-ubyte"), "wb") as f:
                f.write(_idx_bytes(array))
    return raw


def write_cifar10(root, n_per_batch=20, n_test=40, seed=0):
    """root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}: pickled dicts as the official
    archive has them ('data' uint8 (N, 3072) in CHW order, 'labels' list; meta 'label_names').
    Returns {filename: md5} for the dataset's integrity check."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    files = {}

    def dump(name, obj):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)
        with open(path, "rb") as f:
            files[name] = hashlib.md5(f.read()).hexdigest()

    for i, n in [(b, n_per_batch) for b in range(1, 6)] + [("test", n_test)]:
        images, labels = _class_images(rng, n, (32, 32, 3), 10)
        chw = images.transpose(0, 3, 1, 2).reshape(n, 3072)
        name = "test_batch" if i == "test" else f"data_batch_{i}"
        dump(name, {"batch_label": f"synthetic {name}", "labels": [int(v) for v in labels], "data": chw,
                    "filenames": [f"img_{j}.png" for j in range(n)]})
    dump("batches.meta", {"label_names": names, "num_cases_per_batch": n_per_batch, "num_vis": 3072})
    return files


def write_image_folder(root, classes=("ants", "bees"), per_class=(6, 4), size=40, seed=0):
    """root/{train,val}/<class>/<i>.png, RGB PNGs whose colour depends on the class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "val"), per_class):
        for k, cls in enumerate(classes):
            os.makedirs(os.path.join(root, split, cls), exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 80, (size, size + 8, 3)).astype(np.uint8)
                pixels[..., k % 3] += 150
                Image.fromarray(pixels).save(os.path.join(root, split, cls, f"{i}.png"))
    return root


def _numbers(pattern, text):
    found = [float(v) for m in re.findall(pattern, text) for v in (m if isinstance(m, tuple) else (m,))]
    assert found, f"no match for {pattern!r} in:\n{text}"
    assert all(np.isfinite(found)), found
    return found


def test_writers_round_trip(tmp_path):
    """The IDX and CIFAR writers produce what the format specifies (read back here with NumPy/pickle)."""
    raw = write_mnist(tmp_path, n_train=5, n_test=3)
    with gzip.open(os.path.join(raw, "train-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    assert struct.unpack(">I", data[:4])[0] == 0x803 and struct.unpack(">3I", data[4:16]) == (5, 28, 28)
    assert len(data) == 16 + 5 * 28 * 28
    with gzip.open(os.path.join(raw, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        data = f.read()
    assert struct.unpack(">II", data[:8]) == (0x801, 3) and len(data) == 11 and max(data[8:]) < 10
    files = write_cifar10(tmp_path, n_per_batch=2, n_test=3)
    assert sorted(files) == sorted([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert entry["data"].shape == (3, 3072) and entry["data"].dtype == np.uint8 and len(entry["labels"]) == 3


# ---------------------------------------------------------------------------------------------------------
# command-line handling shared by all examples


ALL_EXAMPLES = ["autoencoder_digits", "transfer_learning", "digits_fit", "mnist_lenet5", "cifar10_resnet18",
                "visualize_features"]


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_help(example, capsys, name):
    module = example(name)
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    first = module.__doc__.strip().splitlines()[0]
    assert first[:40] in out
    for option in ("--data-dir", "--epochs", "--batch-size", "--device", "--limit"):
        assert option in out


@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], "--limit: expected a positive integer, got 0"),
    (["--epochs", "two"], "--epochs: expected a positive integer, got 'two'"),
    (["--device", "tpu"], "--device"),
])
def test_bad_arguments(example, capsys, argv, message):
    module = example("autoencoder_digits")
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(cnnkit.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_cuda_unavailable(example, capsys):
    with pytest.raises(SystemExit) as exc:
        example("autoencoder_digits").main(["--device", "cuda"])
    assert exc.value.code == 2 and "CUDA is not available" in capsys.readouterr().err


def test_limit_takes_the_first_items(example):
    common = example("common")
    data = cnnkit.utils.data.TensorDataset(cnnkit.arange(10))
    assert common.limit(data, None) is data and common.limit(data, 10) is data
    part = common.limit(data, 3)
    assert len(part) == 3 and [part[i][0].item() for i in range(3)] == [0, 1, 2]


# ---------------------------------------------------------------------------------------------------------
# the examples on the embedded digits


def test_autoencoder_digits(example, capsys, tmp_path):
    model = example("autoencoder_digits").main(SMOKE + ["--plots", str(tmp_path)])
    out = capsys.readouterr().out
    assert "ConvTranspose2d(8, 32" in out and "digits: 64 train / 64 test images" in out
    baseline = _numbers(r"baseline \(mean training image\) test MSE: ([0-9.]+)", out)[0]
    epoch = _numbers(r"epoch +1/1 +train MSE ([0-9.]+) +test MSE ([0-9.]+)", out)
    final = _numbers(r"final test MSE: ([0-9.]+)", out)[0]
    assert 0 < baseline < 0.2 and 0 < final < 0.5 and final == pytest.approx(epoch[1], abs=1e-5)
    png = tmp_path / "reconstructions.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:  # 8 per row, 16 originals + 16 reconstructions = 4 rows of 64+4 pixels
        assert im.size == (8 * 68 + 4, 4 * 68 + 4)
    x = cnnkit.rand(2, 1, 8, 8)
    assert model(x).shape == (2, 1, 8, 8)


def test_transfer_learning_demo(example, capsys):
    transfer, scratch = example("transfer_learning").main(
        ["--limit", "200", "--pretrain-epochs", "1", "--epochs", "2", "--repeats", "2", "--shots", "3"])
    out = capsys.readouterr().out
    assert "pretrain epoch  1/1" in out and out.count("draw ") == 2
    per_draw = _numbers(r"transfer +([0-9.]+)% +scratch +([0-9.]+)%", out)
    assert len(per_draw) == 4 and all(0 <= v <= 100 for v in per_draw)
    summary = re.search(r"new head ([0-9.]+)% \+- [0-9.]+%, from scratch ([0-9.]+)% ", out)
    assert summary and float(summary.group(1)) == pytest.approx(100 * transfer, abs=0.006)
    assert float(summary.group(2)) == pytest.approx(100 * scratch, abs=0.006)
    # few-shot sets: 3 per class of 5 digits, drawn from the first 200 training images
    assert re.search(r"draw 1/2: 15 labelled images of 5-9 \(trainable parameters: transfer 8581, "
                     r"scratch 13381\)", out)


def test_digits_fit(example, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tensorboard")
    argv = SMOKE + ["--epochs", "2", "--checkpoint", str(tmp_path / "ckpt"), "--plots", str(tmp_path / "plots"),
                    "--tensorboard", str(tmp_path / "tb"), "--schedule", "step"]
    history, result = example("digits_fit").main(argv)
    out = capsys.readouterr().out
    assert "digits: 58 train / 6 validation / 64 test images" in out and "step schedule" in out
    assert out.count("Epoch ") >= 2 and "val_loss" in out
    assert len(history.history["loss"]) == 2 and len(history.history["val_accuracy"]) == 2
    assert "top-3 error" in out and "confusion matrix (rows: true, columns: predicted)" in out
    acc = _numbers(r"final test accuracy: ([0-9.]+)%", out)[0]
    assert acc == pytest.approx(100 * result.accuracy, abs=0.006)
    # the printed matrix is the evaluated one: 10 rows summing to the 64 test images
    rows = re.findall(r"^ +(\d) +((?: +\d+){10})$", out, flags=re.M)
    assert len(rows) == 10
    matrix = np.array([[int(v) for v in r[1].split()] for r in rows])
    assert matrix.sum() == 64 and np.array_equal(matrix, np.asarray(result.confusion_matrix))
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["best.ckpt", "last.ckpt"]
    for name in ("history", "confusion_matrix", "filters", "feature_maps", "feature_maps_conv2", "misclassified"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG", name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tb"))
    # --resume continues the run in the checkpoint directory up to --epochs 3
    history, _ = example("digits_fit").main(SMOKE + ["--epochs", "3", "--checkpoint", str(tmp_path / "ckpt"),
                                                     "--resume", "--schedule", "step"])
    out = capsys.readouterr().out
    assert len(history.history["loss"]) == 3 and "Epoch 3/3" in out and "Epoch 1/3" not in out


def test_visualize_features(example, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "features"
    example("visualize_features").main(SMOKE + ["--out", str(out_dir), "--save", str(tmp_path / "w.pt"),
                                                "--layers", "features.2", "--image-index", "3"])
    out = capsys.readouterr().out
    assert "epoch  1/1" in out and re.search(r"test image 3: label \d, predicted \d", out)
    assert sorted(os.listdir(out_dir)) == ["feature_maps_features.2.png", "filters_features.0.png", "input.png"]
    # loading the saved weights gives the same predictions and accuracy
    acc = _numbers(r"test accuracy: ([0-9.]+)%", out)[0]
    example("visualize_features").main(["--limit", "64", "--checkpoint", str(tmp_path / "w.pt"), "--out",
                                        str(out_dir), "--layers", "features.1", "--image-index", "3"])
    out2 = capsys.readouterr().out
    assert f"loaded {tmp_path / 'w.pt'}" in out2 and "epoch" not in out2
    assert _numbers(r"test accuracy: ([0-9.]+)%", out2)[0] == acc
    assert re.search(r"test image 3: label \d, predicted \d", out2).group(0) in out


def test_visualize_features_bad_layer(example, capsys):
    with pytest.raises(SystemExit) as exc:
        example("visualize_features").main(["--filters", "features.1"])
    assert exc.value.code == 2
    assert "--filters: unknown or unsuitable layer(s) ['features.1']" in capsys.readouterr().err


def test_mnist_lenet5(example, capsys, tmp_path):
    write_mnist(tmp_path)
    model = example("mnist_lenet5").main(SMOKE + ["--data-dir", str(tmp_path), "--save", str(tmp_path / "m.pt")])
    out = capsys.readouterr().out
    assert "MNIST: 64 train / 40 test images, input (1, 32, 32), 61706 parameters" in out
    assert re.search(r"epoch  1/1  loss [0-9.]+  train acc +[0-9.]+%  test acc +[0-9.]+%", out)
    assert _numbers(r"final test accuracy: ([0-9.]+)%", out)
    state = cnnkit.load(tmp_path / "m.pt", weights_only=True)
    assert state.keys() == model.state_dict().keys()
    example("mnist_lenet5").main(SMOKE + ["--data-dir", str(tmp_path), "--resize", "--limit", "16"])
    assert "input (1, 32, 32)" in capsys.readouterr().out


def test_cifar10_resnet18(example, capsys, tmp_path, monkeypatch):
    files = write_cifar10(tmp_path, n_per_batch=8, n_test=20)
    datasets = cnnkit.vision.datasets
    # the dataset checks every file's MD5 against the official archive: register the synthetic files' sums
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[f"data_batch_{i}", files[f"data_batch_{i}"]]
                                                         for i in range(1, 6)])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", files["test_batch"]]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", dict(datasets.CIFAR10.meta, md5=files["batches.meta"]))
    # ResNet-18 at 32x32 is the costliest model here (0.56 GMAC per image): 2 images through 2 workers
    example("cifar10_resnet18").main(["--data-dir", str(tmp_path), "--limit", "2", "--epochs", "1",
                                      "--batch-size", "1", "--workers", "2", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "CIFAR-10: 2 train / 2 test images" in out and "11173962 parameters" in out and "2 workers" in out
    assert re.search(r"epoch   1/1  lr 0.1000  loss [0-9.]+  train acc +[0-9.]+%  test acc +[0-9.]+%", out)
    assert _numbers(r"final test accuracy: ([0-9.]+)%", out)


def test_transfer_learning_weights(example, capsys, tmp_path):
    pytest.importorskip("PIL")
    write_image_folder(tmp_path / "data", per_class=(4, 2))
    resnet = cnnkit.vision.models.resnet18()
    cnnkit.save_torch_state_dict(resnet.state_dict(), tmp_path / "resnet18.pth")  # torchvision's format
    model = example("transfer_learning").main(
        ["--weights", str(tmp_path / "resnet18.pth"), "--data-dir", str(tmp_path / "data"), "--image-size", "32",
         "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--limit", "64"])
    out = capsys.readouterr().out
    assert "resnet18, 2 classes ['ants', 'bees'], 8 train / 4 val images, 1026 of 11177538 parameters" in out
    assert len(re.findall(r"^epoch  \d/2  loss .* val acc ", out, flags=re.M)) == 2 and _numbers(r"final val accuracy: ([0-9.]+)%", out)
    # the backbone's parameters stayed as loaded, only fc was trained (BatchNorm running statistics do
    # follow the new images in train mode, as in PyTorch's tutorial)
    trained = dict(model.named_parameters())
    for name, value in resnet.named_parameters():
        if not name.startswith("fc."):
            assert cnnkit.equal(trained[name], value), name
    assert model.fc.weight.requires_grad and not model.conv1.weight.requires_grad
