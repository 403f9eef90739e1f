"""CUDA twins of adam_step_, rmsprop_step_, adagrad_step_, adadelta_step_, adamax_step_, nadam_step_,
radam_step_ against the CPU kernels (which tests/test_optimizers.py checks against torch.optim) over
several steps, every option, float32 and float64, sizes around the block and grid boundaries. Both
twins perform the same roundings in the same order, so they agree to the last bit or within a few ulps. Skipped without a GPU
(CNNKIT_CUDA_TESTS_ON_CPU=1 runs the test code with the CPU as the device)."""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import ON_CPU, G, H, T, needs_device

pytestmark = needs_device

SIZES = [1, 33, 1000, 65537]
DTYPES = [np.float32, np.float64]
STEPS = 5


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)


def rand(n, dtype, seed):
    return np.random.default_rng(seed).standard_normal(n).astype(dtype)


def run_both(n, dtype, n_state, call):
    """call(tensors, step) on CPU and device copies of param, grad and n_state state arrays."""
    p0 = rand(n, dtype, 0)
    init = [np.abs(rand(n, dtype, 100 + i)) * 0.1 for i in range(n_state)]
    cpu = [T(p0.copy())] + [T(a.copy()) for a in init]
    dev = [G(p0)] + [G(a) for a in init]
    for step in range(1, STEPS + 1):
        g = rand(n, dtype, step)
        call(cpu[0], T(g), cpu[1:], step)
        call(dev[0], G(g), dev[1:], step)
    for c, d in zip(cpu, dev):
        np.testing.assert_allclose(H(d), np.array(c), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("amsgrad,maximize,decoupled,wd", [
    (False, False, False, 0.0), (True, False, False, 0.1), (False, True, True, 0.05), (True, True, True, 0.0)])
def test_adam_cuda_matches_cpu(n, dtype, amsgrad, maximize, decoupled, wd):
    def call(p, g, s, step):
        _C.adam_step_(p, g, s[0], s[1], s[2], 0.01, 0.9, 0.999, 1e-8, wd, float(step), amsgrad, maximize, decoupled)

    run_both(n, dtype, 3, call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("centered,momentum,maximize,wd", [
    (False, 0.0, False, 0.0), (True, 0.0, False, 0.1), (False, 0.9, True, 0.0), (True, 0.5, True, 0.05)])
def test_rmsprop_cuda_matches_cpu(n, dtype, centered, momentum, maximize, wd):
    def call(p, g, s, step):
        _C.rmsprop_step_(p, g, s[0], s[1] if centered else None, s[2] if momentum else None, 0.01, 0.99, 1e-8, wd,
                         momentum, centered, maximize)

    run_both(n, dtype, 3, call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("maximize,wd,lr_decay", [(False, 0.0, 0.0), (True, 0.1, 0.05)])
def test_adagrad_cuda_matches_cpu(n, dtype, maximize, wd, lr_decay):
    def call(p, g, s, step):
        _C.adagrad_step_(p, g, s[0], 0.01 / (1 + (step - 1) * lr_decay), 1e-10, wd, maximize)

    run_both(n, dtype, 1, call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("maximize,wd,rho", [(False, 0.0, 0.9), (True, 0.1, 0.5)])
def test_adadelta_cuda_matches_cpu(n, dtype, maximize, wd, rho):
    def call(p, g, s, step):
        _C.adadelta_step_(p, g, s[0], s[1], 1.0, rho, 1e-6, wd, maximize)

    run_both(n, dtype, 2, call)


def test_cuda_state_on_other_device_rejected():
    if ON_CPU:
        pytest.skip("the device is the CPU here")
    p, g = G(np.zeros(4, np.float32)), G(np.zeros(4, np.float32))
    cpu_state = T(np.zeros(4, np.float32))
    with pytest.raises((ValueError, RuntimeError), match="adagrad_step_"):
        _C.adagrad_step_(p, g, cpu_state, 0.1, 1e-10, 0.0, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("maximize,wd", [(False, 0.0), (True, 0.1)])
def test_adamax_cuda_matches_cpu(n, dtype, maximize, wd):
    def call(p, g, s, step):
        _C.adamax_step_(p, g, s[0], s[1], 0.002, 0.9, 0.999, 1e-8, wd, float(step), maximize)

    run_both(n, dtype, 2, call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("maximize,decoupled,wd", [(False, False, 0.0), (True, False, 0.1), (False, True, 0.1)])
def test_nadam_cuda_matches_cpu(n, dtype, maximize, decoupled, wd):
    def call(p, g, s, step):
        bc2 = 1 - 0.999 ** step
        _C.nadam_step_(p, g, s[0], s[1], 0.002, 0.9, 0.999, 1e-8, wd, bc2, -0.002 / step, -0.003 / step, maximize,
                       decoupled)

    run_both(n, dtype, 2, call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("maximize,decoupled,wd", [(False, False, 0.0), (True, False, 0.1), (False, True, 0.1)])
def test_radam_cuda_matches_cpu(n, dtype, maximize, decoupled, wd):
    def call(p, g, s, step):
        bc2 = 1 - 0.999 ** step
        _C.radam_step_(p, g, s[0], s[1], 0.001, 0.9, 0.999, 1e-8, wd, 1 - 0.9 ** step, bc2 ** 0.5, 0.5 + 0.1 * step,
                       step > 2, maximize, decoupled)

    run_both(n, dtype, 2, call)
