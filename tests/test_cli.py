"""The cnnkit command line, run in-process through cnnkit.cli.main(argv): train/eval on the embedded
digits and on tiny synthetic CIFAR-10 / MNIST / fake datasets, summary, info, and bad arguments."""
import json
import os

import numpy as np
import pytest

import cnnkit
from cnnkit.cli import main
from cnnkit.train import History, load_checkpoint
from datasets_helpers import make_cifar, make_mnist_raw, patch_cifar


def test_info_and_config(capsys):
    assert main(["info"]) == 0
    info = capsys.readouterr().out
    assert main(["config"]) == 0
    assert capsys.readouterr().out == info and "cnnkit" in info
    assert main([]) == 0


def test_train_eval_resume_on_digits(tmp_path, capsys):
    ck = tmp_path / "run"
    args = ["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1", "--limit", "96",
            "--batch-size", "32", "--checkpoint", str(ck), "--seed", "3", "--schedule", "cosine"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("cnnkit train: lenet5 (61,706 parameters) on digits (96 train / 96 test images, 10 classes, "
                          "1x32x32)")
    assert "Epoch 1/1 - 3/3" in out and "final test accuracy" in out
    assert sorted(os.listdir(ck)) == ["best.ckpt", "history.json", "last.ckpt"]
    ckpt = load_checkpoint(ck)
    assert ckpt["epoch"] == 1
    assert {k: ckpt["meta"][k] for k in ("model", "dataset", "num_classes", "in_channels", "image_size")} == \
        {"model": "lenet5", "dataset": "digits", "num_classes": 10, "in_channels": 1, "image_size": 32}
    hist = History.load(ck / "history.json")
    assert hist.epoch == [0]

    # eval needs nothing but the checkpoint (and here --limit, to match the run's test subset)
    assert main(["eval", "--checkpoint", str(ck), "--limit", "96", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "cnnkit eval: lenet5 from" in out and "(epoch 1) on digits test split" in out
    assert "precision  recall     f1  support" in out and "9 - nine" in out
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["num_samples"] == 96 and len(res["confusion_matrix"]) == 10
    assert res["accuracy"] == pytest.approx(hist.history["val_accuracy"][0])
    assert sum(map(sum, res["confusion_matrix"])) == 96

    # resume: a second epoch continues from last.ckpt
    assert main(args[:5] + ["--epochs", "2"] + args[7:] + ["--resume", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert load_checkpoint(ck)["epoch"] == 2 and History.load(ck / "history.json").epoch == [0, 1]


def test_train_cifar10_format_dir(tmp_path, monkeypatch, capsys):
    pytest.importorskip("PIL")
    from cnnkit.vision.datasets import CIFAR10

    sums, (train_x, _), _, names = make_cifar(str(tmp_path), per_batch=4, n_test=3)
    patch_cifar(monkeypatch, CIFAR10, sums)
    ck = tmp_path / "ck"
    assert main(["train", "--model", "lenet5", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--batch-size", "8", "--augment", "--checkpoint", str(ck), "--optimizer", "adam",
                 "--schedule", "step"]) == 0
    out = capsys.readouterr().out
    assert "on cifar10 (20 train / 3 test images, 10 classes, 3x32x32), adam lr 0.001" in out
    meta = load_checkpoint(ck)["meta"]
    assert meta["in_channels"] == 3 and meta["data_dir"] == str(tmp_path) and meta["augment"] is True
    assert main(["eval", "--checkpoint", str(ck / "last.ckpt")]) == 0
    out = capsys.readouterr().out
    assert "samples: 3    classes: 10" in out and names[0] in out


@pytest.mark.slow
def test_train_resnet18_cifar_step(tmp_path, monkeypatch, capsys):
    """One ResNet-18 (CIFAR stem) step on CIFAR-format files (a few seconds: 11 M parameters to build)."""
    pytest.importorskip("PIL")
    from cnnkit.vision.datasets import CIFAR10

    sums, *_ = make_cifar(str(tmp_path), per_batch=1, n_test=2)
    patch_cifar(monkeypatch, CIFAR10, sums)
    assert main(["train", "--model", "resnet18_cifar", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--epochs", "1", "--batch-size", "4", "--limit", "4"]) == 0
    assert "resnet18_cifar (11,173,962 parameters) on cifar10 (4 train / 2 test images, 10 classes, 3x32x32)" in \
        capsys.readouterr().out


def test_train_mnist_and_fake(tmp_path, capsys):
    pytest.importorskip("PIL")
    make_mnist_raw(str(tmp_path), n_train=12, n_test=4)
    assert main(["train", "--model", "lenet5", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--batch-size", "6", "--augment"]) == 0
    assert "on mnist (12 train / 4 test images, 10 classes, 1x32x32)" in capsys.readouterr().out
    assert main(["train", "--model", "lenet5", "--dataset", "fake", "--fake-size", "8", "--num-classes", "3",
                 "--epochs", "1", "--batch-size", "4"]) == 0
    assert "on fake (8 train / 2 test images, 3 classes, 3x32x32)" in capsys.readouterr().out


def test_summary(capsys):
    assert main(["summary", "--model", "lenet5", "--input", "1,1,32,32"]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "61,706" in out and "Total mult-adds: 416.52 K" in out
    assert main(["summary", "--model", "lenet5", "--input", "2x1x32x32", "--num-classes", "7"]) == 0
    out = capsys.readouterr().out
    assert "[2, 7]" in out and "Total params: 61,451" in out  # 84*7+7 output parameters, not 84*10+10


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "nonet"], "cnnkit train: error: unknown --model 'nonet'; choose from: "),
    (["train", "--epochs", "-1"], "argument --epochs: expected a non-negative int, got '-1'"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected a positive int, got '0'"),
    (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["train", "--resume"], "cnnkit train: error: --resume needs --checkpoint DIR"),
    (["train", "--model", "vgg11", "--image-size", "16"], "vgg11 needs inputs of at least 32x32"),
    (["train", "--image-size", "28"], "--image-size 28: lenet5 takes 32x32 inputs"),
    (["summary", "--model", "lenet5", "--input", "1,a"], "argument --input: expected comma-separated ints"),
    (["summary", "--model", "lenet5", "--input", "1,3,32,32"], "--input 1,3,32,32 does not fit lenet5"),
    (["summary"], "the following arguments are required: --model"),
    (["eval"], "the following arguments are required: --checkpoint"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err


def test_missing_dataset_and_bad_checkpoint(tmp_path, capsys):
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnkit train: error: --dataset cifar10 --data-dir {tmp_path}: Dataset not found")
    assert main(["eval", "--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert "no checkpoint file or directory" in capsys.readouterr().err
    cnnkit.save({"w": cnnkit.zeros(1)}, tmp_path / "w.ckpt")
    assert main(["eval", "--checkpoint", str(tmp_path / "w.ckpt")]) == 2
    assert "not a cnnkit.train checkpoint" in capsys.readouterr().err
    if not cnnkit.cuda.is_available():
        assert main(["train", "--device", "cuda", "--epochs", "1"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_python_m_cnnkit_exit_status():
    """The real process: python -m cnnkit exits with main's status (2 for a bad argument)."""
    import subprocess
    import sys

    import cnnkit.__main__ as entry

    assert entry.main is main
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(cnnkit.__file__)),
                                                                  os.environ.get("PYTHONPATH")] if p))
    bad = subprocess.run([sys.executable, "-m", "cnnkit", "train", "--model", "nonet"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "unknown --model 'nonet'" in bad.stderr


def test_train_eval_imagefolder(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("cat", "dog"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(d / f"{i}.png")
    ck = tmp_path / "ck"
    assert main(["train", "--model", "lenet5", "--dataset", "imagefolder", "--data-dir", str(tmp_path),
                 "--epochs", "1", "--batch-size", "3", "--augment", "--checkpoint", str(ck)]) == 0
    assert "on imagefolder (6 train / 4 test images, 2 classes, 3x32x32)" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(ck)]) == 0
    out = capsys.readouterr().out
    assert "samples: 4    classes: 2" in out and "\ncat " in out and "\ndog " in out
