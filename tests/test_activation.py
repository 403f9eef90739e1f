"""relu / leaky_relu / sigmoid / tanh: the _C kernels against NumPy formulas, finite differences
and PyTorch. The kernel tests run on each device (the `device` fixture): relu / leaky_relu (a select,
one multiply) equal NumPy bit for bit on both; sigmoid / tanh are within TOL on the CPU and within
CUDA_TOL on CUDA, whose expf/tanhf differ by a few ulp and where nvcc contracts 1 - y * y into an FMA."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, is_cuda, on

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-14, atol=1e-15)}
CUDA_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
# "large" crosses the device's split of the work: the CPU's parallel grain (40000) or, on CUDA, more
# elements than one grid covers without its grid-stride loop (1000003).
SHAPES = [(1,), (7,), (3, 33), (2, 3, 7, 5), "large", cuda_case((3, 7)), cuda_case((33, 5, 3)),
          cuda_case((2, 3, 7, 9))]
EXACT = ("relu", "leaky_relu")


def sized(shape, device):
    if shape == "large":
        return (1000003,) if is_cuda(device) else (40000,)
    return shape


def tol(dtype, device):
    return (CUDA_TOL if is_cuda(device) else TOL)[dtype]


def rand(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def np_sigmoid(x):
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):  # exp(1000) is inf: the result 0 is right
        return 1.0 / (1.0 + np.exp(-x))


# name -> (forward(x), backward(dout, x, out) reference, C forward, C backward taking (dout, x, out))
ACTS = {
    "relu": (lambda x: np.maximum(x, 0), lambda g, x, y: np.where(y > 0, g, 0),
             _C.relu_forward, lambda g, x, y: _C.relu_backward(g, y)),
    "leaky_relu": (lambda x: np.where(x > 0, x, x * x.dtype.type(0.1)),
                   lambda g, x, y: np.where(x > 0, g, g * g.dtype.type(0.1)),
                   lambda x: _C.leaky_relu_forward(x, 0.1), lambda g, x, y: _C.leaky_relu_backward(g, x, 0.1)),
    "sigmoid": (np_sigmoid, lambda g, x, y: g * (1 - y) * y,
                _C.sigmoid_forward, lambda g, x, y: _C.sigmoid_backward(g, y)),
    "tanh": (lambda x: np.tanh(x.astype(np.float64)), lambda g, x, y: g * (1 - y * y),
             _C.tanh_forward, lambda g, x, y: _C.tanh_backward(g, y)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_matches_numpy(name, shape, dtype, device):
    fref, bref, fwd, bwd = ACTS[name]
    shape = sized(shape, device)
    x = rand(shape, dtype)
    y_t = fwd(on(x, device))
    assert y_t.device == device
    y = back(y_t)
    assert y.dtype == dtype and y.shape == x.shape
    g = rand(shape, dtype, seed=1, scale=1.0)
    dx = back(bwd(on(g, device), on(x, device), on(y, device)))
    if name in EXACT:
        np.testing.assert_array_equal(y, fref(x))
        np.testing.assert_array_equal(dx, bref(g, x, y))
    else:
        np.testing.assert_allclose(y, fref(x), **tol(dtype, device))
        np.testing.assert_allclose(dx, bref(g.astype(np.float64), x, y.astype(np.float64)), **tol(dtype, device))


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_numeric_gradient(name):
    _, _, fwd, bwd = ACTS[name]
    x = rand((3, 5), np.float64, seed=3)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of relu/leaky_relu
    g = rand((3, 5), np.float64, seed=4, scale=1.0)
    y = np.asarray(fwd(_C.from_numpy(x)))
    dx = np.asarray(bwd(_C.from_numpy(g), _C.from_numpy(x), _C.from_numpy(y)))
    eps = 1e-6
    num = ((np.asarray(fwd(_C.from_numpy(x + eps))) - np.asarray(fwd(_C.from_numpy(x - eps)))) * g) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_strided_input(name, device):
    """A non-contiguous view made on the device (transpose, then every second row) gives a contiguous result."""
    fref, bref, fwd, bwd = ACTS[name]
    base = rand((6, 8), np.float64)
    x = base.T[::2]
    xt = on(base, device).transpose(0, 1).slice(0, 0, 8, 2)
    assert not xt.is_contiguous()
    y_t = fwd(xt)
    assert y_t.is_contiguous()
    y = back(y_t)
    np.testing.assert_allclose(y, fref(np.ascontiguousarray(x)), **tol(np.float64, device))
    gbase = rand((8, 6), np.float64, seed=1)
    g = gbase[::2]
    dx = back(bwd(on(gbase, device).slice(0, 0, 8, 2), xt, on(y, device)))
    np.testing.assert_allclose(dx, bref(g, x, y), **tol(np.float64, device))


def test_empty_stays_on_device(device):
    for fwd in (_C.relu_forward, _C.sigmoid_forward, _C.tanh_forward, lambda t: _C.leaky_relu_forward(t, 0.1)):
        out = fwd(on(np.zeros((0, 3), np.float32), device))
        assert out.device == device and back(out).shape == (0, 3)


def test_special_values(device):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1000.0, 1000.0, 1e30, -1e30, 88.0, -104.0], np.float32)
    cx = on(x, device)
    r = back(_C.relu_forward(cx))
    assert np.isnan(r[0]) and r[1] == np.inf and r[2] == 0
    s = back(_C.sigmoid_forward(cx))
    assert np.isnan(s[0]) and s[1] == 1 and s[2] == 0 and s[5] == 0 and s[6] == 1
    t = back(_C.tanh_forward(cx))
    assert np.isnan(t[0]) and t[1] == 1 and t[2] == -1
    lr = back(_C.leaky_relu_forward(cx, 0.01))
    assert np.isnan(lr[0]) and lr[2] == -np.inf
    for got, ref in ((s, np_sigmoid(x)), (t, np.tanh(x.astype(np.float64))), (r, np.maximum(x, 0))):
        # sigmoid(-104) is 6.8e-46, below float32's smallest subnormal: 0 or that subnormal
        np.testing.assert_allclose(got, ref.astype(np.float32), rtol=1e-5, atol=1.5e-45, equal_nan=True)
    # relu's gradient passes where the output is NaN (PyTorch's threshold_backward)
    g = np.ones_like(x)
    d = back(_C.relu_backward(on(g, device), _C.relu_forward(cx)))
    np.testing.assert_array_equal(d, [1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0])


def test_sigmoid_float32_accuracy_over_the_whole_range():
    # sigmoid's float path uses the library's own vectorised exp (vexp); check it in ulps against
    # float64 over the range where the result is neither 0 nor 1, plus the saturated tails.
    x = np.concatenate([np.linspace(-110, 20, 200001), -np.logspace(-8, 1, 1000)]).astype(np.float32)
    y = np.asarray(_C.sigmoid_forward(_C.from_numpy(x)))
    ref = np_sigmoid(x)
    ulp = np.spacing(ref.astype(np.float32)).astype(np.float64)
    finite = x > -88.5  # below, exp(-x) overflows float32 and the result is 0, in PyTorch too
    assert np.max(np.abs(y - ref)[finite] / ulp[finite]) <= 3.0
    assert np.all(y[x < -89] == 0) and np.all(np.isfinite(y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_match_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand((4, 3, 9, 7), dtype, seed=8)
    g = rand((4, 3, 9, 7), dtype, seed=9, scale=1.0)
    pairs = {
        "relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.1), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    }
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    gtol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-15)
    for name, tf in pairs.items():
        _, _, fwd, bwd = ACTS[name]
        tx = torch.from_numpy(x).requires_grad_()
        ty = tf(tx)
        (tdx,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
        y = fwd(_C.from_numpy(x))
        dx = bwd(_C.from_numpy(g), _C.from_numpy(x), y)
        np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), **tol)
        # 1 - y cancels near saturation, so a one-ulp difference in y shows up in the gradient
        np.testing.assert_allclose(np.asarray(dx), tdx.numpy(), **gtol)
        # fed PyTorch's own output, the backward formulas agree to the bit
        ty_np = ty.detach().numpy()
        dx_t = bwd(_C.from_numpy(g), _C.from_numpy(x), _C.from_numpy(ty_np))
        np.testing.assert_array_equal(np.asarray(dx_t), tdx.numpy())
        if name in ("relu", "leaky_relu"):  # pure selects and one multiply: bit-identical
            np.testing.assert_array_equal(np.asarray(y), ty.detach().numpy())
            np.testing.assert_array_equal(np.asarray(dx), tdx.numpy())


def test_activation_bad_inputs():
    xi = _C.from_numpy(np.arange(4, dtype=np.int64))
    for f in (_C.relu_forward, _C.sigmoid_forward, _C.tanh_forward):
        with pytest.raises(TypeError, match="float32 or float64"):
            f(xi)
    x = _C.from_numpy(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"shape \[4\], got \[5\]"):
        _C.relu_backward(x, _C.from_numpy(np.zeros(5, np.float32)))
    with pytest.raises(TypeError, match="same dtype"):
        _C.sigmoid_backward(x, _C.from_numpy(np.zeros(4, np.float64)))
    with pytest.raises(TypeError, match="same dtype"):
        _C.leaky_relu_backward(x, _C.from_numpy(np.zeros(4, np.float64)), 0.01)


def test_activation_thread_count_independent():
    x = _C.from_numpy(rand((300000,), np.float32))
    n0 = _C.get_num_threads()
    res = []
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        res.append([np.asarray(f(x)).copy() for f in (_C.relu_forward, _C.sigmoid_forward, _C.tanh_forward)])
    _C.set_num_threads(n0)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Python layer: cnnkit.nn.functional activations and dropout
# ------------------------------------------------------------------------------------------------
import cnnkit as ck  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402

HAS_ELEMENTWISE = hasattr(_C, "binary")  # dropout's mask arithmetic uses the elementwise kernels
needs_elementwise = pytest.mark.skipif(not HAS_ELEMENTWISE, reason="elementwise kernels (_C.binary) not built in")

FUNCS = {
    "relu": (F.relu, "relu"),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda tt, t: tt.nn.functional.leaky_relu(t, 0.2)),
    "sigmoid": (F.sigmoid, "sigmoid"),
    "tanh": (F.tanh, "tanh"),
}


@pytest.mark.parametrize("name", list(FUNCS))
def test_functional_activation_gradcheck(name):
    f, _ = FUNCS[name]
    x = rand((2, 3, 5), np.float64, seed=11)
    x[np.abs(x) < 1e-2] = 0.3
    assert gradcheck(f, (ck.tensor(x, requires_grad=True),))


def test_functional_autograd_on_device(device):
    """sum(f(x)).backward() on each device: relu' = [x > 0], sigmoid' = s (1 - s), tanh' = 1 - t^2."""
    x = rand((3, 17), np.float32, seed=5)
    s, t = np_sigmoid(x), np.tanh(x.astype(np.float64))
    for fn, ref in ((ck.relu, (x > 0).astype(np.float64)), (ck.sigmoid, s * (1 - s)), (ck.tanh, 1 - t * t)):
        xt = ck.tensor(x, device=device, requires_grad=True)
        fn(xt).sum().backward()
        assert xt.grad.device == xt.device
        np.testing.assert_allclose(xt.grad.cpu().numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(FUNCS))
