"""im2col / col2im / conv2d: the fast path against the direct-loop oracle (_C.conv2d_naive,
_C.conv2d_backward_naive), an independent NumPy reference, and PyTorch; error messages.

Sizes are odd and small (1, 3, 7, ...), with stride/padding/dilation/groups mixes, batch 1 and
> 1, and shapes that exercise every conv2d path (conv2d.cpp; `plan` below mirrors its choice and
test_configs_cover_every_path checks that CONFIGS reach them all): the batch schedule (threads over
images, dweight in slot partials) and the chunk schedule (threads inside the GEMMs) with one image or
several images per chunk (with a partial last chunk); the input gradient by the flipped-weight
correlation (batch schedule, stride 1, including padding larger than the dilated kernel, which crops), by col2im,
and the 1x1 stride-1 shortcut that skips im2col; packed or general-GEMM dweight.

The kernel tests run on each device (the `device` fixture; CUDA-only sizes and the mixed-device errors stay in
tests/test_cuda_conv.py). Tolerances: im2col is a copy, exact on both devices; col2im and the forward
convolution compare with the NumPy references at TOL (`tol`) on both (CUDA sums the taps of a pixel in the
CPU's order; its FMA-contracted dot products differ from the CPU's by far less than TOL); the backward on CUDA
(fast against naive, and against the CPU twin) at `grad_tol` (float32 rtol 1e-4 / atol 5e-4, float64 1e-9):
its dweight sums over the batch in a different order and with atomics.
"""
import zlib

import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, is_cuda, on, runs_twin

DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def grad_tol(dtype, device):
    """Backward tolerance: the CPU's on the CPU; looser on CUDA (other summation order, atomics)."""
    if not is_cuda(device):
        return tol(dtype)
    return dict(rtol=1e-4, atol=5e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------------------------------------
# NumPy references (independent of the C++ code): windows as strided slices of the padded input.
# ---------------------------------------------------------------------------------------------
def window_slices(xp, kh, kw, OH, OW, s, d):
    """xp (..., Hp, Wp) -> view of the input pixels tap (kh, kw) reads for every output (..., OH, OW)."""
    return xp[..., kh * d[0]: kh * d[0] + s[0] * (OH - 1) + 1: s[0], kw * d[1]: kw * d[1] + s[1] * (OW - 1) + 1: s[1]]


def im2col_ref(x, k, s, p, d):
    C, H, W = x.shape
    OH, OW = out_size(H, k[0], s[0], p[0], d[0]), out_size(W, k[1], s[1], p[1], d[1])
    xp = np.pad(x, ((0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = np.empty((C, k[0], k[1], OH * OW), x.dtype)
    for kh in range(k[0]):
        for kw in range(k[1]):
            cols[:, kh, kw] = window_slices(xp, kh, kw, OH, OW, s, d).reshape(C, OH * OW)
    return cols.reshape(C * k[0] * k[1], OH * OW)


def conv_ref(x, w, b, s, p, d, groups):
    x, w = x.astype(np.float64), w.astype(np.float64)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    OH, OW = out_size(H, KH, s[0], p[0], d[0]), out_size(W, KW, s[1], p[1], d[1])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    out = np.zeros((N, OC, OH, OW))
    OCg = OC // groups
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * OCg:(g + 1) * OCg]
        for kh in range(KH):
            for kw in range(KW):
                win = window_slices(xg, kh, kw, OH, OW, s, d)
                out[:, g * OCg:(g + 1) * OCg] += np.einsum("nchw,oc->nohw", win, wg[:, :, kh, kw])
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups)
CONFIGS = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (2, 5, 11, 10, 4, 3, 3, 1, 1, 1, 1),          # batch schedule, flip
    (1, 3, 7, 5, 5, 3, 2, 2, 1, 1, 1),
    (3, 4, 21, 11, 6, 3, 3, (2, 1), (0, 2), (2, 1), 2),  # batch schedule, col2im, groups
    (2, 6, 10, 10, 6, 3, 3, 1, 1, 1, 6),          # depthwise, batch schedule, flip
    (2, 4, 7, 7, 8, 1, 1, 2, 0, 1, 1),            # 1x1 stride 2 (a ResNet shortcut)
    (3, 5, 10, 11, 7, 1, 1, 1, 0, 1, 1),          # 1x1 stride 1, batch schedule
    (1, 3, 33, 33, 2, 1, 1, 1, 0, 1, 1),          # 1x1 stride 1, OH*OW >= 1024: im2col skipped
    (2, 2, 33, 35, 3, 3, 3, 1, 1, 1, 1),          # OH*OW >= 1024: one image per GEMM
    (7, 3, 20, 20, 4, 3, 3, 1, 1, 1, 1),          # 400 outputs: chunks of 3 images, last chunk of 1
    (5, 2, 5, 6, 3, 5, 5, 1, 2, 1, 1),            # 5x5 kernel on a 5x6 image, padding 2
    (2, 3, 10, 9, 4, 3, 3, 3, 2, 2, 1),           # stride, padding and dilation together
    (1, 2, 4, 4, 3, 5, 5, 1, 2, 1, 1),            # kernel larger than the image, padding covers it
    (3, 3, 9, 9, 2, 1, 1, 1, 1, 1, 1),            # 1x1 with padding 1: the flipped correlation crops
    (2, 4, 8, 7, 3, 3, 2, 1, (3, 3), (1, 2), 1),  # padding beyond the dilated kernel in both axes (flip)
    (64, 1, 12, 12, 6, 5, 5, 1, 2, 1, 1),         # LeNet conv1 shape class: 1 channel, padding 2
    (16, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1),        # LeNet conv2 (input gradient by col2im)
    (4, 3, 10, 10, 24, 3, 3, 1, 1, 1, 1),         # batch schedule, dweight by the general GEMM (OC, C*KK > nr)
    (9, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1),        # chunk schedule, chunks of 8 and 1
    (3, 128, 15, 13, 192, 3, 3, 2, 1, 1, 2),      # chunk schedule, 3 images in a chunk, col2im, groups
    (1, 64, 9, 11, 48, 3, 3, 1, 1, 1, 1),         # chunk schedule, one image
    (2, 256, 6, 7, 512, 1, 1, 1, 0, 1, 1),        # chunk schedule, 1x1 stride 1 in a chunk of 2 (im2col)
    (2, 128, 32, 33, 128, 1, 1, 1, 0, 1, 1),      # chunk schedule, 1x1 stride 1, one image: no im2col
]


# Configurations the CUDA twin tests had on top of CONFIGS (odd tile edges, grouped stride 2): [cuda] only.
CUDA_CONFIGS = [
    (2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),
    (3, 4, 9, 11, 6, 3, 3, (2, 1), (0, 2), (2, 1), 2),
    (2, 6, 8, 8, 6, 3, 3, 1, 1, 1, 6),            # depthwise
    (3, 5, 6, 6, 7, 1, 1, 1, 0, 1, 1),            # 1x1 stride 1
    (2, 33, 9, 7, 65, 3, 3, 1, 1, 1, 1),          # channel counts off the 64-tile edges
    (3, 8, 13, 13, 12, 3, 3, 2, 1, 1, 4),         # groups with stride 2
]
ALL_CONFIGS = CONFIGS + [cuda_case(c) for c in CUDA_CONFIGS]


def plan(cfg, itemsize=4):
    """conv2d.cpp's make_plan: (schedule, images per chunk, input-gradient path)."""
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    (sh, sw), (ph, pw), (dh, dw) = as_pair(s), as_pair(p), as_pair(d)
    OH, OW = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    cgkk = C // g * KH * KW
    slots = min(N, 16)
    batch = N >= 2 and OC * OH * OW * cgkk <= 1 << 22 and OH * OW >= 96 and slots * OC * cgkk * itemsize <= 8 << 20
    if batch:
        G = 1
    else:
        G = max(1, -(-1024 // (OH * OW)))
        G = min(G, max(1, (16 << 20) // max(1, OH * OW * C * KH * KW * itemsize)))
        G = max(1, min(G, N))
    pointwise = (KH, KW, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0) and G == 1
    flip = batch and (sh, sw) == (1, 1) and not pointwise and 4 * OC * H * W <= 5 * C * OH * OW
    dinp = "pointwise" if pointwise else "flip" if flip else "col2im"
    return ("batch" if batch else "chunk"), G, dinp


def test_configs_cover_every_path():
    seen = {(sched, G > 1, dinp) for sched, G, dinp in map(plan, CONFIGS)}
    want = {("batch", False, d) for d in ("pointwise", "flip", "col2im")}
    want |= {("chunk", False, d) for d in ("pointwise", "col2im")} | {("chunk", True, "col2im")}
    assert want <= seen, want - seen


def make(rng, cfg, dtype, bias=True):
    N, C, H, W, OC, KH, KW, s, p, d, g = cfg
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((OC, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if bias else None
    return x, w, b, as_pair(s), as_pair(p), as_pair(d), g


def seed(cfg):
    return zlib.crc32(repr(cfg).encode())


def T(a):
    return None if a is None else _C.from_numpy(a)


def D(a, device):
    """NumPy array (or None) -> _C tensor on `device` (or None)."""
    return None if a is None else on(a, device)


# ---------------------------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C,H,W,k,s,p,d", [
    (1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1)),
    (3, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1)),
    (2, 7, 9, (3, 2), (2, 3), (1, 0), (1, 2)),
    (4, 5, 5, (5, 5), (1, 1), (2, 2), (1, 1)),
    (2, 3, 3, (3, 3), (2, 2), (3, 3), (1, 1)),   # taps that read only padding
    (1, 6, 8, (2, 2), (2, 2), (0, 0), (3, 3)),
    cuda_case(33, 17, 15, (3, 3), (2, 2), (1, 1), (1, 1)),
])
def test_im2col_col2im(C, H, W, k, s, p, d, dtype, device):
    rng = np.random.default_rng(C * H * W)
    x = rng.standard_normal((C, H, W)).astype(dtype)
    cols_t = _C.im2col(on(x, device), k, s, p, d)
    assert cols_t.device == device
    cols = back(cols_t)
    np.testing.assert_array_equal(cols, im2col_ref(x, k, s, p, d))
    # col2im is the adjoint of im2col: <im2col(x), y> == <x, col2im(y)>; and equals scatter-add.
    y = rng.standard_normal(cols.shape).astype(dtype)
    im = back(_C.col2im(on(y, device), (C, H, W), k, s, p, d))
    np.testing.assert_allclose(np.vdot(cols.astype(np.float64), y), np.vdot(x.astype(np.float64), im), rtol=1e-5)
    OH, OW = out_size(H, k[0], s[0], p[0], d[0]), out_size(W, k[1], s[1], p[1], d[1])
    ref = np.zeros((C, H + 2 * p[0], W + 2 * p[1]))
    yy = y.reshape(C, k[0], k[1], OH, OW)
    for kh in range(k[0]):
        for kw in range(k[1]):
            window_slices(ref, kh, kw, OH, OW, s, d)[...] += yy[:, kh, kw]  # strided slices don't overlap
    ref = ref[:, p[0]:p[0] + H, p[1]:p[1] + W]
    np.testing.assert_allclose(im, ref, **tol(dtype))


def test_im2col_errors(device):
    x = on(np.zeros((2, 4, 4), np.float32), device)
    with pytest.raises(ValueError, match=r"im2col: expected input to be 3-D"):
        _C.im2col(on(np.zeros((1, 2, 4, 4), np.float32), device), 3)
    with pytest.raises(ValueError, match=r"im2col: kernel size 5 \(dilated\) is larger than the padded input size 4"):
        _C.im2col(x, 3, 1, 0, 2)
    with pytest.raises(ValueError, match=r"im2col: stride must be positive"):
        _C.im2col(x, 3, 0)
    with pytest.raises(ValueError, match=r"im2col: expected kernel to have 2 elements"):
        _C.im2col(x, (3, 3, 3))
    with pytest.raises(TypeError, match=r"im2col: expected input to be float32 or float64"):
        _C.im2col(on(np.zeros((2, 4, 4), np.int64), device), 3)
    with pytest.raises(ValueError, match=r"col2im: expected cols of shape \[18, 4\], got \[18, 5\]"):
        _C.col2im(on(np.zeros((18, 5), np.float32), device), (2, 4, 4), 3)
    with pytest.raises(ValueError, match=r"col2im: expected the image size \(C, H, W\)"):
        _C.col2im(on(np.zeros((18, 4), np.float32), device), (4, 4), 3)


# ---------------------------------------------------------------------------------------------
# conv2d forward / backward
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", ALL_CONFIGS)
def test_conv2d_forward(cfg, dtype, device):
    rng = np.random.default_rng(seed(cfg))
    for with_bias in (True, False):
        x, w, b, s, p, d, g = make(rng, cfg, dtype, with_bias)
        out_t = _C.conv2d_forward(D(x, device), D(w, device), D(b, device), s, p, d, g)
        assert out_t.device == device
        out = back(out_t)
        naive = back(_C.conv2d_naive(D(x, device), D(w, device), D(b, device), s, p, d, g))
        ref = conv_ref(x, w, b, s, p, d, g)
        assert out.shape == ref.shape and out.dtype == dtype
        np.testing.assert_allclose(naive, ref, **tol(dtype))
        np.testing.assert_allclose(out, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", ALL_CONFIGS)
def test_conv2d_backward(cfg, dtype, device):
    rng = np.random.default_rng(seed(cfg) + 1)
    x, w, b, s, p, d, g = make(rng, cfg, dtype)
    out_shape = conv_ref(x, w, b, s, p, d, g).shape
    dout = rng.standard_normal(out_shape).astype(dtype)
    args = (D(dout, device), D(x, device), D(w, device), s, p, d, g, (True, True, True))
    fast = [back(t) for t in _C.conv2d_backward(*args)]
    naive = [back(t) for t in _C.conv2d_backward_naive(*args)]
    # Independent check of the oracle: conv is linear in x and in w, so with L = <conv(x, w), dout>
    # (NumPy reference) the gradients satisfy <x, dx> = L = <w, dw>, and db is dout summed.
    f = lambda xx, ww: np.vdot(conv_ref(xx, ww, None, s, p, d, g), dout.astype(np.float64))  # noqa: E731
    dx_n, dw_n, db_n = (np.asarray(t).astype(np.float64) for t in naive)
    np.testing.assert_allclose(np.vdot(x.astype(np.float64), dx_n), f(x, w), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.vdot(w.astype(np.float64), dw_n), f(x, w), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db_n, dout.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-6, atol=1e-6)
    for got, want in zip(fast, naive):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **grad_tol(dtype, device))
    if runs_twin(device):  # elementwise against the CPU twin
        cpu = _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
        for got, want in zip(fast, cpu):
            np.testing.assert_allclose(got, np.asarray(want), **grad_tol(dtype, device))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_portable_kernel(dtype):
    # The batch schedule's packed GEMMs follow the micro-kernel's tile shape (avx2 6x16 / 6x8, portable
    # 4x8 / 4x4), which changes packing widths and the dweight orientation: check the other family too.
    old = _C.gemm_kernel_name().split()[0]
    try:
        for kernel in ("portable", "avx2") if _C.gemm_avx2_available() else ("portable",):
            _C.set_gemm_kernel(kernel)
            for cfg in (CONFIGS[1], CONFIGS[3], CONFIGS[6], CONFIGS[14], CONFIGS[16], CONFIGS[17]):
                rng = np.random.default_rng(seed(cfg) + 3)
                x, w, b, s, p, d, g = make(rng, cfg, dtype)
                out = np.asarray(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, g))
                np.testing.assert_allclose(out, conv_ref(x, w, b, s, p, d, g), **tol(dtype))
                dout = rng.standard_normal(out.shape).astype(dtype)
                fast = _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
                naive = _C.conv2d_backward_naive(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
                for got, want in zip(fast, naive):
                    np.testing.assert_allclose(np.asarray(got), np.asarray(want), **tol(dtype))
    finally:
        _C.set_gemm_kernel("auto")
    assert _C.gemm_kernel_name().split()[0] == old


@pytest.mark.parametrize("cfg", [
    (2, 4, 5, 6, 4, 3, 2, (2, 1), (1, 1), (1, 2), 2),   # chunk schedule (chunk of 2), col2im, groups
    (3, 3, 9, 10, 2, 3, 3, 1, (3, 1), (1, 2), 1),        # batch schedule, flip with cropping
    (1, 3, 6, 5, 2, 2, 3, 1, (1, 2), 1, 1),              # chunk schedule (one image)
])
def test_conv2d_backward_numeric_gradient(cfg):
    # Central differences in float64 on the fast path (forward) against the fast backward.
    rng = np.random.default_rng(seed(cfg))
    x, w, b, s, p, d, g = make(rng, cfg, np.float64)
    out_shape = conv_ref(x, w, b, s, p, d, g).shape
    dout = rng.standard_normal(out_shape)
    dx, dw, db = (np.asarray(t) for t in _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g, (True, True, True)))

    def loss(xx, ww, bb):
        return np.vdot(np.asarray(_C.conv2d_forward(T(xx), T(ww), T(bb), s, p, d, g)), dout)

    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        flat = arr.reshape(-1)
        for i in rng.choice(flat.size, size=min(flat.size, 12), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = loss(x, w, b)
            flat[i] = old - eps
            down = loss(x, w, b)
            flat[i] = old
            np.testing.assert_allclose(grad.reshape(-1)[i], (up - down) / (2 * eps), rtol=1e-6, atol=1e-6)


def test_conv2d_backward_needs_subsets(device):
    rng = np.random.default_rng(12)
    x, w, b, s, p, d, g = make(rng, CONFIGS[3], np.float64)
    dout = rng.standard_normal(conv_ref(x, w, b, s, p, d, g).shape)
    args = (D(dout, device), D(x, device), D(w, device), s, p, d, g)
    full = _C.conv2d_backward(*args, (True, True, True))
    for needs in [(True, False, False), (False, True, False), (False, False, True), (False, False, False)]:
        part = _C.conv2d_backward(*args, needs)
        for want, got, need in zip(full, part, needs):
            if need:  # the same arithmetic on the CPU; on CUDA within float64 rounding (atomics)
                np.testing.assert_allclose(back(got), back(want), rtol=0 if not is_cuda(device) else 1e-12,
                                           atol=0 if not is_cuda(device) else 1e-12)
            else:
                assert got is None


@pytest.mark.parametrize("cfg", [
    (9, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1),     # batch schedule, 9 slots of one image each, col2im
    (9, 8, 12, 12, 6, 3, 3, 1, 1, 1, 1),      # batch schedule, flip, packed dweight
    (37, 3, 21, 20, 5, 3, 3, 2, 1, 1, 1),     # batch schedule, 16 slots of 2 or 3 images, col2im
    (9, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1),    # chunk schedule: chunks of 8 and 1, dweight sums over chunks
    (3, 128, 15, 13, 192, 3, 3, 2, 1, 1, 2),  # chunk schedule, col2im, groups
])
def test_conv2d_results_independent_of_thread_count(cfg):
    rng = np.random.default_rng(seed(cfg) + 2)
    x, w, b, s, p, d, g = make(rng, cfg, np.float32)
    dout = rng.standard_normal(conv_ref(x, w, b, s, p, d, g).shape).astype(np.float32)
    old = _C.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            _C.set_num_threads(n)
            out = np.asarray(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, g)).copy()
            grads = [np.asarray(t).copy() for t in _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g)]
            results.append([out] + grads)
    finally:
        _C.set_num_threads(old)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


def test_conv2d_non_contiguous_inputs(device):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 5, 9, 3)).astype(np.float32)  # permuted to (2, 3, 5, 9)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xt = on(x, device).permute([0, 3, 1, 2])
    out = back(_C.conv2d_forward(xt, on(w, device), None, 1, 1, 1, 1))
    np.testing.assert_allclose(out, conv_ref(x.transpose(0, 3, 1, 2), w, None, (1, 1), (1, 1), (1, 1), 1),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", [0, 1])
def test_conv2d_empty_batch(padding, device):
    x = on(np.zeros((0, 3, 5, 5), np.float32), device)
    w = on(np.ones((4, 3, 3, 3), np.float32), device)
    side = 5 + 2 * padding - 2
    out = _C.conv2d_forward(x, w, None, 1, padding, 1, 1)
    assert tuple(out.shape) == (0, 4, side, side) and out.device == device
    dx, dw, db = _C.conv2d_backward(out, x, w, 1, padding, 1, 1, (True, True, True))
    assert tuple(dx.shape) == (0, 3, 5, 5)
    np.testing.assert_array_equal(back(dw), np.zeros((4, 3, 3, 3), np.float32))  # zeros, not garbage
    np.testing.assert_array_equal(back(db), np.zeros(4, np.float32))


def test_conv2d_errors(device):
    f32 = lambda *s: on(np.zeros(s, np.float32), device)  # noqa: E731
    x, w = f32(2, 3, 8, 8), f32(4, 3, 3, 3)
    fwd = _C.conv2d_forward
    with pytest.raises(ValueError, match=r"conv2d: expected input to be 4-D, got 3-D with shape \[3, 8, 8\]"):
        fwd(f32(3, 8, 8), w, None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected weight to be 4-D"):
        fwd(x, f32(4, 3, 3), None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected input with 3 channels \(weight shape \[4, 3, 3, 3\], "
                                         r"groups=1\), got 5 channels \(input shape \[2, 5, 8, 8\]\)"):
        fwd(f32(2, 5, 8, 8), w, None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected the input channels \(3, .*divisible by groups=2"):
        fwd(x, f32(4, 1, 3, 3), None, 1, 0, 1, 2)
    with pytest.raises(ValueError, match=r"conv2d: expected the output channels \(3, .*divisible by groups=2"):
        fwd(f32(2, 4, 8, 8), f32(3, 2, 3, 3), None, 1, 0, 1, 2)
    with pytest.raises(ValueError, match=r"conv2d: groups must be a positive integer, got 0"):
        fwd(x, w, None, 1, 0, 1, 0)
    with pytest.raises(ValueError, match=r"conv2d: kernel size 9 \(dilated\) is larger than the padded input size 8"):
        fwd(x, f32(4, 3, 9, 9), None, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: kernel size 9 \(dilated\) is larger than the padded input size 8"):
        fwd(x, w, None, 1, 0, 4, 1)
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive, got 0"):
        fwd(x, w, None, (1, 0), 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive, got -1"):
        fwd(x, w, None, -1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: padding must be non-negative, got -1"):
        fwd(x, w, None, 1, -1, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: dilation must be positive, got 0"):
        fwd(x, w, None, 1, 0, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \[4\], got \[3\]"):
        fwd(x, w, f32(3), 1, 0, 1, 1)
    with pytest.raises(TypeError, match=r"conv2d: expected input and weight to have the same dtype, got float32 and "
                                        r"float64"):
        fwd(x, on(np.zeros((4, 3, 3, 3)), device), None, 1, 0, 1, 1)
    with pytest.raises(TypeError, match=r"conv2d: expected input and bias to have the same dtype"):
        fwd(x, w, on(np.zeros(4), device), 1, 0, 1, 1)
    with pytest.raises(TypeError, match=r"conv2d: expected input to be float32 or float64, got int64"):
        fwd(on(np.zeros((2, 3, 8, 8), np.int64), device), on(np.zeros((4, 3, 3, 3), np.int64), device),
            None, 1, 0, 1, 1)
    with pytest.raises(TypeError, match=r"conv2d: expected stride to be an int or a pair of ints"):
        fwd(x, w, None, 1.5, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected grad_output of shape \[2, 4, 6, 6\], "
                                         r"got \[2, 4, 5, 5\]"):
        _C.conv2d_backward(f32(2, 4, 5, 5), x, w, 1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected needs to hold 3 bools"):
        _C.conv2d_backward(f32(2, 4, 6, 6), x, w, 1, 0, 1, 1, (True, True))
    with pytest.raises(ValueError, match=r"conv2d: expected input with 3 channels"):
        _C.conv2d_naive(f32(2, 5, 8, 8), w, None, 1, 0, 1, 1)


def test_conv2d_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(15)
    for cfg in [CONFIGS[1], CONFIGS[3], CONFIGS[4], CONFIGS[9], CONFIGS[11], CONFIGS[14], CONFIGS[16],
                CONFIGS[17], CONFIGS[18], CONFIGS[19]]:
        x, w, b, s, p, d, g = make(rng, cfg, np.float32)
        xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        ref = F.conv2d(xt, wt, bt, s, p, d, g)
        out = np.asarray(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, g))
        # float32 sums of K ~ 600 products: absolute tolerance relative to the result's scale.
        close = lambda a, b_: np.testing.assert_allclose(a, b_, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b_).max()))  # noqa
        close(out, ref.detach().numpy())
        dout = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
        ref.backward(torch.from_numpy(dout))
        grads = _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
        for got, want in zip(grads, (xt.grad, wt.grad, bt.grad)):
            close(np.asarray(got), want.numpy())


# ---------------------------------------------------------------------------------------------
# Python layer: cnnkit.nn.functional.conv2d (autograd Function, PyTorch signature)
# ---------------------------------------------------------------------------------------------
import cnnkit  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402

# (input shape, weight shape, bias, kwargs)
PY_CASES = [
    ((2, 3, 7, 7), (4, 3, 3, 3), True, dict(stride=1, padding=1)),
    ((1, 4, 9, 8), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((3, 2, 6, 6), (5, 2, 1, 1), False, dict(stride=2)),
    ((2, 3, 8, 7), (4, 3, 3, 3), True, dict(padding="same", dilation=2)),
    ((2, 3, 8, 7), (4, 3, 2, 4), True, dict(padding="same")),       # even kernels: asymmetric padding
    ((2, 3, 8, 7), (4, 3, 3, 2), False, dict(padding="valid", stride=[2])),
    ((3, 7, 7), (4, 3, 3, 3), True, dict(padding=1)),              # unbatched input
    ((2, 4, 5, 5), (4, 1, 3, 3), True, dict(padding=1, groups=4)),  # depthwise
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("xs,ws,bias,kw", PY_CASES)
def test_functional_conv2d_matches_torch(xs, ws, bias, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(repr((xs, ws, kw)).encode()))
    arrays = [rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)]
    if bias:
        arrays.append(rng.standard_normal(ws[0]).astype(np.float32))
    ours, theirs = compare_with_torch(lambda *a: F.conv2d(*a, **kw), lambda *a: torch.nn.functional.conv2d(*a, **kw),
                                      arrays)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype == cnnkit.float32


@pytest.mark.parametrize("xs,ws,kw", [
    ((1, 2, 5, 5), (3, 2, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 4, 5), (4, 2, 2, 3), dict(padding=(1, 2), dilation=(2, 1), groups=2)),
    ((1, 2, 4, 5), (2, 2, 2, 3), dict(padding="same")),
    ((2, 4, 4), (3, 2, 3, 3), dict(padding="valid")),
])
def test_functional_conv2d_gradcheck(xs, ws, kw):
    rng = np.random.default_rng(zlib.crc32(repr((xs, ws)).encode()))
    x = cnnkit.tensor(rng.standard_normal(xs), requires_grad=True)
    w = cnnkit.tensor(rng.standard_normal(ws), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal(ws[0]), requires_grad=True)
    assert gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, **kw), (x, w, b))


def test_functional_conv2d_grads_only_where_needed():
    rng = np.random.default_rng(3)
    x = cnnkit.tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    w = cnnkit.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal(4).astype(np.float32))
    y = F.conv2d(x, w, b)
    assert y.requires_grad and y.grad_fn is not None
    y.backward(cnnkit.ones(*y.shape))
    assert x.grad is None and b.grad is None and tuple(w.grad.shape) == (4, 3, 3, 3)
    with cnnkit.no_grad():
        assert not F.conv2d(x, w, b).requires_grad


def test_functional_conv2d_errors():
    x = cnnkit.zeros(2, 3, 8, 8)
    w = cnnkit.zeros(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"Invalid padding string: 'full'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(RuntimeError, match=r"padding='same' is not supported for strided convolutions"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match=r"expected stride to be a single integer value or a list of 2 values"):
        F.conv2d(x, w, stride=(1, 2, 3))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got "
                                           r"input of size: \[8, 8\]"):
        F.conv2d(cnnkit.zeros(8, 8), w)
    with pytest.raises(TypeError, match=r"argument 'padding' must be tuple of ints"):
        F.conv2d(x, w, padding=1.5)
    # torch's messages for the channel / groups mismatches
    with pytest.raises(RuntimeError, match=r"Given groups=1, weight of size \[4, 3, 3, 3\], expected input\[2, 5, 8, 8\] "
                                           r"to have 3 channels, but got 5 channels instead"):
        F.conv2d(cnnkit.zeros(2, 5, 8, 8), w)
    with pytest.raises(RuntimeError, match=r"Given groups=2, weight of size \[4, 1, 3, 3\], expected input\[2, 3, 8, 8\] "
                                           r"to have 2 channels"):
        F.conv2d(x, cnnkit.zeros(4, 1, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match=r"Given groups=2, expected weight to be divisible by 2 at dimension 0, but "
                                           r"got weight of size \[\[3, 2, 3, 3\]\] instead"):
        F.conv2d(cnnkit.zeros(2, 4, 8, 8), cnnkit.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: kernel size 9 \(dilated\) is larger than the padded input size 8"):
        F.conv2d(x, cnnkit.zeros(4, 3, 9, 9))
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match=r"conv2d: padding must be non-negative"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match=r"conv2d: dilation must be positive"):
        F.conv2d(x, w, dilation=0)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \[4\], got \[3\]"):
        F.conv2d(x, w, cnnkit.zeros(3))
    with pytest.raises(TypeError, match=r"conv2d: expected input and weight to have the same dtype"):
        F.conv2d(x, w.double())
