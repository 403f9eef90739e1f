"""F.interpolate mode='bicubic' and antialias=True ('bilinear' / 'bicubic'), CPU: the separable
kernels against their plain-loop references and an independent float64 NumPy resize (dense
weight matrices written from the formulas), float64 gradient checks, PyTorch forward and backward
on odd sizes (down and up, integer and fractional scale factors with recompute_scale_factor
None/False/True, align_corners False/True, N 1/2, C 1/3, sizes 1), thread-count independence,
half inputs, nn.Upsample, and torch's errors."""
import itertools

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------------------------------------
# independent NumPy reference: out = Mh @ x @ Mw.T with dense per-dim weight matrices
# ---------------------------------------------------------------------------------------------
def _scale(n_in, n_out, align_corners, s):
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / s if s is not None else n_in / n_out


def keys(d, a):
    """Keys' cubic convolution kernel at distance d."""
    d = np.abs(d)
    return np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                    np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))


def bicubic_matrix(n_in, n_out, align_corners, s=None):
    """Bicubic, a = -0.75: the 4 taps floor(src)-1 .. floor(src)+2, clamped into the image."""
    sc = _scale(n_in, n_out, align_corners, s)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = sc * o if align_corners else sc * (o + 0.5) - 0.5
        i = min(int(np.floor(src)), n_in - 1)
        t = min(max(src - i, 0.0), 1.0)
        for k in range(4):
            m[o, min(max(i - 1 + k, 0), n_in - 1)] += keys(t + 1 - k, -0.75)
    return m


def aa_matrix(n_in, n_out, cubic, align_corners, s=None):
    """PIL-style antialias filter: f((j + 0.5 - center) / max(scale, 1)) over every input j, rows
    normalised (a row with no weight, past the image's end when a user scale exceeds out/in, stays
    0, as in torch); a dim whose size does not change is the identity (torch skips it)."""
    if n_in == n_out:
        return np.eye(n_in)
    sc = _scale(n_in, n_out, align_corners, s)
    j = np.arange(n_in) + 0.5
    center = sc * (np.arange(n_out) + 0.5)
    d = (j[None, :] - center[:, None]) / max(sc, 1.0)
    m = keys(d, -0.5) if cubic else np.maximum(1 - np.abs(d), 0.0)
    total = m.sum(1, keepdims=True)
    return m / np.where(total == 0, 1.0, total)


def np_resize(x, OH, OW, mode, antialias, align_corners, scales=(None, None)):
    H, W = x.shape[-2:]
    if antialias:
        mh = aa_matrix(H, OH, mode == "bicubic", align_corners, scales[0])
        mw = aa_matrix(W, OW, mode == "bicubic", align_corners, scales[1])
    else:
        mh = bicubic_matrix(H, OH, align_corners, scales[0])
        mw = bicubic_matrix(W, OW, align_corners, scales[1])
    return np.einsum("oh,nchw,pw->ncop", mh, x, mw), mh, mw


