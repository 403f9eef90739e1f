"""Conv2d / Conv1d / F.conv2d completed: padding modes (pad, then convolve), padding='same'/'valid'
(asymmetric 'same' for even kernels), unbatched inputs, torch's error messages, reprs and init; and the
direct depthwise kernels (groups == C > 1, channel multiplier 1..3) against the grouped im2col path
(the reference kept in _C via algo='im2col'), the direct-loop oracle, NumPy, PyTorch and float64
gradchecks, independent of the thread count.

test_depthwise_vs_grouped_im2col_and_naive runs on each device (the `device` fixture): every algorithm
against the NumPy reference and each other, at the same tolerance on both (float32 1e-4, float64 1e-11;
CUDA's FMA contraction moves the last bits only); 'auto' equals 'depthwise' bit for bit on the CPU (the same
kernel), within that tolerance on CUDA."""
import itertools
import re
import zlib

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cnnkit.testing.compare import compare_with_torch
from cuda_twin_helpers import back, cuda_case, is_cuda, on


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


def copy_params(ours, ref):
    for name, p in ref.named_parameters():
        getattr(ours, name).data = cnnkit.tensor(p.detach().numpy().copy())


# ---------------------------------------------------------------------------------------------
# Conv2d with every padding mode and option, forward and backward against torch
# ---------------------------------------------------------------------------------------------
MODULE_CASES = [  # (in, out, kernel, kwargs, input shape)
    (3, 4, 3, dict(padding=1), (2, 3, 7, 9)),
    (4, 6, (3, 2), dict(padding=(2, 1), stride=(2, 1), groups=2), (2, 4, 9, 8)),
    (2, 3, 3, dict(padding="same", dilation=2), (1, 2, 9, 8)),
    (2, 3, (2, 4), dict(padding="same", bias=False), (2, 2, 7, 6)),
    (3, 3, 3, dict(padding="valid", stride=2), (2, 3, 9, 7)),
    (4, 8, 3, dict(padding=(1, 2), groups=4), (1, 4, 5, 6)),
    (3, 5, 4, dict(padding=2, dilation=(1, 2)), (2, 3, 8, 11)),
    (2, 4, 3, dict(padding=1), (2, 7, 7)),  # unbatched
]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("cin,cout,k,kw,shape", MODULE_CASES)
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_module_vs_torch(mode, cin, cout, k, kw, shape):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Conv2d(cin, cout, k, padding_mode=mode, **kw)
    ours = nn.Conv2d(cin, cout, k, padding_mode=mode, **kw)
    assert repr(ours) == repr(ref)
    assert ours._reversed_padding_repeated_twice == list(ref._reversed_padding_repeated_twice) or \
        tuple(ours._reversed_padding_repeated_twice) == tuple(ref._reversed_padding_repeated_twice)
    copy_params(ours, ref)
    x = rng_for(mode, shape).standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xc = cnnkit.tensor(x, requires_grad=True)
    yt, yc = ref(xt), ours(xc)
    assert tuple(yc.shape) == tuple(yt.shape)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = rng_for("g", shape).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    yc.backward(cnnkit.tensor(g))
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-3, atol=1e-4)
    if ref.bias is not None:
        np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_mode_gradcheck(mode):
    cnnkit.manual_seed(0)
    m = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, dtype=cnnkit.float64)
    x = cnnkit.tensor(np.random.default_rng(1).standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert gradcheck(lambda t, w, b: F.conv2d(F.pad(t, m._reversed_padding_repeated_twice, mode=mode), w, b),
                     (x, m.weight, m.bias))
    # the module forward equals that composition
    np.testing.assert_allclose(m(x).detach().numpy(),
                               F.conv2d(F.pad(x, [2, 2, 1, 1], mode=mode), m.weight, m.bias).detach().numpy())


def test_padding_mode_numpy_reference():
    """reflect/replicate/circular Conv2d == np.pad then a valid correlation by loops."""
    cnnkit.manual_seed(3)
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 6))
    for mode, np_mode in [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]:
        m = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, dtype=cnnkit.float64)
        w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode=np_mode)
        ref = np.zeros((1, 3, 5, 8))
        for o, i, j in itertools.product(range(3), range(5), range(8)):
            ref[0, o, i, j] = (xp[0, :, i:i + 3, j:j + 3] * w[o]).sum() + b[o]
        np.testing.assert_allclose(m(cnnkit.tensor(x)).detach().numpy(), ref, rtol=1e-12, atol=1e-12)