def test_functional_activation_matches_torch(name):
    torch = pytest.importorskip("torch")
    f, tf = FUNCS[name]
    tfn = getattr(torch, tf) if isinstance(tf, str) else (lambda t: tf(torch, t))
    compare_with_torch(f, tfn, [rand((4, 3, 7), np.float32, seed=12)])


def test_tensor_methods_and_toplevel_forms():
    x = ck.tensor(rand((3, 4), np.float64, seed=13))
    np.testing.assert_array_equal(np.asarray(x.relu()._t), np.asarray(F.relu(x)._t))
    np.testing.assert_array_equal(np.asarray(ck.sigmoid(x)._t), np.asarray(F.sigmoid(x)._t))
    np.testing.assert_array_equal(np.asarray(x.tanh()._t), np.asarray(F.tanh(x)._t))


def test_inplace_relu_and_leaky_relu():
    # No graph: the input itself is overwritten and returned.
    a = rand((3, 4), np.float32, seed=14)
    x = ck.tensor(a)
    y = F.relu(x, inplace=True)
    assert y is x
    np.testing.assert_array_equal(np.asarray(x._t), np.maximum(a, 0))
    z = ck.tensor(a)
    assert F.leaky_relu_(z, 0.5) is z
    np.testing.assert_array_equal(np.asarray(z._t), np.where(a > 0, a, a * np.float32(0.5)))
    # Inside a graph: the input takes over the result's history, gradients flow as for relu.
    w = ck.tensor(a, requires_grad=True)
    h = F.leaky_relu(w, 0.1)  # a non-leaf
    r = F.relu(h, inplace=True)
    assert r is h and r.requires_grad
    r.backward(ck.ones(3, 4))
    expect = np.where(a > 0, 1.0, 0.0).astype(np.float32)  # relu kills the negative (scaled) half
    np.testing.assert_array_equal(np.asarray(w.grad._t), expect)
    # A leaf that requires grad cannot be modified in place (PyTorch's rule).
    with pytest.raises(RuntimeError, match="in-place"):
        F.relu(ck.tensor(a, requires_grad=True), inplace=True)