def close(a, b, tol):
    """max |a - b| <= tol * max(1, max |b|) (gradients can sum thousands of terms)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    err = float(np.abs(a - b).max()) if a.size else 0.0
    assert err <= tol * scale, f"max err {err:.3g} > {tol:.1g} * {scale:.3g}"


IN_SIZES = [(1, 1), (3, 5), (7, 4), (13, 17), (32, 9)]
OUT_SIZES = [(1, 1), (6, 10), (2, 3), (5, 13), (11, 7), (16, 24), (3, 1)]
# (kernel mode, antialias, torch mode)
SEP_MODES = [("cubic", False, "bicubic"), ("cubic", True, "bicubic"), ("linear", True, "bilinear")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kmode,aa,mode", SEP_MODES)
@pytest.mark.parametrize("ac", [False, True])
def test_kernels_match_naive(kmode, aa, mode, ac, dtype):
    rng = np.random.default_rng(0)
    t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for (H, W), (OH, OW) in itertools.product(IN_SIZES, OUT_SIZES[:5]):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        g = rng.standard_normal((2, 3, OH, OW)).astype(dtype)
        for scales in ([], [OH / H * 1.01, OW / W * 0.99]):
            fast = np.asarray(_C.upsample_forward(T(x), [OH, OW], kmode, ac, scales, aa))
            naive = np.asarray(_C.upsample_forward_naive(T(x), [OH, OW], kmode, ac, scales, aa))
            np.testing.assert_array_equal(fast, naive)  # same weights, same order of the sums
            d_fast = _C.upsample_backward(T(g), list(x.shape), [OH, OW], kmode, ac, scales, aa)
            d_naive = _C.upsample_backward_naive(T(g), list(x.shape), [OH, OW], kmode, ac, scales, aa)
            np.testing.assert_allclose(np.asarray(d_fast), np.asarray(d_naive), **t)


@pytest.mark.parametrize("kmode,aa,mode", SEP_MODES)
@pytest.mark.parametrize("ac", [False, True])
def test_matches_numpy_reference(kmode, aa, mode, ac):
    """Forward = Mh x Mwᵀ and backward = Mhᵀ g Mw with the independently written matrices."""
    rng = np.random.default_rng(1)
    for (H, W), (OH, OW) in itertools.product(IN_SIZES, OUT_SIZES):
        for scales in ([None, None], [OH / H * 1.07, OW / W * 0.93]):
            x = rng.standard_normal((2, 2, H, W))
            ref, mh, mw = np_resize(x, OH, OW, mode, aa, ac, scales)
            cs = [] if scales[0] is None else scales
            out = np.asarray(_C.upsample_forward(T(x), [OH, OW], kmode, ac, cs, aa))
            np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10, err_msg=f"{H, W, OH, OW, scales}")
            g = rng.standard_normal(ref.shape)
            d = np.asarray(_C.upsample_backward(T(g), list(x.shape), [OH, OW], kmode, ac, cs, aa))
            np.testing.assert_allclose(d, np.einsum("oh,ncop,pw->nchw", mh, g, mw), rtol=1e-10, atol=1e-10)


def test_reference_weight_properties():
    """Sanity of the reference itself: rows sum to 1; bicubic interpolates (identity at equal
    sizes, the samples themselves where the source is a node: align_corners 10 -> 19); Keys with
    a = -0.5 (aa bicubic, upsampling) is exact on linear ramps away from the border, a = -0.75 is
    not; aa downsampling by 2 with the triangle averages 4 neighbours with weights 1/8, 3/8, 3/8, 1/8."""
    np.testing.assert_allclose(bicubic_matrix(9, 9, False), np.eye(9), atol=1e-15)
    for m in (bicubic_matrix(7, 13, False), aa_matrix(13, 4, True, False), aa_matrix(13, 4, False, True)):
        np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(bicubic_matrix(10, 19, True)[::2], np.eye(10), atol=1e-15)
    ramp = np.arange(20.0)
    src = (np.arange(40) + 0.5) * 0.5 - 0.5
    np.testing.assert_allclose((aa_matrix(20, 40, True, False) @ ramp)[4:-4], src[4:-4], atol=1e-12)
    assert np.abs((bicubic_matrix(20, 40, False) @ ramp)[4:-4] - src[4:-4]).max() > 1e-3
    np.testing.assert_allclose(aa_matrix(8, 4, False, False)[1, 1:5], [1 / 8, 3 / 8, 3 / 8, 1 / 8], atol=1e-15)


@pytest.mark.parametrize("mode,aa,ac", [("bicubic", False, False), ("bicubic", False, True), ("bicubic", True, False),
                                        ("bicubic", True, True), ("bilinear", True, False),
                                        ("bilinear", True, True)])
def test_gradcheck(mode, aa, ac):
    rng = np.random.default_rng(3)
    x = ck.tensor(rng.standard_normal((1, 2, 5, 6)), requires_grad=True)
    for kw in [dict(size=(3, 2)), dict(size=(7, 9)), dict(scale_factor=1.7), dict(scale_factor=(0.45, 2.2)),
               dict(scale_factor=(1.1, 0.5)), dict(scale_factor=0.6, recompute_scale_factor=True)]:
        assert gradcheck(lambda a: F.interpolate(a, mode=mode, align_corners=ac, antialias=aa, **kw), (x,)), kw


# ---------------------------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------------------------
def _torch_backward_differs(shape, out_shape, kw):
    """The corner cases where torch's backward is not the gradient of its own forward (see
    notes/resize.md): with a user scale factor and an unchanged dim, torch's aa forward copies the
    dim but its backward applies the scaled filter, and its plain bicubic backward copies when both
    dims are unchanged while its forward applies the scaled taps."""
    if kw.get("scale_factor") is None or kw.get("recompute_scale_factor"):
        return False
    same = [a == b for a, b in zip(shape[2:], out_shape[2:])]
    sf = kw["scale_factor"] if isinstance(kw["scale_factor"], tuple) else (kw["scale_factor"],) * 2
    scaled_same = [s and f != 1.0 for s, f in zip(same, sf)]
    return any(scaled_same) if kw.get("antialias") else all(scaled_same)


def _torch_aa_width1_bug(shape, out_shape, kw):
    """torch's CPU antialias kernel gives every output row the first row's vertical weights when
    the output width is 1 (test_torch_antialias_width_1_bug)."""
    return kw.get("antialias") and out_shape[-1] == 1 and out_shape[-2] > 1 and out_shape[-2] != shape[-2]


def _check_vs_torch(torch, x, kw, dtype=np.float32):
    rng = np.random.default_rng(x.size)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(xo, **kw)
    ref = torch.nn.functional.interpolate(xt, **kw)
    assert tuple(out.shape) == tuple(ref.shape), kw
    if _torch_aa_width1_bug(x.shape, ref.shape, kw):
        return
    ftol, gtol = (1e-5, 2e-5) if dtype == np.float32 else (1e-13, 1e-11)
    close(out.detach().numpy(), ref.detach().numpy(), ftol)
    g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    out.backward(ck.tensor(g))
    if _torch_backward_differs(x.shape, ref.shape, kw):
        return
    ref.backward(torch.tensor(g))
    close(xo.grad.numpy(), xt.grad.numpy(), gtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,aa", [("bicubic", False), ("bicubic", True), ("bilinear", True)])
@pytest.mark.parametrize("ac", [False, True])
def test_sizes_match_torch(mode, aa, ac, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for (H, W), size in itertools.product(IN_SIZES, OUT_SIZES + [(64, 3)]):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        _check_vs_torch(torch, x, dict(size=size, mode=mode, align_corners=ac, antialias=aa), dtype)


@pytest.mark.parametrize("mode,aa", [("bicubic", False), ("bicubic", True), ("bilinear", True)])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("recompute", [None, False, True])
def test_scale_factors_match_torch(mode, aa, ac, recompute):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for (N, C), (H, W), sf in itertools.product([(1, 1), (2, 3)], [(3, 5), (7, 4), (13, 9), (1, 2)],
                                                [2, 1.5, 2.3, 0.5, 0.7, 0.3, 1.0, (2, 1.25), (0.6, 3.1), 1.1]):
        sizes = [int(np.floor(n * s)) for n, s in zip((H, W), sf if isinstance(sf, tuple) else (sf, sf))]
        if min(sizes) < 1:
            continue
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        _check_vs_torch(torch, x, dict(scale_factor=sf, mode=mode, align_corners=ac, antialias=aa,
                                       recompute_scale_factor=recompute))


def test_large_downsample_and_upsample_match_torch():
    """torchvision's Resize shapes: 64x64 -> 32x32 / 224x224 and a strong (x7.3) downsample."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    for mode, aa, size in itertools.product(["bilinear", "bicubic"], [True, False], [(32, 32), (224, 224), (9, 7)]):
        if mode == "bilinear" and not aa:
            continue
        _check_vs_torch(torch, x, dict(size=size, mode=mode, antialias=aa))


