"""sgd_step_: the in-place SGD kernel against a NumPy transcription of torch.optim.SGD and, bit for
bit, against torch.optim.SGD itself over several steps. The formula test runs on each device (the `device`
fixture): on CUDA the kernel must also equal the CPU kernel bit for bit (both use explicit fma / mul_rn in
ATen's rounding order, so nvcc's contraction changes nothing)."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, is_cuda, on

DTYPES = [np.float32, np.float64]
# (lr, momentum, dampening, weight_decay, nesterov, maximize)
CONFIGS = [
    (0.1, 0.0, 0.0, 0.0, False, False),
    (0.05, 0.9, 0.0, 0.0, False, False),
    (0.05, 0.9, 0.0, 5e-4, True, False),
    (0.01, 0.8, 0.3, 1e-2, False, True),
    (0.3, 0.0, 0.0, 1e-3, False, True),
    (1e-3, 0.99, 0.1, 0.0, False, False),
]
# the kernel also takes Nesterov with dampening (torch.optim.SGD refuses it; the functional form does not),
# and the CUDA twin test's configurations (cuda_case: the [cuda] half only)
DEVICE_CONFIGS = CONFIGS + [cuda_case(c) for c in [
    (0.01, 0.9, 0.0, 0.0, False, False), (0.01, 0.9, 0.0, 5e-4, True, False), (0.05, 0.8, 0.3, 1e-2, False, True),
    (1e-3, 0.99, 0.1, 0.0, True, True)]]
SIZES = [(1,), (7,), (3, 33), (40000,)]
# "large": past the CPU's parallel grain (40000) / more elements than one CUDA grid covers (65537)
DEVICE_SIZES = [(1,), (7,), (3, 33), "large", cuda_case((33,)), cuda_case((1000,))]


def rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def ref_sgd(p, grads, lr, momentum, dampening, wd, nesterov, maximize):
    """torch.optim.SGD's formula in float64 (a reference for the math, not for the rounding)."""
    p = p.astype(np.float64)
    buf = None
    for g in grads:
        g = -g.astype(np.float64) if maximize else g.astype(np.float64)
        if wd:
            g = g + wd * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def run_kernel(p0, grads, lr, momentum, dampening, wd, nesterov, maximize):
    p = p0.copy()
    cp = _C.from_numpy(p)  # shares p's memory: updated in place
    buf = np.zeros_like(p) if momentum else None
    cbuf = _C.from_numpy(buf) if momentum else None
    for i, g in enumerate(grads):
        _C.sgd_step_(cp, _C.from_numpy(g), cbuf, lr, momentum, dampening, wd, nesterov, maximize, i == 0)
    return p, buf


def run_on(device, p0, grads, lr, momentum, dampening, wd, nesterov, maximize):
    """The kernel over the steps on `device`: (param, momentum buffer or None) as NumPy arrays."""
    cp = on(p0, device)
    cbuf = on(np.zeros_like(p0), device) if momentum else None
    for i, g in enumerate(grads):
        _C.sgd_step_(cp, on(g, device), cbuf, lr, momentum, dampening, wd, nesterov, maximize, i == 0)
    return back(cp), (None if cbuf is None else back(cbuf))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DEVICE_SIZES)
@pytest.mark.parametrize("cfg", DEVICE_CONFIGS)
def test_sgd_matches_formula(cfg, shape, dtype, device):
    if shape == "large":
        shape = (65537,) if is_cuda(device) else (40000,)
    p0 = rand(shape, dtype, 0)
    grads = [rand(shape, dtype, s) for s in range(1, 5)]
    p, buf = run_on(device, p0, grads, *cfg)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(p, ref_sgd(p0, grads, *cfg), **tol)
    if is_cuda(device):  # the CUDA twin of a bit-exact kernel
        p_cpu, buf_cpu = run_kernel(p0, grads, *cfg)
        np.testing.assert_array_equal(p, p_cpu)
        if buf is not None:
            np.testing.assert_array_equal(buf, buf_cpu)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_sgd_bit_identical_to_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    lr, momentum, dampening, wd, nesterov, maximize = cfg
    for shape in SIZES:
        p0 = rand(shape, dtype, 10)
        grads = [rand(shape, dtype, s) for s in range(11, 16)]
        tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        opt = torch.optim.SGD([tp], lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd,
                              nesterov=nesterov, maximize=maximize, foreach=False)
        for g in grads:
            tp.grad = torch.from_numpy(g.copy())
            opt.step()
        p, buf = run_kernel(p0, grads, *cfg)
        np.testing.assert_array_equal(p, tp.detach().numpy())
        if momentum:
            np.testing.assert_array_equal(buf, opt.state[tp]["momentum_buffer"].numpy())


def test_sgd_strided_grad_and_zero_size(device):
    p0 = rand((4, 6), np.float32, 0)
    gbase = rand((6, 4), np.float32, 1)
    p = on(p0, device)
    _C.sgd_step_(p, on(gbase, device).transpose(0, 1), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    np.testing.assert_allclose(back(p), p0 - np.float32(0.1) * gbase.T, rtol=1e-6)
    if is_cuda(device):
        np.testing.assert_array_equal(back(p), run_kernel(p0, [np.ascontiguousarray(gbase.T)], 0.1, 0.0, 0.0, 0.0,
                                                          False, False)[0])
    e = np.zeros((0, 3), np.float32)
    _C.sgd_step_(on(e, device), on(e, device), on(e, device), 0.1, 0.9, 0, 0, False, False, True)


def test_sgd_bad_inputs():
    p = _C.from_numpy(np.zeros((3, 4), np.float32))
    g = _C.from_numpy(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="grad of shape"):
        _C.sgd_step_(p, _C.from_numpy(np.zeros((4, 3), np.float32)), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    with pytest.raises(TypeError, match="same dtype"):
        _C.sgd_step_(p, _C.from_numpy(np.zeros((3, 4))), None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match="momentum buffer is required"):
        _C.sgd_step_(p, g, None, 0.1, 0.9, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match="momentum_buffer of shape"):
        _C.sgd_step_(p, g, _C.from_numpy(np.zeros(12, np.float32)), 0.1, 0.9, 0.0, 0.0, False, False, False)
    with pytest.raises(ValueError, match="contiguous"):
        _C.sgd_step_(_C.from_numpy(np.zeros((4, 3), np.float32)).transpose(0, 1), g, None, 0.1, 0, 0, 0, False,
                     False, True)
    with pytest.raises(TypeError, match="float32 or float64"):
        pi = _C.from_numpy(np.zeros(3, np.int64))
        _C.sgd_step_(pi, pi, None, 0.1, 0.0, 0.0, 0.0, False, False, True)


def test_sgd_thread_count_independent():
    p0 = rand((300000,), np.float32, 0)
    grads = [rand((300000,), np.float32, s) for s in (1, 2)]
    n0 = _C.get_num_threads()
    res = []
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        res.append(run_kernel(p0, grads, 0.1, 0.9, 0.0, 1e-4, True, False)[0])
    _C.set_num_threads(n0)
    np.testing.assert_array_equal(res[0], res[1])
