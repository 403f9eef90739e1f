"""Lazy modules (shape inference at the first forward, optimizer built before, state_dict before/after),
cnnkit.save/load of whole modules (PyTorch's weights_only contract, atomic writes, clear errors) and
cnnkit.utils.summary."""
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.optim as optim


def _lazy_net():
    return nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                         nn.LazyLinear(3))


def test_lazy_infers_shapes_and_becomes_plain_class():
    m = _lazy_net()
    assert repr(m[0]) == "LazyConv2d(0, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(m[4]) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert repr(m[0].weight) == "<UninitializedParameter>"
    assert m[0].has_uninitialized_params()
    with pytest.raises(ValueError, match="uninitialized parameter"):
        sum(p.numel() for p in m.parameters())
    y = m(ck.randn(2, 5, 6, 6))
    assert y.shape == (2, 3)
    assert type(m[0]) is nn.Conv2d and type(m[1]) is nn.BatchNorm2d and type(m[4]) is nn.Linear
    assert m[0].weight.shape == (4, 5, 3, 3) and m[0].in_channels == 5
    assert m[4].weight.shape == (3, 4 * 36) and m[4].in_features == 144
    assert type(m[1].running_mean) is ck.Tensor and m[1].running_mean.shape == (4,)
    assert m[1].num_batches_tracked.item() == 1
    assert not hasattr(m[0], "_initialize_hook") and not m[0]._forward_pre_hooks


def test_lazy_init_distribution_is_the_layers_own():
    ck.manual_seed(0)
    lin = nn.LazyLinear(200)
    lin(ck.zeros(1, 50))
    bound = 1 / np.sqrt(50)
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    bn = nn.LazyBatchNorm1d()
    bn(ck.randn(4, 7))
    assert bn.weight.tolist() == [1.0] * 7 and bn.num_batches_tracked.item() == 1


def test_optimizer_built_before_first_forward_updates_materialized_params():
    m = _lazy_net()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = ck.randn(2, 3, 5, 5)
    m(x).sum().backward()
    before = [p.detach().clone() for p in m.parameters()]
    opt.step()
    changed = [not ck.equal(a, p.detach()) for a, p in zip(before, m.parameters())]
    assert all(changed)
    assert all(p is q for p, q in zip(opt.param_groups[0]["params"], m.parameters()))


def test_lazy_state_dict_before_and_after():
    m = _lazy_net()
    sd0 = m.state_dict()
    assert list(sd0) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                         "1.num_batches_tracked", "4.weight", "4.bias"]
    assert repr(sd0["0.weight"]) == "<UninitializedParameter>"
    x = ck.randn(2, 3, 5, 5)
    m(x)
    m2 = _lazy_net()
    m2.load_state_dict(m.state_dict())  # materializes the placeholders with the loaded shapes
    m.eval(), m2.eval()
    assert ck.equal(m(x), m2(x))
    assert m2[4].weight.shape == (3, 100)


def test_lazy_against_torch_param_shapes():
    torch = pytest.importorskip("torch")
    for ours, theirs, x in [
        (nn.LazyConv2d(6, (3, 2), stride=2, groups=2), torch.nn.LazyConv2d(6, (3, 2), stride=2, groups=2),
         np.zeros((1, 4, 9, 9), np.float32)),
        (nn.LazyLinear(5, bias=False), torch.nn.LazyLinear(5, bias=False), np.zeros((2, 3, 7), np.float32)),
        (nn.LazyBatchNorm2d(affine=False), torch.nn.LazyBatchNorm2d(affine=False), np.ones((2, 3, 2, 2), np.float32)),
    ]:
        assert repr(ours) == repr(theirs)
        ours(ck.tensor(x))
        theirs(torch.tensor(x))
        assert repr(ours) == repr(theirs)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_lazy_conv_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(ck.zeros(1, 3, 5, 5))
    with pytest.raises(RuntimeError, match="Expected 3D"):
        nn.LazyConv2d(4, 3)(ck.zeros(5, 5))


