"""cnnkit.nn.Module, Parameter, containers, layers and nn.init against PyTorch's behaviour.

Structure tests (repr, state_dict keys, names, errors) need no compute kernels; forward tests run
the layers through cnnkit.nn.functional and compare with PyTorch from identical weights.
"""
import copy
import math
import re
from collections import OrderedDict

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
from cnnkit.nn import init


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# models built identically from either library
# ---------------------------------------------------------------------------------------------
def lenet(nn_):
    return nn_.Sequential(
        nn_.Conv2d(1, 6, 5, padding=2), nn_.ReLU(), nn_.MaxPool2d(2, 2),
        nn_.Conv2d(6, 16, 5), nn_.ReLU(), nn_.AvgPool2d(2),
        nn_.Flatten(), nn_.Linear(16 * 5 * 5, 120), nn_.Sigmoid(), nn_.Linear(120, 84), nn_.Tanh(),
        nn_.Dropout(0.25), nn_.Linear(84, 10), nn_.LogSoftmax(dim=1),
    )


def nested(lib):
    """A class-based model: nested Sequential/ModuleList/ModuleDict, buffers, a shared module."""
    nn_ = lib.nn

    class Block(nn_.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn_.Conv2d(c, c, 3, padding=1, bias=False)
            self.act = nn_.LeakyReLU(0.2, inplace=True)
            self.register_buffer("scale", lib.ones(c))
            self.register_buffer("scratch", lib.zeros(c), persistent=False)

        def forward(self, x):
            return self.act(self.conv(x))

    class Net(nn_.Module):
        def __init__(self):
            super().__init__()
            self.features = nn_.Sequential(OrderedDict([
                ("stem", nn_.Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=1, groups=1)),
                ("relu", nn_.ReLU()),
                ("pool", nn_.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
            ]))
            self.blocks = nn_.ModuleList([Block(8), Block(8), Block(8), nn_.Identity()])
            self.heads = nn_.ModuleDict({"cls": nn_.Linear(8, 10), "aux": nn_.Linear(8, 2, bias=False)})
            self.shared = self.heads["cls"]  # the same module reachable twice: listed once
            self.gamma = nn_.Parameter(lib.ones(8))
            self.register_buffer("num_batches", lib.zeros((), dtype=lib.int64))
            self.register_parameter("unused", None)
            self.loss = nn_.CrossEntropyLoss(label_smoothing=0.1)

        def forward(self, x):
            x = self.features(x)
            for b in self.blocks:
                x = b(x)
            x = x.mean((2, 3)) * self.gamma
            return self.heads["cls"](x)

    return Net()


def _to_cnnkit_state(torch_state):
    return OrderedDict((k, cnnkit.from_numpy(v.detach().numpy().copy())) for k, v in torch_state.items())


def _np(t):
    return np.asarray(t.detach().numpy())


# ---------------------------------------------------------------------------------------------
# repr, names, state_dict keys
# ---------------------------------------------------------------------------------------------
def test_repr_identical_to_torch():
    torch = _torch()
    assert repr(lenet(nn)) == repr(lenet(torch.nn))
    assert repr(nested(cnnkit)) == repr(nested(torch))


@pytest.mark.parametrize("make", [
    lambda n: n.Conv2d(3, 8, 3),
    lambda n: n.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=(2, 1), groups=2, bias=False),
    lambda n: n.Conv2d(3, 6, 3, padding="same"),
    lambda n: n.Conv2d(3, 6, 3, padding="valid"),
    lambda n: n.Linear(7, 3, bias=False),
    lambda n: n.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, return_indices=True),
    lambda n: n.AvgPool2d(3, padding=1, ceil_mode=True, count_include_pad=False),
    lambda n: n.ReLU(inplace=True),
    lambda n: n.LeakyReLU(),
    lambda n: n.LeakyReLU(0.3, True),
    lambda n: n.Softmax(dim=-1),
    lambda n: n.LogSoftmax(1),
    lambda n: n.Flatten(0, 2),
    lambda n: n.Unflatten(1, (2, 5)),
    lambda n: n.Identity(54, unused="x"),
    lambda n: n.Dropout(0.1, inplace=True),
    lambda n: n.CrossEntropyLoss(ignore_index=3),
    lambda n: n.NLLLoss(reduction="sum"),
    lambda n: n.MSELoss(),
    lambda n: n.Sequential(),
    lambda n: n.ModuleList(),
    lambda n: n.ModuleDict(),
    lambda n: n.ModuleList([n.ReLU(), n.ReLU(), n.Tanh(), n.Linear(2, 2), n.Linear(2, 2), n.ReLU()]),
    lambda n: n.Sequential(n.Sequential(n.ModuleList([n.Sigmoid()]), n.ReLU()), n.Tanh()),
])
def test_layer_repr_identical_to_torch(make):
    torch = _torch()
    assert repr(make(nn)) == repr(make(torch.nn))


