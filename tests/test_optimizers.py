"""Adam, AdamW, RMSprop, Adagrad, Adadelta against torch.optim (foreach=False, the single-tensor path)
over 25 steps from the same initial parameters and gradients, float32 and float64, every option;
param groups with different lrs, a parameter whose grad stays None, state_dict round trips mid-run
(ours -> ours, torch -> ours), add_param_group, repr, argument validation. Torch-only file."""
import copy
import math

import numpy as np
import pytest

import cnnkit
from cnnkit import _C

torch = pytest.importorskip("torch")

SHAPES = [(7, 3), (33,), (2, 1, 3, 3)]
STEPS = 25

CASES = [
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"maximize": True}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.05, "maximize": True, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.05, "betas": (0.5, 0.9)}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True}),
    ("AdamW", {"weight_decay": 0.5, "maximize": True}),
    ("AdamW", {"weight_decay": 0.0, "lr": 0.02}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"maximize": True, "alpha": 0.9, "eps": 1e-4}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.05}),
    ("Adagrad", {"weight_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adagrad", {"maximize": True, "eps": 1e-6, "lr": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "lr": 0.5, "eps": 1e-4}),
    ("Adamax", {}),
    ("Adamax", {"weight_decay": 0.1, "maximize": True, "betas": (0.7, 0.9)}),
    ("NAdam", {}),
    ("NAdam", {"weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"weight_decay": 0.1, "betas": (0.9, 0.9)}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True, "lr": 0.01}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for n, kw in CASES]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def make_data(dtype, seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return inits, grads


def pair_params(inits):
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in inits]
    cp = [cnnkit.tensor(a.copy(), requires_grad=True) for a in inits]
    return tp, cp


def groups(params, lrs_from_kw):
    """Two groups with different lrs; the last parameter never gets a gradient."""
    base = lrs_from_kw
    return [{"params": params[:1]}, {"params": params[1:], "lr": base * 3}]


def default_lr(name):
    return {"Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0, "Adamax": 2e-3,
            "NAdam": 2e-3, "RAdam": 1e-3}[name]


def build(name, kw, tp, cp):
    lr = kw.get("lr", default_lr(name))
    to = getattr(torch.optim, name)(groups(tp, lr), foreach=False, **kw)
    co = getattr(cnnkit.optim, name)(groups(cp, lr), **kw)
    return to, co


def feed(tp, cp, grads, skip_last=True):
    for i, (p, q, g) in enumerate(zip(tp, cp, grads)):
        if skip_last and i == len(tp) - 1:
            continue
        p.grad = torch.tensor(g)
        q.grad = cnnkit.tensor(g)


def assert_params_close(tp, cp, dtype):
    for p, q in zip(tp, cp):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), **tol(dtype))


