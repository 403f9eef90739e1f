"""fit's checkpoints: 4 epochs straight == 2 epochs + resume 2, batch for batch (shuffle, Dropout,
random augmentations from cnnkit, Python random and NumPy); checkpoint contents; ModelCheckpoint."""
import os
import random

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.train import EarlyStopping, LambdaCallback, ModelCheckpoint, fit, load_checkpoint
from cnnkit.utils.data import DataLoader, Dataset


class NoisyDataset(Dataset):
    """Random augmentations from all three global streams: NumPy noise, a Python-random flip, cnnkit noise."""

    def __init__(self, n=60, d=12, classes=3):
        rng = np.random.default_rng(7)
        self.x = rng.standard_normal((n, d)).astype(np.float32)
        self.y = rng.integers(0, classes, n)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i] + np.float32(0.1) * np.random.standard_normal(self.x.shape[1]).astype(np.float32)
        if random.random() < 0.5:
            x = x[::-1].copy()
        t = cnnkit.from_numpy(x) + 0.05 * cnnkit.randn(x.shape[0])
        return t, int(self.y[i])


def make_run(seed_model, generator_seed=None):
    cnnkit.manual_seed(seed_model)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = cnnkit.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    gen = None if generator_seed is None else cnnkit.Generator().manual_seed(generator_seed)
    loader = DataLoader(NoisyDataset(), batch_size=8, shuffle=True, generator=gen)
    val = DataLoader(NoisyDataset(20), batch_size=10)
    return model, opt, sched, loader, val


def run(epochs, losses, seed_model=0, generator_seed=None, **kw):
    model, opt, sched, loader, val = make_run(seed_model, generator_seed)
    cb = LambdaCallback(on_batch_end=lambda b, logs: losses.append(logs["loss"]))
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, epochs, val_loader=val, scheduler=sched, callbacks=[cb],
            verbose=0, **kw)
    return model, h


def _scramble():
    cnnkit.manual_seed(999)
    random.seed(999)
    np.random.seed(999)


