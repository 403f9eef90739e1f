"""F.interpolate / F.upsample* and nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d:
the _C kernels against their plain-loop references and an independent NumPy bilinear, float64
gradient checks, PyTorch forward and backward for every mode (nearest, nearest-exact, linear,
bilinear with align_corners False/True, area) with size, scale_factor and recompute_scale_factor on
odd 3-D and 4-D shapes, reprs, and torch's errors and warnings."""
import itertools
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


IN_SIZES = [(1, 1), (3, 5), (7, 4), (8, 8), (5, 13)]
OUT_SIZES = [(1, 1), (6, 10), (14, 8), (5, 13), (3, 2), (11, 7), (16, 16)]
KMODES = [("nearest", False), ("nearest-exact", False), ("linear", False), ("linear", True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kmode,ac", KMODES)
def test_kernels_match_naive(kmode, ac, dtype):
    rng = np.random.default_rng(0)
    for (H, W), (OH, OW) in itertools.product(IN_SIZES, OUT_SIZES[:5]):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        g = rng.standard_normal((2, 3, OH, OW)).astype(dtype)
        for scales in ([], [OH / H * 1.01, OW / W * 0.99]):
            fast = np.asarray(_C.upsample_forward(T(x), [OH, OW], kmode, ac, scales))
            naive = np.asarray(_C.upsample_forward_naive(T(x), [OH, OW], kmode, ac, scales))
            np.testing.assert_array_equal(fast, naive)
            d_fast = np.asarray(_C.upsample_backward(T(g), list(x.shape), [OH, OW], kmode, ac, scales))
            d_naive = np.asarray(_C.upsample_backward_naive(T(g), list(x.shape), [OH, OW], kmode, ac, scales))
            t = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(d_fast, d_naive, **t)


def np_bilinear(x, OH, OW, align_corners):
    """Independent float64 bilinear resize (PyTorch's geometry, sizes given)."""
    H, W = x.shape[-2:]

    def coords(n_in, n_out):
        o = np.arange(n_out, dtype=np.float64)
        if n_out == n_in:
            src = o
        elif align_corners:
            src = o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = np.maximum((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        l1 = np.clip(src - i0, 0, 1)
        return i0, i1, l1

    h0, h1, lh = coords(H, OH)
    w0, w1, lw = coords(W, OW)
    top = x[..., h0, :][..., w0] * (1 - lw) + x[..., h0, :][..., w1] * lw
    bot = x[..., h1, :][..., w0] * (1 - lw) + x[..., h1, :][..., w1] * lw
    return top * (1 - lh)[:, None] + bot * lh[:, None]


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_matches_numpy(align_corners):
    rng = np.random.default_rng(1)
    for (H, W), (OH, OW) in itertools.product(IN_SIZES, OUT_SIZES):
        x = rng.standard_normal((2, 2, H, W))
        out = F.interpolate(ck.tensor(x), size=(OH, OW), mode="bilinear", align_corners=align_corners)
        np.testing.assert_allclose(out.numpy(), np_bilinear(x, OH, OW, align_corners), rtol=1e-12, atol=1e-12)


def test_nearest_matches_numpy_index_rule():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 7))
    out = F.interpolate(ck.tensor(x), size=(9, 3)).numpy()
    hi = np.minimum(np.floor(np.arange(9) * np.float32(5 / 9)).astype(int), 4)
    wi = np.minimum(np.floor(np.arange(3) * np.float32(7 / 3)).astype(int), 6)
    np.testing.assert_array_equal(out, x[:, :, hi][:, :, :, wi])
    out = F.interpolate(ck.tensor(x), size=(9, 3), mode="nearest-exact").numpy()
    hi = np.minimum(np.floor((np.arange(9) + 0.5) * np.float32(5 / 9)).astype(int), 4)
    wi = np.minimum(np.floor((np.arange(3) + 0.5) * np.float32(7 / 3)).astype(int), 6)
    np.testing.assert_array_equal(out, x[:, :, hi][:, :, :, wi])


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                     ("bilinear", True), ("area", None)])
def test_gradcheck_2d(mode, ac):
    rng = np.random.default_rng(3)
    x = ck.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    for kw in [dict(size=(5, 3)), dict(scale_factor=1.7), dict(scale_factor=(0.7, 2.2))]:
        assert gradcheck(lambda a: F.interpolate(a, mode=mode, align_corners=ac, **kw), (x,))


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("linear", False),
                                     ("linear", True), ("area", None)])
def test_gradcheck_1d(mode, ac):
    rng = np.random.default_rng(4)
    x = ck.tensor(rng.standard_normal((2, 2, 5)), requires_grad=True)
    for kw in [dict(size=7), dict(scale_factor=0.6), dict(scale_factor=2.5, recompute_scale_factor=True)]:
        assert gradcheck(lambda a: F.interpolate(a, mode=mode, align_corners=ac, **kw), (x,))


