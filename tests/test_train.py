"""cnnkit.train.fit and History: the loop equals a hand-written one, History keys/IO, metrics vs NumPy
(and torch), scheduler stepping, progress output, device moves and bad arguments."""
import io
import json

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.train import History, accuracy, fit, top_k_accuracy
from cnnkit.train import progress as progress_mod
from cnnkit.train.fit import to_device
from cnnkit.train.metrics import resolve_metrics
from cnnkit.utils.data import DataLoader, TensorDataset


def data(n=48, d=10, c=4, seed=3):
    rng = np.random.default_rng(seed)
    x = cnnkit.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    y = cnnkit.from_numpy(rng.integers(0, c, n).astype(np.int64))
    return TensorDataset(x, y)


def net(seed=0, d=10, c=4):
    cnnkit.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, c))


def test_fit_equals_plain_loop():
    """fit's per-batch losses and final weights are exactly those of the loop a course writes."""
    ds = data()
    model = net()
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    cnnkit.manual_seed(11)
    seen = []
    from cnnkit.train import LambdaCallback

    fit(model, DataLoader(ds, batch_size=10, shuffle=True), nn.CrossEntropyLoss(), opt, 3,
        callbacks=[LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))], verbose=0)

    ref = net()
    opt2 = cnnkit.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    cnnkit.manual_seed(11)
    expected = []
    loader = DataLoader(ds, batch_size=10, shuffle=True)
    for _ in range(3):
        ref.train()
        for x, y in loader:
            opt2.zero_grad()
            loss = loss_fn(ref(x), y)
            loss.backward()
            opt2.step()
            expected.append(loss.item())
    assert seen == expected
    for a, b in zip(model.parameters(), ref.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_history_keys_and_epoch_means():
    ds, val = data(), data(20, seed=9)
    model = net()
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1)
    batch_logs = []
    from cnnkit.train import LambdaCallback

    h = fit(model, DataLoader(ds, batch_size=16), nn.CrossEntropyLoss(), opt, 2, val_loader=DataLoader(val, 7),
            metrics=("accuracy", "top2"), verbose=0,
            callbacks=[LambdaCallback(on_batch_end=lambda b, logs: batch_logs.append(dict(logs)))])
    assert list(h.history) == ["loss", "accuracy", "top2", "val_loss", "val_accuracy", "val_top2", "lr", "time"]
    assert h.epoch == [0, 1] and all(len(v) == 2 for v in h.history.values())
    first = batch_logs[:3]  # 3 batches of 16: the epoch mean is the plain mean
    assert h.history["loss"][0] == pytest.approx(np.mean([b["loss"] for b in first]), rel=1e-12)
    assert h.history["accuracy"][0] == pytest.approx(np.mean([b["accuracy"] for b in first]), rel=1e-12)
    assert h.history["lr"] == [0.1, 0.1] and all(t > 0 for t in h.history["time"])
    # val figures are those of the final model in eval mode (batch-size weighted over 7,7,6)
    model.eval()
    with cnnkit.no_grad():
        out = model(val.tensors[0])
    assert h.history["val_accuracy"][-1] == pytest.approx(accuracy(out, val.tensors[1]))
    assert h.history["val_loss"][-1] == pytest.approx(nn.functional.cross_entropy(out, val.tensors[1]).item(),
                                                      rel=1e-5)
    assert h.params == {"epochs": 2, "steps": 3}


def test_history_io_repr(tmp_path):
    h = History()
    assert repr(h) == "History(epochs=0)"
    h.append(0, {"loss": 1.5, "accuracy": 0.25, "lr": 0.1, "time": 1.0})
    h.append(1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "lr": 0.1, "time": 1.0, "mine": cnnkit.tensor(3.0)})
    assert h.history["val_loss"] == [None, 1.2] and h.history["mine"] == [None, 3.0]
    assert list(h.history)[:4] == ["loss", "accuracy", "mine", "val_loss"]
    assert h.best("loss") == (1, 1.0) and h.best("accuracy", "max") == (1, 0.5) and h.last("loss") == 1.0
    path = h.save(tmp_path / "h.json")
    assert json.load(open(path))["history"]["loss"] == [1.5, 1.0]
    assert History.load(path) == h
    assert "History(epochs=2" in repr(h) and "loss=1" in repr(h)
    h.append(2, {"loss": float("nan")})
    assert h.history["loss"][-1] is None  # JSON has no NaN
    with pytest.raises(ValueError, match="one entry per epoch"):
        History({"loss": [1.0]}, epoch=[0, 1])
    with pytest.raises(ValueError, match="History.from_dict"):
        History.from_dict([1, 2])
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not a History JSON"):
        History.load(tmp_path / "bad.json")
    with pytest.raises(KeyError, match="no key"):
        h.best("zzz")


def _np_topk(scores, targets, k):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([t in row for t, row in zip(targets, order)]))


