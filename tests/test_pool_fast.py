"""The 2x2 / stride-2 fast paths of max_pool2d / avg_pool2d (csrc/ops/pool2d.cpp) against the
independent NumPy references of test_pool.py, bit for bit: widths that exercise the 8-wide AVX2
blocks and their scalar tails, odd sizes with and without ceil_mode, NaN / inf / -0.0 and ties,
the backward's block-writing path with indices from other geometries or made by hand (which must
fall back to the generic scatter), thread-count independence, PyTorch parity, and the same checks
with the portable (non-AVX2) code selected by CNNKIT_SIMD=portable in a subprocess.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnkit import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_pool import ref_avg_pool, ref_avg_pool_backward, ref_max_pool, ref_max_pool_backward  # noqa: E402

K2, S2, P0, D1 = [2, 2], [2, 2], [0, 0], [1, 1]
# (N, C, H, W), ceil_mode
SHAPES = [((2, 3, 16, 16), False), ((1, 2, 33, 35), False), ((1, 2, 33, 35), True), ((2, 1, 7, 40), True),
          ((1, 1, 1, 1), True), ((1, 3, 1, 37), True), ((1, 1, 37, 1), True), ((3, 2, 2, 2), False),
          ((1, 1, 4, 49), False)]


def special(shape, dtype, seed):
    """Random normals with ties, NaN, +-inf and -0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    n = flat.size
    for val, frac in ((np.nan, 0.03), (np.inf, 0.03), (-np.inf, 0.03), (-0.0, 0.05), (1.0, 0.1)):
        flat[rng.random(n) < frac] = val
    return x


def bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def ref_max_with_nan(x, ceil):
    """ref_max_pool but with PyTorch's NaN rule (the last NaN of a window wins)."""
    out, idx = ref_max_pool(np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf), K2, S2, P0, D1, ceil)
    N, C, H, W = x.shape
    flat = x.reshape(N, C, H * W)
    OH, OW = out.shape[2:]
    for oh in range(OH):
        for ow in range(OW):
            cells = [h * W + w for h in (2 * oh, 2 * oh + 1) if h < H for w in (2 * ow, 2 * ow + 1) if w < W]
            for n in range(N):
                for c in range(C):
                    nan_cells = [q for q in cells if np.isnan(flat[n, c, q])]
                    if nan_cells:
                        idx[n, c, oh, ow] = nan_cells[-1]
                        out[n, c, oh, ow] = np.nan
                    else:
                        out[n, c, oh, ow] = flat[n, c, idx[n, c, oh, ow]]
    return out, idx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,ceil", SHAPES)
def test_max_pool_2x2_bits(shape, ceil, dtype):
    x = special(shape, dtype, 1)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), K2, S2, P0, D1, ceil)
    r_out, r_idx = ref_max_with_nan(x, ceil)
    np.testing.assert_array_equal(np.asarray(idx), r_idx)
    bits_equal(out, r_out)
    g = special(r_out.shape, dtype, 2)
    g = np.where(np.isfinite(g), g, 0.5).astype(dtype)
    g.reshape(-1)[::5] = -0.0
    dx = _C.max_pool2d_backward(_C.from_numpy(g), idx, list(shape))
    bits_equal(dx, ref_max_pool_backward(g, r_idx, shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,ceil", SHAPES)
@pytest.mark.parametrize("count_include_pad,divisor", [(True, None), (False, None), (True, 3)])
def test_avg_pool_2x2(shape, ceil, dtype, count_include_pad, divisor):
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    out = _C.avg_pool2d_forward(_C.from_numpy(x), K2, S2, P0, ceil, count_include_pad, divisor)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.asarray(out), ref_avg_pool(x, K2, S2, P0, ceil, count_include_pad, divisor), **tol)
    g = np.random.default_rng(4).standard_normal(tuple(out.shape)).astype(dtype)
    dx = _C.avg_pool2d_backward(_C.from_numpy(g), list(shape), K2, S2, P0, ceil, count_include_pad, divisor)
    np.testing.assert_allclose(np.asarray(dx),
                               ref_avg_pool_backward(g, shape, K2, S2, P0, ceil, count_include_pad, divisor), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_backward_foreign_indices_fall_back(dtype):
    """Indices that leave their 2x2 block (3x3/s2/pad 1 pooling, whose output has the 2x2 shape, and
    hand-made ones, repeated) must give the plain scatter-add result."""
    shape = (2, 3, 18, 34)
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), [3, 3], [2, 2], [1, 1], D1, False)
    assert tuple(out.shape) == (2, 3, 9, 17)
    g = np.random.default_rng(6).standard_normal(tuple(out.shape)).astype(dtype)
    dx = _C.max_pool2d_backward(_C.from_numpy(g), idx, list(shape))
    np.testing.assert_allclose(np.asarray(dx), ref_max_pool_backward(g, np.asarray(idx), shape), rtol=1e-6, atol=1e-6)
    # valid blocks everywhere except one index per plane at various places (vector body, tail, last row)
    _, good = _C.max_pool2d_forward(_C.from_numpy(x), K2, S2, P0, D1, False)
    for pos in [(0, 0), (3, 5), (8, 16), (8, 0)]:
        hand = np.asarray(good).copy()
        hand[1, 2, pos[0], pos[1]] = 0  # points at (0, 0) of the plane: another block (or repeated)
        hand[0, 0, pos[0], pos[1]] = 18 * 34 - 1
        dx = _C.max_pool2d_backward(_C.from_numpy(g), _C.from_numpy(hand), list(shape))
        np.testing.assert_allclose(np.asarray(dx), ref_max_pool_backward(g, hand, shape), rtol=1e-6, atol=1e-6)