# ---------------------------------------------------------------------------------------------
# against PyTorch
# ---------------------------------------------------------------------------------------------
def _check_vs_torch(torch, x, kw, dtype=np.float32):
    rng = np.random.default_rng(x.size)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(xo, **kw)
    ref = torch.nn.functional.interpolate(xt, **kw)
    assert tuple(out.shape) == tuple(ref.shape), kw
    t = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **t, err_msg=str(kw))
    g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    out.backward(ck.tensor(g))
    ref.backward(torch.tensor(g))
    gt = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), **gt, err_msg=str(kw))


MODES_2D = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True), ("area", None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,ac", MODES_2D)
def test_interpolate_2d_sizes_match_torch(mode, ac, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for (H, W), size in itertools.product(IN_SIZES, OUT_SIZES):
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        _check_vs_torch(torch, x, dict(size=size, mode=mode, align_corners=ac), dtype)


@pytest.mark.parametrize("mode,ac", MODES_2D)
@pytest.mark.parametrize("recompute", [None, False, True])
def test_interpolate_2d_scale_factors_match_torch(mode, ac, recompute):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    # scale factors whose 1/s differs from in/out (the coordinate map must use 1/s), integer and
    # fractional, up and down, per-dim pairs
    for (H, W), sf in itertools.product([(3, 5), (7, 4), (5, 13), (1, 2)],
                                        [2, 3, 1.5, 2.3, 0.5, 0.7, 1.0, (2, 1.25), (0.6, 3.1), 1.1]):
        sizes = [int(np.floor(n * s)) for n, s in zip((H, W), sf if isinstance(sf, tuple) else (sf, sf))]
        if min(sizes) < 1:
            continue
        x = rng.standard_normal((1, 2, H, W)).astype(np.float32)
        _check_vs_torch(torch, x, dict(scale_factor=sf, mode=mode, align_corners=ac,
                                       recompute_scale_factor=recompute))


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("linear", False),
                                     ("linear", True), ("area", None)])
def test_interpolate_1d_matches_torch(mode, ac):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for L in (1, 4, 7, 13):
        x = rng.standard_normal((2, 3, L)).astype(np.float32)
        for kw in [dict(size=1), dict(size=9), dict(size=(2 * L,)), dict(scale_factor=2.3), dict(scale_factor=0.7),
                   dict(scale_factor=3, recompute_scale_factor=True)]:
            if "scale_factor" in kw and int(L * kw["scale_factor"]) < 1:
                continue
            _check_vs_torch(torch, x, dict(mode=mode, align_corners=ac, **kw))


def test_many_scale_factors_nearest_match_torch():
    """The nearest rule floor(o * float32(1/s)) is not continuous: compare a dense sweep."""
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 17 * 23, dtype=np.float32).reshape(1, 2, 17, 23)
    for s in np.linspace(0.3, 4.0, 41):
        for mode in ("nearest", "nearest-exact"):
            out = F.interpolate(ck.tensor(x), scale_factor=float(s), mode=mode).numpy()
            ref = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=float(s), mode=mode).numpy()
            np.testing.assert_array_equal(out, ref, err_msg=f"{mode} {s}")


def test_strided_and_zero_batch_input():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    xo = ck.tensor(x).transpose(2, 3)
    ref = torch.nn.functional.interpolate(torch.tensor(x).transpose(2, 3), size=(4, 9), mode="bilinear")
    np.testing.assert_allclose(F.interpolate(xo, size=(4, 9), mode="bilinear").numpy(), ref.numpy(), rtol=1e-5,
                               atol=1e-6)
    e = F.interpolate(ck.zeros(0, 3, 4, 4), scale_factor=2)
    assert tuple(e.shape) == (0, 3, 8, 8)


@pytest.mark.parametrize("cls,kw", [("Upsample", dict(scale_factor=2)),
                                    ("Upsample", dict(size=(3, 4), mode="bilinear")),
                                    ("Upsample", dict(scale_factor=(2, 3), mode="nearest-exact")),
                                    ("Upsample", dict(size=5, mode="bilinear", align_corners=True)),
                                    ("UpsamplingNearest2d", dict(scale_factor=3)),
                                    ("UpsamplingNearest2d", dict(size=(5, 7))),
                                    ("UpsamplingBilinear2d", dict(scale_factor=2.5)),
                                    ("UpsamplingBilinear2d", dict(size=(4, 6)))])
