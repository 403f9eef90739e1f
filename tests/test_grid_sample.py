"""F.grid_sample and F.affine_grid: the _C kernels against an independent plain-loop NumPy
reference (every mode x padding mode x align_corners, float32 and float64, grid points inside and
outside [-1, 1]), PyTorch's forward when installed, torch's errors and warnings, empty shapes,
non-finite grids, and affine_grid against its formula and torch."""
import itertools
import math
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F
from cnnkit import _C

MODES = ["bilinear", "nearest", "bicubic"]
PADS = ["zeros", "border", "reflection"]
COMBOS = list(itertools.product(MODES, PADS, [False, True]))


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


def torch_or_skip():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------
# the plain-loop reference: for every output location, its list of (input index, weight) taps
# ---------------------------------------------------------------------------------------------
def _unnorm(c, size, ac):
    return (c + 1) / 2 * (size - 1) if ac else ((c + 1) * size - 1) / 2


def _fold(x, lo, hi):
    """Reflects x about lo and hi until it lies in [lo, hi] (an iterative fold, not a modulo)."""
    if hi == lo:
        return lo
    while x < lo or x > hi:
        x = 2 * lo - x if x < lo else 2 * hi - x
    return x


def _pad(x, size, pm, ac):
    if not math.isfinite(x):
        return -100.0
    if pm == "border":
        x = min(max(x, 0.0), size - 1.0)
    elif pm == "reflection":
        x = _fold(x, 0.0, size - 1.0) if ac else _fold(x, -0.5, size - 0.5)
        x = min(max(x, 0.0), size - 1.0)
    return x


def _cubic(d):
    a, d = -0.75, abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def ref_taps(gx, gy, H, W, mode, pm, ac):
    """[(y, x, weight)] of the in-bounds pixels the point (gx, gy) reads."""
    taps = []
    if mode == "bicubic":
        ix, iy = _unnorm(gx, W, ac), _unnorm(gy, H, ac)
        x0, y0 = math.floor(ix), math.floor(iy)
        for ty in range(y0 - 1, y0 + 3):
            for tx in range(x0 - 1, x0 + 3):
                w = _cubic(ix - tx) * _cubic(iy - ty)
                px, py = int(_pad(float(tx), W, pm, ac)), int(_pad(float(ty), H, pm, ac))
                if 0 <= px < W and 0 <= py < H:
                    taps.append((py, px, w))
        return taps
    ix, iy = _pad(_unnorm(gx, W, ac), W, pm, ac), _pad(_unnorm(gy, H, ac), H, pm, ac)
    if mode == "nearest":
        px, py = int(np.rint(ix)), int(np.rint(iy))  # half to even
        return [(py, px, 1.0)] if 0 <= px < W and 0 <= py < H else []
    x0, y0 = math.floor(ix), math.floor(iy)
    for py in (y0, y0 + 1):
        for px in (x0, x0 + 1):
            w = (1 - abs(ix - px)) * (1 - abs(iy - py))
            if 0 <= px < W and 0 <= py < H:
                taps.append((py, px, w))
    return taps


def ref_forward(x, grid, mode, pm, ac):
    N, C, H, W = x.shape
    _, OH, OW, _ = grid.shape
    out = np.zeros((N, C, OH, OW))
    for n in range(N):
        for h in range(OH):
            for w in range(OW):
                for py, px, wt in ref_taps(float(grid[n, h, w, 0]), float(grid[n, h, w, 1]), H, W, mode, pm, ac):
                    out[n, :, h, w] += wt * x[n, :, py, px].astype(np.float64)
    return out


def random_grid(rng, N, OH, OW, lo=-1.6, hi=1.6, dtype=np.float64):
    return rng.uniform(lo, hi, (N, OH, OW, 2)).astype(dtype)


