"""cnnkit.train callbacks: hook order, EarlyStopping, LambdaCallback, CSVLogger."""
import csv

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.train import Callback, CSVLogger, EarlyStopping, LambdaCallback, fit
from cnnkit.train.callbacks import _resolve_mode
from cnnkit.utils.data import DataLoader, TensorDataset


def setup(n=30):
    rng = np.random.default_rng(0)
    ds = TensorDataset(cnnkit.from_numpy(rng.standard_normal((n, 5)).astype(np.float32)),
                       cnnkit.from_numpy(rng.integers(0, 2, n).astype(np.int64)))
    model = nn.Linear(5, 2)
    return model, DataLoader(ds, batch_size=10), cnnkit.optim.SGD(model.parameters(), lr=0.1)


def scripted(values):
    """A metric named 'score' whose epoch value follows ``values`` (set at each epoch's start)."""
    it = iter(values)

    def score(outputs, targets):
        return score.value

    score.value = None

    def begin(epoch, logs):
        score.value = next(it)

    return score, LambdaCallback(on_epoch_begin=begin)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))
        assert self.state.model is self.model

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch, logs["lr"]))

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, logs["batch_size"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", sorted(logs)))


def test_hook_order():
    model, loader, opt = setup(25)
    rec = Recorder()
    fit(model, loader, nn.CrossEntropyLoss(), opt, 2, callbacks=[rec], verbose=0)
    keys = ["accuracy", "loss", "lr", "time"]
    epoch = lambda e: ([("epoch_begin", e, 0.1)] + [c for b, n in enumerate([10, 10, 5])
                                                    for c in (("batch_begin", b), ("batch_end", b, n))]
                       + [("epoch_end", e, keys)])
    assert rec.calls == [("train_begin",)] + epoch(0) + epoch(1) + [("train_end", keys)]


def test_early_stopping_patience_and_min_delta():
    model, loader, opt = setup()
    score, cb = scripted([5.0, 4.0, 3.95, 3.99, 3.0, 1.0])
    es = EarlyStopping(monitor="score", patience=2, min_delta=0.1)
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, 6, metrics=[score], callbacks=[cb, es], verbose=0)
    # improvements (by > 0.1): epochs 0, 1; then 3.95 and 3.99 are not -> stop after epoch 3
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best == 4.0 and es.best_epoch == 1


def test_early_stopping_mode_auto_max_and_restore(capsys):
    model, loader, opt = setup()
    score, cb = scripted([0.1, 0.2, 0.9, 0.3, 0.2, 0.1, 0.0])
    weights = {}
    snap = LambdaCallback(on_epoch_end=lambda e, logs: weights.__setitem__(e, model.weight.detach().clone()))
    es = EarlyStopping(monitor="score_acc", patience=2, restore_best_weights=True, verbose=1)
    assert es.mode == "max"
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, 7, metrics={"score_acc": score}, callbacks=[cb, snap, es],
            verbose=0)
    assert h.epoch == [0, 1, 2, 3, 4] and es.best_epoch == 2
    np.testing.assert_array_equal(model.weight.detach().numpy(), weights[2].numpy())
    out = capsys.readouterr().out
    assert "Epoch 5: early stopping" in out and "Restoring model weights from the end of the best epoch: 3." in out


def test_early_stopping_baseline_missing_monitor_and_errors():
    model, loader, opt = setup()
    score, cb = scripted([2.0, 2.0, 2.0])
    es = EarlyStopping(monitor="score", baseline=1.0, patience=1)
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, 3, metrics=[score], callbacks=[cb, es], verbose=0)
    assert h.epoch == [0, 1]  # never beats the baseline
    with pytest.warns(RuntimeWarning, match="monitored metric 'val_loss' is not available"):
        fit(model, loader, nn.CrossEntropyLoss(), opt, 1, callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match="EarlyStopping: mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience must be"):
        EarlyStopping(patience=-1)
    assert _resolve_mode("val_loss", "auto", "x") == "min" and _resolve_mode("val_top5", "auto", "x") == "max"


def test_lambda_callback_and_errors():
    model, loader, opt = setup()
    ends = []
    fit(model, loader, nn.CrossEntropyLoss(), opt, 2, verbose=0,
        callbacks=[LambdaCallback(on_train_end=lambda logs: ends.append(logs["loss"]))])
    assert len(ends) == 1
    with pytest.raises(TypeError, match="LambdaCallback: on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)
    stopper = LambdaCallback(on_epoch_end=lambda e, logs: setattr(stopper.state, "stop_training", True))
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, 5, callbacks=[stopper], verbose=0)
    assert h.epoch == [0]


def test_csv_logger(tmp_path):
    model, loader, opt = setup()
    path = tmp_path / "log.csv"
    h = fit(model, loader, nn.CrossEntropyLoss(), opt, 2, callbacks=[CSVLogger(path)], verbose=0)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "accuracy", "lr", "time"]
    assert [r[0] for r in rows[1:]] == ["0", "1"] and float(rows[2][1]) == pytest.approx(h.history["loss"][1])
    fit(model, loader, nn.CrossEntropyLoss(), opt, 1, callbacks=[CSVLogger(path, append=True)], verbose=0)
    assert len(list(csv.reader(open(path)))) == 4
    fit(model, loader, nn.CrossEntropyLoss(), opt, 1, callbacks=[CSVLogger(path, separator=";")], verbose=0)
    lines = open(path).read().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch;loss")
