"""optim.lr_scheduler against torch.optim.lr_scheduler: every scheduler's lr (and momentum/beta1)
sequence over 30+ steps, exactly (same float expressions); state_dict save/restore mid-way; chained and
sequential combinations; ReduceLROnPlateau with a scripted metric; warnings and misuse errors.
Torch-only file."""
import copy
import math
import warnings

import pytest

import cnnkit
from cnnkit.optim import lr_scheduler as C

torch = pytest.importorskip("torch")
T = torch.optim.lr_scheduler

N = 40


def make_opts(opt="SGD", lrs=(0.1, 0.02), **kw):
    tp = [torch.zeros(2, requires_grad=True) for _ in lrs]
    cp = [cnnkit.zeros(2, requires_grad=True) for _ in lrs]
    to = getattr(torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(tp, lrs)], **kw)
    co = getattr(cnnkit.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(cp, lrs)], **kw)
    return to, co


def momenta(opt):
    out = []
    for g in opt.param_groups:
        if "betas" in g:
            out.append(g["betas"][0])
        elif "momentum" in g:
            out.append(g["momentum"])
    return out


def run_pair(to, co, ts, cs, steps=N, metric=None):
    seq_t, seq_c = [], []
    for i in range(steps):
        to.step()
        co.step()
        if metric is None:
            ts.step()
            cs.step()
        else:
            ts.step(metric(i))
            cs.step(metric(i))
        seq_t.append((ts.get_last_lr(), momenta(to)))
        seq_c.append((cs.get_last_lr(), momenta(co)))
    assert seq_c == seq_t
    return seq_t


def lam(e):
    return 0.95 ** e


SCHEDULERS = [
    ("LambdaLR", dict(lr_lambda=lam)),
    ("LambdaLR", dict(lr_lambda=[lam, lambda e: 1.0 / (e + 1)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9)),
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.5, total_iters=11)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.7, total_iters=17)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("PolynomialLR", dict()),
    ("PolynomialLR", dict(total_iters=25, power=2.0)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=13, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=N)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=N, anneal_strategy="linear", pct_start=0.25)),
    ("OneCycleLR", dict(max_lr=0.3, epochs=4, steps_per_epoch=10, three_phase=True, div_factor=10.0)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=N, cycle_momentum=False)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("CyclicLR", dict(base_lr=[0.01, 0.001], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, scale_fn=lambda x: 0.5 ** x, scale_mode="cycle")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, cycle_momentum=False,
                      scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations")),
]
IDS = [f"{n}{i}" for i, (n, _) in enumerate(SCHEDULERS)]


def opt_kw(name):
    # cycle_momentum needs a momentum: SGD with momentum
    return {"momentum": 0.9} if name in ("OneCycleLR", "CyclicLR") else {}


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=IDS)
def test_sequence_matches_torch(name, kw):
    to, co = make_opts(**opt_kw(name))
    ts, cs = getattr(T, name)(to, **kw), getattr(C, name)(co, **kw)
    assert cs.get_last_lr() == ts.get_last_lr()
    assert cs.base_lrs == ts.base_lrs and cs.last_epoch == ts.last_epoch
    run_pair(to, co, ts, cs)


@pytest.mark.parametrize("name,kw", SCHEDULERS[::2], ids=IDS[::2])
def test_state_dict_restore_mid_way(name, kw):
    to, co = make_opts(**opt_kw(name))
    ts, cs = getattr(T, name)(to, **kw), getattr(C, name)(co, **kw)
    run_pair(to, co, ts, cs, steps=13)
    sd = copy.deepcopy(cs.state_dict())
    assert "optimizer" not in sd
    osd = copy.deepcopy(co.state_dict())
    # the checkpoint recipe: build optimizer and scheduler afresh, then load both states
    cp = [cnnkit.zeros(2, requires_grad=True) for _ in co.param_groups]
    co2 = cnnkit.optim.SGD([{"params": [p], "lr": 1.0} for p in cp], **opt_kw(name))
    cs2 = getattr(C, name)(co2, **kw)
    co2.load_state_dict(osd)
    cs2.load_state_dict(sd)
    run_pair(to, co2, ts, cs2, steps=N - 13 if name == "OneCycleLR" else 20)


def test_onecycle_with_adam_cycles_beta1():
    to, co = make_opts("Adam", lrs=(0.01,))
    ts = T.OneCycleLR(to, max_lr=0.1, total_steps=35, base_momentum=0.8, max_momentum=0.92)
    cs = C.OneCycleLR(co, max_lr=0.1, total_steps=35, base_momentum=0.8, max_momentum=0.92)
    seq = run_pair(to, co, ts, cs, steps=35)
    assert seq[10][1] != seq[0][1]
    assert co.param_groups[0]["betas"][1] == 0.999


def test_cyclic_with_adam_cycles_beta1():
    to, co = make_opts("Adam", lrs=(0.01,))
    ts = T.CyclicLR(to, base_lr=0.001, max_lr=0.01, step_size_up=4)
    cs = C.CyclicLR(co, base_lr=0.001, max_lr=0.01, step_size_up=4)
    run_pair(to, co, ts, cs, steps=30)