SHAPES = [((2, 3, 5, 7), (4, 6)), ((1, 2, 1, 4), (3, 2)), ((3, 1, 6, 1), (1, 5)), ((1, 4, 2, 2), (1, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_forward_matches_reference(mode, pm, ac, dtype):
    rng = np.random.default_rng(hash((mode, pm, ac)) % 2 ** 32)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for xs, (OH, OW) in SHAPES:
        x = rng.standard_normal(xs).astype(dtype)
        g = random_grid(rng, xs[0], OH, OW, dtype=dtype)
        out = np.asarray(_C.grid_sample_forward(T(x), T(g), mode, pm, ac))
        assert out.dtype == dtype and out.shape == (xs[0], xs[1], OH, OW)
        np.testing.assert_allclose(out, ref_forward(x, g, mode, pm, ac), **tol)


@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_forward_matches_torch(mode, pm, ac):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    for dtype, tol in [(np.float32, dict(rtol=1e-4, atol=1e-5)), (np.float64, dict(rtol=1e-10, atol=1e-12))]:
        for xs, (OH, OW) in SHAPES + [((2, 3, 9, 8), (7, 11))]:
            x = rng.standard_normal(xs).astype(dtype)
            g = random_grid(rng, xs[0], OH, OW, -2.5, 2.5, dtype=dtype)
            ours = F.grid_sample(ck.tensor(x), ck.tensor(g), mode=mode, padding_mode=pm, align_corners=ac)
            ref = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(g), mode=mode, padding_mode=pm,
                                                  align_corners=ac)
            np.testing.assert_allclose(ours.numpy(), ref.numpy(), **tol)


def test_identity_and_rotation_grid():
    """align_corners=False identity affine grid reproduces the input exactly (pixel centres);
    a 90-degree rotation of a square image permutes its pixels (bilinear lands on pixel centres)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    eye = ck.tensor(np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (2, 1, 1)))
    for mode in MODES:
        grid = F.affine_grid(eye, [2, 3, 6, 6], align_corners=False)
        out = F.grid_sample(ck.tensor(x), grid, mode=mode, align_corners=False)
        np.testing.assert_allclose(out.numpy(), x, atol=1e-5)
    rot = ck.tensor(np.tile(np.array([[0, -1, 0], [1, 0, 0]], np.float32), (2, 1, 1)))
    out = F.grid_sample(ck.tensor(x), F.affine_grid(rot, [2, 3, 6, 6], align_corners=False), align_corners=False)
    np.testing.assert_allclose(out.numpy(), np.rot90(x, k=1, axes=(2, 3)), atol=1e-5)


def test_strided_inputs_and_out_of_range_values():
    """Non-contiguous input and grid are read correctly; huge and non-finite grid values neither
    crash nor read out of bounds (zeros padding gives 0 there; torch agrees on the finite ones)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 4, 3))  # permuted to (2, 3, 5, 4) below
    g = random_grid(rng, 2, 3, 4)
    xt = ck.tensor(x).permute(0, 3, 1, 2)
    gt = ck.tensor(np.ascontiguousarray(g.transpose(0, 2, 1, 3))).transpose(1, 2)
    assert not xt.is_contiguous() and not gt.is_contiguous()
    for mode, pm, ac in COMBOS:
        out = F.grid_sample(xt, gt, mode=mode, padding_mode=pm, align_corners=ac)
        np.testing.assert_allclose(out.numpy(), ref_forward(x.transpose(0, 3, 1, 2), g, mode, pm, ac), atol=1e-12)
    big = np.array([1e10, -1e10, 3e9, 1e30, np.inf, -np.inf, np.nan, 0.5])
    gb = np.stack(np.meshgrid(big, big), -1).reshape(1, 8, 8, 2)
    xs = rng.standard_normal((1, 2, 4, 5))
    # torch's reflection of values past 2^53 depends on its int conversions: compared up to 1e10
    finite = (np.abs(gb[0]) <= 1e10).all(-1)
    torch = None
    try:
        import torch
    except ImportError:
        pass
    for mode, pm, ac in COMBOS:
        out = F.grid_sample(ck.tensor(xs), ck.tensor(gb), mode=mode, padding_mode=pm, align_corners=ac).numpy()
        assert out.shape == (1, 2, 8, 8)
        if pm == "zeros" and mode != "bicubic":
            assert np.all(out[:, :, ~(np.abs(gb[0]) < 2).all(-1)] == 0)
        if torch is not None and mode != "bicubic":
            ref = torch.nn.functional.grid_sample(torch.tensor(xs), torch.tensor(gb), mode=mode, padding_mode=pm,
                                                  align_corners=ac).numpy()
            np.testing.assert_allclose(out[:, :, finite], ref[:, :, finite], atol=1e-12)


