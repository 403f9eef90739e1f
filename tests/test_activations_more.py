"""The activations beyond relu/leaky_relu/sigmoid/tanh (ELU ... Softshrink, PReLU, Softmin, Softmax2d):
forward and backward against independent NumPy formulas, float64 finite differences, and PyTorch
(forward and backward, edge regions, reprs, in-place semantics); bad arguments raise clear errors.
The NumPy comparisons run on each device (the `device` fixture) within tol(dtype, device): on CUDA the
transcendental functions (exp/erf/tanh/log1p) come from CUDA's math library, a few ulp from libm, and nvcc
contracts multiply-adds into FMAs; selects and clamps are exact on both devices."""
import math
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import cuda_case, is_cuda

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def rand(shape, dtype=np.float64, seed=0, scale=3.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=dtype)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softplus(x, b=1.0, t=20.0):
    return np.where(x * b > t, x, np.log1p(np.exp(np.minimum(x * b, 700))) / b)


def np_erf(x):
    return np.vectorize(math.erf)(x)


# name -> (cnnkit call, NumPy forward (float64), NumPy derivative d f / d x (float64))
ACTS = {
    "elu": (lambda x: F.elu(x), lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "elu_a": (lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
              lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(x))),
    "celu": (lambda x: F.celu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x / 1.5)),
             lambda x: np.where(x > 0, 1.0, np.exp(x / 1.5))),
    "selu": (lambda x: F.selu(x), lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)),
             lambda x: SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(x))),
    "gelu": (lambda x: F.gelu(x), lambda x: 0.5 * x * (1 + np_erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + np_erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
                  lambda x: (0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
                             + 0.5 * x * (1 - np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)) ** 2)
                             * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x))),
    "silu": (lambda x: F.silu(x), lambda x: x * sig(x), lambda x: sig(x) * (1 + x * (1 - sig(x)))),
    "softplus": (lambda x: F.softplus(x), np_softplus, lambda x: np.where(x > 20, 1.0, sig(x))),
    "softplus_b": (lambda x: F.softplus(x, beta=2.0, threshold=5.0), lambda x: np_softplus(x, 2.0, 5.0),
                   lambda x: np.where(2 * x > 5, 1.0, sig(2 * x))),
    "hardtanh": (lambda x: F.hardtanh(x, -1.5, 2.0), lambda x: np.clip(x, -1.5, 2.0),
                 lambda x: ((x > -1.5) & (x < 2.0)).astype(float)),
    "relu6": (lambda x: F.relu6(x), lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(float)),
    "hardswish": (lambda x: F.hardswish(x), lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))),
    "hardsigmoid": (lambda x: F.hardsigmoid(x), lambda x: np.clip(x + 3, 0, 6) / 6,
                    lambda x: np.where((x > -3) & (x < 3), float(np.float32(1 / 6)), 0.0)),  # torch's float 1/6
    "mish": (lambda x: F.mish(x), lambda x: x * np.tanh(np.log1p(np.exp(x))),
             lambda x: np.tanh(np.log1p(np.exp(x))) + x * sig(x) * (1 - np.tanh(np.log1p(np.exp(x))) ** 2)),
    "logsigmoid": (lambda x: F.logsigmoid(x), lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
                   lambda x: sig(-x)),
    "softsign": (lambda x: F.softsign(x), lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "tanhshrink": (lambda x: F.tanhshrink(x), lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0),
                  lambda x: (x > 0.5).astype(float)),
    "hardshrink": (lambda x: F.hardshrink(x, 0.8), lambda x: np.where(np.abs(x) > 0.8, x, 0.0),
                   lambda x: (np.abs(x) > 0.8).astype(float)),
    "softshrink": (lambda x: F.softshrink(x, 0.8),
                   lambda x: np.where(x > 0.8, x - 0.8, np.where(x < -0.8, x + 0.8, 0.0)),
                   lambda x: (np.abs(x) > 0.8).astype(float)),
}

