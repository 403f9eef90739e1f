"""relu / leaky_relu / sigmoid / tanh: the _C kernels against NumPy formulas, finite differences
and PyTorch."""
import numpy as np
import pytest

from cnnkit import _C

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-14, atol=1e-15)}
SHAPES = [(1,), (7,), (3, 33), (2, 3, 7, 5), (40000,)]  # the last one crosses the parallel grain


def rand(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def np_sigmoid(x):
    x = x.astype(np.float64)
    return 1.0 / (1.0 + np.exp(-x))


# name -> (forward(x), backward(dout, x, out) reference, C forward, C backward taking (dout, x, out))
ACTS = {
    "relu": (lambda x: np.maximum(x, 0), lambda g, x, y: np.where(y > 0, g, 0),
             _C.relu_forward, lambda g, x, y: _C.relu_backward(g, y)),
    "leaky_relu": (lambda x: np.where(x > 0, x, x * 0.1), lambda g, x, y: np.where(x > 0, g, g * 0.1),
                   lambda x: _C.leaky_relu_forward(x, 0.1), lambda g, x, y: _C.leaky_relu_backward(g, x, 0.1)),
    "sigmoid": (np_sigmoid, lambda g, x, y: g * (1 - y) * y,
                _C.sigmoid_forward, lambda g, x, y: _C.sigmoid_backward(g, y)),
    "tanh": (lambda x: np.tanh(x.astype(np.float64)), lambda g, x, y: g * (1 - y * y),
             _C.tanh_forward, lambda g, x, y: _C.tanh_backward(g, y)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_matches_numpy(name, shape, dtype):
    fref, bref, fwd, bwd = ACTS[name]
    x = rand(shape, dtype)
    y = np.asarray(fwd(_C.from_numpy(x)))
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, fref(x), **TOL[dtype])
    g = rand(shape, dtype, seed=1, scale=1.0)
    dx = np.asarray(bwd(_C.from_numpy(g), _C.from_numpy(x), _C.from_numpy(y)))
    np.testing.assert_allclose(dx, bref(g.astype(np.float64), x, y.astype(np.float64)), **TOL[dtype])


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
def test_activation_strided_input(name):
    fref, bref, fwd, bwd = ACTS[name]
    base = rand((6, 8), np.float64)
    x = base.T[::2]  # non-contiguous view
    y = np.asarray(fwd(_C.from_numpy(x)))
    assert y.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(y, fref(np.ascontiguousarray(x)), rtol=1e-14)
    g = rand((8, 6), np.float64, seed=1)[::2]
    dx = np.asarray(bwd(_C.from_numpy(g), _C.from_numpy(x), _C.from_numpy(y)))
    np.testing.assert_allclose(dx, bref(g, x, y), rtol=1e-14, atol=1e-15)


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1000.0, 1000.0], np.float32)
    cx = _C.from_numpy(x)
    r = np.asarray(_C.relu_forward(cx))
    assert np.isnan(r[0]) and r[1] == np.inf and r[2] == 0
    s = np.asarray(_C.sigmoid_forward(cx))
    assert np.isnan(s[0]) and s[1] == 1 and s[2] == 0 and s[5] == 0 and s[6] == 1
    t = np.asarray(_C.tanh_forward(cx))
    assert np.isnan(t[0]) and t[1] == 1 and t[2] == -1
    lr = np.asarray(_C.leaky_relu_forward(cx, 0.01))
    assert np.isnan(lr[0]) and lr[2] == -np.inf
    # relu's gradient passes where the output is NaN (PyTorch's threshold_backward)
    g = np.ones_like(x)
    d = np.asarray(_C.relu_backward(_C.from_numpy(g), _C.relu_forward(cx)))
    np.testing.assert_array_equal(d, [1, 1, 0, 0, 0, 0, 1])


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