def test_pool_2x2_thread_count_independent():
    x = special((4, 8, 34, 50), np.float32, 7)
    g = np.random.default_rng(8).standard_normal((4, 8, 17, 25)).astype(np.float32)
    res = []
    old = _C.get_num_threads()
    try:
        for nt in (1, 2, 3):
            _C.set_num_threads(nt)
            out, idx = _C.max_pool2d_forward(_C.from_numpy(x), K2, S2, P0, D1, False)
            dx = _C.max_pool2d_backward(_C.from_numpy(g), idx, list(x.shape))
            av = _C.avg_pool2d_forward(_C.from_numpy(x), K2, S2, P0, False, True, None)
            res.append([np.asarray(t).copy() for t in (out, idx, dx, av)])
    finally:
        _C.set_num_threads(old)
    for r in res[1:]:
        for a, b in zip(res[0], r):
            bits_equal(a, b)


@pytest.mark.parametrize("ceil", [False, True])
def test_pool_2x2_matches_torch_bits(ceil):
    torch = pytest.importorskip("torch")
    x = special((2, 4, 33, 45), np.float32, 9)
    xt = torch.from_numpy(x)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), K2, S2, P0, D1, ceil)
    ot, it = torch.ops.aten.max_pool2d_with_indices(xt, K2, S2, P0, D1, ceil)
    bits_equal(out, ot.numpy())
    np.testing.assert_array_equal(np.asarray(idx), it.numpy())
    g = np.random.default_rng(10).standard_normal(tuple(ot.shape)).astype(np.float32)
    dx = _C.max_pool2d_backward(_C.from_numpy(g), idx, list(x.shape))
    dt = torch.ops.aten.max_pool2d_with_indices_backward(torch.from_numpy(g), xt, K2, S2, P0, D1, ceil, it)
    bits_equal(dx, dt.numpy())
    y = np.nan_to_num(x, nan=0.0, posinf=3.0, neginf=-3.0)
    av = _C.avg_pool2d_forward(_C.from_numpy(y), K2, S2, P0, ceil, True, None)
    np.testing.assert_allclose(np.asarray(av), torch.nn.functional.avg_pool2d(torch.from_numpy(y), 2, 2, 0, ceil).numpy(),
                               rtol=1e-6, atol=1e-7)


def test_pool_2x2_portable_path():
    """The same checks with the AVX2 code disabled (the path every non-x86 build takes)."""
    env = dict(os.environ, CNNKIT_SIMD="portable")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__, "-k",
                        "bits or avg_pool_2x2 or foreign or stride2"], env=env, capture_output=True, text=True, timeout=300,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


# Column stride 2 with other windows (the max_s2_row_avx2 interior path): (shape, k, s, p, ceil)
S2_CASES = [((2, 3, 33, 57), (3, 3), (2, 2), (1, 1), False), ((1, 2, 20, 64), (3, 3), (2, 2), (1, 1), True),
            ((1, 2, 9, 70), (2, 2), (2, 2), (1, 1), False), ((1, 1, 7, 81), (1, 4), (3, 2), (0, 2), True),
            ((1, 1, 5, 49), (2, 5), (1, 2), (1, 2), False), ((1, 1, 3, 3), (3, 3), (2, 2), (1, 1), False)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,s,p,ceil", S2_CASES)
def test_max_pool_stride2_windows_bits(shape, k, s, p, ceil, dtype):
    x = special(shape, dtype, 11)
    x = np.where(np.isnan(x), 0.25, x).astype(dtype)  # ref_max_pool has no NaN rule; NaN covered below
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), list(k), list(s), list(p), D1, ceil)
    r_out, r_idx = ref_max_pool(x, k, s, p, D1, ceil)
    np.testing.assert_array_equal(np.asarray(idx), r_idx)
    bits_equal(out, r_out)


@pytest.mark.parametrize("shape,k,s,p,ceil", S2_CASES)
def test_max_pool_stride2_windows_torch_nan(shape, k, s, p, ceil):
    torch = pytest.importorskip("torch")
    x = special(shape, np.float32, 12)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), list(k), list(s), list(p), D1, ceil)
    ot, it = torch.ops.aten.max_pool2d_with_indices(torch.from_numpy(x), list(k), list(s), list(p), D1, ceil)
    bits_equal(out, ot.numpy())
    np.testing.assert_array_equal(np.asarray(idx), it.numpy())