# Points where a formula switches branch (kinks, thresholds): excluded from finite differences.
KINKS = {"elu": [0], "elu_a": [0], "celu": [0], "selu": [0], "hardtanh": [-1.5, 2.0], "relu6": [0, 6],
         "hardswish": [-3, 3], "hardsigmoid": [-3, 3], "threshold": [0.5], "hardshrink": [-0.8, 0.8],
         "softshrink": [-0.8, 0.8], "softplus": [20], "softplus_b": [2.5]}

# cuda_case: the CUDA twin test's shapes, run by the [cuda] half only
SHAPES = [(1,), (7,), (3, 33), (2, 3, 5, 7), cuda_case((3, 7)), cuda_case((2, 3, 7, 9))]
SHAPES32 = [(5, 41), cuda_case((1,)), cuda_case((3, 7)), cuda_case((2, 3, 7, 9))]


def tol(dtype, device, backward=False):
    """Forward (backward) tolerance against the float64 NumPy formulas."""
    if dtype == np.float64:
        return dict(rtol=1e-11, atol=1e-13) if backward else dict(rtol=1e-12, atol=1e-13)
    if is_cuda(device):
        return dict(rtol=2e-5, atol=2e-6)
    return dict(rtol=1e-5, atol=1e-6) if backward else dict(rtol=2e-6, atol=2e-6)


def run(name, x_np, g_np, device="cpu"):
    x = ck.tensor(x_np, device=device).requires_grad_(True)
    y = ACTS[name][0](x)
    assert y.device == x.device
    y.backward(ck.tensor(g_np, device=device))
    return y.detach().cpu().numpy(), x.grad.cpu().numpy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ACTS))
def test_forward_backward_matches_numpy_float64(name, shape, device):
    _, fref, dref = ACTS[name]
    x = rand(shape, seed=hash(name) % 1000)
    g = rand(shape, seed=5, scale=1.0)
    y, dx = run(name, x, g, device)
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, fref(x), **tol(np.float64, device))
    np.testing.assert_allclose(dx, g * dref(x), **tol(np.float64, device, backward=True))


@pytest.mark.parametrize("shape", SHAPES32)
@pytest.mark.parametrize("name", list(ACTS))
def test_float32_matches_numpy(name, shape, device):
    _, fref, dref = ACTS[name]
    x = rand(shape, np.float32, seed=2)
    g = rand(shape, np.float32, seed=3, scale=1.0)
    y, dx = run(name, x, g, device)
    assert y.dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, fref(x64), **tol(np.float32, device))
    np.testing.assert_allclose(dx, g.astype(np.float64) * dref(x64), **tol(np.float32, device, backward=True))


