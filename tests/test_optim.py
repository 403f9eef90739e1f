"""cnnkit.optim.Optimizer / SGD against torch.optim.SGD: update rule, options, state_dict, errors."""
import copy
import inspect
import itertools
import warnings

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.optim import SGD, Optimizer

SHAPES = [(3,), (7, 5), (2, 3, 3, 3), (1,)]


def _torch():
    return pytest.importorskip("torch")


def _params(lib, arrays):
    return [lib.nn.Parameter(lib.from_numpy(a.copy())) for a in arrays]


def _np(t):
    return np.asarray(t.detach().numpy())


def _run_both(options, dtype=np.float32, steps=5, lr=0.1, seed=0):
    """Apply `steps` SGD updates from identical params and gradients in cnnkit and PyTorch.

    The last parameter never gets a gradient (it must be skipped). Returns both optimizers and
    parameter lists.
    """
    torch = _torch()
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours, ref = _params(cnnkit, arrays), _params(torch, arrays)
    opt = SGD(ours, lr=lr, **options)
    ref_opt = torch.optim.SGD(ref, lr=lr, **options)
    for step in range(steps):
        for p, q, s in zip(ours[:-1], ref[:-1], SHAPES[:-1]):
            g = rng.standard_normal(s).astype(dtype)
            p.grad = cnnkit.from_numpy(g.copy())
            q.grad = torch.from_numpy(g.copy())
        opt.step()
        ref_opt.step()
        tol = 1e-6 if dtype == np.float32 else 1e-12
        for i, (p, q) in enumerate(zip(ours, ref)):
            np.testing.assert_allclose(_np(p), q.detach().numpy(), rtol=tol, atol=tol,
                                       err_msg=f"param {i} after step {step + 1} with {options}")
    return opt, ref_opt, ours, ref


_COMBOS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.01], [False, True])
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("options", _COMBOS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_matches_torch_all_options(options):
    opt, ref_opt, ours, ref = _run_both(options)
    # The parameter without a gradient has no state and did not move.
    assert ours[-1] not in opt.state or not opt.state[ours[-1]]
    if options["momentum"]:
        for p, q in zip(ours[:-1], ref[:-1]):
            np.testing.assert_allclose(_np(opt.state[p]["momentum_buffer"]),
                                       ref_opt.state[q]["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("options", [dict(momentum=0.9, nesterov=True, weight_decay=1e-3),
                                     dict(momentum=0.5, dampening=0.5, maximize=True)])
def test_sgd_matches_torch_float64(options):
    _run_both(options, dtype=np.float64, lr=0.05, seed=4)


def test_sgd_defaults_and_signature_match_torch():
    torch = _torch()
    assert str(inspect.signature(SGD.__init__)).replace(" ", "") == \
        "(self,params,lr=0.001,momentum=0,dampening=0,weight_decay=0,nesterov=False,*,maximize=False," \
        "foreach=None,differentiable=False,fused=None)"
    ref_default = inspect.signature(torch.optim.SGD.__init__).parameters["lr"].default
    assert inspect.signature(SGD.__init__).parameters["lr"].default == ref_default
    p = nn.Parameter(cnnkit.zeros(2))
    q = torch.nn.Parameter(torch.zeros(2))
    assert SGD([p]).param_groups[0].keys() == torch.optim.SGD([q]).param_groups[0].keys()
    assert SGD([p]).defaults == torch.optim.SGD([q]).defaults


def test_sgd_repr_matches_torch():
    torch = _torch()
    a, b = nn.Parameter(cnnkit.zeros(2)), nn.Parameter(cnnkit.zeros(3))
    ta, tb = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    ours = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("kwargs", [dict(lr=-1), dict(lr=0.1, momentum=-0.5), dict(lr=0.1, weight_decay=-1e-4),
                                    dict(lr=0.1, nesterov=True), dict(lr=0.1, momentum=0.9, dampening=0.1,
                                                                      nesterov=True)])
def test_sgd_invalid_hyperparameters_messages_match_torch(kwargs):
    torch = _torch()
    with pytest.raises(ValueError) as ref_err:
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], **kwargs)
    with pytest.raises(ValueError) as our_err:
        SGD([nn.Parameter(cnnkit.zeros(1))], **kwargs)
    assert str(our_err.value) == str(ref_err.value)