# ---------------------------------------------------------------------------------------- save / load
def _small_model():
    ck.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_whole_module_save_needs_weights_only_false(tmp_path):
    m = _small_model()
    path = tmp_path / "model.pt"
    ck.save(m, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        ck.load(path)
    with pytest.raises(RuntimeError, match="Weights only load failed"):
        ck.load(path, weights_only=True)
    m2 = ck.load(path, weights_only=False)
    assert type(m2) is nn.Sequential and repr(m2) == repr(m)
    x = ck.randn(2, 1, 6, 6)
    m.eval(), m2.eval()
    assert ck.equal(m(x), m2(x))


def test_state_dicts_load_safely_by_default(tmp_path):
    m = _small_model()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(ck.randn(2, 1, 6, 6)).sum().backward()
    opt.step()
    ck.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    ck_ = ck.load(tmp_path / "ckpt.pt")
    assert ck_["epoch"] == 3 and list(ck_["model"]) == list(m.state_dict())
    opt2 = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(ck_["optim"])
    buf = opt.state[m[0].weight]["momentum_buffer"]
    assert ck.equal(opt2.state[m[0].weight]["momentum_buffer"], buf)
    bio = io.BytesIO()
    ck.save(m.state_dict(), bio)
    bio.seek(0)
    assert list(ck.load(bio)) == list(m.state_dict())


def test_save_is_atomic_when_the_write_fails(tmp_path):
    path = tmp_path / "w.pt"
    ck.save({"w": ck.ones(3)}, path)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom while pickling")

    with pytest.raises(RuntimeError, match="boom"):
        ck.save({"w": ck.zeros(3), "x": Boom()}, path)
    assert ck.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
    assert [f for f in os.listdir(tmp_path) if f != "w.pt"] == []


def test_save_survives_a_size_limited_process(tmp_path):
    """A write killed part-way (RLIMIT_FSIZE in a subprocess) leaves the old checkpoint loadable."""
    path = tmp_path / "big.pt"
    ck.save({"w": ck.ones(4)}, path)
    code = (
        "import resource, signal, cnnkit as ck\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        f"ck.save({{'w': ck.zeros(1 << 16)}}, {str(path)!r})\n"
    )
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0
    assert ck.load(path)["w"].tolist() == [1.0] * 4
    assert sorted(os.listdir(tmp_path)) == ["big.pt"]


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "no_meta"])
def test_corrupt_files_give_a_clear_error(tmp_path, damage):
    good = tmp_path / "good.pt"
    ck.save(_small_model().state_dict(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "garbage":
        bad.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8)))
    else:
        with open(bad, "wb") as fh:
            np.savez(fh, a=np.zeros(3))
    with pytest.raises(ck.serialization.UnpicklingError, match="bad.pt"):
        ck.load(bad)


def test_load_map_location_cpu(tmp_path):
    ck.save({"w": ck.ones(2)}, tmp_path / "a.pt")
    assert ck.load(tmp_path / "a.pt", map_location="cpu")["w"].device.type == "cpu"


# ---------------------------------------------------------------------------------------- summary
def test_summary_counts_match_hand_computation():
    m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5, groups=2),
                      nn.BatchNorm2d(16), nn.Flatten(), nn.Linear(16 * 10 * 10, 10))
    out = io.StringIO()
    s = ck.utils.summary(m, (2, 1, 28, 28), file=out)
    by = {r.name: r for r in s.layers}
    assert by["0"].output_shape == [2, 6, 28, 28] and by["0"].num_params == 156
    assert by["0"].mult_adds == 2 * 6 * 28 * 28 * 25
    assert by["3"].mult_adds == 2 * 16 * 10 * 10 * 3 * 25 and by["3"].num_params == 16 * 3 * 25 + 16
    assert by["4"].mult_adds == 2 * 16 * 10 * 10
    assert by["6"].mult_adds == 2 * 10 * 1600
    assert s.total_params == sum(p.numel() for p in m.parameters())
    text = out.getvalue()
    assert "Total params: " + f"{s.total_params:,}" in text and "3 (Conv2d)" in text
    assert m.training  # mode restored


def test_summary_timing_reports_forward_and_backward_per_layer():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    m.eval()
    s = ck.utils.summary(m, (2, 3, 8, 8), timing=True, repeats=2, verbose=0)
    assert all(r.forward_ms is not None and r.forward_ms >= 0 for r in s.layers)
    assert all(r.backward_ms is not None and r.backward_ms >= 0 for r in s.layers)
    assert not m.training and all(p.grad is None for p in m.parameters())
    assert not any(mod._forward_hooks or mod._backward_hooks for mod in m.modules())


def test_lazy_transposed_and_1d_convs_against_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (nn.LazyConvTranspose2d(6, 3, stride=2, padding=1, output_padding=1, groups=3),
         torch.nn.LazyConvTranspose2d(6, 3, stride=2, padding=1, output_padding=1, groups=3), (2, 3, 5, 4)),
        (nn.LazyConvTranspose2d(4, 2, bias=False), torch.nn.LazyConvTranspose2d(4, 2, bias=False), (3, 4, 4)),
        (nn.LazyConv1d(5, 3, padding=1), torch.nn.LazyConv1d(5, 3, padding=1), (2, 7, 9)),
        (nn.LazyConvTranspose1d(5, 3, stride=2), torch.nn.LazyConvTranspose1d(5, 3, stride=2), (2, 4, 6)),
    ]
    for ours, theirs, shape in cases:
        assert repr(ours) == repr(theirs)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        y = theirs(torch.tensor(x))
        ours(ck.tensor(x))
        assert repr(ours) == repr(theirs) and type(ours).__name__ == type(theirs).__name__
        with ck.no_grad():
            for p, q in zip(ours.parameters(), theirs.parameters()):
                assert tuple(p.shape) == tuple(q.shape)
                p.copy_(ck.tensor(q.detach().numpy()))
        np.testing.assert_allclose(ours(ck.tensor(x)).detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-5)