@pytest.mark.parametrize("build", ["lenet", "nested"])
def test_names_and_state_dict_keys_match_torch(build):
    torch = _torch()
    ours = lenet(nn) if build == "lenet" else nested(cnnkit)
    ref = lenet(torch.nn) if build == "lenet" else nested(torch)
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd.keys()) == list(ref_sd.keys())
    for k in sd:
        assert tuple(sd[k].shape) == tuple(ref_sd[k].shape), k
        assert sd[k].dtype.name == str(ref_sd[k].dtype).replace("torch.", ""), k
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in ref.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in ref.named_parameters(prefix="m", recurse=False)]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in ref.named_modules(remove_duplicate=False)]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in ref.modules()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    assert list(ours.state_dict(prefix="model.").keys()) == list(ref.state_dict(prefix="model.").keys())
    assert list(ours.state_dict(keep_vars=True).keys()) == list(ref_sd.keys())


def test_state_dict_values_are_detached_and_share_storage():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"].is_leaf
    assert not isinstance(sd["weight"], nn.Parameter)
    with cnnkit.no_grad():
        m.weight.fill_(0.5)
    assert np.all(_np(sd["weight"]) == 0.5)  # a view of the parameter, not a copy
    kept = m.state_dict(keep_vars=True)
    assert kept["weight"] is m.weight
    assert hasattr(sd, "_metadata") and sd._metadata[""] == {"version": 1}


# ---------------------------------------------------------------------------------------------
# load_state_dict
# ---------------------------------------------------------------------------------------------
def _error_text(fn):
    with pytest.raises(RuntimeError) as e:
        fn()
    return str(e.value)


def test_load_state_dict_round_trip_from_torch_weights():
    torch = _torch()
    ref = nested(torch)
    ours = nested(cnnkit)
    result = ours.load_state_dict(_to_cnnkit_state(ref.state_dict()))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, p), (_, q) in zip(ours.state_dict().items(), ref.state_dict().items()):
        np.testing.assert_array_equal(_np(p), q.numpy(), err_msg=name)
    # Loading copies into the existing Parameters: identities are kept.
    w = ours.heads["cls"].weight
    ours.load_state_dict(ours.state_dict())
    assert ours.heads["cls"].weight is w


def _broken_states(lib):
    """(description, state_dict transform) pairs for the error-message comparisons."""
    def missing(sd):
        del sd["0.bias"], sd["7.weight"]
        return sd

    def unexpected(sd):
        sd["0.running_mean"] = sd["3.bias"]
        sd["extra"] = sd["3.bias"]
        sd["3.sub.weight"] = sd["3.bias"]
        return sd

    def both(sd):
        return unexpected(missing(sd))

    def size(sd):
        sd["12.weight"] = lib.zeros(10, 83)
        sd["3.bias"] = lib.zeros(17)
        return sd

    def size_and_missing(sd):
        return size(missing(sd))

    def not_tensor(sd):
        sd["0.bias"] = [1.0] * 6
        return sd

    return {"missing": missing, "unexpected": unexpected, "both": both, "size": size,
            "size_and_missing": size_and_missing, "not_tensor": not_tensor}