def test_onecycle_past_total_steps_raises():
    _, co = make_opts(momentum=0.9)
    cs = C.OneCycleLR(co, max_lr=0.1, total_steps=5)
    for _ in range(4):
        co.step()
        cs.step()
    co.step()
    cs.step()  # step 5 == total_steps is still allowed (as torch)
    with pytest.raises(ValueError, match="Tried to step 6 times. The specified number of total steps is 5"):
        cs.step()


def _factory_sequential(to_or_co, mod):
    s1 = mod.LinearLR(to_or_co, start_factor=0.2, total_iters=5)
    s2 = mod.ExponentialLR(to_or_co, gamma=0.9)
    s3 = mod.CosineAnnealingLR(to_or_co, T_max=8)
    return mod.SequentialLR(to_or_co, schedulers=[s1, s2, s3], milestones=[5, 17])


def _factory_chained(to_or_co, mod):
    s1 = mod.ConstantLR(to_or_co, factor=0.5, total_iters=4)
    s2 = mod.ExponentialLR(to_or_co, gamma=0.95)
    s3 = mod.StepLR(to_or_co, step_size=6, gamma=0.5)
    return mod.ChainedScheduler([s1, s2, s3])


def _factory_chained_with_sequential(to_or_co, mod):
    seq = mod.SequentialLR(to_or_co, [mod.LinearLR(to_or_co, total_iters=4), mod.StepLR(to_or_co, 5)], [4])
    return mod.ChainedScheduler([seq, mod.MultiplicativeLR(to_or_co, lambda e: 0.99)], optimizer=to_or_co)


@pytest.mark.parametrize("factory", [_factory_sequential, _factory_chained, _factory_chained_with_sequential])
def test_combinations(factory):
    to, co = make_opts()
    ts, cs = factory(to, T), factory(co, C)
    assert cs.get_last_lr() == ts.get_last_lr()
    run_pair(to, co, ts, cs, steps=15)
    sd = copy.deepcopy(cs.state_dict())
    cs.load_state_dict(sd)
    assert [s.last_epoch for s in cs._schedulers] == [s.last_epoch for s in ts._schedulers]
    run_pair(to, co, ts, cs, steps=20)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(mode="min", threshold_mode="abs", threshold=0.05, patience=1, cooldown=2, min_lr=0.004),
    dict(mode="max", threshold_mode="abs", threshold=0.01, patience=0, min_lr=[0.01, 0.0], eps=1e-3),
    dict(patience=3, cooldown=1, factor=0.3, min_lr=[0.001, 0.0005]),
])
def test_reduce_on_plateau_scripted_metric(kw):
    to, co = make_opts()
    ts, cs = T.ReduceLROnPlateau(to, **kw), C.ReduceLROnPlateau(co, **kw)

    def metric(i):  # improves, plateaus, gets worse, improves a little, noisy
        return [1.0 - 0.1 * i, 0.5, 0.5, 0.51, 0.499, 0.4999, 0.6, 0.45, 0.45, 0.46][i % 10] - 0.01 * (i // 10)

    run_pair(to, co, ts, cs, steps=40, metric=metric)
    assert cs.num_bad_epochs == ts.num_bad_epochs and cs.best == ts.best
    assert cs.cooldown_counter == ts.cooldown_counter
    sd = copy.deepcopy(cs.state_dict())
    cs2 = C.ReduceLROnPlateau(co)
    cs2.load_state_dict(sd)
    assert cs2._is_better(-1e9, cs2.best) == ts._is_better(-1e9, ts.best)
    run_pair(to, co, ts, cs2, steps=10, metric=metric)


def test_step_epoch_argument_is_deprecated_and_uses_closed_form():
    to, co = make_opts()
    ts, cs = T.StepLR(to, step_size=3, gamma=0.5), C.StepLR(co, step_size=3, gamma=0.5)
    to.step()
    co.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        cs.step(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts.step(7)
    assert cs.get_last_lr() == ts.get_last_lr() and cs.last_epoch == 7


def test_warm_restarts_fractional_epochs():
    to, co = make_opts()
    ts = T.CosineAnnealingWarmRestarts(to, T_0=4, T_mult=2)
    cs = C.CosineAnnealingWarmRestarts(co, T_0=4, T_mult=2)
    for e in [0.5, 1.25, 3.9, 4.0, 7.5, 12.0, 20.5, 2.0]:
        to.step()
        co.step()
        ts.step(e)
        cs.step(e)
        assert cs.get_last_lr() == ts.get_last_lr() and cs.T_i == ts.T_i and cs.T_cur == ts.T_cur
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        cs.step(-1)


def test_scheduler_before_optimizer_warns():
    _, co = make_opts()
    cs = C.StepLR(co, step_size=2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        cs.step()
    _, co = make_opts()
    cs = C.StepLR(co, step_size=2)
    co.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cs.step()


def test_overridden_optimizer_step_warns():
    _, co = make_opts()
    cs = C.ExponentialLR(co, gamma=0.9)
    co.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="Seems like `optimizer.step\\(\\)` has been overridden"):
        cs.step()


def test_get_lr_outside_step_warns():
    _, co = make_opts()
    cs = C.ExponentialLR(co, gamma=0.9)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        cs.get_lr()


def test_last_epoch_resume_requires_initial_lr():
    _, co = make_opts()
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        C.StepLR(co, step_size=2, last_epoch=3)
    C.StepLR(co, step_size=2)
    s = C.StepLR(co, step_size=2, last_epoch=3)
    assert s.last_epoch == 4


def test_lambda_state_dict_saves_callable_objects_only():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, e):
            return self.rate ** e

    _, co = make_opts()
    cs = C.LambdaLR(co, [Decay(0.9), lambda e: 1.0])
    sd = cs.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.9}, None]
    cs.lr_lambdas[0].rate = 0.5
    cs.load_state_dict(sd)
    assert cs.lr_lambdas[0].rate == 0.9


