"""F.pad (constant / reflect / replicate / circular, _C.pad_forward / _C.pad_backward) and the padding
modules: against np.pad and a loop reference for the backward, float64 gradchecks, PyTorch forward and
backward (negative pads that crop included), torch's error messages and reprs."""
import itertools

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import back, cuda_case, on

NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
MODES = list(NP_MODE)


def np_pad(x, pad, mode, value=0.0):
    """np.pad in F.pad's terms. A negative width crops; like torch, the crop comes first (circular
    padding then wraps around the cropped input)."""
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * j], pad[2 * j + 1]) for j in reversed(range(k))]
    x = x[tuple(slice(-min(lo, 0), x.shape[i] + min(hi, 0)) for i, (lo, hi) in enumerate(widths))]
    pos = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x, pos, mode="constant", constant_values=value)
    return np.pad(x, pos, mode=NP_MODE[mode])


def source_maps(shape, pad, mode):
    """Per padded dim, output position -> source index (-1: fill), by np_pad of an index ramp."""
    k = len(pad) // 2
    maps = []
    for j in range(k):
        n = shape[len(shape) - 1 - j]
        ramp = np.arange(n, dtype=np.float64)
        maps.append(np_pad(ramp, (pad[2 * j], pad[2 * j + 1]), mode, -1).astype(int))
    return maps[::-1]  # outermost padded dim first


def loop_backward(g, shape, pad, mode):
    """The input gradient by a loop over output positions (scatter-add), independent of the kernel."""
    k = len(pad) // 2
    maps = source_maps(shape, pad, mode)
    dx = np.zeros(shape)
    lead = shape[:len(shape) - k]
    for idx in itertools.product(*[range(len(m)) for m in maps]):
        src = [m[i] for m, i in zip(maps, idx)]
        if min(src) < 0:
            continue
        dx[(Ellipsis, *src)] += g[(Ellipsis, *idx)]
    assert dx.shape[:len(lead)] == tuple(lead)
    return dx