def test_torch_antialias_width_1_bug():
    """An output width of 1 with a resized height: torch's CPU aa result repeats its first row
    (a known difference, notes/resize.md); ours is the reference's."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).standard_normal((1, 2, 7, 4))
    for mode in ("bilinear", "bicubic"):
        ours = F.interpolate(ck.tensor(x), size=(3, 1), mode=mode, antialias=True).numpy()
        np.testing.assert_allclose(ours, np_resize(x, 3, 1, mode, True, False)[0], rtol=1e-12, atol=1e-12)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), size=(3, 1), mode=mode, antialias=True).numpy()
        np.testing.assert_allclose(theirs[:, :, 0], ours[:, :, 0], rtol=1e-12, atol=1e-12)
        if (theirs[:, :, 1:] == theirs[:, :, :1]).all():  # torch still has the bug: the rows differ from ours
            assert not np.allclose(theirs, ours)


def test_antialias_upsampling_equals_plain_bilinear():
    """Upsampling, the stretched triangle is the plain bilinear kernel (align_corners=False)."""
    rng = np.random.default_rng(8)
    x = ck.tensor(rng.standard_normal((2, 3, 5, 7)))
    for size in [(11, 13), (5, 20), (9, 7)]:
        np.testing.assert_allclose(F.interpolate(x, size=size, mode="bilinear", antialias=True).numpy(),
                                   F.interpolate(x, size=size, mode="bilinear").numpy(), rtol=1e-12, atol=1e-12)


def test_unchanged_dim_with_scale_is_a_copy_and_its_gradient_the_identity():
    """antialias with scale_factor=1.1 on size 5 keeps 5: the forward copies (as torch's) and the
    gradient is the identity (torch's backward applies the 1/1.1 filter instead)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(9).standard_normal((1, 2, 5, 5))
    for mode in ("bilinear", "bicubic"):
        xo = ck.tensor(x, requires_grad=True)
        out = F.interpolate(xo, scale_factor=1.1, mode=mode, antialias=True)
        ref = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=1.1, mode=mode, antialias=True)
        np.testing.assert_array_equal(out.detach().numpy(), ref.numpy())
        np.testing.assert_array_equal(out.detach().numpy(), x)
        out.backward(ck.ones(1, 2, 5, 5, dtype=ck.float64))
        np.testing.assert_array_equal(xo.grad.numpy(), np.ones_like(x))
    # plain bicubic applies the 1/1.1 taps in the forward (torch's too); its gradient is their adjoint
    xo = ck.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: F.interpolate(a, scale_factor=1.1, mode="bicubic"), (xo,))
    close(F.interpolate(xo, scale_factor=1.1, mode="bicubic").detach().numpy(),
          torch.nn.functional.interpolate(torch.tensor(x), scale_factor=1.1, mode="bicubic").numpy(), 1e-13)