def test_aliases_and_importable():
    import cnnkit.optim.lr_scheduler as mod

    assert issubclass(mod._LRScheduler, mod.LRScheduler)
    assert cnnkit.optim.lr_scheduler is mod
    assert set(mod.__all__) == set(T.__all__)


@pytest.mark.parametrize("build,exc,msg", [
    (lambda o: C.StepLR("not an optimizer", 3), TypeError, "str is not an Optimizer"),
    (lambda o: C.LambdaLR(o, [lam]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: C.MultiplicativeLR(o, 0.5), TypeError, "lr_lambda should be a function, but got float"),
    (lambda o: C.ConstantLR(o, factor=1.5), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1."),
    (lambda o: C.LinearLR(o, start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0"),
    (lambda o: C.LinearLR(o, end_factor=1.5), ValueError,
     "Ending multiplicative factor expected to be between 0 and 1."),
    (lambda o: C.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0."),
    (lambda o: C.ReduceLROnPlateau(o, mode="up"), ValueError, "mode up is unknown!"),
    (lambda o: C.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold mode x is unknown!"),
    (lambda o: C.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
    (lambda o: C.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "Expected positive integer T_0, but got 0"),
    (lambda o: C.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError, "Expected integer T_mult >= 1"),
    (lambda o: C.OneCycleLR(o, max_lr=0.1), ValueError, "You must define either total_steps OR"),
    (lambda o: C.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError, "Expected positive integer total_steps"),
    (lambda o: C.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0), ValueError,
     "Expected positive integer steps_per_epoch, but got 0"),
    (lambda o: C.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda o: C.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (lambda o: C.OneCycleLR(o, max_lr=[0.1], total_steps=10), ValueError,
     "max_lr must have the same length as optimizer.param_groups. max_lr has 1 values, param_groups has 2."),
    (lambda o: C.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError, "mode is invalid and scale_fn is None"),
    (lambda o: C.SequentialLR(o, [], []), ValueError, "SequentialLR expects at least one scheduler"),
    (lambda o: C.SequentialLR(o, [C.StepLR(o, 2), C.StepLR(o, 3)], [1, 2]), ValueError,
     "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone"),
    (lambda o: C.SequentialLR(o, [C.ReduceLROnPlateau(o)], []), ValueError,
     "SequentialLR does not support `ReduceLROnPlateau`"),
    (lambda o: C.ChainedScheduler([]), ValueError, "ChainedScheduler expects at least one scheduler to be chained"),
])
def test_misuse_errors(build, exc, msg):
    _, co = make_opts()
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build(co)


def test_cycle_momentum_requires_momentum():
    _, co = make_opts("Adagrad")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1 with `cycle_momentum`"):
        C.OneCycleLR(co, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1 with `cycle_momentum`"):
        C.CyclicLR(co, 0.01, 0.1)


def test_schedulers_with_different_optimizers_rejected():
    _, co1 = make_opts()
    _, co2 = make_opts()
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        C.ChainedScheduler([C.StepLR(co1, 2), C.StepLR(co2, 2)])


def test_reduce_on_plateau_new_group_with_list_min_lr_raises():
    _, co = make_opts()
    cs = C.ReduceLROnPlateau(co, patience=0, min_lr=[0.0, 0.0])
    co.add_param_group({"params": [cnnkit.zeros(1, requires_grad=True)], "lr": 0.1})
    cs.step(1.0)
    with pytest.raises(RuntimeError, match="The number of param groups in the `optimizer` \\(3\\) differs"):
        cs.step(2.0)


def test_tensor_lr_filled_in_place():
    p = cnnkit.zeros(2, requires_grad=True)
    lr = cnnkit.tensor(0.1)
    opt = cnnkit.optim.SGD([p], lr=lr)
    s = C.ExponentialLR(opt, gamma=0.5)
    opt.step()
    s.step()
    assert opt.param_groups[0]["lr"] is lr and math.isclose(float(lr.item()), 0.05, rel_tol=1e-6)