FUNCTIONAL_CASES = [
    ((2, 3, 7, 8), (4, 3, 2, 2), dict(padding="same")),
    ((2, 3, 7, 8), (4, 3, 4, 3), dict(padding="same", dilation=(1, 2))),
    ((3, 7, 8), (4, 3, 2, 3), dict(padding="same")),
    ((3, 7, 8), (6, 1, 3, 3), dict(padding="valid", stride=2, groups=3)),
    ((4, 6, 5), (4, 2, 3, 3), dict(padding=(1, 0), dilation=2, groups=2)),
]


@pytest.mark.parametrize("xs,ws,kw", FUNCTIONAL_CASES)
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_functional_same_valid_unbatched_vs_torch(xs, ws, kw):
    torch = pytest.importorskip("torch")
    rng = rng_for(xs, ws)
    arrays = [rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32),
              rng.standard_normal(ws[0]).astype(np.float32)]
    ours, theirs = compare_with_torch(lambda *a: F.conv2d(*a, **kw), lambda *a: torch.nn.functional.conv2d(*a, **kw),
                                      arrays)
    assert tuple(ours.shape) == tuple(theirs.shape)


def test_functional_same_gradcheck_even_kernel():
    rng = np.random.default_rng(5)
    x = cnnkit.tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    w = cnnkit.tensor(rng.standard_normal((2, 3, 2, 4)), requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, padding="same"), (x, w))


# ---------------------------------------------------------------------------------------------
# Conv1d (a height-1 Conv2d)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("kw,shape", [(dict(padding=2, stride=2), (2, 4, 11)), (dict(padding="same", dilation=2),
                                                                                (4, 9)),
                                      (dict(groups=2, padding=1, bias=False), (3, 4, 8))])
def test_conv1d_vs_torch(mode, kw, shape):
    torch = pytest.importorskip("torch")
    ref, ours = torch.nn.Conv1d(4, 6, 3, padding_mode=mode, **kw), nn.Conv1d(4, 6, 3, padding_mode=mode, **kw)
    assert repr(ours) == repr(ref)
    copy_params(ours, ref)
    x = rng_for(mode, shape).standard_normal(shape).astype(np.float32)
    xt, xc = torch.tensor(x, requires_grad=True), cnnkit.tensor(x, requires_grad=True)
    yt, yc = ref(xt), ours(xc)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    yt.sum().backward()
    yc.sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# reprs, attributes, init
# ---------------------------------------------------------------------------------------------
REPR_CASES = [
    lambda n: n.Conv2d(3, 8, 3),
    lambda n: n.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1), bias=False),
    lambda n: n.Conv2d(4, 8, 3, groups=4, padding="same", padding_mode="reflect"),
    lambda n: n.Conv2d(4, 8, 3, padding="valid", padding_mode="circular"),
    lambda n: n.Conv2d(4, 4, 1, padding=0, padding_mode="replicate"),
    lambda n: n.Conv1d(2, 3, 5, stride=2, padding=1, dilation=3, groups=1, bias=False),
    lambda n: n.Conv1d(2, 4, 4, padding="same", groups=2),
]


@pytest.mark.parametrize("make", REPR_CASES)
def test_repr_attributes_state_dict_like_torch(make):
    torch = pytest.importorskip("torch")
    ours, ref = make(nn), make(torch.nn)
    assert repr(ours) == repr(ref)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode", "output_padding", "transposed"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert tuple(ours._reversed_padding_repeated_twice) == tuple(ref._reversed_padding_repeated_twice)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert type(ours).__mro__[1].__name__ == "_ConvNd"


def test_reset_parameters_bounds():
    cnnkit.manual_seed(0)
    m = nn.Conv2d(6, 63, 5, groups=3)
    bound = 1 / np.sqrt(2 * 25)
    w, b = m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound
    m.reset_parameters()
    assert not np.array_equal(m.weight.detach().numpy(), w)


def test_module_errors_like_torch():
    torch = pytest.importorskip("torch")
    for make in (lambda n: n.Conv2d(3, 6, 3, groups=2), lambda n: n.Conv2d(3, 6, 3, padding="full"),
                 lambda n: n.Conv2d(3, 6, 3, stride=2, padding="same"), lambda n: n.Conv1d(3, 6, 3, groups=0)):
        with pytest.raises(ValueError) as te:
            make(torch.nn)
        with pytest.raises(ValueError) as ce:
            make(nn)
        assert sorted(re.findall(r"\w+", str(ce.value))) == sorted(re.findall(r"\w+", str(te.value)))