def test_strided_half_and_empty_batch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 6, 9)).astype(np.float32)
    xo = ck.tensor(x).transpose(2, 3)
    for mode, aa in [("bicubic", False), ("bicubic", True), ("bilinear", True)]:
        ref = torch.nn.functional.interpolate(torch.tensor(x).transpose(2, 3), size=(4, 5), mode=mode, antialias=aa)
        close(F.interpolate(xo, size=(4, 5), mode=mode, antialias=aa).numpy(), ref.numpy(), 2e-6)
        h = F.interpolate(ck.tensor(x).half(), size=(4, 5), mode=mode, antialias=aa)
        assert h.dtype == ck.float16
        ref = torch.nn.functional.interpolate(torch.tensor(x), size=(4, 5), mode=mode, antialias=aa)
        np.testing.assert_allclose(h.float().numpy(), ref.numpy(), rtol=2e-3, atol=2e-3)
        e = F.interpolate(ck.zeros(0, 3, 4, 4), size=(2, 3), mode=mode, antialias=aa)
        assert tuple(e.shape) == (0, 3, 2, 3)


@pytest.mark.parametrize("kw", [dict(size=(5, 7), mode="bicubic"), dict(scale_factor=0.5, mode="bicubic"),
                                dict(scale_factor=2.5, mode="bicubic", align_corners=True)])