def test_metrics_against_numpy_and_torch():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((37, 7)).astype(np.float32)
    targets = rng.integers(0, 7, 37)
    out, tgt = cnnkit.from_numpy(scores), cnnkit.from_numpy(targets)
    assert accuracy(out, tgt) == pytest.approx(float(np.mean(scores.argmax(1) == targets)))
    for k in (1, 3, 5, 7, 9):
        assert top_k_accuracy(out, tgt, k) == pytest.approx(_np_topk(scores, targets, min(k, 7)))
    assert top_k_accuracy(out, tgt, 9) == 1.0
    probs = np.eye(7, dtype=np.float32)[targets]  # probability targets -> their argmax
    assert accuracy(out, cnnkit.from_numpy(probs)) == accuracy(out, tgt)
    # (N, C, d) outputs with (N, d) targets
    seg = rng.standard_normal((4, 3, 5)).astype(np.float32)
    segt = rng.integers(0, 3, (4, 5))
    assert accuracy(cnnkit.from_numpy(seg), cnnkit.from_numpy(segt)) == pytest.approx(
        float(np.mean(seg.argmax(1) == segt)))
    torch = pytest.importorskip("torch")
    ts, tt = torch.from_numpy(scores), torch.from_numpy(targets)
    ref = (ts.topk(3, 1).indices == tt[:, None]).any(1).float().mean().item()
    assert top_k_accuracy(out, tgt, 3) == pytest.approx(ref)


def test_metric_errors_and_names():
    out = cnnkit.randn(4, 3)
    with pytest.raises(ValueError, match="accuracy: targets must be class indices of shape"):
        accuracy(out, cnnkit.zeros(5, dtype=cnnkit.int64))
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        accuracy(cnnkit.randn(4), cnnkit.zeros(4, dtype=cnnkit.int64))
    with pytest.raises(TypeError, match="must be Tensors"):
        accuracy(np.zeros((4, 3)), out)
    with pytest.raises(ValueError, match="k must be a positive int"):
        top_k_accuracy(out, cnnkit.zeros(4, dtype=cnnkit.int64), 0)
    names = [n for n, _ in resolve_metrics(["acc", "top5", "top3_accuracy", "top_k_accuracy"][:3])]
    assert names == ["accuracy", "top5", "top3"]

    def f1ish(o, t):
        return 0.5

    assert [n for n, _ in resolve_metrics([f1ish, "top_k_accuracy"])] == ["f1ish", "top5"]
    assert [n for n, _ in resolve_metrics({"half": lambda o, t: 0.5})] == ["half"]
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        resolve_metrics(["f2"])
    with pytest.raises(ValueError, match="lambda metric needs a name"):
        resolve_metrics([lambda o, t: 1.0])
    with pytest.raises(ValueError, match="given twice"):
        resolve_metrics(["accuracy", "acc"])
    with pytest.raises(ValueError, match="clashes"):
        resolve_metrics({"val_x": f1ish})
    with pytest.raises(TypeError, match="name or a callable"):
        resolve_metrics([3])


def test_custom_metric_in_history():
    def frac_class0(outputs, targets):
        return (targets == 0).float().mean().item()

    ds = data()
    model = net()
    h = fit(model, DataLoader(ds, batch_size=48), nn.CrossEntropyLoss(), cnnkit.optim.SGD(model.parameters(), lr=0.1),
            1, metrics=[frac_class0], verbose=0)
    assert h.history["frac_class0"][0] == pytest.approx(float((ds.tensors[1].numpy() == 0).mean()))


def test_scheduler_epoch_batch_and_plateau():
    ds = data()
    model = net()
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1)
    sched = cnnkit.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    h = fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 3, scheduler=sched, verbose=0)
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    # OneCycleLR steps per batch: 3 epochs x 3 batches
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1)
    one = cnnkit.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=9)
    fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 3, scheduler=one, verbose=0)
    assert one.last_epoch == 9
    # forced per-batch StepLR
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1)
    step = cnnkit.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 1, scheduler=step, scheduler_step="batch", verbose=0)
    assert step.last_epoch == 3
    # ReduceLROnPlateau sees val_loss: the model never changes (the optimizer holds an unrelated parameter)
    dummy = nn.Parameter(cnnkit.zeros(1))
    opt = cnnkit.optim.SGD([dummy], lr=0.1)
    plateau = cnnkit.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    h = fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 4, val_loader=DataLoader(ds, 48),
            scheduler=plateau, verbose=0)
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    with pytest.raises(ValueError, match="scheduler_step='batch' does not apply"):
        fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 1, scheduler=plateau, scheduler_step="batch")
    with pytest.raises(ValueError, match="scheduler_step must be"):
        fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 1, scheduler=sched, scheduler_step="step")
    with pytest.raises(TypeError, match="scheduler must be an lr_scheduler"):
        fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 1, scheduler=object())


def _fit_quiet(verbose, **kw):
    ds = data()
    model = net()
    return fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), cnnkit.optim.SGD(model.parameters(), lr=0.1), 2,
               val_loader=DataLoader(ds, 48), verbose=verbose, **kw)


