"""The AVX2 paths of the memory-bound float kernels (simd.h: activations, softmax, cross-entropy)
against their portable twins and references: leaky_relu on mixed signs with NaN / inf / -0.0 (the
blend must match the scalar select bit for bit), softmax / log_softmax / cross-entropy rows whose
lengths hit every tail size of the 8-wide loops, tanh in ulps over the whole range, and the
existing activation / softmax / loss suites re-run with CNNKIT_SIMD=portable in a subprocess.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnkit import _C

HERE = os.path.dirname(os.path.abspath(__file__))


def specials(n, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    for val, frac in ((np.nan, 0.02), (np.inf, 0.02), (-np.inf, 0.02), (-0.0, 0.05), (0.0, 0.05)):
        x[rng.random(n) < frac] = val
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 7, 33, 100003])
def test_leaky_relu_bits(n, dtype):
    x, g = specials(n, dtype, 1), specials(n, dtype, 2)
    s = dtype(0.01)
    y = np.asarray(_C.leaky_relu_forward(_C.from_numpy(x), 0.01))
    with np.errstate(invalid="ignore"):
        ref = np.where(x > 0, x, x * s)
        dref = np.where(x > 0, g, g * s)
    np.testing.assert_array_equal(y.view(np.uint8), ref.view(np.uint8))
    d = np.asarray(_C.leaky_relu_backward(_C.from_numpy(g), _C.from_numpy(x), 0.01))
    np.testing.assert_array_equal(d.view(np.uint8), dref.view(np.uint8))


def test_tanh_float32_ulps():
    x = np.concatenate([np.linspace(-12, 12, 400001), np.logspace(-30, 1, 2001), -np.logspace(-30, 1, 2001),
                        [0.0, -0.0, 0.625, -0.625, 40.0, -40.0]]).astype(np.float32)
    y = np.asarray(_C.tanh_forward(_C.from_numpy(x)))
    ref = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(y - ref) / ulp) <= 3.0
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    ys = np.asarray(_C.tanh_forward(_C.from_numpy(special)))
    assert np.isnan(ys[0]) and ys[1] == 1 and ys[2] == -1


def ref_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(1, keepdims=True))


@pytest.mark.parametrize("D", [1, 3, 7, 8, 9, 15, 16, 17, 33, 1000])
def test_softmax_rows_every_tail(D):
    rng = np.random.default_rng(D)
    x = (rng.standard_normal((5, D)) * 4).astype(np.float32)
    g = rng.standard_normal((5, D)).astype(np.float32)
    lp = ref_log_softmax(x)
    y = np.asarray(_C.softmax_forward(_C.from_numpy(x), 1))
    ly = np.asarray(_C.log_softmax_forward(_C.from_numpy(x), 1))
    np.testing.assert_allclose(y, np.exp(lp), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(ly, lp, rtol=2e-6, atol=2e-6)
    sm = np.exp(lp)
    db = np.asarray(_C.softmax_backward(_C.from_numpy(g), _C.from_numpy(y), 1))
    np.testing.assert_allclose(db, sm * (g - (g * sm).sum(1, keepdims=True)), rtol=1e-5, atol=1e-6)
    dl = np.asarray(_C.log_softmax_backward(_C.from_numpy(g), _C.from_numpy(ly), 1))
    np.testing.assert_allclose(dl, g - sm * g.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("C", [1, 7, 9, 33, 1000])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_backward_rows(C, weighted, ls):
    rng = np.random.default_rng(C)
    N = 6
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = rng.integers(0, C, N).astype(np.int64)
    t[1] = -100  # ignored sample
    w = rng.uniform(0.5, 2.0, C).astype(np.float32) if weighted else None
    tw = _C.from_numpy(w) if weighted else None
    one = _C.from_numpy(np.array(1.0, np.float32))
    for red in ("mean", "sum"):
        _, logp = _C.cross_entropy_forward(_C.from_numpy(x), _C.from_numpy(t), tw, -100, red, ls)
        dx = np.asarray(_C.cross_entropy_backward(one, logp, _C.from_numpy(t), tw, -100, red, ls))
        wv = w.astype(np.float64) if weighted else np.ones(C)
        sm = np.exp(ref_log_softmax(x))
        keep = t != -100
        wt = np.where(keep, wv[np.where(keep, t, 0)], 0.0)
        denom = wt.sum() if red == "mean" else 1.0
        onehot = np.zeros((N, C))
        onehot[np.arange(N)[keep], t[keep]] = 1
        # d/dlogits of sum_i [(1-ls) * w_t * nll_i + ls/C * sum_c w_c * (-logp_ic)] / denom
        dlogp = -((1 - ls) * onehot * wv + (ls / C) * wv) * keep[:, None]
        ref = (dlogp - sm * dlogp.sum(1, keepdims=True)) / denom
        np.testing.assert_allclose(dx, ref, rtol=1e-5, atol=1e-6)


def test_suites_with_portable_paths():
    env = dict(os.environ, CNNKIT_SIMD="portable")
    files = [os.path.join(HERE, f) for f in ("test_activation.py", "test_softmax_loss.py")] + [__file__]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files, "-k",
                        "not portable"], env=env, capture_output=True, text=True, timeout=600, cwd=HERE)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_large_outputs(dtype):
    """Outputs over 4 MB: relu takes its non-temporal-store path (unaligned head, tail); values must
    be identical to NumPy's for any thread count, as must the large elementwise ops beside it."""
    n = (1 << 20) + 37 if dtype == np.float32 else (1 << 19) + 41
    x, y = specials(n + 1, dtype, 3), specials(n + 1, dtype, 4)
    cx, cy = _C.from_numpy(x), _C.from_numpy(y)
    old = _C.get_num_threads()
    try:
        for nt in (1, 2, 3):
            _C.set_num_threads(nt)
            with np.errstate(all="ignore"):
                for op, ref in (("add", x + y), ("mul", x * y)):
                    np.testing.assert_array_equal(np.asarray(_C.binary(op, cx, cy)), ref)
                np.testing.assert_array_equal(np.asarray(_C.unary("neg", cx)), -x)
                r = np.asarray(_C.relu_forward(cx))
                np.testing.assert_array_equal(r.view(np.uint8), np.where(x < 0, dtype(0), x).view(np.uint8))
                d = np.asarray(_C.relu_backward(cy, cx))
                np.testing.assert_array_equal(d.view(np.uint8), np.where(x <= 0, dtype(0), y).view(np.uint8))
    finally:
        _C.set_num_threads(old)