@pytest.mark.parametrize("generator_seed", [None, 5])
def test_resume_gives_identical_batch_losses(tmp_path, generator_seed):
    random.seed(1)
    np.random.seed(1)
    straight = []
    model_a, hist_a = run(4, straight, generator_seed=generator_seed, checkpoint_dir=tmp_path / "a")

    random.seed(1)
    np.random.seed(1)
    first = []
    run(2, first, generator_seed=generator_seed, checkpoint_dir=tmp_path / "b")
    _scramble()  # the resumed run must not depend on the streams' state at the call
    second = []
    model_b, hist_b = run(4, second, seed_model=123, generator_seed=generator_seed, resume=tmp_path / "b",
                          checkpoint_dir=tmp_path / "b")

    assert len(straight) == 4 * 8 and len(first) == len(second) == 2 * 8
    assert straight == first + second  # exact: same numbers in the same order
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert hist_b.epoch == [0, 1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert hist_a.history[key] == hist_b.history[key], key


def test_resume_from_file_and_resume_true(tmp_path):
    losses = []
    run(2, losses, checkpoint_dir=tmp_path)
    ckpt_file = tmp_path / "last.ckpt"
    assert ckpt_file.is_file()
    more = []
    _, h = run(3, more, resume=str(ckpt_file))
    assert len(more) == 8 and h.epoch == [0, 1, 2]
    # resume=True with an empty checkpoint_dir starts afresh
    fresh = []
    _, h2 = run(1, fresh, resume=True, checkpoint_dir=tmp_path / "empty")
    assert h2.epoch == [0] and len(fresh) == 8
    # nothing left to do: returns the restored history without training
    none = []
    _, h3 = run(2, none, resume=ckpt_file)
    assert none == [] and h3.epoch == [0, 1]


def test_checkpoint_contents_are_safe_and_complete(tmp_path):
    losses = []
    model, h = run(2, losses, checkpoint_dir=tmp_path, meta={"model": "mlp", "num_classes": 3})
    raw = cnnkit.load(tmp_path / "last.ckpt")  # safe format: loads without weights_only=False
    assert raw["format"] == "cnnkit.train.checkpoint" and raw["epoch"] == 2
    assert set(raw) >= {"model", "optimizer", "scheduler", "history", "rng", "callbacks", "meta"}
    assert set(raw["rng"]) == {"cnnkit", "loader", "python", "numpy"}
    assert raw["meta"] == {"model": "mlp", "num_classes": 3}
    assert raw["scheduler"]["last_epoch"] == 2
    assert raw["history"]["history"]["loss"] == h.history["loss"]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(raw["model"][k].numpy(), v.numpy())
    assert raw["optimizer"]["state"][0]["momentum_buffer"].shape == (16, 12)
    ck = load_checkpoint(tmp_path)
    assert ck["path"] == os.path.join(str(tmp_path), "last.ckpt")


def test_resume_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(1, [], resume=tmp_path / "missing.ckpt")
    (tmp_path / "d").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.ckpt"):
        run(1, [], resume=tmp_path / "d")
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        run(1, [], resume=True)
    cnnkit.save({"w": cnnkit.zeros(2)}, tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="not a cnnkit.train checkpoint"):
        run(1, [], resume=tmp_path / "plain.ckpt")


def test_model_checkpoint_best_only_and_pattern(tmp_path):
    model, opt, sched, loader, val = make_run(0)
    values = iter([0.9, 0.5, 0.7, 0.4, 0.6])  # the monitored metric per epoch
    ckpt = ModelCheckpoint(tmp_path, monitor="score", mode="min", save_best_only=True,
                           filename="e{epoch:02d}-{score:.2f}.ckpt", save_last=True)

    def metric(outputs, targets):
        return metric.value

    metric.value = 0.0

    def epoch_begin(epoch, logs):
        metric.value = next(values)

    cb = LambdaCallback(on_epoch_begin=epoch_begin)
    fit(model, loader, nn.CrossEntropyLoss(), opt, 5, callbacks=[cb, ckpt], metrics={"score": metric}, verbose=0)
    names = sorted(os.listdir(tmp_path))
    assert names == ["e01-0.90.ckpt", "e02-0.50.ckpt", "e04-0.40.ckpt", "last.ckpt"]
    assert ckpt.best_model_path == os.path.join(str(tmp_path), "e04-0.40.ckpt") and ckpt.best == pytest.approx(0.4)
    assert load_checkpoint(tmp_path / "e02-0.50.ckpt")["epoch"] == 2
    assert load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 5


def test_model_checkpoint_every_n_and_weights_only(tmp_path):
    model, opt, sched, loader, val = make_run(0)
    ckpt = ModelCheckpoint(tmp_path, every_n_epochs=2, save_weights_only=True)
    fit(model, loader, nn.CrossEntropyLoss(), opt, 5, callbacks=[ckpt], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["epoch002.ckpt", "epoch004.ckpt"]
    sd = cnnkit.load(tmp_path / "epoch004.ckpt")
    assert set(sd) == set(model.state_dict())
    with pytest.raises(ValueError, match="every_n_epochs"):
        ModelCheckpoint(tmp_path, every_n_epochs=0)
    with pytest.raises(ValueError, match="cannot be formatted"):
        ModelCheckpoint(tmp_path, filename="{nope}.ckpt").format_path(0, {"loss": 1.0})


def test_early_stopping_state_survives_resume(tmp_path):
    model, opt, sched, loader, val = make_run(0)
    es = EarlyStopping(monitor="val_loss", patience=50)
    fit(model, loader, nn.CrossEntropyLoss(), opt, 2, val_loader=val, callbacks=[es], checkpoint_dir=tmp_path,
        verbose=0)
    model2, opt2, _, loader2, val2 = make_run(1)
    es2 = EarlyStopping(monitor="val_loss", patience=50)
    fit(model2, loader2, nn.CrossEntropyLoss(), opt2, 2, val_loader=val2, callbacks=[es2], resume=tmp_path,
        verbose=0)
    assert es2.best == es.best and es2.best_epoch == es.best_epoch and es2.wait == es.wait


def test_checkpoint_written_after_every_callback(tmp_path):
    """ModelCheckpoint listed before EarlyStopping still saves EarlyStopping's state of that epoch."""
    model, opt, sched, loader, val = make_run(0)
    es = EarlyStopping(monitor="val_loss", patience=50)
    ckpt = ModelCheckpoint(tmp_path, filename="e{epoch}.ckpt")
    fit(model, loader, nn.CrossEntropyLoss(), opt, 2, val_loader=val, callbacks=[ckpt, es], verbose=0)
    saved = load_checkpoint(tmp_path / "e2.ckpt")["callbacks"]
    assert [c["class"] for c in saved] == ["ModelCheckpoint", "EarlyStopping"]
    assert saved[1]["state"]["best"] == es.best and saved[1]["state"]["best_epoch"] == es.best_epoch
    assert saved[1]["state"]["wait"] == es.wait