def test_functional_activation_bad_inputs():
    with pytest.raises(TypeError, match="must be Tensor"):
        F.relu([1.0, 2.0])
    with pytest.raises(TypeError, match="float32 or float64"):
        F.sigmoid(ck.tensor([1, 2]))


def test_dropout_argument_checks_and_identity():
    x = ck.randn(4, 5)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
            F.dropout(x, p)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


@needs_elementwise
def test_dropout_statistics_and_gradient():
    ck.manual_seed(0)
    x = ck.tensor(np.full((200, 500), 2.0, np.float32), requires_grad=True)
    y = F.dropout(x, 0.3)
    yv = np.asarray(y._t)
    kept = yv != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 100000 Bernoulli draws: std 0.0014
    np.testing.assert_allclose(yv[kept], 2.0 / 0.7, rtol=1e-6)
    y.backward(ck.ones(200, 500))
    np.testing.assert_allclose(np.asarray(x.grad._t), np.where(kept, 1 / 0.7, 0.0), rtol=1e-6)
    # reproducible under manual_seed
    ck.manual_seed(5)
    a = np.asarray(F.dropout(ck.ones(50), 0.5)._t).copy()
    ck.manual_seed(5)
    np.testing.assert_array_equal(a, np.asarray(F.dropout(ck.ones(50), 0.5)._t))


@needs_elementwise
def test_dropout_p1_inplace_and_float64():
    x = ck.randn(3, 4, dtype=ck.float64)
    y = F.dropout(x, 1.0)
    assert y.dtype == ck.float64 and not np.asarray(y._t).any()
    assert tuple(F.dropout(ck.tensor(2.0), 0.5).shape) == ()  # 0-d stays 0-d
    z = ck.ones(10)
    out = F.dropout(z, 0.5, inplace=True)
    assert out is z
    assert set(np.unique(np.asarray(z._t))) <= {0.0, 2.0}