@pytest.mark.parametrize("name", list(ACTS))
def test_gradcheck_float64(name):
    x = rand((3, 4), seed=11)
    for k in KINKS.get(name, []):  # keep finite differences off the branch points
        near = np.abs(x - k) < 1e-3
        x[near] = k + 0.25
    xt = ck.from_numpy(x).requires_grad_(True)
    assert gradcheck(ACTS[name][0], (xt,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("dtype", [cuda_case(np.float32), np.float64])
def test_large_slice_crosses_parallel_grain(dtype, device):
    """Past the device's split of the work: the CPU's parallel grain (70001 elements, a few functions, float64)
    or, on CUDA, more blocks than one grid holds (100003 elements, every function, both dtypes)."""
    if is_cuda(device):
        n, names = 100003, list(ACTS)
    else:
        n, names = 70001, ["gelu", "softplus", "hardswish", "logsigmoid"]
    x = rand((n,), dtype, seed=9)
    x64 = x.astype(np.float64)
    for name in names:
        y, dx = run(name, x, np.ones_like(x), device)
        np.testing.assert_allclose(y, ACTS[name][1](x64), **tol(dtype, device))
        np.testing.assert_allclose(dx, ACTS[name][2](x64), **tol(dtype, device, backward=True))


def test_strided_input(device):
    base = rand((6, 8), seed=4)
    x = ck.tensor(base, device=device).t()[::2]
    y = F.gelu(x)
    np.testing.assert_allclose(y.cpu().numpy(), ACTS["gelu"][1](base.T[::2]), **tol(np.float64, device))


def test_edge_regions_stable():
    # logsigmoid stable for large |x|; softplus linear above its threshold; gelu saturates cleanly
    x = np.array([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0])
    ls = F.logsigmoid(ck.from_numpy(x)).numpy()
    np.testing.assert_allclose(ls, [-1000.0, -100.0, -30.0, -math.exp(-30.0), -math.exp(-100), 0.0], rtol=1e-12)
    sp = F.softplus(ck.from_numpy(x)).numpy()
    assert np.isfinite(sp).all()
    np.testing.assert_allclose(sp[3:], x[3:], rtol=1e-12)
    assert sp[0] == 0.0
    ge = F.gelu(ck.from_numpy(x)).numpy()
    np.testing.assert_array_equal(ge[[0, 1, 4, 5]], [-0.0, -0.0, 100.0, 1000.0])
    # exactly at softplus's threshold the log form is used (strict >), just above it the identity
    t = ck.from_numpy(np.array([20.0, 20.000001]))
    np.testing.assert_allclose(F.softplus(t).numpy(), [math.log1p(math.exp(20.0)), 20.000001], rtol=1e-15)


def test_nan_propagates():
    x = ck.tensor([float("nan")], dtype=ck.float32)
    for name in ACTS:
        if name == "threshold":
            continue
        assert np.isnan(ACTS[name][0](x).numpy()).all(), name
    assert np.isnan(F.threshold(x, 0.5, -2.0).numpy()).all()  # NaN <= t is false: NaN passes


# ---------------------------------------------------------------------------------------------
# PyTorch: forward and backward, float32 and float64, random data plus the branch points
# ---------------------------------------------------------------------------------------------
def torch_fns(torch):
    TF = torch.nn.functional
    return {
        "elu": lambda x: TF.elu(x), "elu_a": lambda x: TF.elu(x, 0.7), "celu": lambda x: TF.celu(x, 1.5),
        "selu": TF.selu, "gelu": TF.gelu, "gelu_tanh": lambda x: TF.gelu(x, approximate="tanh"), "silu": TF.silu,
        "softplus": TF.softplus, "softplus_b": lambda x: TF.softplus(x, beta=2.0, threshold=5.0),
        "hardtanh": lambda x: TF.hardtanh(x, -1.5, 2.0), "relu6": TF.relu6, "hardswish": TF.hardswish,
        "hardsigmoid": TF.hardsigmoid, "mish": TF.mish, "logsigmoid": TF.logsigmoid, "softsign": TF.softsign,
        "tanhshrink": TF.tanhshrink, "threshold": lambda x: TF.threshold(x, 0.5, -2.0),
        "hardshrink": lambda x: TF.hardshrink(x, 0.8), "softshrink": lambda x: TF.softshrink(x, 0.8),
    }


EDGES = [0.0, -0.0, 1e-8, -1e-8, -3.0, 3.0, -1.5, 2.0, 6.0, 0.5, 0.8, -0.8, 2.5, 5.0, 20.0, 19.99, 20.01,
         -20.0, 40.0, -40.0, 90.0, -90.0, 200.0, -200.0, float("inf"), float("-inf")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(ACTS))
def test_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    np_dt = np.float32 if dtype == "float32" else np.float64
    x = np.concatenate([rand(300, np_dt, seed=1, scale=4.0), np.array(EDGES, np_dt)])
    g = rand(x.shape, np_dt, seed=2, scale=1.0)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = torch_fns(torch)[name](tx)
    ty.backward(torch.from_numpy(g))
    y, dx = run(name, x, g)
    # float32: libm vs PyTorch's SLEEF differ by an ulp or two (tanh near saturation: gelu_tanh)
    tol = dict(rtol=1e-5, atol=5e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    tg = tx.grad.numpy()
    if name == "softsign":  # torch's composite gradient is inf/inf = NaN at x = +-inf; ours is the limit 0
        assert np.isnan(tg[np.isinf(x)]).all() and (dx[np.isinf(x)] == 0).all()
        dx, tg = dx[np.isfinite(x)], tg[np.isfinite(x)]
    np.testing.assert_allclose(dx, tg, **tol)


def test_softmin_softmax2d_match_torch():
    torch = pytest.importorskip("torch")
    x = rand((2, 3, 4, 5), seed=3)
    g = rand((2, 3, 4, 5), seed=4)
    for mod, tmod in [(nn.Softmin(1), torch.nn.Softmin(1)), (nn.Softmin(-1), torch.nn.Softmin(-1)),
                      (nn.Softmax2d(), torch.nn.Softmax2d())]:
        cx = ck.from_numpy(x.copy()).requires_grad_(True)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        cy, ty = mod(cx), tmod(tx)
        cy.backward(ck.from_numpy(g))
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(cy.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(nn.Softmax2d()(ck.from_numpy(x[0])).numpy(),
                               torch.nn.Softmax2d()(torch.from_numpy(x[0])).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(ck.from_numpy(x[0, 0]))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(ck.from_numpy(x))
    assert F.softmin(ck.from_numpy(x), 1, dtype=ck.float32).dtype == ck.float32


# ---------------------------------------------------------------------------------------------
# PReLU
# ---------------------------------------------------------------------------------------------
PRELU_CASES = [((2, 3, 5, 4), 3), ((2, 3, 5, 4), 1), ((4, 7), 7), ((9,), 1), ((), 1), ((3, 2, 5), 2),
               # the CUDA twin test's cases
               cuda_case((4, 3, 5, 7), 3), cuda_case((4, 3, 5, 7), 1), cuda_case((33, 5), 5), cuda_case((100003,), 1)]


@pytest.mark.parametrize("dtype", [cuda_case(np.float32), np.float64])
@pytest.mark.parametrize("shape,nparam", PRELU_CASES)
def test_prelu_matches_numpy(shape, nparam, dtype, device):
    """prelu on each device: the output and the input gradient are one select and one multiply (exact on both);
    the weight gradient sums over the other dims, in double on both devices but in another order."""
    x = rand(shape, dtype, seed=6)
    w = np.linspace(-0.5, 0.75, nparam).astype(dtype)
    g = rand(shape, dtype, seed=7, scale=1.0)
    cx = ck.tensor(x, device=device).requires_grad_(True)
    cw = ck.tensor(w, device=device).requires_grad_(True)
    y = F.prelu(cx, cw)
    y.backward(ck.tensor(g, device=device))
    wb = w.reshape((1, nparam) + (1,) * (len(shape) - 2)) if nparam > 1 else w[0]
    np.testing.assert_array_equal(y.detach().cpu().numpy(), np.where(x > 0, x, wb * x))
    np.testing.assert_array_equal(cx.grad.cpu().numpy(), np.where(x > 0, g, wb * g))
    contrib = np.where(x > 0, 0.0, x.astype(np.float64) * g)
    if nparam > 1:
        axes = tuple(i for i in range(len(shape)) if i != 1)
        dw = contrib.sum(axis=axes)
    else:
        dw = np.array([contrib.sum()])
    kw = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cw.grad.cpu().numpy(), dw, **kw)


@pytest.mark.parametrize("shape,nparam", [((2, 3, 5, 4), 3), ((2, 3, 5, 4), 1), ((4, 7), 7), ((9,), 1),
                                          ((), 1), ((3, 2, 5), 2)])
def test_prelu_gradcheck(shape, nparam):
    x = rand(shape, seed=6)
    w = np.linspace(-0.5, 0.75, nparam)
    x[np.abs(x) < 1e-3] = 0.3
    assert gradcheck(F.prelu, (ck.from_numpy(x).requires_grad_(True), ck.from_numpy(w).requires_grad_(True)))


def test_prelu_module_and_torch():
    torch = pytest.importorskip("torch")
    x = rand((4, 3, 6, 5), np.float32, seed=8)
    g = rand((4, 3, 6, 5), np.float32, seed=9, scale=1.0)
    m, tm = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))
    m.weight.data.copy_(ck.tensor([0.1, -0.2, 0.3]))
    cx = ck.from_numpy(x.copy()).requires_grad_(True)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    m(cx).backward(ck.from_numpy(g))
    tm(tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (3,)
    np.testing.assert_array_equal(nn.PReLU().weight.detach().numpy(), [0.25])
    # the weight alone needs a gradient (input does not)
    w = ck.tensor([0.5], requires_grad=True)
    F.prelu(ck.from_numpy(x), w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [np.where(x > 0, 0, x).sum()], rtol=1e-5)


def test_prelu_errors():
    with pytest.raises(ValueError, match="mismatch of parameter numbers and input channel size: found parameter "
                                         "numbers = 3 and channel size = 4"):
        F.prelu(ck.randn(2, 4), ck.ones(3))
    with pytest.raises(ValueError, match="channel size = 1"):
        F.prelu(ck.randn(4), ck.ones(4))
    with pytest.raises(ValueError, match="prelu: expected weight to be a scalar or 1-D tensor, got 2-D"):
        F.prelu(ck.randn(2, 3), ck.ones(3, 1))
    with pytest.raises(TypeError, match="prelu: expected input and weight to have the same dtype"):
        F.prelu(ck.randn(2, 3), ck.ones(3, dtype=ck.float64))


# ---------------------------------------------------------------------------------------------
# modules: reprs, in-place semantics, errors
# ---------------------------------------------------------------------------------------------
REPR_CASES = [
    "ELU()", "ELU(0.5, True)", "CELU()", "CELU(2.0, True)", "SELU()", "SELU(True)", "GELU()", "GELU('tanh')",
    "SiLU()", "SiLU(True)", "Softplus()", "Softplus(2, 10)", "Hardtanh()", "Hardtanh(-2, 3, True)", "ReLU6()",
    "ReLU6(True)", "PReLU()", "PReLU(3, 0.1)", "Hardswish()", "Hardswish(True)", "Hardsigmoid()",
    "Hardsigmoid(True)", "Mish()", "Mish(True)", "Softmax2d()", "Softmin()", "Softmin(1)", "LogSigmoid()",
    "Softsign()", "Tanhshrink()", "Threshold(0.1, 20)", "Threshold(0.1, 20, True)", "Hardshrink()",
    "Softshrink(0.3)",
]


@pytest.mark.parametrize("expr", REPR_CASES)
def test_repr_matches_torch(expr):
    torch = pytest.importorskip("torch")
    assert repr(eval("nn." + expr)) == repr(eval("torch.nn." + expr, {"torch": torch}))


def test_module_forward_matches_functional():
    x = ck.from_numpy(rand((3, 4), seed=12))
    pairs = [(nn.ELU(0.7), F.elu(x, 0.7)), (nn.CELU(1.5), F.celu(x, 1.5)), (nn.SELU(), F.selu(x)),
             (nn.GELU("tanh"), F.gelu(x, approximate="tanh")), (nn.SiLU(), F.silu(x)),
             (nn.Softplus(2, 5), F.softplus(x, 2, 5)), (nn.Hardtanh(-2, 3), F.hardtanh(x, -2, 3)),
             (nn.ReLU6(), F.relu6(x)), (nn.Hardswish(), F.hardswish(x)), (nn.Hardsigmoid(), F.hardsigmoid(x)),
             (nn.Mish(), F.mish(x)), (nn.LogSigmoid(), F.logsigmoid(x)), (nn.Softsign(), F.softsign(x)),
             (nn.Tanhshrink(), F.tanhshrink(x)), (nn.Threshold(0.1, 20), F.threshold(x, 0.1, 20)),
             (nn.Hardshrink(0.3), F.hardshrink(x, 0.3)), (nn.Softshrink(0.3), F.softshrink(x, 0.3))]
    for m, ref in pairs:
        np.testing.assert_array_equal(m(x).numpy(), ref.numpy(), err_msg=repr(m))
    assert nn.ReLU6().min_val == 0.0 and nn.ReLU6().max_val == 6.0 and isinstance(nn.ReLU6(), nn.Hardtanh)


INPLACE = {
    "elu": lambda x, ip: F.elu(x, 0.7, inplace=ip), "celu": lambda x, ip: F.celu(x, 1.5, inplace=ip),
    "selu": lambda x, ip: F.selu(x, inplace=ip), "silu": lambda x, ip: F.silu(x, inplace=ip),
    "hardtanh": lambda x, ip: F.hardtanh(x, -1.5, 2.0, inplace=ip), "relu6": lambda x, ip: F.relu6(x, inplace=ip),
    "hardswish": lambda x, ip: F.hardswish(x, inplace=ip), "hardsigmoid": lambda x, ip: F.hardsigmoid(x, inplace=ip),
    "mish": lambda x, ip: F.mish(x, inplace=ip), "threshold": lambda x, ip: F.threshold(x, 0.5, -2.0, inplace=ip),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_semantics(name):
    f = INPLACE[name]
    x_np = rand((4, 6), seed=13) * 1.5
    ref = f(ck.from_numpy(x_np.copy()), False).numpy()
    # no grad: the input object itself holds the result
    x = ck.from_numpy(x_np.copy())
    out = f(x, True)
    assert out is x
    np.testing.assert_array_equal(x.numpy(), ref)
    # inside a graph: gradient equals the out-of-place one (the original input is kept for backward)
    g = rand((4, 6), seed=14, scale=1.0)
    leaf = ck.from_numpy(x_np.copy()).requires_grad_(True)
    y = leaf * 1.0
    z = f(y, True)
    assert z is y
    z.backward(ck.from_numpy(g))
    leaf2 = ck.from_numpy(x_np.copy()).requires_grad_(True)
    f(leaf2, False).backward(ck.from_numpy(g))
    np.testing.assert_allclose(leaf.grad.numpy(), leaf2.grad.numpy(), rtol=1e-15)
    # a leaf that requires grad cannot be modified in place
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        f(ck.from_numpy(x_np.copy()).requires_grad_(True), True)


def test_inplace_underscore_forms_and_modules():
    x_np = rand((3, 5), seed=15)
    for fn, args, ref in [(F.elu_, (), F.elu), (F.celu_, (2.0,), F.celu), (F.selu_, (), F.selu),
                          (F.hardtanh_, (-0.5, 0.5), F.hardtanh), (F.threshold_, (0.1, 3.0), F.threshold)]:
        x = ck.from_numpy(x_np.copy())
        assert fn(x, *args) is x
        np.testing.assert_array_equal(x.numpy(), ref(ck.from_numpy(x_np.copy()), *args).numpy())
    x = ck.from_numpy(x_np.copy())
    assert nn.Hardswish(inplace=True)(x) is x and nn.ReLU6(inplace=True)(x) is x


def test_errors():
    x = ck.randn(3)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(x, approximate="exact")
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0, but found to be -0.5"):
        F.softshrink(x, -0.5)
    with pytest.raises(AssertionError, match=r"max_val \(0\) must be greater than min_val \(1\)"):
        nn.Hardtanh(1, 0)
    with pytest.raises(TypeError, match="elu: expected input to be float32 or float64, got int64"):
        F.elu(ck.arange(3))
    with pytest.raises(TypeError, match="argument 'input' must be Tensor, not list"):
        F.mish([1.0, 2.0])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        _C.activation_forward("swish", x._t, [])
    with pytest.raises(ValueError, match="'softplus' expects 2 parameters, got 1"):
        _C.activation_forward("softplus", x._t, [1.0])
    with pytest.raises(ValueError, match="gelu_backward: expected input of shape"):
        _C.activation_backward("gelu", x._t, ck.randn(4)._t, [])
    with pytest.warns(FutureWarning, match="min_value` is deprecated"):
        assert nn.Hardtanh(min_value=-2.0).min_val == -2.0


def test_warnings_free_and_exported():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.gelu(ck.randn(4))
    for name in ["ELU", "CELU", "SELU", "GELU", "SiLU", "Softplus", "Hardtanh", "ReLU6", "PReLU", "Hardswish",
                 "Hardsigmoid", "Mish", "Softmax2d", "Softmin", "LogSigmoid", "Softsign", "Tanhshrink", "Threshold",
                 "Hardshrink", "Softshrink"]:
        assert name in nn.__all__ and hasattr(nn, name)
