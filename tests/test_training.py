"""End to end: training runs that must match PyTorch step for step, and the digits example."""
import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim


def lenet5(nn_mod):
    """LeNet-5 for 28x28 inputs, written once for both libraries."""
    return nn_mod.Sequential(
        nn_mod.Conv2d(1, 6, 5, padding=2), nn_mod.ReLU(), nn_mod.MaxPool2d(2),
        nn_mod.Conv2d(6, 16, 5), nn_mod.ReLU(), nn_mod.MaxPool2d(2),
        nn_mod.Flatten(),
        nn_mod.Linear(16 * 5 * 5, 120), nn_mod.ReLU(),
        nn_mod.Linear(120, 84), nn_mod.ReLU(),
        nn_mod.Linear(84, 10),
    )


def small_cnn(nn_mod):
    """A small CNN that exercises stride, padding, average pooling, leaky ReLU, tanh and sigmoid."""
    return nn_mod.Sequential(
        nn_mod.Conv2d(3, 8, 3, stride=1, padding=1), nn_mod.LeakyReLU(0.1), nn_mod.AvgPool2d(2),
        nn_mod.Conv2d(8, 12, 3, stride=2, padding=1, dilation=1), nn_mod.Tanh(),
        nn_mod.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn_mod.Flatten(), nn_mod.Linear(12 * 3 * 3, 16), nn_mod.Sigmoid(), nn_mod.Linear(16, 5),
    )


def _copy_weights(ours, theirs):
    import torch

    with torch.no_grad():
        for (name, p), (tname, tp) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert name == tname
            tp.copy_(torch.from_numpy(p.numpy().copy()))


@pytest.mark.parametrize("arch,shape,classes,opt", [
    (lenet5, (16, 1, 28, 28), 10, dict(lr=0.05, momentum=0.9)),
    (small_cnn, (8, 3, 14, 14), 5, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
])
def test_training_matches_torch(arch, shape, classes, opt):
    torch = pytest.importorskip("torch")
    ck.manual_seed(0)
    ours = arch(nn)
    theirs = arch(torch.nn)
    _copy_weights(ours, theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, classes, shape[0])
    o_opt = optim.SGD(ours.parameters(), **opt)
    t_opt = torch.optim.SGD(theirs.parameters(), **opt)
    ours_losses, theirs_losses = [], []
    for _ in range(6):
        o_opt.zero_grad()
        loss = F.cross_entropy(ours(ck.tensor(x)), ck.tensor(y))
        loss.backward()
        o_opt.step()
        ours_losses.append(loss.item())
        t_opt.zero_grad()
        tl = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        tl.backward()
        t_opt.step()
        theirs_losses.append(tl.item())
    np.testing.assert_allclose(ours_losses, theirs_losses, rtol=2e-4)
    assert ours_losses[-1] < ours_losses[0]


def test_state_dict_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = lenet5(nn), lenet5(torch.nn)
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    assert repr(ours) == repr(theirs)


@pytest.mark.slow
def test_digits_end_to_end_accuracy():
    from cnnkit.utils.data import DataLoader
    from cnnkit.vision import datasets

    ck.manual_seed(0)
    train = datasets.Digits(train=True)
    test = datasets.Digits(train=False)
    loader = DataLoader(train, batch_size=32, shuffle=True, generator=ck.Generator().manual_seed(0))
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(8):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    model.eval()
    with ck.no_grad():
        xs = ck.stack([test[i][0] for i in range(len(test))])
        ys = ck.tensor([test[i][1] for i in range(len(test))])
        acc = (model(xs).argmax(1) == ys).float().mean().item()
    assert acc >= 0.95, acc
