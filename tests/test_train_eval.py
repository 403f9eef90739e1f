"""cnnkit.train.evaluate / predict on known synthetic predictions, against plain-loop references."""
import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.train import EvalResult, confusion_matrix, evaluate, precision_recall_f1, predict
from cnnkit.utils.data import DataLoader, TensorDataset


def scores_loader(scores, targets, batch_size=7):
    """nn.Identity() over this loader 'predicts' exactly ``scores``."""
    ds = TensorDataset(cnnkit.from_numpy(scores), cnnkit.from_numpy(targets))
    return DataLoader(ds, batch_size=batch_size)


def loop_reference(scores, targets, c):
    cm = np.zeros((c, c), dtype=np.int64)
    for t, p in zip(targets, scores.argmax(1)):
        cm[t, p] += 1
    prec, rec, f1 = [], [], []
    for k in range(c):
        tp = cm[k, k]
        col, row = cm[:, k].sum(), cm[k, :].sum()
        p = tp / col if col else 0.0
        r = tp / row if row else 0.0
        prec.append(p)
        rec.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return cm, np.array(prec), np.array(rec), np.array(f1)


def test_evaluate_against_loops():
    rng = np.random.default_rng(5)
    c, n = 5, 53
    scores = rng.standard_normal((n, c)).astype(np.float32)
    targets = rng.integers(0, c, n).astype(np.int64)
    targets[:3] = 4  # make sure every class appears... except that class 3 is never the target:
    targets[targets == 3] = 2
    res = evaluate(nn.Identity(), scores_loader(scores, targets), nn.CrossEntropyLoss(), topk=(1, 2, 5, 9))
    cm, p, r, f = loop_reference(scores, targets, c)
    assert res.confusion_matrix.dtype == np.int64 and res.confusion_matrix.shape == (c, c)
    np.testing.assert_array_equal(res.confusion_matrix, cm)
    np.testing.assert_allclose(res.precision, p)
    np.testing.assert_allclose(res.recall, r)
    np.testing.assert_allclose(res.f1, f)
    np.testing.assert_array_equal(res.support, cm.sum(1))
    assert res.recall[3] == 0.0 and res.support[3] == 0  # absent class: recall 0 (zero_division=0)
    np.testing.assert_array_equal(res.predictions, scores.argmax(1))
    np.testing.assert_array_equal(res.targets, targets)
    assert res.accuracy == pytest.approx(np.trace(cm) / n)
    order = np.argsort(-scores, 1)
    for k in (1, 2, 5):
        ref = np.mean([t in row[:k] for t, row in zip(targets, order)])
        assert res.topk_accuracy[k] == pytest.approx(ref) and res.topk_error[k] == pytest.approx(1 - ref)
    assert res.topk_accuracy[9] == 1.0
    logp = scores - np.log(np.exp(scores).sum(1, keepdims=True))
    assert res.loss == pytest.approx(-logp[np.arange(n), targets].mean(), rel=1e-5)
    assert res.num_samples == n and res.num_classes == c and res.macro_f1 == pytest.approx(f.mean())