def test_sgd_exact_messages():
    p = nn.Parameter(cnnkit.zeros(1))
    with pytest.raises(ValueError, match="^Invalid learning rate: -1$"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="^Nesterov momentum requires a momentum and zero dampening$"):
        SGD([p], lr=0.1, nesterov=True)


def test_optimizer_param_checks_match_torch():
    torch = _torch()

    def both(make, exc):
        with pytest.raises(exc) as ref_err:
            make(torch)
        with pytest.raises(exc) as our_err:
            make(cnnkit)
        assert str(our_err.value).replace("cnnkit", "torch") == str(ref_err.value)

    sgd = lambda lib, *a, **k: (SGD if lib is cnnkit else torch.optim.SGD)(*a, **k)  # noqa: E731
    both(lambda lib: sgd(lib, [], lr=0.1), ValueError)
    both(lambda lib: sgd(lib, iter([]), lr=0.1), ValueError)
    both(lambda lib: sgd(lib, [{"params": {lib.nn.Parameter(lib.zeros(1))}}], lr=0.1), TypeError)

    def dup_groups(lib):
        p = lib.nn.Parameter(lib.zeros(1))
        return sgd(lib, [{"params": [p]}, {"params": [p]}], lr=0.1)

    both(dup_groups, ValueError)

    def non_leaf(lib):
        p = lib.nn.Parameter(lib.zeros(2))
        return sgd(lib, [p.clone()], lr=0.1)

    both(non_leaf, ValueError)
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable"):
        SGD(nn.Parameter(cnnkit.zeros(1)), lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        SGD([1.0], lr=0.1)
    p = nn.Parameter(cnnkit.zeros(1))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        from cnnkit.optim.optimizer import required

        class Needs(Optimizer):
            def __init__(self, params):
                super().__init__(params, {"lr": required})

        Needs([p])


def test_param_groups_and_add_param_group():
    torch = _torch()
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = SGD([{"params": m[0].parameters()}, {"params": m[2].weight, "lr": 0.5, "momentum": 0.9}],
              lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 1]
    opt.add_param_group({"params": [m[2].bias], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [m[2].bias]})
    named = SGD(m.named_parameters(), lr=0.1)
    ref_named = torch.optim.SGD(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                                    torch.nn.Linear(4, 2)).named_parameters(), lr=0.1)
    assert named.param_groups[0]["param_names"] == ref_named.param_groups[0]["param_names"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_zero_grad():
    p, q = nn.Parameter(cnnkit.ones(3)), nn.Parameter(cnnkit.ones(2))
    opt = SGD([p, q], lr=0.1)
    p.grad = cnnkit.ones(3)
    opt.zero_grad(set_to_none=False)
    assert np.all(_np(p.grad) == 0) and q.grad is None
    opt.zero_grad()
    assert p.grad is None


def test_skips_frozen_parameters_and_closure():
    p = nn.Parameter(cnnkit.ones(3))
    frozen = nn.Parameter(cnnkit.ones(3), requires_grad=False)
    opt = SGD([p, frozen], lr=0.5, momentum=0.9)
    p.grad = cnnkit.ones(3)
    calls = []
    loss = opt.step(lambda: calls.append(cnnkit.is_grad_enabled()) or 42.0)
    assert loss == 42.0 and calls == [True]
    np.testing.assert_allclose(_np(p), 0.5)
    np.testing.assert_array_equal(_np(frozen), 1.0)
    assert frozen not in opt.state
    assert list(opt.state_dict()["state"].keys()) == [0]


def test_step_hooks_run_around_step():
    p = nn.Parameter(cnnkit.ones(1))
    opt = SGD([p], lr=1.0)
    order = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: order.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: order.append("post"))
    opt.step()
    h1.remove()
    opt.step()
    assert order == ["pre", "post", "post"]