@pytest.mark.parametrize("xs,ws,groups", [
    ((2, 6, 9, 9), (4, 3, 3, 3), 1), ((2, 6, 9, 9), (4, 3, 3, 3), 4), ((2, 6, 9, 9), (4, 2, 3, 3), 4),
    ((2, 6, 9, 9), (6, 3, 3, 3), 4), ((2, 6, 9, 9), (5, 3, 3, 3), 2), ((6, 9, 9), (4, 3, 3, 3), 1),
    ((2, 6, 9, 9), (4, 6, 3, 3), 0),
])
def test_functional_channel_errors_match_torch(xs, ws, groups):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.conv2d(torch.zeros(xs), torch.zeros(ws), groups=groups)
    with pytest.raises(RuntimeError) as ce:
        F.conv2d(cnnkit.zeros(*xs), cnnkit.zeros(*ws), groups=groups)
    assert str(ce.value) == str(te.value)


def test_module_wrong_channels_message():
    m = nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 5, 6, 6\] to have 3 channels, but got 5 channels"):
        m(cnnkit.zeros(1, 5, 6, 6))


# ---------------------------------------------------------------------------------------------
# depthwise kernels
# ---------------------------------------------------------------------------------------------
DEPTHWISE = [  # (N, C, multiplier, H, W, kernel, stride, padding, dilation)
    (2, 3, 1, 7, 9, 3, 1, 1, 1),
    (3, 4, 2, 8, 5, 3, 2, 1, 1),
    (1, 5, 3, 9, 9, (3, 2), (2, 1), (0, 2), (2, 1)),
    (2, 6, 1, 5, 5, 5, 1, 3, 1),          # padding wider than the image's half: taps fully outside
    (2, 2, 2, 11, 13, (1, 3), (3, 2), (0, 1), 1),
    (1, 7, 1, 1, 1, 3, 1, 1, 1),          # 1x1 image
    (4, 8, 1, 14, 14, 3, 2, 1, 1),        # MobileNet-like, stride 2
    (2, 3, 1, 6, 33, 3, (1, 3), 2, (1, 2)),
    (2, 3, 2, 6, 10, 3, 1, (1, 2), (1, 2)),  # stride 1 with a multiplier: the gather input gradient
]
CUDA_DEPTHWISE = [(4, 32, 1, 28, 28, 3, 2, 1, 1)]  # the CUDA twin test's larger case: [cuda] only


def np_conv2d(x, w, b, s, p, d, groups):
    """Independent NumPy reference: each output as a sum over taps of strided slices of the padded input."""
    s, p, d = [(v, v) if isinstance(v, int) else v for v in (s, p, d)]
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    out = np.zeros((N, OC, OH, OW)) + (0 if b is None else b[None, :, None, None])
    OCg = OC // groups
    for o in range(OC):
        g = o // OCg
        for c, kh, kw in itertools.product(range(Cg), range(KH), range(KW)):
            win = xp[:, g * Cg + c, kh * d[0]: kh * d[0] + s[0] * (OH - 1) + 1: s[0],
                     kw * d[1]: kw * d[1] + s[1] * (OW - 1) + 1: s[1]]
            out[:, o] += w[o, c, kh, kw] * win
    return out


def dw_arrays(case, dtype):
    N, C, M, H, W, k, s, p, d = case
    k = (k, k) if isinstance(k, int) else k
    rng = rng_for(case, dtype)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C * M, 1, *k)).astype(dtype)
    b = rng.standard_normal(C * M).astype(dtype)
    return x, w, b, s, p, d, C


@pytest.mark.parametrize("case", DEPTHWISE + [cuda_case(c) for c in CUDA_DEPTHWISE])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_vs_grouped_im2col_and_naive(case, dtype, device):
    x, w, b, s, p, d, C = dw_arrays(case, dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    args = (s, p, d, C)
    D = lambda a: on(a, device)  # noqa: E731
    dw_out = back(_C.conv2d_forward(D(x), D(w), D(b), *args, algo="depthwise"))
    auto_out = back(_C.conv2d_forward(D(x), D(w), D(b), *args))
    im_out = back(_C.conv2d_forward(D(x), D(w), D(b), *args, algo="im2col"))
    naive = back(_C.conv2d_naive(D(x), D(w), D(b), *args))
    np.testing.assert_allclose(auto_out, dw_out, **(tol if is_cuda(device) else dict(rtol=0, atol=0)))
    np.testing.assert_allclose(dw_out, im_out, **tol)
    np.testing.assert_allclose(dw_out, naive, **tol)
    np.testing.assert_allclose(dw_out, np_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                                 *args), **tol)
    g = rng_for("g", case).standard_normal(dw_out.shape).astype(dtype)
    grads = [[back(t) for t in _C.conv2d_backward(D(g), D(x), D(w), *args, algo=a)]
             for a in ("depthwise", "im2col", "auto")]
    ref = [back(t) for t in _C.conv2d_backward_naive(D(g), D(x), D(w), *args)]
    for k in range(3):
        np.testing.assert_allclose(grads[0][k], grads[1][k], **tol)
        np.testing.assert_allclose(grads[0][k], ref[k], **tol)
        np.testing.assert_allclose(grads[2][k], ref[k], **tol)