def test_evaluate_known_predictions_and_summary():
    # 3 classes; predictions chosen by hand: cm = [[2,1,0],[0,1,0],[1,0,1]]
    targets = np.array([0, 0, 0, 1, 2, 2])
    preds = np.array([0, 0, 1, 1, 0, 2])
    scores = np.eye(3, dtype=np.float32)[preds]
    res = evaluate(nn.Identity(), scores_loader(scores, targets, 4), topk=(1,))
    np.testing.assert_array_equal(res.confusion_matrix, [[2, 1, 0], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_allclose(res.precision, [2 / 3, 1 / 2, 1.0])
    np.testing.assert_allclose(res.recall, [2 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(res.f1, [2 / 3, 2 / 3, 2 / 3])
    assert res.loss is None and res.accuracy == pytest.approx(4 / 6)
    text = res.summary()
    assert "accuracy: 66.67%" in text and "precision  recall     f1  support" in text
    assert text.splitlines()[-1].startswith("macro")
    assert repr(res).startswith("EvalResult(samples=6, classes=3, accuracy=0.6667, top1_error=0.3333")
    assert isinstance(res, EvalResult) and res.to_dict()["confusion_matrix"][0] == [2, 1, 0]
    named = evaluate(nn.Identity(), scores_loader(scores, targets), topk=(1,), classes=["a", "bb", "c"])
    assert "\nbb " in named.summary()
    big = evaluate(nn.Identity(), scores_loader(scores, targets), topk=(), num_classes=4)
    assert big.confusion_matrix.shape == (4, 4) and big.topk_accuracy == {}


def test_evaluate_probability_targets_segmentation_and_torch():
    rng = np.random.default_rng(1)
    seg = rng.standard_normal((6, 4, 3, 2)).astype(np.float32)
    segt = rng.integers(0, 4, (6, 3, 2)).astype(np.int64)
    res = evaluate(nn.Identity(), scores_loader(seg, segt, 4), nn.CrossEntropyLoss(), topk=(1, 2))
    flat = seg.transpose(0, 2, 3, 1).reshape(-1, 4)
    cm, *_ = loop_reference(flat, segt.reshape(-1), 4)
    np.testing.assert_array_equal(res.confusion_matrix, cm)
    probs = np.eye(4, dtype=np.float32)[segt.reshape(-1)[:10]]
    res2 = evaluate(nn.Identity(), scores_loader(flat[:10], probs, 3), topk=(1,))
    np.testing.assert_array_equal(res2.targets, segt.reshape(-1)[:10])
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(seg), torch.from_numpy(segt), reduction="none")
    # per-batch means weighted by batch size == mean over pixels (all batches have the same pixel count)
    assert res.loss == pytest.approx(ref.mean().item(), rel=1e-5)


def test_evaluate_restores_mode_and_uses_eval():
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.9))
    x = cnnkit.randn(20, 4)
    y = cnnkit.zeros(20, dtype=cnnkit.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    a = evaluate(model, loader, topk=(1,))
    b = evaluate(model, loader, topk=(1,))
    np.testing.assert_array_equal(a.predictions, b.predictions)  # no dropout: deterministic
    assert model.training
    p = predict(model, loader)
    with cnnkit.no_grad():
        model.eval()
        ref = model(x)
    np.testing.assert_allclose(p.numpy(), ref.numpy(), rtol=1e-6)
    probs = predict(model, DataLoader(x, batch_size=8), probabilities=True)  # batches of inputs alone
    np.testing.assert_allclose(probs.numpy().sum(1), 1.0, rtol=1e-5)


def test_sum_reduction_loss():
    rng = np.random.default_rng(2)
    s = rng.standard_normal((9, 3)).astype(np.float32)
    t = rng.integers(0, 3, 9).astype(np.int64)
    mean = evaluate(nn.Identity(), scores_loader(s, t, 4), nn.CrossEntropyLoss(), topk=(1,)).loss
    total = evaluate(nn.Identity(), scores_loader(s, t, 4), nn.CrossEntropyLoss(reduction="sum"), topk=(1,)).loss
    assert total == pytest.approx(mean, rel=1e-5)


def test_evaluate_bad_input():
    s = np.zeros((4, 3), np.float32)
    t = np.array([0, 1, 2, 5])
    with pytest.raises(ValueError, match=r"evaluate: targets must be class indices in \[0, 3\)"):
        evaluate(nn.Identity(), scores_loader(s, t))
    with pytest.raises(ValueError, match="evaluate: topk must hold positive ints"):
        evaluate(nn.Identity(), scores_loader(s, t[:4] % 3), topk=(0,))
    with pytest.raises(TypeError, match="evaluate: model must be"):
        evaluate(len, scores_loader(s, t))
    with pytest.raises(ValueError, match="no batches"):
        evaluate(nn.Identity(), [])
    with pytest.raises(ValueError, match=r"expected outputs of shape \(N, C\)"):
        evaluate(nn.Identity(), scores_loader(np.zeros(4, np.float32), t % 3))
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        evaluate(nn.Identity(), scores_loader(s, t % 3), num_classes=0)


def test_confusion_helpers():
    cm = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    p, r, f, s = precision_recall_f1(cm)
    np.testing.assert_allclose(p, [1, 1, 0.5])
    np.testing.assert_allclose(r, [1, 0.5, 1])
    np.testing.assert_array_equal(s, [1, 2, 1])
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\)"):
        confusion_matrix([0, 3], [0, 0], 3)
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        confusion_matrix([0, 1], [0], 3)