def test_plain_progress_lines(capsys):
    _fit_quiet(True)  # captured stdout is not a TTY: one line per epoch
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - 3/3 - ") and "img/s" in lines[0]
    for key in ("loss: ", "accuracy: ", "val_loss: ", "val_accuracy: ", "lr: 0.1000"):
        assert key in lines[0]
    _fit_quiet(2, log_every=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("Epoch 1/2 - 1/3 - loss: ") and "ETA" in lines[0]
    _fit_quiet(0)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose must be"):
        _fit_quiet(3)
    with pytest.raises(ValueError, match="log_every"):
        _fit_quiet(2, log_every=0)


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_tqdm_bar_on_a_tty(monkeypatch):
    pytest.importorskip("tqdm")
    fake = _TTY()
    monkeypatch.setattr("sys.stdout", fake)
    monkeypatch.setattr(progress_mod, "_fixed_width", lambda stream: 200)  # a wide terminal
    _fit_quiet(1)
    text = fake.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "img/s" in text and "3/3" in text
    assert "val_loss" in text and "val_acc=" in text
    # without tqdm the same call prints plain lines
    monkeypatch.setattr(progress_mod, "_tqdm", lambda: None)
    fake2 = _TTY()
    monkeypatch.setattr("sys.stdout", fake2)
    _fit_quiet(1)
    assert fake2.getvalue().count("\n") == 2 and fake2.getvalue().startswith("Epoch 1/2 - 3/3")


def test_progress_mode_rules():
    assert progress_mod._fixed_width(io.StringIO()) == 80  # no terminal to ask: a fixed width
    assert progress_mod.progress_mode(0, _TTY()) is None
    assert progress_mod.progress_mode(2, _TTY()) == "lines"
    assert progress_mod.progress_mode(True, io.StringIO()) == "lines"


def test_device_and_mode_restored():
    ds = data()
    model = net()
    model.eval()
    fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), cnnkit.optim.SGD(model.parameters(), lr=0.1), 1,
        device="cpu", verbose=0)
    assert not model.training
    x = cnnkit.ones(2)
    moved = to_device({"a": (x, [x]), "b": 3}, "cpu")
    assert moved["b"] == 3 and moved["a"][0] is x and isinstance(moved["a"][1], list)


def test_bad_arguments():
    ds = data()
    model = net()
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(ds, 16)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match="fit: model must be a cnnkit.nn.Module"):
        fit(lambda x: x, loader, loss, opt, 1)
    with pytest.raises(TypeError, match="fit: train_loader must be iterable"):
        fit(model, 3, loss, opt, 1)
    with pytest.raises(TypeError, match="fit: loss_fn must be callable"):
        fit(model, loader, "ce", opt, 1)
    with pytest.raises(TypeError, match="fit: optimizer must be"):
        fit(model, loader, loss, None, 1)
    with pytest.raises(ValueError, match="fit: epochs must be a non-negative int, got -1"):
        fit(model, loader, loss, opt, -1)
    with pytest.raises(TypeError, match="fit: callbacks must be"):
        fit(model, loader, loss, opt, 1, callbacks=[print])
    with pytest.raises(TypeError, match="fit: meta must be a dict"):
        fit(model, loader, loss, opt, 1, meta=[1])
    with pytest.raises(ValueError, match=r"fit: each batch must be a pair \(inputs, targets\), got Tensor"):
        fit(model, DataLoader(ds.tensors[0], 16), loss, opt, 1, verbose=0)
    h = fit(model, loader, loss, opt, 0)
    assert h.epoch == []


def test_import_is_light():
    """import cnnkit.train pulls in no optional dependency (tqdm is imported only when a bar is shown)."""
    import os
    import subprocess
    import sys

    code = ("import sys, cnnkit.train, cnnkit.cli; bad = [m for m in ('tqdm', 'matplotlib', 'PIL', 'tensorboard', "
            "'scipy') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnkit.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.cuda
@pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_and_evaluate_on_cuda():
    """device='cuda' moves the model and every batch; the losses follow the CPU run within float32 rounding."""
    from cnnkit.train import evaluate

    ds = data()
    losses = {}
    for dev in ("cpu", "cuda"):
        model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 4))
        cnnkit.manual_seed(0)
        for p in model.parameters():
            nn.init.normal_(p, std=0.3)
        opt = cnnkit.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        h = fit(model, DataLoader(ds, 16), nn.CrossEntropyLoss(), opt, 2, val_loader=DataLoader(ds, 48),
                device=dev, verbose=0)
        assert next(model.parameters()).device.type == dev
        res = evaluate(model, DataLoader(ds, 16), nn.CrossEntropyLoss())
        losses[dev] = (h.history["loss"], res.loss)
    np.testing.assert_allclose(losses["cuda"][0], losses["cpu"][0], rtol=1e-4)
    assert losses["cuda"][1] == pytest.approx(losses["cpu"][1], rel=1e-4)