@pytest.mark.parametrize("case", ["missing", "unexpected", "both", "size", "size_and_missing", "not_tensor"])
@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_errors_match_torch(case, strict):
    torch = _torch()
    ref, ours = lenet(torch.nn), lenet(nn)
    ref_sd = _broken_states(torch)[case](OrderedDict(ref.state_dict()))
    our_sd = _broken_states(cnnkit)[case](OrderedDict(ours.state_dict()))
    try:
        ref_result = ref.load_state_dict(ref_sd, strict=strict)
    except RuntimeError as e:
        ref_err = str(e)
        our_err = _error_text(lambda: ours.load_state_dict(our_sd, strict=strict))
        ref_err = ref_err.replace("torch.Size", "cnnkit.Size").replace("torch.Tensor", "cnnkit.Tensor")
        assert our_err == ref_err
    else:
        result = ours.load_state_dict(our_sd, strict=strict)
        assert result.missing_keys == ref_result.missing_keys
        assert result.unexpected_keys == ref_result.unexpected_keys
        assert repr(result) == repr(ref_result)


def test_load_state_dict_exact_messages():
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    sd = m.state_dict()
    del sd["2.bias"]
    sd["2.extra"] = sd["0.bias"]
    msg = _error_text(lambda: m.load_state_dict(sd))
    assert msg == ('Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "2.bias". '
                   '\n\tUnexpected key(s) in state_dict: "2.extra". ')
    sd = m.state_dict()
    sd["2.weight"] = cnnkit.zeros(2, 4)
    msg = _error_text(lambda: m.load_state_dict(sd, strict=False))
    assert msg == ("Error(s) in loading state_dict for Sequential:\n\tsize mismatch for 2.weight: copying a param "
                   "with shape cnnkit.Size([2, 4]) from checkpoint, the shape in current model is "
                   "cnnkit.Size([2, 3]).")
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        m.load_state_dict([1, 2])


def test_load_state_dict_assign_replaces_parameters():
    m = nn.Linear(2, 2)
    new_w = cnnkit.ones(2, 2)
    sd = m.state_dict()
    sd["weight"] = new_w
    m.load_state_dict(sd, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert np.all(_np(m.weight) == 1.0)


def test_save_load_round_trip(tmp_path):
    m = lenet(nn)
    path = tmp_path / "lenet.pt"
    cnnkit.save(m.state_dict(), path)
    m2 = lenet(nn)
    m2.load_state_dict(cnnkit.load(path))
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=k)