def test_state_dict_format_matches_torch():
    torch = _torch()
    opt, ref_opt, ours, ref = _run_both(dict(momentum=0.9, weight_decay=1e-2), steps=2)
    sd, ref_sd = opt.state_dict(), ref_opt.state_dict()
    assert set(sd.keys()) == set(ref_sd.keys()) == {"state", "param_groups"}
    assert list(sd["state"].keys()) == list(ref_sd["state"].keys())
    for k in sd["state"]:
        assert list(sd["state"][k].keys()) == list(ref_sd["state"][k].keys()) == ["momentum_buffer"]
        np.testing.assert_allclose(_np(sd["state"][k]["momentum_buffer"]),
                                   ref_sd["state"][k]["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-6)
    assert sd["param_groups"] == ref_sd["param_groups"]
    assert isinstance(ref_opt, torch.optim.Optimizer)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(5)]
    a = _params(cnnkit, arrays)
    opt_a = SGD(a, lr=0.1, momentum=0.9, nesterov=True)

    def step(opt, params, i):
        for p, g in zip(params, grads[i]):
            p.grad = cnnkit.from_numpy(g.copy())
        opt.step()

    for i in range(3):
        step(opt_a, a, i)
    # Like torch, load_state_dict keeps tensors that need no cast (the buffers would be shared
    # with opt_a): copy the state dict as saving to a file would.
    saved = copy.deepcopy(opt_a.state_dict())
    b = _params(cnnkit, [_np(p).copy() for p in a])
    opt_b = SGD(b, lr=0.7)  # hyper-parameters come back from the state dict
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == 0.1 and opt_b.param_groups[0]["nesterov"] is True
    assert all(x is y for x, y in zip(opt_b.param_groups[0]["params"], b))
    for i in range(3, 5):
        step(opt_a, a, i)
        step(opt_b, b, i)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(_np(p), _np(q))


def test_state_dict_save_load_file(tmp_path):
    p = nn.Parameter(cnnkit.ones(4))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = cnnkit.ones(4)
    opt.step()
    cnnkit.save(opt.state_dict(), tmp_path / "opt.pt")
    q = nn.Parameter(cnnkit.ones(4))
    opt2 = SGD([q], lr=0.1, momentum=0.9)
    opt2.load_state_dict(cnnkit.load(tmp_path / "opt.pt"))
    np.testing.assert_array_equal(_np(opt2.state[q]["momentum_buffer"]), 1.0)


def test_load_state_dict_errors_match_torch():
    torch = _torch()

    def attempt(lib):
        ps = [lib.nn.Parameter(lib.zeros(1)) for _ in range(3)]
        make = SGD if lib is cnnkit else torch.optim.SGD
        src = make([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1)
        return src.state_dict(), make, ps

    for mutate in (lambda ps, make: make([{"params": ps}], lr=0.1),
                   lambda ps, make: make([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1)):
        sd, make, ps = attempt(torch)
        with pytest.raises(ValueError) as ref_err:
            mutate(ps, make).load_state_dict(sd)
        sd, make, ps = attempt(cnnkit)
        with pytest.raises(ValueError) as our_err:
            mutate(ps, make).load_state_dict(sd)
        assert str(our_err.value) == str(ref_err.value)


def test_load_state_dict_casts_buffers_to_param_dtype():
    p = nn.Parameter(cnnkit.ones(2, dtype=cnnkit.float64))
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict({"state": {0: {"momentum_buffer": cnnkit.ones(2)}},
                         "param_groups": [dict(opt.state_dict()["param_groups"][0])]})
    assert opt.state[p]["momentum_buffer"].dtype == cnnkit.float64


def test_no_warnings_on_normal_use():
    p = nn.Parameter(cnnkit.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = SGD([p], lr=0.1, momentum=0.9)
        p.grad = cnnkit.ones(2)
        opt.step()
        opt.zero_grad()


def test_training_loop_decreases_loss():
    """A tiny end-to-end check: fit y = 3x - 1 with Linear + MSELoss + SGD(momentum)."""
    cnnkit.manual_seed(0)
    x = cnnkit.from_numpy(np.linspace(-1, 1, 32, dtype=np.float32).reshape(32, 1))
    y = x * 3.0 - 1.0
    model = nn.Linear(1, 1)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 < losses[0]
    assert model.weight.item() == pytest.approx(3.0, abs=0.05) and model.bias.item() == pytest.approx(-1.0, abs=0.05)