def test_modules_match_torch(cls, kw):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    assert repr(ours) == repr(theirs)
    assert (ours.mode, ours.align_corners, ours.scale_factor, ours.size, ours.name) == (
        theirs.mode, theirs.align_corners, theirs.scale_factor, theirs.size, theirs.name)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_deprecated_upsample_functions_warn_and_match():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(10).standard_normal((1, 2, 3, 4)).astype(np.float32)
    for name, kw in [("upsample", dict(scale_factor=2, mode="bilinear")), ("upsample_nearest", dict(size=(5, 7))),
                     ("upsample_bilinear", dict(scale_factor=1.5))]:
        with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated. Use "
                                             "`nn.functional.interpolate` instead."):
            out = getattr(F, name)(ck.tensor(x), **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # interpolate itself warns about nothing
        F.interpolate(ck.tensor(x), scale_factor=2.5, mode="bilinear")


def test_errors_match_torch():
    x = ck.randn(2, 3, 4, 5)
    cases = [
        (dict(size=(0, 3)), RuntimeError, r"^Input and output sizes should be greater than 0, but got input \(H: 4, "
                                          r"W: 5\) output \(H: 0, W: 3\)$"),
        (dict(scale_factor=0.1), RuntimeError, r"output \(H: 0, W: 0\)"),
        (dict(size=3, scale_factor=2), ValueError, "^only one of size or scale_factor should be defined$"),
        (dict(), ValueError, "^either size or scale_factor should be defined$"),
        (dict(size=(3,)), ValueError, r"^Input and output must have the same number of spatial dimensions, but got "
                                      r"input with spatial dimensions of \[4, 5\] and output size of \(3,\)"),
        (dict(size=(3.0, 4)), TypeError, "^expected size to be one of int or Tuple"),
        (dict(scale_factor=(2,)), ValueError, "^Input and scale_factor must have the same number of spatial"),
        (dict(scale_factor=2, align_corners=True), ValueError, "^align_corners option can only be set with the "
                                                               "interpolating modes"),
        (dict(size=3, recompute_scale_factor=True), ValueError, "^recompute_scale_factor is not meaningful"),
        (dict(scale_factor=2, mode="linear"), NotImplementedError, "^Got 4D input, but linear mode needs 3D input$"),
        (dict(scale_factor=2, mode="foo"), NotImplementedError, r"^Input Error: Only 3D, 4D and 5D input Tensors "
                                                                r"supported \(got 4D\) .*\(got foo\)$"),
        (dict(scale_factor=float("inf")), RuntimeError, "^value cannot be converted to type int64_t without overflow$"),
        (dict(scale_factor=2, mode="lanczos"), ValueError, "cnnkit: interpolate mode 'lanczos' with 4-D input is not "
                                                           "supported"),
        (dict(scale_factor=2, mode="nearest", antialias=True), ValueError, "^Anti-alias option is restricted to "
                                                                           "bilinear, bicubic, and lanczos modes"),
    ]
    for kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            F.interpolate(x, **kw)
    with pytest.raises(NotImplementedError, match="^Got 3D input, but bilinear mode needs 4D input$"):
        F.interpolate(ck.randn(2, 3, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(RuntimeError, match=r"^Non-empty 4D data tensor expected but got a tensor with sizes "
                                           r"\[2, 0, 4, 4\]$"):
        F.interpolate(ck.randn(2, 0, 4, 4), scale_factor=2)
    with pytest.raises(RuntimeError, match=r"^Input and output sizes should be greater than 0, but got input \(W: 4\) "
                                           r"and output \(W: 0\)$"):
        F.interpolate(ck.randn(2, 3, 4), size=0)
    with pytest.raises(TypeError, match="upsample: expected input to be float32 or float64, got int64"):
        F.interpolate(ck.zeros(1, 1, 2, 2, dtype=ck.int64), scale_factor=2)
    with pytest.raises(ValueError, match=r"upsample_backward: expected grad_output of shape \[1, 1, 4, 4\]"):
        _C.upsample_backward(T(np.zeros((1, 1, 4, 5))), [1, 1, 2, 2], [4, 4], "nearest", False, [])
    with pytest.raises(ValueError, match="upsample: expected mode 'nearest', 'nearest-exact', 'linear' or 'cubic', "
                                         "got 'bicubic'"):
        _C.upsample_forward(T(np.zeros((1, 1, 2, 2))), [4, 4], "bicubic", False, [])


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 8, 19, 23)).astype(np.float32)
    g = rng.standard_normal((4, 8, 41, 30)).astype(np.float32)
    prev = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            res = []
            for kmode, ac in KMODES:
                res.append(np.asarray(_C.upsample_forward(T(x), [41, 30], kmode, ac, [2.2, 1.3])))
                res.append(np.asarray(_C.upsample_backward(T(g), list(x.shape), [41, 30], kmode, ac, [2.2, 1.3])))
            results.append(res)
    finally:
        _C.set_num_threads(prev)
    for other in results[1:]:
        for a, e in zip(results[0], other):
            np.testing.assert_array_equal(a, e)