CASES = [  # (shape, pad): 1-3 padded dims
    ((2, 3, 7), (1, 2)),
    ((3, 5), (3, 0)),
    ((2, 3, 5, 7), (1, 2, 3, 1)),
    ((3, 4, 6), (0, 3, 2, 2)),
    ((1, 2, 3, 4, 5), (1, 2, 0, 3, 2, 1)),
    ((2, 3, 4, 5), (2, 1, 1, 3, 1, 2)),
]
# The CUDA twin test's further cases (cropping pads, a plane larger than a CUDA block): the [cuda] half only
# (the CPU checks cropping pads against torch below). The CUDA file had (4, 8, 33, 17): the same planes, fewer.
DEVICE_CASES = CASES + [cuda_case((3, 5), (4, 0)), cuda_case((2, 3, 7), (-1, 2)),
                        cuda_case((2, 3, 5, 6), (-1, 2, 1, -2)), cuda_case((1, 2, 33, 17), (2, 3, 1, 2))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", DEVICE_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_backward_vs_numpy(mode, shape, pad, dtype, device):
    """On each device: the forward is a gather (no arithmetic), equal to np.pad bit for bit; the backward
    adds the gradients that land on one input element, possibly in another order than the loop reference
    (and with atomics on CUDA): within 1e-5 (float32) / 1e-12 (float64) on both devices."""
    rng = np.random.default_rng(hash((mode, shape, pad)) % 2**32)
    x = rng.standard_normal(shape).astype(dtype)
    value = 0.75 if mode == "constant" else 0.0
    out = back(_C.pad_forward(on(x, device), list(pad), mode, value))
    ref = np_pad(x, pad, mode, value)
    np.testing.assert_array_equal(out, ref)
    g = rng.standard_normal(ref.shape).astype(dtype)
    dx = back(_C.pad_backward(on(g, device), list(shape), list(pad), mode))
    np.testing.assert_allclose(dx, loop_backward(g.astype(np.float64), shape, pad, mode),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(mode):
    rng = np.random.default_rng(1)
    for shape, pad in [((2, 3, 4), (2, 1)), ((1, 2, 3, 4), (1, 2, 2, 0)), ((1, 2, 3, 4), (-1, 2, 1, -1))]:
        x = cnnkit.tensor(rng.standard_normal(shape), requires_grad=True)
        assert gradcheck(lambda t: F.pad(t, pad, mode=mode), (x,))


def test_gradcheck_constant_many_dims():
    x = cnnkit.tensor(np.random.default_rng(2).standard_normal((2, 2, 2, 3)), requires_grad=True)
    assert gradcheck(lambda t: F.pad(t, (1, 0, 0, 1, 1, 1, 1, 0), value=0.5), (x,))


def test_constant_int_and_bool_dtypes(device):
    x = cnnkit.tensor(np.arange(12).reshape(3, 4), device=device)
    out = F.pad(x, (1, 1, 0, 2), value=7)
    np.testing.assert_array_equal(out.cpu().numpy(), np.pad(np.arange(12).reshape(3, 4), ((0, 2), (1, 1)),
                                                            constant_values=7))
    assert out.dtype == x.dtype and out.device == x.device
    np.testing.assert_array_equal(back(_C.pad_forward(on(np.arange(60).reshape(3, 4, 5), device), [1, 2, 2, 0],
                                                      "constant", 9.0)),
                                  np.pad(np.arange(60).reshape(3, 4, 5), ((0, 0), (2, 0), (1, 2)), constant_values=9))


def test_autograd_on_device(device):
    """F.pad's backward through autograd on each device against the loop reference (float32)."""
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    t = cnnkit.tensor(x, device=device, requires_grad=True)
    (F.pad(t, (2, 1, 1, 2), mode="reflect") ** 2).sum().backward()
    ref = loop_backward(2 * np_pad(x.astype(np.float64), (2, 1, 1, 2), "reflect"), x.shape, (2, 1, 1, 2), "reflect")
    np.testing.assert_allclose(t.grad.cpu().numpy(), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# PyTorch: values and gradients, negative pads (cropping), more than three constant dims
# ---------------------------------------------------------------------------------------------
TORCH_CASES = CASES + [
    ((2, 3, 7), (-1, 2)), ((2, 3, 7), (2, -3)), ((2, 3, 5, 6), (-1, 2, 1, -2)), ((3, 5, 6), (-2, -1, 0, -1)),
    ((2, 3, 4, 5), (0, 0, -1, 2)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", TORCH_CASES)
def test_vs_torch(mode, shape, pad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(abs(hash((mode, shape, pad))) % 2**32)
    x = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    try:
        ref = torch.nn.functional.pad(xt, pad, mode=mode)
    except (RuntimeError, NotImplementedError) as e:
        with pytest.raises(type(e)):
            F.pad(cnnkit.tensor(x), pad, mode=mode)
        return
    xc = cnnkit.tensor(x, requires_grad=True)
    out = F.pad(xc, pad, mode=mode)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    g = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    ref.backward(torch.tensor(g))
    out.backward(cnnkit.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_constant_many_dims_vs_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 3, 4)).astype(np.float32)
    for pad in [(1, 1, 1, 1, 1, 1, 1, 1), (1, 0, 2, 1, 0, 1, 1, 0, 2, 1), (0, 1, -1, 1, 1, -1, 2, 0)]:
        ref = torch.nn.functional.pad(torch.tensor(x), pad, value=-2.0)
        out = F.pad(cnnkit.tensor(x), pad, value=-2.0)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


# ---------------------------------------------------------------------------------------------
# errors: torch's types and messages
# ---------------------------------------------------------------------------------------------
ERROR_CASES = [
    ((1, 1, 3, 3), (3, 3, 0, 0), "reflect", None),
    ((1, 1, 3, 3), (0, 0, 3, 3), "reflect", None),
    ((1, 1, 2, 3, 3), (0, 0, 0, 0, 3, 3), "reflect", None),
    ((1, 1, 3, 3), (4, 0, 0, 0), "circular", None),
    ((1, 1, 5), (-3, -3), "circular", None),
    ((1, 1, 5), (-3, -3), "replicate", None),
    ((1, 1, 5), (-3, -3), "reflect", None),
    ((1, 1, 5), (-5, 0), "replicate", None),
    ((3, 3), (1, 1, 1, 1), "reflect", None),
    ((1, 1, 3, 3), (1, 1), "reflect", None),
    ((1, 1, 2, 3, 3), (1, 1, 1, 1), "replicate", None),
    ((3,), (1, 1), "replicate", None),
    ((1, 1, 3, 3), (1, 1, 1), "constant", None),
    ((1, 1, 3, 3), (1,) * 10, "constant", None),
    ((1, 1, 3, 3), (-2, -2, 0, 0), "constant", None),
    ((1, 1, 3, 3), (1, 1), "foo", None),
    ((1, 1, 3, 3), (1, 1), "reflect", 1.0),
    ((2, 0, 3), (1, 1), "reflect", None),
    ((2, 1, 0, 3), (1, 1, 1, 1), "replicate", None),
]


@pytest.mark.parametrize("shape,pad,mode,value", ERROR_CASES)
def test_errors_match_torch(shape, pad, mode, value):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as te:
        torch.nn.functional.pad(torch.zeros(shape), pad, mode=mode, value=value)
    with pytest.raises(type(te.value)) as ce:
        F.pad(cnnkit.zeros(shape), pad, mode=mode, value=value)
    assert str(ce.value) == str(te.value).split("\n")[0]


def test_type_errors():
    x = cnnkit.zeros(1, 1, 3)
    with pytest.raises(TypeError, match="must be tuple of ints, but found element of type float at pos 0"):
        F.pad(x, (1.5, 1))
    with pytest.raises(TypeError, match="must be Tensor"):
        F.pad(np.zeros(3), (1, 1))
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.pad_backward(_C.from_numpy(np.zeros((1, 5), dtype=np.int64)), [1, 3], [1, 1], "constant")
    with pytest.raises(ValueError, match="expected grad_output of shape"):
        _C.pad_backward(_C.from_numpy(np.zeros((1, 4))), [1, 3], [1, 1], "constant")
    with pytest.raises(ValueError, match="unrecognised padding mode"):
        _C.pad_forward(_C.from_numpy(np.zeros((1, 4))), [1, 1], "edge", 0.0)


# ---------------------------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------------------------
MODULES = [
    ("ZeroPad1d", (2,)), ("ZeroPad2d", (2,)), ("ZeroPad2d", ((1, 0, 2, 3),)), ("ZeroPad3d", (1,)),
    ("ConstantPad1d", ((1, 2), 3.5)), ("ConstantPad2d", (1, 0.0)), ("ConstantPad2d", ((1, 2), -1.0)),
    ("ConstantPad3d", (1, 2.0)), ("ReflectionPad1d", (2,)), ("ReflectionPad2d", ((1, 0, 2, 1),)),
    ("ReflectionPad3d", (1,)), ("ReplicationPad1d", ((0, 3),)), ("ReplicationPad2d", (1,)),
    ("ReplicationPad3d", ((1, 0, 0, 1, 1, 1),)), ("CircularPad1d", (2,)), ("CircularPad2d", ((1, 2, 0, 1),)),
    ("CircularPad3d", (1,)),
]


@pytest.mark.parametrize("name,args", MODULES)
def test_modules_vs_torch(name, args):
    torch = pytest.importorskip("torch")
    tm, cm = getattr(torch.nn, name)(*args), getattr(nn, name)(*args)
    assert repr(cm) == repr(tm)
    assert cm.padding == tm.padding
    nd = 2 + (("1d" in name) and 1 or ("2d" in name) and 2 or 3)
    shape = (2, 3, 4, 5, 6)[:nd]
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(cm(cnnkit.tensor(x)).numpy(), tm(torch.tensor(x)).numpy())
    # unbatched input
    np.testing.assert_array_equal(cm(cnnkit.tensor(x[0])).numpy(), tm(torch.tensor(x[0])).numpy())


def test_circular_module_checks_rank():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(cnnkit.zeros(3, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.CircularPad1d(1)(cnnkit.zeros(1, 1, 3, 3))