@pytest.mark.parametrize("case", DEPTHWISE[:5])
def test_depthwise_vs_torch(case):
    torch = pytest.importorskip("torch")
    x, w, b, s, p, d, C = dw_arrays(case, np.float32)
    compare_with_torch(lambda *a: F.conv2d(*a, stride=s, padding=p, dilation=d, groups=C),
                       lambda *a: torch.nn.functional.conv2d(*a, stride=s, padding=p, dilation=d, groups=C),
                       [x, w, b])


@pytest.mark.parametrize("case", [DEPTHWISE[1], DEPTHWISE[2], DEPTHWISE[4]])
def test_depthwise_gradcheck(case):
    N, C, M, H, W, k, s, p, d = case
    x, w, b, s, p, d, C = dw_arrays((1, C, M, min(H, 6), min(W, 7), k, s, p, d), np.float64)
    xt, wt, bt = (cnnkit.tensor(a, requires_grad=True) for a in (x, w, b))
    assert gradcheck(lambda a, ww, bb: F.conv2d(a, ww, bb, s, p, d, C), (xt, wt, bt))


@pytest.mark.parametrize("case", [DEPTHWISE[0], DEPTHWISE[6], DEPTHWISE[3]])
def test_depthwise_non_finite_like_naive(case):
    # the fast loops run over padded, rounded-up columns; an inf weight or gradient must still only
    # reach the positions its taps reach (no inf * 0 = NaN from the padding)
    x, w, b, s, p, d, C = dw_arrays(case, np.float32)
    w[1, 0, 0, 0] = np.inf
    w[0, 0, -1, -1] = -np.inf
    out = np.array(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, C))
    np.testing.assert_allclose(out, np.array(_C.conv2d_naive(T(x), T(w), T(b), s, p, d, C)), rtol=1e-4, atol=1e-4)
    assert np.isfinite(out[:, 2:]).all() and not np.isnan(out).all()
    g = rng_for("g", case).standard_normal(out.shape).astype(np.float32)
    g[0, 1, 0, 0] = np.inf
    got = _C.conv2d_backward(T(g), T(x), T(w), s, p, d, C)
    ref = _C.conv2d_backward_naive(T(g), T(x), T(w), s, p, d, C)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(np.array(a), np.array(r), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [DEPTHWISE[6], DEPTHWISE[8]])  # stride 2 (scatter) and 1 (gather)
def test_depthwise_independent_of_thread_count(case):
    x, w, b, s, p, d, C = dw_arrays(case, np.float32)
    shape = np.array(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, C)).shape
    g = rng_for("threads").standard_normal(shape).astype(np.float32)
    old = cnnkit.get_num_threads()
    results = []
    try:
        for n in (1, max(2, old)):
            cnnkit.set_num_threads(n)
            out = np.array(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, C))
            results.append([out] + [np.array(t) for t in _C.conv2d_backward(T(g), T(x), T(w), s, p, d, C)])
    finally:
        cnnkit.set_num_threads(old)
    for a, bb in zip(*results):
        np.testing.assert_array_equal(a, bb)


def test_depthwise_module_and_algo_errors():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
    ours = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
    assert repr(ours) == repr(ref)
    copy_params(ours, ref)
    x = np.random.default_rng(7).standard_normal((2, 8, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(ours(cnnkit.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    z = T(np.zeros((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"algo='depthwise' needs groups == input channels > 1, got groups=2"):
        _C.conv2d_forward(z, T(np.zeros((4, 2, 3, 3), np.float32)), None, 1, 0, 1, 2, algo="depthwise")
    with pytest.raises(ValueError, match=r"expected algo 'auto', 'im2col' or 'depthwise', got 'fft'"):
        _C.conv2d_forward(z, T(np.zeros((4, 1, 3, 3), np.float32)), None, 1, 0, 1, 4, algo="fft")