def assert_state_close(to, co, tp, cp, dtype):
    for p, q in zip(tp, cp):
        ts, cs = to.state.get(p, {}), co.state.get(q, {})
        assert set(ts) == set(cs)
        for k, v in ts.items():
            if k == "step":
                assert cs[k].dtype == cnnkit.float32 and cs[k].dim() == 0
                assert float(cs[k].item()) == float(v.item())
            else:
                np.testing.assert_allclose(cs[k].numpy(), v.numpy(), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_trajectory_matches_torch(name, kw, dtype):
    inits, grads = make_data(dtype)
    tp, cp = pair_params(inits)
    to, co = build(name, kw, tp, cp)
    for g in grads:
        feed(tp, cp, g)
        to.step()
        co.step()
        assert_params_close(tp, cp, dtype)
    assert_state_close(to, co, tp, cp, dtype)
    # the parameter without a gradient is untouched and has no state (except Adagrad's eager state)
    np.testing.assert_array_equal(cp[-1].detach().numpy(), inits[-1])
    if name != "Adagrad":
        assert cp[-1] not in co.state


@pytest.mark.parametrize("name,kw", CASES[::3], ids=IDS[::3])
def test_state_dict_round_trip_mid_run(name, kw):
    dtype = np.float32
    inits, grads = make_data(dtype, seed=1)
    tp, cp = pair_params(inits)
    to, co = build(name, kw, tp, cp)
    for g in grads[:10]:
        feed(tp, cp, g)
        to.step()
        co.step()
    sd = copy.deepcopy(co.state_dict())
    assert sorted(sd["state"]) == sorted(to.state_dict()["state"])
    for ts, cs in zip(to.state_dict()["param_groups"], sd["param_groups"]):
        assert set(ts) == set(cs) and ts["params"] == cs["params"]
    # a fresh optimizer over copies of the parameters continues from the saved state
    cp2 = [cnnkit.tensor(q.detach().numpy().copy(), requires_grad=True) for q in cp]
    lr = kw.get("lr", default_lr(name))
    co2 = getattr(cnnkit.optim, name)(groups(cp2, lr), **kw)
    co2.load_state_dict(sd)
    for g in grads[10:]:
        feed(tp, cp2, g)
        to.step()
        co2.step()
    assert_params_close(tp, cp2, dtype)
    assert_state_close(to, co2, tp, cp2, dtype)


@pytest.mark.parametrize("name,kw", CASES[1::3], ids=IDS[1::3])
def test_load_torch_state_dict(name, kw):
    dtype = np.float32
    inits, grads = make_data(dtype, seed=2)
    tp, cp = pair_params(inits)
    to, _ = build(name, kw, tp, cp)
    for g in grads[:10]:
        feed(tp, cp, g)
        to.step()
    # our parameters take torch's values; our optimizer loads torch's state_dict (tensors converted)
    cp = [cnnkit.tensor(p.detach().numpy().copy(), requires_grad=True) for p in tp]
    lr = kw.get("lr", default_lr(name))
    co = getattr(cnnkit.optim, name)(groups(cp, lr), **kw)
    co.load_state_dict(to.state_dict())
    for st in co.state.values():
        for k, v in st.items():
            assert isinstance(v, cnnkit.Tensor), k
    for g in grads[10:]:
        feed(tp, cp, g)
        to.step()
        co.step()
    assert_params_close(tp, cp, dtype)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"])
def test_defaults_and_repr_match_torch(name):
    t = getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)])
    c = getattr(cnnkit.optim, name)([cnnkit.zeros(3, requires_grad=True)])
    assert c.defaults == t.defaults
    assert repr(c) == repr(t)


def test_add_param_group_mid_run_and_zero_grad():
    dtype = np.float32
    inits, grads = make_data(dtype, seed=3)
    tp, cp = pair_params(inits)
    to = torch.optim.Adam(tp[:1], lr=0.01, foreach=False)
    co = cnnkit.optim.Adam(cp[:1], lr=0.01)
    for i, g in enumerate(grads[:12]):
        if i == 5:
            to.add_param_group({"params": tp[1:], "lr": 0.03, "amsgrad": True})
            co.add_param_group({"params": cp[1:], "lr": 0.03, "amsgrad": True})
        feed(tp, cp, g, skip_last=False)
        to.step()
        co.step()
        to.zero_grad()
        co.zero_grad()
        assert all(q.grad is None for grp in co.param_groups for q in grp["params"])
    assert_params_close(tp, cp, dtype)
    assert co.param_groups[1]["amsgrad"] and "max_exp_avg_sq" in co.state[cp[1]]


