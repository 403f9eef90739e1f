"""nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector), module full backward hooks,
with_kwargs forward hooks, torch.backends / torch.accelerator: against PyTorch where installed and
against hand-computed values otherwise."""
import math

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn


def _grads(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) * 3 for s in shapes]


def _params_with(grads):
    ps = [nn.Parameter(ck.zeros(*g.shape)) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = ck.tensor(g)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_numpy(norm_type, max_norm):
    grads = _grads([(3, 4), (5,), (2, 2, 2)])
    ps = _params_with(grads)
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    ref = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    np.testing.assert_allclose(total.item(), ref, rtol=1e-5)
    coef = min(1.0, max_norm / (ref + 1e-6))
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_against_torch():
    torch = pytest.importorskip("torch")
    grads = _grads([(7, 3), (3,), (1,)], seed=3)
    for norm_type in (2.0, math.inf, 1.5):
        ps = _params_with(grads)
        tp = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        a = nn.utils.clip_grad_norm_(ps, 1.0, norm_type)
        b = torch.nn.utils.clip_grad_norm_(tp, 1.0, norm_type)
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)
        for p, q in zip(ps, tp):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(ck.ones(3))
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no grads: tensor(0.)
    p.grad = ck.tensor([float("nan"), 1.0, 2.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nn.utils.clip_grad_norm_([p, 3], 1.0)


def test_clip_grad_value():
    grads = _grads([(4, 4)])
    ps = _params_with(grads)
    nn.utils.clip_grad_value_(ps, 0.7)
    np.testing.assert_array_equal(ps[0].grad.numpy(), np.clip(grads[0], -0.7, 0.7))


def test_parameters_to_vector_roundtrip_and_grad():
    m = nn.Linear(3, 2)
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (8,)
    np.testing.assert_array_equal(v.detach().numpy()[:6], m.weight.detach().numpy().ravel())
    (v * v).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), 2 * m.weight.detach().numpy())
    new = ck.arange(8, dtype=ck.float32)
    nn.utils.vector_to_parameters(new, m.parameters())
    np.testing.assert_array_equal(m.bias.detach().numpy(), [6, 7])
    with pytest.raises(RuntimeError, match="8"):
        nn.utils.vector_to_parameters(ck.zeros(5), m.parameters())
    with pytest.raises(TypeError):
        nn.utils.vector_to_parameters([1, 2], m.parameters())


def _hook_log(lib, seed_weights):
    nn_ = lib.nn
    m = nn_.Sequential(nn_.Linear(4, 5), nn_.Tanh(), nn_.Linear(5, 2))
    with lib.no_grad():
        for p, a in zip(m.parameters(), seed_weights):
            p.copy_(lib.tensor(a))
    log = []
    m[2].register_full_backward_pre_hook(lambda mod, go: log.append(("pre", [g.numpy().copy() for g in go])))
    m[2].register_full_backward_hook(lambda mod, gi, go: log.append(("full", [g.numpy().copy() for g in gi])))
    m[0].register_full_backward_hook(lambda mod, gi, go: log.append(("first", [g is None for g in gi],
                                                                     [g.numpy().copy() for g in go])))
    m[1].register_full_backward_hook(lambda mod, gi, go: (gi[0] * 2,))  # replaces grad_input
    x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
    (m(x) ** 2).sum().backward()
    log.append(("w0", [m[0].weight.grad.numpy().copy()]))
    return log


def test_full_backward_hooks_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = [rng.standard_normal(s).astype(np.float32) for s in [(5, 4), (5,), (2, 5), (2,)]]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = _hook_log(torch, w)
    a = _hook_log(ck, w)
    assert [e[0] for e in a] == [e[0] for e in b] == ["pre", "full", "first", "w0"]
    for ea, eb in zip(a, b):
        for xa, xb in zip(ea[1:], eb[1:]):
            if isinstance(xa, list) and xa and isinstance(xa[0], np.ndarray):
                for u, v in zip(xa, xb):
                    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
            else:
                assert xa == xb


def test_backward_hook_grad_input_when_input_requires_grad():
    lin = nn.Linear(3, 2)
    seen = {}
    lin.register_full_backward_hook(lambda m, gi, go: seen.update(gi=gi, go=go))
    x = ck.randn(4, 3, requires_grad=True)
    lin(x).sum().backward()
    np.testing.assert_allclose(seen["gi"][0].numpy(), np.ones((4, 2)) @ lin.weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), seen["gi"][0].numpy())
    h = lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    x.grad = None
    lin(x).sum().backward()
    assert np.all(x.grad.numpy() == 0)
    h.remove()
    bad = lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input"):
        lin(x).sum().backward()
    bad.remove()


def test_forward_hooks_with_kwargs_and_removal():
    class M(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = M()
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    h2 = m.register_forward_hook(lambda mod, args, kwargs, out: calls.append(kwargs["scale"]), with_kwargs=True)
    assert m(ck.ones(2)).tolist() == [3.0, 3.0]
    assert calls == [3.0]
    h1.remove()
    h2.remove()
    assert m(ck.ones(2), scale=2.0).tolist() == [2.0, 2.0] and calls == [3.0]
    assert not m._forward_pre_hooks_with_kwargs and not m._forward_hooks_with_kwargs


def test_backends_and_accelerator():
    ck.backends.cudnn.benchmark = True
    ck.backends.cudnn.deterministic = True
    assert ck.backends.cudnn.benchmark is True and ck.backends.cudnn.is_available() is False
    assert ck.backends.mps.is_available() is False and ck.backends.mps.is_built() is False
    assert ck.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
    assert ck.accelerator.is_available() == ck.cuda.is_available()
    acc = ck.accelerator.current_accelerator()
    assert (acc is None) == (not ck.cuda.is_available())
    device = acc.type if ck.accelerator.is_available() else "cpu"
    assert ck.zeros(2, device=device).device.type == device
    ck.backends.cudnn.benchmark = False
    ck.backends.cudnn.deterministic = False