def test_upsample_module_bicubic_matches_torch(kw):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Upsample(**kw), torch.nn.Upsample(**kw)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(11).standard_normal((2, 3, 6, 5)).astype(np.float32)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    close(out.detach().numpy(), ref.detach().numpy(), 2e-6)
    out.sum().backward()
    ref.sum().backward()
    close(xo.grad.numpy(), xt.grad.numpy(), 2e-5)


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 8, 37, 23)).astype(np.float32)
    g = rng.standard_normal((4, 8, 17, 50)).astype(np.float32)
    prev = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            res = []
            for kmode, aa, _ in SEP_MODES:
                res.append(np.asarray(_C.upsample_forward(T(x), [17, 50], kmode, False, [], aa)))
                res.append(np.asarray(_C.upsample_backward(T(g), list(x.shape), [17, 50], kmode, False, [], aa)))
            results.append(res)
    finally:
        _C.set_num_threads(prev)
    for other in results[1:]:
        for a, e in zip(results[0], other):
            np.testing.assert_array_equal(a, e)


def test_errors_match_torch():
    x = ck.randn(2, 3, 4, 5)
    cases = [
        (ck.randn(2, 3, 4), dict(size=3, mode="bicubic"), NotImplementedError,
         r"^Input Error: Only 3D, 4D and 5D input Tensors supported \(got 3D\) .*\(got bicubic\)$"),
        (ck.randn(1, 2, 3, 4, 5), dict(size=3, mode="bicubic"), NotImplementedError,
         r"^Input Error: Only 3D, 4D and 5D input Tensors supported \(got 5D\) .*\(got bicubic\)$"),
        (x, dict(size=3, mode="nearest", antialias=True), ValueError,
         "^Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor"),
        (ck.randn(2, 3, 4), dict(size=3, mode="linear", antialias=True), ValueError, "^Anti-alias option"),
        (x, dict(size=(0, 3), mode="bicubic"), RuntimeError,
         r"^Input and output sizes should be greater than 0, but got input \(H: 4, W: 5\) output \(H: 0, W: 3\)$"),
        (x, dict(scale_factor=0.1, mode="bilinear", antialias=True), RuntimeError, r"output \(H: 0, W: 0\)"),
        (x, dict(scale_factor=2, mode="lanczos", antialias=True), ValueError,
         "cnnkit: interpolate mode 'lanczos' with 4-D input is not supported"),
        (ck.randn(2, 0, 4, 4), dict(size=2, mode="bicubic"), RuntimeError,
         r"^Non-empty 4D data tensor expected but got a tensor with sizes \[2, 0, 4, 4\]$"),
        (ck.zeros(1, 1, 2, 2, dtype=ck.int64), dict(size=3, mode="bicubic"), TypeError,
         "upsample: expected input to be float32 or float64, got int64"),
    ]
    for inp, kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            F.interpolate(inp, **kw)
    z = T(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"upsample: mode 'cubic' expects a 4-D \(N, C, H, W\) input, got 3-D"):
        _C.upsample_forward(T(np.zeros((1, 1, 2))), [4], "cubic", False, [])
    with pytest.raises(ValueError, match="upsample: antialias=True expects mode 'linear' or 'cubic' and a 4-D input, "
                                         "got mode 'nearest'"):
        _C.upsample_forward(z, [4, 4], "nearest", False, [], True)
    with pytest.raises(ValueError, match=r"upsample_backward: expected grad_output of shape \[1, 1, 4, 4\]"):
        _C.upsample_backward(T(np.zeros((1, 1, 4, 5))), [1, 1, 2, 2], [4, 4], "cubic", False, [], True)