def test_empty_shapes():
    x = ck.randn(2, 3, 4, 5)
    for xs, gs, want in [((0, 3, 4, 5), (0, 2, 3, 2), (0, 3, 2, 3)), ((2, 0, 4, 5), (2, 2, 3, 2), (2, 0, 2, 3)),
                         ((2, 3, 4, 5), (2, 0, 3, 2), (2, 3, 0, 3))]:
        out = F.grid_sample(ck.zeros(*xs), ck.zeros(*gs), align_corners=False)
        assert tuple(out.shape) == want
    assert tuple(F.grid_sample(x, ck.zeros(2, 1, 1, 2), align_corners=True).shape) == (2, 3, 1, 1)


def test_errors():
    x, g = ck.randn(2, 3, 4, 5), ck.rand(2, 6, 7, 2)
    cases = [
        (lambda: F.grid_sample(x, g[:1], align_corners=False), RuntimeError,
         r"expected grid and input to have same batch size, but got input with sizes \[2, 3, 4, 5\] and grid "
         r"with sizes \[1, 6, 7, 2\]"),
        (lambda: F.grid_sample(x, ck.rand(2, 6, 7, 3), align_corners=False), RuntimeError,
         r"expected grid to have size 2 in last dimension, but got grid with sizes \[2, 6, 7, 3\]"),
        (lambda: F.grid_sample(x, g[0], align_corners=False), RuntimeError,
         r"expected 4D input and grid with same number of dimensions"),
        (lambda: F.grid_sample(ck.randn(2, 3, 4), ck.rand(2, 5, 1), align_corners=False), RuntimeError,
         r"expected 4D input and grid with same number of dimensions"),
        (lambda: F.grid_sample(x, g.double(), align_corners=False), RuntimeError,
         r"expected input and grid to have the same dtype, but input has float32 and grid has float64"),
        (lambda: F.grid_sample(x.long(), g.long(), align_corners=False), TypeError, r"float32 or float64"),
        (lambda: F.grid_sample(x[:, :, :0], g, align_corners=False), RuntimeError,
         r"expected input to have non-empty spatial dimensions, but input has sizes \[2, 3, 0, 5\] with "
         r"dimension 2 being empty"),
        (lambda: F.grid_sample(ck.randn(1, 1, 2, 2, 2), ck.rand(1, 1, 1, 1, 3), align_corners=False), ValueError,
         r"5-D \(volumetric\) input is not supported"),
        (lambda: F.grid_sample(ck.randn(1, 1, 2, 2, 2), ck.rand(1, 1, 1, 1, 3), mode="bicubic",
                               align_corners=False), RuntimeError, r"bicubic interpolation only supports 4D input"),
        (lambda: F.grid_sample(x, g, mode="linear"), ValueError,
         r"expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'linear'"),
        (lambda: F.grid_sample(x, g, padding_mode="wrap"), ValueError,
         r"expected padding_mode to be 'zeros', 'border', or 'reflection', but got: 'wrap'"),
        (lambda: F.grid_sample(x, 3), TypeError, r"grid_sampler\(\): argument 'grid' must be Tensor, not int"),
        (lambda: F.grid_sample(x.numpy(), g), TypeError, r"argument 'input' must be Tensor, not ndarray"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()
    with pytest.raises(ValueError, match="expected mode"):
        _C.grid_sample_forward(x._t, g._t, "area", "zeros", False)


def test_align_corners_warning():
    x, g = ck.randn(1, 1, 3, 3), ck.rand(1, 2, 2, 2)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        a = F.grid_sample(x, g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = F.grid_sample(x, g, align_corners=False)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        F.affine_grid(ck.randn(1, 2, 3), [1, 1, 3, 3])


# ---------------------------------------------------------------------------------------------
# affine_grid
# ---------------------------------------------------------------------------------------------
def ref_affine_grid(theta, size, ac):
    """The formula: output pixel (h, w) -> theta @ (x_w, y_h, 1), with x_w the normalised centre
    (or corner, align_corners) of column w; a unit dim's coordinate is 0."""
    N, k = theta.shape[0], len(size) - 2
    spatial = size[2:]

    def coord(i, n):
        if n == 1:
            return 0.0
        return (2 * i / (n - 1) - 1) if ac else (2 * i + 1) / n - 1

    out = np.zeros([N] + list(spatial) + [k])
    for idx in itertools.product(*[range(s) for s in spatial]):
        p = [coord(i, n) for i, n in zip(reversed(idx), reversed(spatial))] + [1.0]
        for b in range(N):
            out[(b,) + idx] = theta[b] @ np.array(p)
    return out


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_matches_formula_and_torch(ac):
    rng = np.random.default_rng(4)
    for size in [[2, 3, 5, 7], [1, 1, 1, 4], [3, 2, 6, 1], [2, 1, 3, 4, 5]]:
        k = len(size) - 2
        theta = rng.standard_normal((size[0], k, k + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unit-size warning with align_corners=True
            for dtype, tol in [(np.float64, 1e-12), (np.float32, 1e-5)]:
                ours = F.affine_grid(ck.tensor(theta.astype(dtype)), size, align_corners=ac)
                assert ours.dtype.name == np.dtype(dtype).name and tuple(ours.shape) == tuple([size[0]] + size[2:] + [k])
                np.testing.assert_allclose(ours.numpy(), ref_affine_grid(theta, size, ac), atol=tol)
                try:
                    import torch
                except ImportError:
                    continue
                ref = torch.nn.functional.affine_grid(torch.tensor(theta.astype(dtype)), size, align_corners=ac)
                np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=tol)


def test_affine_grid_errors_and_warnings():
    th = ck.randn(2, 2, 3)
    cases = [
        (lambda: F.affine_grid(th.long(), [2, 3, 4, 5], False), ValueError,
         "Expected theta to have floating point type, but got cnnkit.int64"),
        (lambda: F.affine_grid(ck.randn(2, 3, 3), [2, 3, 4, 5], False), ValueError,
         r"Expected a batch of 2D affine matrices of shape Nx2x3 for size \[2, 3, 4, 5\]"),
        (lambda: F.affine_grid(th, [2, 3, 4, 5, 6], False), ValueError,
         r"Expected a batch of 3D affine matrices of shape Nx3x4"),
        (lambda: F.affine_grid(th, [2, 3, 4], False), NotImplementedError,
         r"affine_grid only supports 4D and 5D sizes"),
        (lambda: F.affine_grid(th, [2, 3, 0, 5], False), ValueError,
         r"Expected non-zero, positive output size. Got \[2, 3, 0, 5\]"),
        (lambda: F.affine_grid(th, [3, 3, 4, 5], False), RuntimeError, r"expected theta with batch size 3"),
        (lambda: F.affine_grid(th.numpy(), [2, 3, 4, 5], False), TypeError, r"argument 'theta' must be Tensor"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()
    with pytest.warns(UserWarning, match="affine_grid behavior has changed for unit-size grids"):
        F.affine_grid(th, [2, 3, 1, 5], align_corners=True)


# ---------------------------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------------------------
def ref_input_grad(x_shape, grid, dout, mode, pm, ac):
    """The adjoint of ref_forward: each location's dout scattered into the pixels it read."""
    N, C, H, W = x_shape
    dx = np.zeros(x_shape)
    for n in range(N):
        for h in range(grid.shape[1]):
            for w in range(grid.shape[2]):
                for py, px, wt in ref_taps(float(grid[n, h, w, 0]), float(grid[n, h, w, 1]), H, W, mode, pm, ac):
                    dx[n, :, py, px] += wt * dout[n, :, h, w]
    return dx


def off_kink_grid(rng, N, OH, OW, H, W, ac):
    """Grid points whose unnormalised coordinates lie between -2.4 and size + 1.4, at least 0.1 away
    from every integer and half-integer: the kinks of floor, nearest rounding, clipping and
    reflection are all there, so central differences see a smooth function."""
    def coords(size):
        base = rng.integers(-3, size + 1, (N, OH, OW)).astype(np.float64)
        frac = rng.uniform(0.1, 0.4, (N, OH, OW)) + 0.5 * rng.integers(0, 2, (N, OH, OW))
        u = base + frac
        if ac:
            return 2 * u / (size - 1) - 1 if size > 1 else np.zeros_like(u)
        return (2 * u + 1) / size - 1

    return np.stack([coords(W), coords(H)], axis=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_input_grad_matches_reference(mode, pm, ac, dtype):
    rng = np.random.default_rng(5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for xs, (OH, OW) in SHAPES:
        x = rng.standard_normal(xs).astype(dtype)
        g = random_grid(rng, xs[0], OH, OW, dtype=dtype)
        go = rng.standard_normal((xs[0], xs[1], OH, OW)).astype(dtype)
        dx, dg = _C.grid_sample_backward(T(go), T(x), T(g), mode, pm, ac, (True, True))
        np.testing.assert_allclose(np.asarray(dx), ref_input_grad(xs, g, go, mode, pm, ac), **tol)
        assert np.asarray(dg).shape == g.shape and np.asarray(dx).dtype == dtype
        if mode == "nearest":
            assert not np.asarray(dg).any()
        only_x = _C.grid_sample_backward(T(go), T(x), T(g), mode, pm, ac, (True, False))
        only_g = _C.grid_sample_backward(T(go), T(x), T(g), mode, pm, ac, (False, True))
        assert only_x[1] is None and only_g[0] is None
        np.testing.assert_array_equal(np.asarray(only_x[0]), np.asarray(dx))
        np.testing.assert_array_equal(np.asarray(only_g[1]), np.asarray(dg))


@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_grads_match_torch(mode, pm, ac):
    torch = torch_or_skip()
    rng = np.random.default_rng(6)
    for dtype, tol in [(np.float32, dict(rtol=1e-3, atol=1e-4)), (np.float64, dict(rtol=1e-9, atol=1e-10))]:
        for xs, (OH, OW) in SHAPES[:3] + [((2, 3, 9, 8), (7, 11))]:
            x = rng.standard_normal(xs).astype(dtype)
            g = random_grid(rng, xs[0], OH, OW, -2.0, 2.0, dtype=dtype)
            go = rng.standard_normal((xs[0], xs[1], OH, OW)).astype(dtype)
            xc, gc = ck.tensor(x, requires_grad=True), ck.tensor(g, requires_grad=True)
            F.grid_sample(xc, gc, mode=mode, padding_mode=pm, align_corners=ac).backward(ck.tensor(go))
            xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
            torch.nn.functional.grid_sample(xt, gt, mode=mode, padding_mode=pm,
                                            align_corners=ac).backward(torch.tensor(go))
            np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), **tol)
            np.testing.assert_allclose(gc.grad.numpy(), gt.grad.numpy(), **tol)


@pytest.mark.parametrize("mode,pm,ac", COMBOS)
def test_gradcheck(mode, pm, ac):
    from cnnkit.testing import gradcheck

    rng = np.random.default_rng(7)
    for (N, C, H, W), (OH, OW) in [((1, 2, 3, 4), (2, 3)), ((2, 1, 4, 1), (3, 1))]:
        x = ck.tensor(rng.standard_normal((N, C, H, W)), requires_grad=True)
        g = ck.tensor(off_kink_grid(rng, N, OH, OW, H, W, ac), requires_grad=mode != "nearest")

        def fn(x, g):
            return F.grid_sample(x, g, mode=mode, padding_mode=pm, align_corners=ac)

        assert gradcheck(fn, (x, g), eps=1e-6, atol=1e-6, rtol=1e-4)
    if mode == "nearest":
        g.requires_grad_(True)
        F.grid_sample(x, g, mode=mode, padding_mode=pm, align_corners=ac).sum().backward()
        assert g.grad is not None and not g.grad.numpy().any()


def test_input_grad_is_deterministic():
    """Many grid points reading the same few pixels: the input gradient is bitwise identical for one
    or two threads and for the whole-image and the channel-split task layouts (N = 1 vs N = 6)."""
    rng = np.random.default_rng(8)
    prev = ck.get_num_threads()
    try:
        for N in (1, 6):
            x = rng.standard_normal((N, 5, 3, 4)).astype(np.float32)
            g = rng.uniform(-0.3, 0.3, (N, 40, 30, 2)).astype(np.float32)
            go = rng.standard_normal((N, 5, 40, 30)).astype(np.float32)
            results = []
            for threads in (1, 2, 1):
                ck.set_num_threads(threads)
                for mode in MODES:
                    results.append(np.asarray(_C.grid_sample_backward(T(go), T(x), T(g), mode, "border", False,
                                                                      (True, False))[0]))
            k = len(MODES)
            for i in range(k):
                np.testing.assert_array_equal(results[i], results[k + i])
                np.testing.assert_array_equal(results[i], results[2 * k + i])
            np.testing.assert_allclose(results[0], ref_input_grad(x.shape, g, go, "bilinear", "border", False),
                                       rtol=1e-4, atol=1e-4)
    finally:
        ck.set_num_threads(prev)


def test_backward_empty_and_errors():
    x, g = ck.randn(2, 0, 4, 5, requires_grad=True), ck.rand(2, 3, 2, 2, requires_grad=True)
    F.grid_sample(x, g, align_corners=False).sum().backward()
    assert tuple(x.grad.shape) == (2, 0, 4, 5) and not g.grad.numpy().any()
    x, g = ck.randn(2, 3, 4, 5, requires_grad=True), ck.rand(2, 0, 2, 2, requires_grad=True)
    F.grid_sample(x, g, align_corners=False).sum().backward()
    assert not x.grad.numpy().any() and tuple(g.grad.shape) == (2, 0, 2, 2)
    with pytest.raises(ValueError, match=r"grid_sample_backward: expected grad_output of shape \[2, 3, 0, 2\]"):
        _C.grid_sample_backward(ck.zeros(2, 3, 1, 2)._t, x._t, g._t, "bilinear", "zeros", False, (True, True))
    with pytest.raises(TypeError, match=r"grid_sample_backward: expected grad_output and input to have the same"):
        _C.grid_sample_backward(ck.zeros(2, 3, 0, 2).double()._t, x._t, g._t, "bilinear", "zeros", False,
                                (True, True))


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_storage_types(half):
    """float16 / bfloat16 run in float32 (the autograd hook) and round back, like torch's CPU kernel."""
    torch = torch_or_skip()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    g = random_grid(rng, 2, 4, 3, dtype=np.float32)
    xc = ck.tensor(x).to(getattr(ck, half)).requires_grad_()
    gc = ck.tensor(g).to(getattr(ck, half)).requires_grad_()
    out = F.grid_sample(xc, gc, align_corners=False)
    assert out.dtype == getattr(ck, half)
    out.float().sum().backward()
    assert xc.grad.dtype == getattr(ck, half) and gc.grad.dtype == getattr(ck, half)
    xt = torch.tensor(x).to(getattr(torch, half))
    gt = torch.tensor(g).to(getattr(torch, half))
    ref = torch.nn.functional.grid_sample(xt.float(), gt.float(), align_corners=False)
    tol = 1e-2 if half == "float16" else 5e-2
    np.testing.assert_allclose(out.detach().float().numpy(), ref.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_backward(ac):
    """d theta of affine_grid alone (gradcheck and torch) and of a rotation sampled by grid_sample."""
    from cnnkit.testing import gradcheck

    rng = np.random.default_rng(10)
    for size in ([2, 1, 3, 4], [1, 1, 2, 3, 2]):
        k = len(size) - 2
        th = ck.tensor(rng.standard_normal((size[0], k, k + 1)), requires_grad=True)
        assert gradcheck(lambda t: F.affine_grid(t, size, align_corners=ac), (th,), eps=1e-6, atol=1e-7)
    torch = torch_or_skip()
    x = rng.standard_normal((2, 3, 9, 7))
    theta = np.stack([[[math.cos(a), -math.sin(a), 0.1], [math.sin(a), math.cos(a), -0.2]] for a in (0.4, -1.1)])
    go = rng.standard_normal((2, 3, 8, 6))
    xc, tc = ck.tensor(x, requires_grad=True), ck.tensor(theta, requires_grad=True)
    F.grid_sample(xc, F.affine_grid(tc, [2, 3, 8, 6], align_corners=ac), mode="bilinear",
                  padding_mode="reflection", align_corners=ac).backward(ck.tensor(go))
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(theta, requires_grad=True)
    torch.nn.functional.grid_sample(xt, torch.nn.functional.affine_grid(tt, [2, 3, 8, 6], align_corners=ac),
                                    mode="bilinear", padding_mode="reflection",
                                    align_corners=ac).backward(torch.tensor(go))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(tc.grad.numpy(), tt.grad.numpy(), rtol=1e-9, atol=1e-10)