def test_closure_and_hooks():
    p = cnnkit.tensor([1.0, -2.0], requires_grad=True)
    opt = cnnkit.optim.RMSprop([p], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == 5.0 and calls == ["pre", "post"]
    assert np.all(np.abs(p.detach().numpy()) < [1.0, 2.0])


def test_lr_as_tensor_and_scalar_state_loading():
    p = cnnkit.tensor([1.0, 2.0], requires_grad=True)
    opt = cnnkit.optim.Adam([p], lr=cnnkit.tensor(0.1))
    p.grad = cnnkit.tensor([1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = 1.0  # an old-format (Python number) step becomes a tensor on load
    opt2 = cnnkit.optim.Adam([p], lr=0.1)
    opt2.load_state_dict(sd)
    assert isinstance(opt2.state[p]["step"], cnnkit.Tensor) and opt2.state[p]["step"].item() == 1.0


@pytest.mark.parametrize("ctor,msg", [
    (lambda ps: cnnkit.optim.Adam(ps, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda ps: cnnkit.optim.Adam(ps, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda ps: cnnkit.optim.Adam(ps, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: cnnkit.optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: cnnkit.optim.Adam(ps, weight_decay=-1e-2), "Invalid weight_decay value: -0.01"),
    (lambda ps: cnnkit.optim.Adam(ps, betas=(0.9, 0)), "betas must be either both floats or both Tensors"),
    (lambda ps: cnnkit.optim.AdamW(ps, lr=-0.5), "Invalid learning rate: -0.5"),
    (lambda ps: cnnkit.optim.RMSprop(ps, alpha=-0.1), "Invalid alpha value: -0.1"),
    (lambda ps: cnnkit.optim.RMSprop(ps, momentum=-0.1), "Invalid momentum value: -0.1"),
    (lambda ps: cnnkit.optim.RMSprop(ps, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda ps: cnnkit.optim.Adagrad(ps, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (lambda ps: cnnkit.optim.Adagrad(ps, initial_accumulator_value=-1.0),
     "Invalid initial_accumulator_value value: -1.0"),
    (lambda ps: cnnkit.optim.Adadelta(ps, rho=1.5), "Invalid rho value: 1.5"),
    (lambda ps: cnnkit.optim.Adadelta(ps, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda ps: cnnkit.optim.Adamax(ps, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda ps: cnnkit.optim.NAdam(ps, momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    (lambda ps: cnnkit.optim.RAdam(ps, eps=-1.0), "Invalid epsilon value: -1.0"),
])
def test_invalid_arguments_match_torch(ctor, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        ctor([cnnkit.zeros(2, requires_grad=True)])


def test_fused_foreach_together_and_empty_params():
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        cnnkit.optim.Adam([cnnkit.zeros(2, requires_grad=True)], fused=True, foreach=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        cnnkit.optim.AdamW([])


def _np(a):
    return cnnkit.from_numpy(np.ascontiguousarray(a))._t


def test_kernel_validation_errors():
    p = _np(np.zeros(4, np.float32))
    g = _np(np.zeros(4, np.float32))
    m = _np(np.zeros(4, np.float32))
    v = _np(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="adam_step_"):
        _C.adam_step_(p, _np(np.zeros(5, np.float32)), m, v, None, 0.1, 0.9, 0.999, 1e-8, 0, 1, False, False, False)
    with pytest.raises((TypeError, ValueError), match="adam_step_"):
        _C.adam_step_(p, g, _np(np.zeros(4, np.float64)), v, None, 0.1, 0.9, 0.999, 1e-8, 0, 1, False, False,
                      False)
    with pytest.raises(ValueError, match="max_exp_avg_sq is required"):
        _C.adam_step_(p, g, m, v, None, 0.1, 0.9, 0.999, 1e-8, 0, 1, True, False, False)
    with pytest.raises(ValueError, match="step must be >= 1"):
        _C.adam_step_(p, g, m, v, None, 0.1, 0.9, 0.999, 1e-8, 0, 0, False, False, False)
    with pytest.raises(ValueError, match="grad_avg is required"):
        _C.rmsprop_step_(p, g, m, None, None, 0.1, 0.99, 1e-8, 0, 0, True, False)
    with pytest.raises(ValueError, match="momentum_buffer is required"):
        _C.rmsprop_step_(p, g, m, None, None, 0.1, 0.99, 1e-8, 0, 0.9, False, False)
    with pytest.raises(ValueError, match="adagrad_step_"):
        _C.adagrad_step_(p, g, _np(np.zeros((2, 2), np.float32)), 0.1, 1e-10, 0, False)
    with pytest.raises((TypeError, ValueError), match="adadelta_step_"):
        _C.adadelta_step_(_np(np.zeros(4, np.int64)), g, m, v, 1.0, 0.9, 1e-6, 0, False)


def ref_adam(p, grads, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled):
    """Adam/AdamW in float64 NumPy (the math, an oracle independent of torch)."""
    p = p.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g.astype(np.float64)
        if wd:
            if decoupled:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vh = vmax if amsgrad else v
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(vh) / math.sqrt(1 - b2 ** t) + eps)
    return p


@pytest.mark.parametrize("n", [1, 7, 40000, 100003])
@pytest.mark.parametrize("amsgrad,maximize,decoupled,wd", [
    (False, False, False, 0.0), (True, False, False, 0.1), (False, True, True, 0.1), (True, True, True, 0.0)])
def test_adam_kernel_against_numpy(n, amsgrad, maximize, decoupled, wd):
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(6)]
    p = p0.copy()
    m, v, vm = np.zeros(n), np.zeros(n), np.zeros(n)
    for t, g in enumerate(grads, 1):
        _C.adam_step_(_C.from_numpy(p), _C.from_numpy(g), _C.from_numpy(m), _C.from_numpy(v), _C.from_numpy(vm),
                      0.01, 0.9, 0.999, 1e-8, wd, float(t), amsgrad, maximize, decoupled)
    np.testing.assert_allclose(p, ref_adam(p0, grads, 0.01, 0.9, 0.999, 1e-8, wd, amsgrad, maximize, decoupled),
                               rtol=1e-12, atol=1e-13)


_KERNELS_SCRIPT = r"""
import sys
import numpy as np
from cnnkit import _C
out = {}
for dt in (np.float32, np.float64):
    rng = np.random.default_rng(7)
    n = 1003  # full vectors and a scalar tail
    P = lambda: rng.standard_normal(n).astype(dt)
    Z = lambda: (np.abs(rng.standard_normal(n)) * 0.1).astype(dt)
    f = _C.from_numpy
    for cfg in range(2):
        p, m, v, vm = P(), Z(), Z(), Z()
        for t in range(1, 4):
            _C.adam_step_(f(p), f(P()), f(m), f(v), f(vm), 0.01, 0.9, 0.999, 1e-8, 0.1 * cfg, float(t), bool(cfg),
                          bool(cfg), not cfg)
        out[f"adam{cfg}{dt.__name__}"] = np.concatenate([p, m, v, vm])
        p, sq, ga, buf = P(), Z(), Z() * 0.1, Z()
        for t in range(3):
            _C.rmsprop_step_(f(p), f(P()), f(sq), f(ga), f(buf), 0.01, 0.99, 1e-8, 0.1 * cfg, 0.9 * cfg, bool(cfg),
                             bool(cfg))
        out[f"rms{cfg}{dt.__name__}"] = np.concatenate([p, sq, ga, buf])
        p, s = P(), Z()
        for t in range(3):
            _C.adagrad_step_(f(p), f(P()), f(s), 0.01, 1e-10, 0.1 * cfg, bool(cfg))
        out[f"adagrad{cfg}{dt.__name__}"] = np.concatenate([p, s])
        p, sq, acc = P(), Z(), Z()
        for t in range(3):
            _C.adadelta_step_(f(p), f(P()), f(sq), f(acc), 1.0, 0.9, 1e-6, 0.1 * cfg, bool(cfg))
        out[f"adadelta{cfg}{dt.__name__}"] = np.concatenate([p, sq, acc])
        p, buf = P(), Z()
        for t in range(3):
            _C.sgd_step_(f(p), f(P()), f(buf), 0.01, 0.9, 0.1 * cfg, 0.01 * cfg, not cfg, bool(cfg), t == 0)
        out[f"sgd{cfg}{dt.__name__}"] = np.concatenate([p, buf])
        p, m, u = P(), Z(), Z()
        for t in range(1, 4):
            _C.adamax_step_(f(p), f(P()), f(m), f(u), 0.01, 0.9, 0.999, 1e-8, 0.1 * cfg, float(t), bool(cfg))
        out[f"adamax{cfg}{dt.__name__}"] = np.concatenate([p, m, u])
        p, m, v = P(), Z(), Z()
        for t in range(1, 4):
            _C.nadam_step_(f(p), f(P()), f(m), f(v), 0.01, 0.9, 0.999, 1e-8, 0.1, 0.5, -0.02, -0.03, bool(cfg),
                           bool(cfg))
        out[f"nadam{cfg}{dt.__name__}"] = np.concatenate([p, m, v])
        p, m, v = P(), Z(), Z()
        for t in range(1, 4):
            _C.radam_step_(f(p), f(P()), f(m), f(v), 0.01, 0.9, 0.999, 1e-8, 0.1, 0.5, 0.7, 0.8, t > 1, bool(cfg),
                           bool(cfg))
        out[f"radam{cfg}{dt.__name__}"] = np.concatenate([p, m, v])
np.savez(sys.argv[1], **out)
"""


def test_avx2_and_portable_paths_agree_bit_for_bit(tmp_path):
    """The AVX2 loops and the portable reference loops (CNNKIT_SIMD=portable) give identical bits."""
    import os
    import subprocess
    import sys

    script = tmp_path / "k.py"
    script.write_text(_KERNELS_SCRIPT)
    results = []
    for mode in ("auto", "portable"):
        path = tmp_path / f"{mode}.npz"
        env = dict(os.environ, CNNKIT_SIMD=mode)
        subprocess.run([sys.executable, str(script), str(path)], env=env, check=True, timeout=120)
        results.append(np.load(path))
    for key in results[0].files:
        np.testing.assert_array_equal(results[0][key], results[1][key], err_msg=key)