# ---------------------------------------------------------------------------------------------
# registration, attribute protocol and errors
# ---------------------------------------------------------------------------------------------
def test_setattr_registration_and_errors_like_torch():
    torch = _torch()
    for lib in (cnnkit, torch):
        m = lib.nn.Module()
        m.w = lib.nn.Parameter(lib.zeros(2))
        m.sub = lib.nn.Linear(2, 2)
        m.register_buffer("b", lib.zeros(1))
        m.plain = 3
        assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["b"]
        assert "plain" in m.__dict__
        m.b = None  # buffers accept None
        m.b = lib.ones(1)
        m.w = None  # parameters accept None
        assert m.w is None
        with pytest.raises(TypeError, match="cannot assign"):
            m.w = lib.zeros(2)  # a plain tensor into a parameter slot
        with pytest.raises(TypeError, match="cannot assign"):
            m.sub = 5
        with pytest.raises(TypeError, match="cannot assign"):
            m.b = 5
        with pytest.raises(KeyError, match="attribute 'plain' already exists"):
            m.register_buffer("plain", lib.zeros(1))
        with pytest.raises(KeyError, match="contain"):
            m.register_buffer("a.b", lib.zeros(1))
        with pytest.raises(KeyError, match="contain"):
            m.register_parameter("a.b", None)
        with pytest.raises(KeyError, match="contain"):
            m.add_module("a.b", lib.nn.ReLU())
        with pytest.raises(KeyError, match="empty string"):
            m.add_module("", lib.nn.ReLU())
        with pytest.raises(TypeError, match="is not a Module subclass"):
            m.add_module("x", 3)
        with pytest.raises(TypeError, match="buffer name should be a string"):
            m.register_buffer(1, None)
        with pytest.raises(TypeError, match="cannot assign"):
            m.register_parameter("p", lib.zeros(1))
        # Re-assigning a name moves it between registries.
        m.sub = lib.nn.Parameter(lib.zeros(1))
        assert "sub" in m._parameters and "sub" not in m._modules
        del m.sub
        assert "sub" not in m._parameters

    class NoInit(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(cnnkit.zeros(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        NoInit()


def test_getattr_error_message_matches_torch():
    torch = _torch()
    for lib in (cnnkit, torch):
        with pytest.raises(AttributeError) as e:
            lib.nn.Linear(2, 3).nonexistent
        assert str(e.value) == "'Linear' object has no attribute 'nonexistent'"


def test_dir_lists_members_but_not_numbered_children():
    torch = _torch()
    ours, ref = nested(cnnkit), nested(torch)
    for name in ("gamma", "num_batches", "features", "heads", "forward", "training"):
        assert name in dir(ours)
    assert "0" not in dir(nn.Sequential(nn.ReLU()))
    extra = {"call_super_init", "dump_patches"}
    public = lambda names: {n for n in names if not n.startswith("_")} - extra  # noqa: E731
    assert public(dir(ours)) - public(dir(ref)) == set()


def test_train_eval_requires_grad_and_zero_grad():
    m = nested(cnnkit)
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train(1)
    for p in m.parameters():
        p.grad = cnnkit.ones(p.shape)
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(_np(p.grad)) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.heads.requires_grad_()
    assert [n for n, p in m.named_parameters() if p.requires_grad] == \
        ["heads.cls.weight", "heads.cls.bias", "heads.aux.weight"]


def test_to_double_float_keep_parameter_identity():
    m = nested(cnnkit)
    params = list(m.parameters())
    m.gamma.grad = cnnkit.ones(8)
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(p.dtype == cnnkit.float64 for p in m.parameters())
    assert m.gamma.grad.dtype == cnnkit.float64
    assert m.blocks[0].scale.dtype == cnnkit.float64
    assert m.num_batches.dtype == cnnkit.int64  # integer buffers are not cast
    m.to(cnnkit.float32)
    assert all(p.dtype == cnnkit.float32 for p in m.parameters())
    m.to(dtype=cnnkit.float64).to("cpu").float().cpu()
    m.to(cnnkit.zeros(1, dtype=cnnkit.float64))
    assert all(p.dtype == cnnkit.float64 for p in m.parameters())
    with pytest.raises(TypeError, match="floating point"):
        m.to(cnnkit.int64)


def test_apply_visits_children_first_like_torch():
    torch = _torch()
    seen, ref_seen = [], []
    nested(cnnkit).apply(lambda mod: seen.append(type(mod).__name__))
    nested(torch).apply(lambda mod: ref_seen.append(type(mod).__name__))
    assert seen == ref_seen


def test_forward_hooks_and_missing_forward():
    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x if not isinstance(x, int) else x * 2

    m = Twice()
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append((args, out)) or out + 100)
    assert m(1) == 104 and calls == [((2,), 4)]
    h1.remove()
    h2.remove()
    assert m(1) == 2
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


def test_deepcopy_gives_independent_parameters():
    m = lenet(nn)
    m2 = copy.deepcopy(m)
    assert repr(m2) == repr(m)
    with cnnkit.no_grad():
        m2[0].weight.fill_(0.0)
    assert np.any(_np(m[0].weight) != 0)
    assert isinstance(m2[0].weight, nn.Parameter) and m2[0].weight.requires_grad


# ---------------------------------------------------------------------------------------------
# Parameter
# ---------------------------------------------------------------------------------------------
def test_parameter_basics():
    torch = _torch()
    data = cnnkit.zeros(3)
    p = nn.Parameter(data)
    assert isinstance(p, cnnkit.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad is None
    data.fill_(2.0)
    assert np.all(_np(p) == 2.0)  # shares storage with the tensor it was made from
    assert repr(p) == "Parameter containing:\ntensor([2., 2., 2.], requires_grad=True)"
    assert repr(p) == repr(torch.nn.Parameter(torch.full((3,), 2.0)))
    assert str(p) == repr(p)
    assert not nn.Parameter(cnnkit.zeros(2), requires_grad=False).requires_grad
    empty = nn.Parameter()
    assert tuple(empty.shape) == (0,) and empty.requires_grad
    assert isinstance(p.data, cnnkit.Tensor) and not p.data.requires_grad
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q is not p
    q.data.fill_(5.0)
    assert np.all(_np(p) == 2.0)


# ---------------------------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------------------------
def test_sequential_indexing_like_torch():
    torch = _torch()
    for lib in (cnnkit, torch):
        n_ = lib.nn
        s = n_.Sequential(n_.Linear(2, 3), n_.ReLU(), n_.Linear(3, 4), n_.Tanh())
        assert len(s) == 4 and isinstance(s[0], n_.Linear) and isinstance(s[-1], n_.Tanh)
        sl = s[1:3]
        assert isinstance(sl, n_.Sequential) and list(sl._modules) == ["1", "2"]
        with pytest.raises(IndexError, match="index 4 is out of range"):
            s[4]
        s[1] = n_.Sigmoid()
        assert isinstance(s[1], n_.Sigmoid)
        del s[1]
        assert list(s._modules) == ["0", "1", "2"] and isinstance(s[1], n_.Linear)
        s.append(n_.ReLU())
        s.insert(0, n_.Identity())
        assert [type(x).__name__ for x in s] == ["Identity", "Linear", "Linear", "Tanh", "ReLU"]
        assert type(s.pop(0)).__name__ == "Identity"
        s.extend(n_.Sequential(n_.Softmax(1)))
        assert [type(x).__name__ for x in s] == ["Linear", "Linear", "Tanh", "ReLU", "Softmax"]
        assert list(s.state_dict().keys()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
        named = n_.Sequential(OrderedDict([("a", n_.ReLU()), ("b", n_.Tanh())]))
        assert list(named._modules) == ["a", "b"] and isinstance(named[1], n_.Tanh)
        assert len(named + named) == 4


def test_modulelist_and_moduledict_like_torch():
    torch = _torch()
    for lib in (cnnkit, torch):
        n_ = lib.nn
        ml = n_.ModuleList([n_.ReLU(), n_.Tanh()])
        ml.append(n_.Linear(1, 1))
        ml.extend([n_.Sigmoid()])
        ml.insert(1, n_.Identity())
        ml += [n_.ReLU()]
        assert [type(x).__name__ for x in ml] == ["ReLU", "Identity", "Tanh", "Linear", "Sigmoid", "ReLU"]
        assert isinstance(ml[-1], n_.ReLU) and isinstance(ml[1:3], n_.ModuleList) and len(ml[1:3]) == 2
        del ml[0]
        assert list(ml._modules) == [str(i) for i in range(5)]
        assert list(ml.state_dict().keys()) == ["2.weight", "2.bias"]
        with pytest.raises(IndexError, match="index 9 is out of range"):
            ml[9]
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
            ml.extend(3)
        md = n_.ModuleDict([("x", n_.ReLU()), ("y", n_.Linear(2, 2))])
        md["z"] = n_.Tanh()
        md.update({"w": n_.Sigmoid()})
        assert list(md.keys()) == ["x", "y", "z", "w"] and "y" in md and len(md) == 4
        assert list(iter(md)) == ["x", "y", "z", "w"]
        assert type(md.pop("x")).__name__ == "ReLU"
        assert [k for k, _ in md.items()] == ["y", "z", "w"]
        assert list(md.state_dict().keys()) == ["y.weight", "y.bias"]
        with pytest.raises(ValueError, match="has length 3; 2 is required"):
            md.update([("a", n_.ReLU(), 1)])
        md.clear()
        assert len(md) == 0


# ---------------------------------------------------------------------------------------------
# layer constructors
# ---------------------------------------------------------------------------------------------
def test_layer_parameter_shapes_match_torch():
    torch = _torch()
    cases = [
        lambda n: n.Conv2d(4, 6, (3, 2), groups=2),
        lambda n: n.Conv2d(1, 1, 1, bias=False),
        lambda n: n.Linear(33, 7),
        lambda n: n.Linear(1, 1, bias=False),
    ]
    for make in cases:
        ours, ref = make(nn), make(torch.nn)
        assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
        for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                     "padding_mode", "output_padding", "transposed", "in_features", "out_features"):
            if hasattr(ref, attr):
                assert getattr(ours, attr) == getattr(ref, attr), attr
    assert nn.Linear(3, 2, dtype=cnnkit.float64).weight.dtype == cnnkit.float64


def test_conv2d_argument_errors():
    torch = _torch()
    for make in (lambda n: n.Conv2d(3, 6, 3, groups=0), lambda n: n.Conv2d(3, 6, 3, groups=2),
                 lambda n: n.Conv2d(4, 6, 3, groups=4), lambda n: n.Conv2d(3, 6, 3, padding="full"),
                 lambda n: n.Conv2d(3, 6, 3, stride=2, padding="same"),
                 lambda n: n.Conv2d(3, 6, 3, padding_mode="mirror")):
        with pytest.raises(ValueError) as ref_err:
            make(torch.nn)
        with pytest.raises(ValueError) as our_err:
            make(nn)
        # The padding_mode message prints a Python set, whose order varies between runs: compare
        # the words rather than the order.
        assert sorted(re.findall(r"\w+", str(our_err.value))) == sorted(re.findall(r"\w+", str(ref_err.value)))
    for mode in ("reflect", "replicate", "circular"):  # supported since step 5 (pad, then convolve)
        assert nn.Conv2d(3, 6, 3, padding_mode=mode).padding_mode == mode
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_loss_module_attributes_like_torch():
    torch = _torch()
    for make in (lambda lib: lib.nn.CrossEntropyLoss(weight=lib.ones(3), ignore_index=1, label_smoothing=0.2),
                 lambda lib: lib.nn.NLLLoss(reduction="none"), lambda lib: lib.nn.MSELoss(reduction="sum")):
        ours, ref = make(cnnkit), make(torch)
        for attr in ("reduction", "ignore_index", "label_smoothing"):
            assert getattr(ours, attr, None) == getattr(ref, attr, None)
        assert list(ours.state_dict().keys()) == list(ref.state_dict().keys())
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"


# ---------------------------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------------------------
def test_calculate_gain_and_fans_match_torch():
    torch = _torch()
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu",)]:
        assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)
    for shape in [(3, 4), (6, 1, 5, 5), (16, 6, 3, 2), (7, 33)]:
        assert init._calculate_fan_in_and_fan_out(cnnkit.empty(shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for call in (lambda m: m.calculate_gain("swish"), lambda m: m.calculate_gain("leaky_relu", True),
                 lambda m, lib=None: m._calculate_fan_in_and_fan_out(
                     (cnnkit if m is init else torch).empty(3)),
                 lambda m: m.kaiming_uniform_((cnnkit if m is init else torch).empty(3, 3), mode="fan_avg")):
        with pytest.raises(ValueError) as ref_err:
            call(torch.nn.init)
        with pytest.raises(ValueError) as our_err:
            call(init)
        assert str(our_err.value) == str(ref_err.value)


def _bound_check(t, bound):
    a = _np(t).astype(np.float64)
    assert a.min() >= -bound and a.max() <= bound
    # Many samples: the extremes approach the bound and the std is bound/sqrt(3) (uniform).
    if a.size >= 2000:
        assert a.max() > 0.95 * bound and a.min() < -0.95 * bound
        assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
        assert abs(a.mean()) < 0.05 * bound


@pytest.mark.parametrize("layer,fan_in", [
    (lambda: nn.Conv2d(16, 32, 5), 16 * 25),
    (lambda: nn.Conv2d(6, 12, (3, 1), groups=3), 2 * 3),
    (lambda: nn.Linear(400, 120), 400),
    (lambda: nn.Linear(3, 1000), 3),
])
def test_default_init_bounds(layer, fan_in):
    cnnkit.manual_seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)
    _bound_check(m.weight, bound)
    _bound_check(m.bias, bound)
    w_before = _np(m.weight).copy()
    m.reset_parameters()
    assert not np.array_equal(w_before, _np(m.weight))


def test_init_functions_distributions():
    cnnkit.manual_seed(1)
    w = cnnkit.empty(200, 300)
    fan_in, fan_out = 300, 200
    init.xavier_uniform_(w, gain=2.0)
    _bound_check(w, 2.0 * math.sqrt(6.0 / (fan_in + fan_out)))
    init.kaiming_uniform_(w, nonlinearity="relu")
    _bound_check(w, math.sqrt(2.0) * math.sqrt(3.0 / fan_in))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    _bound_check(w, math.sqrt(2.0) * math.sqrt(3.0 / fan_out))
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert _np(w).std() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.03)
    init.xavier_normal_(w)
    assert _np(w).std() == pytest.approx(math.sqrt(2.0 / (fan_in + fan_out)), rel=0.03)
    init.normal_(w, 3.0, 0.5)
    assert _np(w).mean() == pytest.approx(3.0, abs=0.01) and _np(w).std() == pytest.approx(0.5, rel=0.03)
    init.uniform_(w, -2.0, 5.0)
    assert _np(w).min() >= -2.0 and _np(w).max() <= 5.0
    init.constant_(w, 0.25)
    assert np.all(_np(w) == 0.25)
    init.zeros_(w)
    assert not np.any(_np(w))
    init.ones_(w)
    assert np.all(_np(w) == 1.0)
    g = cnnkit.Generator().manual_seed(5)
    a = init.uniform_(cnnkit.empty(10), generator=g)
    b = init.uniform_(cnnkit.empty(10), generator=cnnkit.Generator().manual_seed(5))
    np.testing.assert_array_equal(_np(a), _np(b))
    p = nn.Parameter(cnnkit.empty(3, 3))
    init.kaiming_normal_(p)  # works on leaves that require grad (runs under no_grad)
    assert p.requires_grad and p.grad_fn is None
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(cnnkit.empty(0, 3))


def test_trunc_normal_and_eye():
    cnnkit.manual_seed(2)
    w = cnnkit.empty(100, 100)
    init.trunc_normal_(w, mean=0.5, std=1.0, a=-0.5, b=1.0)
    a = _np(w)
    assert a.min() >= -0.5 and a.max() <= 1.0 and a.std() > 0.2
    e = init.eye_(cnnkit.empty(3, 4))
    np.testing.assert_array_equal(_np(e), np.eye(3, 4, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# forward through nn.functional, compared with PyTorch from the same weights
# ---------------------------------------------------------------------------------------------
def test_lenet_forward_matches_torch():
    torch = _torch()
    ref, ours = lenet(torch.nn).eval(), lenet(nn).eval()
    ours.load_state_dict(_to_cnnkit_state(ref.state_dict()))
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    out = ours(cnnkit.from_numpy(x))
    expected = ref(torch.from_numpy(x)).detach().numpy()
    assert tuple(out.shape) == (3, 10)
    np.testing.assert_allclose(_np(out), expected, rtol=1e-4, atol=1e-5)


def test_nested_forward_backward_matches_torch():
    torch = _torch()
    ref, ours = nested(torch), nested(cnnkit)
    ours.load_state_dict(_to_cnnkit_state(ref.state_dict()))
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 7)).astype(np.float32)
    y = np.array([3, 7])
    out = ours(cnnkit.from_numpy(x))
    loss = ours.loss(out, cnnkit.from_numpy(y))
    loss.backward()
    ref_out = ref(torch.from_numpy(x))
    ref_loss = ref.loss(ref_out, torch.from_numpy(y))
    ref_loss.backward()
    np.testing.assert_allclose(_np(out), ref_out.detach().numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        if q.grad is None:  # heads.aux is not used in forward: no gradient in either library
            assert p.grad is None, name
            continue
        np.testing.assert_allclose(_np(p.grad), q.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("make,shape", [
    (lambda n: n.ReLU(), (2, 5)), (lambda n: n.LeakyReLU(0.1), (3, 4)), (lambda n: n.Sigmoid(), (7,)),
    (lambda n: n.Tanh(), (2, 3)), (lambda n: n.Softmax(dim=1), (3, 5)), (lambda n: n.LogSoftmax(dim=0), (4, 2)),
    (lambda n: n.Flatten(), (2, 3, 4)), (lambda n: n.Unflatten(1, (3, 4)), (2, 12)), (lambda n: n.Identity(), (3,)),
    (lambda n: n.MaxPool2d(3, stride=2, padding=1), (1, 2, 7, 9)), (lambda n: n.AvgPool2d(2), (2, 1, 6, 4)),
    (lambda n: n.Conv2d(3, 4, 3, padding="same", dilation=2), (1, 3, 8, 7)),
    (lambda n: n.Conv2d(2, 3, (2, 4), padding="same", dilation=(1, 1), bias=False), (2, 2, 5, 6)),
    (lambda n: n.Conv2d(2, 3, 3, padding="valid", stride=2), (1, 2, 7, 7)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_layer_forward_matches_torch(make, shape):
    torch = _torch()
    ref, ours = make(torch.nn), make(nn)
    ours.load_state_dict(_to_cnnkit_state(ref.state_dict()))
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(_np(ours(cnnkit.from_numpy(x))), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-6)


def test_loss_modules_forward_match_torch():
    torch = _torch()
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    target = np.array([0, 3, 1, 1, 2])
    w = np.array([1.0, 2.0, 0.5, 1.5], dtype=np.float32)
    for make in (lambda lib: lib.nn.CrossEntropyLoss(), lambda lib: lib.nn.CrossEntropyLoss(reduction="sum"),
                 lambda lib: lib.nn.CrossEntropyLoss(weight=lib.from_numpy(w.copy()))):
        np.testing.assert_allclose(
            _np(make(cnnkit)(cnnkit.from_numpy(logits), cnnkit.from_numpy(target))),
            make(torch)(torch.from_numpy(logits), torch.from_numpy(target)).numpy(), rtol=1e-5)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(_np(nn.NLLLoss()(cnnkit.from_numpy(logp), cnnkit.from_numpy(target))),
                               torch.nn.NLLLoss()(torch.from_numpy(logp), torch.from_numpy(target)).numpy(), rtol=1e-5)
    b = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(_np(nn.MSELoss()(cnnkit.from_numpy(logits), cnnkit.from_numpy(b))),
                               torch.nn.MSELoss()(torch.from_numpy(logits), torch.from_numpy(b)).numpy(), rtol=1e-5)


def test_dropout_module_train_and_eval():
    cnnkit.manual_seed(0)
    d = nn.Dropout(0.5)
    x = cnnkit.ones(1000)
    y = _np(d(x))
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    d.eval()
    np.testing.assert_array_equal(_np(d(x)), np.ones(1000, dtype=np.float32))
