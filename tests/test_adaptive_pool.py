"""adaptive_avg_pool2d / adaptive_max_pool2d: the _C kernels against their plain-loop references and
a NumPy reference, the autograd layer (gradcheck), PyTorch parity, errors and a ResNet-style head.

Windows follow PyTorch: output (oh, ow) pools rows [floor(oh*H/OH), ceil((oh+1)*H/OH)) and the
matching columns. The 1x1 average takes the fast plane-mean path (sum in 8 lanes / (H*W)), equal
to the references up to rounding; every other case must equal the naive reference exactly.
"""
import math

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import compare_with_torch, gradcheck
from cuda_twin_helpers import back, is_cuda, on

DTYPES = [np.float32, np.float64]

# (input shape, output_size as passed)
CASES = [
    ((2, 3, 7, 7), 1),
    ((2, 3, 7, 7), (1, 1)),
    ((1, 2, 33, 7), 2),
    ((2, 1, 7, 33), (3, 5)),
    ((1, 3, 3, 3), 5),            # larger than the input: overlapping windows of one element
    ((1, 2, 7, 7), (10, 10)),     # 7 -> 10
    ((2, 2, 1, 1), (1, 3)),
    ((1, 1, 1, 7), (1, 3)),
    ((1, 2, 33, 33), (5, 3)),     # non-divisible, overlapping windows
    ((2, 3, 7, 3), (None, 2)),    # None keeps the input dim
    ((1, 2, 3, 33), (2, None)),
    ((3, 7, 33), (3, 2)),         # 3-D (C, H, W)
    ((3, 1, 1), 1),
    ((2, 4, 33, 33), 1),          # plane of 1089 elements: lanes and tail of the 1x1 fast paths
    ((2, 3, 5, 9), (5, 9)),       # identity
]


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def resolved(shape, os):
    H, W = shape[-2], shape[-1]
    if isinstance(os, int):
        return os, os
    return (H if os[0] is None else os[0]), (W if os[1] is None else os[1])


def windows(n_in, n_out):
    return [(o * n_in // n_out, -(-(o + 1) * n_in // n_out)) for o in range(n_out)]


def as4d(a):
    return a if a.ndim == 4 else a[None]


def ref_forward(x, OH, OW, mode):
    """NumPy reference: (out, flat indices) of the adaptive pool (indices None for 'avg')."""
    x4 = as4d(x)
    N, C, H, W = x4.shape
    out = np.zeros((N, C, OH, OW), x.dtype)
    idx = np.zeros((N, C, OH, OW), np.int64)
    for oh, (h0, h1) in enumerate(windows(H, OH)):
        for ow, (w0, w1) in enumerate(windows(W, OW)):
            win = x4[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            if mode == "avg":
                out[:, :, oh, ow] = win.astype(np.float64).mean(-1)
            else:
                k = win.argmax(-1)  # first maximum (inputs here have no NaN)
                out[:, :, oh, ow] = np.take_along_axis(win, k[..., None], -1)[..., 0]
                ww = w1 - w0
                idx[:, :, oh, ow] = (h0 + k // ww) * W + w0 + k % ww
    shape = out.shape if x.ndim == 4 else out.shape[1:]
    return out.reshape(shape), (idx.reshape(shape) if mode == "max" else None)


def ref_avg_backward(dout, in_shape):
    d4 = as4d(dout)
    N, C, OH, OW = d4.shape
    H, W = in_shape[-2], in_shape[-1]
    dx = np.zeros((N, C, H, W), np.float64)
    for oh, (h0, h1) in enumerate(windows(H, OH)):
        for ow, (w0, w1) in enumerate(windows(W, OW)):
            dx[:, :, h0:h1, w0:w1] += d4[:, :, oh:oh + 1, ow:ow + 1] / ((h1 - h0) * (w1 - w0))
    return dx.reshape(in_shape)


def tol(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)


def N_(t):
    return np.asarray(t).copy()


# ------------------------------------------------------------------------------------------------
# _C kernels
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_adaptive_avg_matches_references(case, dtype, device):
    """On each device against the NumPy reference (tol) and the CPU's naive loop: equal bit for bit except for
    1x1 outputs, where the CPU's plane-mean fast path (8-lane sum, one division) rounds differently."""
    shape, os = case
    OH, OW = resolved(shape, os)
    x = rand(shape, dtype)
    out = back(_C.adaptive_avg_pool2d_forward(on(x, device), os))
    naive = N_(_C.adaptive_avg_pool2d_forward_naive(_C.from_numpy(x), os))
    ref, _ = ref_forward(x, OH, OW, "avg")
    assert out.shape == ref.shape and out.dtype == dtype
    np.testing.assert_allclose(out, ref, **tol(dtype))
    if (OH, OW) != (1, 1):
        np.testing.assert_array_equal(out, naive)
    else:
        np.testing.assert_allclose(out, naive, **tol(dtype))
    g = rand(out.shape, dtype, seed=1)
    din = back(_C.adaptive_avg_pool2d_backward(on(g, device), list(shape)))
    din_naive = N_(_C.adaptive_avg_pool2d_backward_naive(_C.from_numpy(g), list(shape)))
    assert din.shape == tuple(shape) and din.dtype == dtype
    np.testing.assert_allclose(din, ref_avg_backward(g, shape), **tol(dtype))
    if (OH, OW) != (1, 1):
        np.testing.assert_array_equal(din, din_naive)
    else:
        np.testing.assert_allclose(din, din_naive, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_adaptive_max_matches_references(case, dtype, device):
    """Outputs and indices exact on each device; the backward scatters with atomics on CUDA where windows
    overlap (tol), and equals the CPU's naive loop bit for bit on the CPU."""
    shape, os = case
    OH, OW = resolved(shape, os)
    x = rand(shape, dtype)
    out_t, idx_t = _C.adaptive_max_pool2d_forward(on(x, device), os)
    out, idx = back(out_t), back(idx_t)
    nout, nidx = (N_(t) for t in _C.adaptive_max_pool2d_forward_naive(_C.from_numpy(x), os))
    ref, ridx = ref_forward(x, OH, OW, "max")
    assert idx.dtype == np.int64 and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(out, nout)
    np.testing.assert_array_equal(idx, nidx)
    g = rand(out.shape, dtype, seed=1)
    din = back(_C.adaptive_max_pool2d_backward(on(g, device), idx_t, list(shape)))
    din_naive = N_(_C.adaptive_max_pool2d_backward_naive(_C.from_numpy(g), _C.from_numpy(idx), list(shape)))
    if is_cuda(device):
        np.testing.assert_allclose(din, din_naive, **tol(dtype))
    else:
        np.testing.assert_array_equal(din, din_naive)
    ref_din = np.zeros((int(np.prod(shape[:-2])), shape[-2] * shape[-1]), np.float64)
    gi, ii = g.reshape(ref_din.shape[0], -1), idx.reshape(ref_din.shape[0], -1)
    for p in range(ref_din.shape[0]):
        np.add.at(ref_din[p], ii[p], gi[p])
    np.testing.assert_allclose(din, ref_din.reshape(shape), **tol(dtype))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 33, 100])
def test_global_max_ties_nan_inf(n, device):
    """The 1x1 max (the CPU's 8-lane fast path, CUDA's plane scan) keeps the first maximum and the last NaN,
    like the CPU's naive loop."""
    rng = np.random.default_rng(n)
    cases = [np.full(n, -np.inf), np.zeros(n), rng.integers(0, 3, n).astype(np.float64)]
    for k in range(min(n, 3)):
        a = rng.standard_normal(n)
        a[rng.integers(0, n, k + 1)] = np.nan
        cases.append(a)
    b = rng.standard_normal(n)
    b[-1] = np.inf
    cases.append(b)
    for a in cases:
        for dtype in DTYPES:
            x = a.astype(dtype).reshape(1, 1, 1, n)
            out, idx = (back(t) for t in _C.adaptive_max_pool2d_forward(on(x, device), 1))
            nout, nidx = (N_(t) for t in _C.adaptive_max_pool2d_forward_naive(_C.from_numpy(x), 1))
            np.testing.assert_array_equal(idx, nidx)
            np.testing.assert_array_equal(out, nout)


def test_adaptive_max_nan_and_ties(device):
    """All-equal windows: the first element wins; NaNs win their windows (as the CPU's naive loop)."""
    x = np.zeros((1, 2, 7, 9), np.float32)
    x[0, 1, 1, 2] = x[0, 1, 5, 5] = np.nan
    for os in [1, (2, 3), (10, 4)]:
        out, idx = (back(t) for t in _C.adaptive_max_pool2d_forward(on(x, device), os))
        nout, nidx = (N_(t) for t in _C.adaptive_max_pool2d_forward_naive(_C.from_numpy(x), os))
        np.testing.assert_array_equal(out, nout)
        np.testing.assert_array_equal(idx, nidx)


def test_adaptive_accepts_any_strides_and_zero_batch(device):
    base = rand((2, 9, 8, 3), np.float32)
    t = on(base, device).permute([0, 3, 1, 2])  # non-contiguous (2, 3, 9, 8)
    assert not t.is_contiguous()
    dense = _C.from_numpy(np.ascontiguousarray(base.transpose(0, 3, 1, 2)))
    for os in [(2, 3), 1]:
        np.testing.assert_array_equal(back(_C.adaptive_avg_pool2d_forward(t, os)),
                                      N_(_C.adaptive_avg_pool2d_forward(dense, os)))
        for a, b in zip(_C.adaptive_max_pool2d_forward(t, os), _C.adaptive_max_pool2d_forward(dense, os)):
            np.testing.assert_array_equal(back(a), N_(b))
    x = on(rand((2, 3, 5, 5), np.float32), device)
    for os, shape in [(0, (2, 3, 0, 0)), ((0, None), (2, 3, 0, 5)), ((3, 0), (2, 3, 3, 0))]:  # empty outputs
        a = _C.adaptive_avg_pool2d_forward(x, os)
        m, i = _C.adaptive_max_pool2d_forward(x, os)
        assert back(a).shape == back(m).shape == back(i).shape == shape
        np.testing.assert_array_equal(back(_C.adaptive_avg_pool2d_backward(a, [2, 3, 5, 5])), 0)
        np.testing.assert_array_equal(back(_C.adaptive_max_pool2d_backward(m, i, [2, 3, 5, 5])), 0)
    z = on(np.zeros((0, 3, 5, 5), np.float32), device)
    assert back(_C.adaptive_avg_pool2d_forward(z, 2)).shape == (0, 3, 2, 2)
    out, idx = _C.adaptive_max_pool2d_forward(z, (2, None))
    assert back(out).shape == (0, 3, 2, 5) and back(idx).shape == (0, 3, 2, 5)


def test_adaptive_thread_count_independent():
    n0 = _C.get_num_threads()
    res = []
    for shape, os in [((8, 160, 7, 7), 1), ((4, 40, 33, 33), (5, 3)), ((2, 64, 7, 7), (10, 10))]:
        x = _C.from_numpy(rand(shape, np.float32))
        for n in (1, max(2, n0)):
            _C.set_num_threads(n)
            a = _C.adaptive_avg_pool2d_forward(x, os)
            da = _C.adaptive_avg_pool2d_backward(a, list(shape))
            m, i = _C.adaptive_max_pool2d_forward(x, os)
            dm = _C.adaptive_max_pool2d_backward(m, i, list(shape))
            res.append([N_(t) for t in (a, da, m, i, dm)])
    _C.set_num_threads(n0)
    for k in range(0, len(res), 2):
        for a, b in zip(res[k], res[k + 1]):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Python layer
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,os", [((2, 2, 5, 7), (3, 2)), ((1, 2, 3, 3), 5), ((2, 3, 4, 6), 1),
                                      ((3, 5, 4), (None, 3)), ((1, 1, 7, 7), (2, 10))])
def test_adaptive_gradcheck(shape, os):
    x = ck.tensor(rand(shape, np.float64, seed=3), requires_grad=True)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, os), (x,))
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, os), (x,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,os", [((2, 3, 7, 7), 1), ((2, 3, 7, 7), (1, 1)), ((2, 3, 33, 7), (5, 3)),
                                      ((1, 2, 7, 9), (10, 10)), ((3, 7, 33), (None, 4)), ((2, 4, 3, 1), (2, None)),
                                      ((2, 2, 8, 8), 4)])
def test_adaptive_match_torch(shape, os, dtype):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = rand(shape, dtype, seed=5)
    t = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    compare_with_torch(lambda a: F.adaptive_avg_pool2d(a, os), lambda a: TF.adaptive_avg_pool2d(a, os), [x],
                       rtol=t["rtol"], atol=t["atol"], grad_rtol=t["rtol"], grad_atol=t["atol"])
    compare_with_torch(lambda a: F.adaptive_max_pool2d(a, os), lambda a: TF.adaptive_max_pool2d(a, os), [x],
                       rtol=0, atol=0, grad_rtol=t["rtol"], grad_atol=t["atol"])
    out, idx = F.adaptive_max_pool2d(ck.tensor(x), os, return_indices=True)
    tout, tidx = TF.adaptive_max_pool2d(torch.from_numpy(x), os, return_indices=True)
    assert idx.dtype == ck.int64 and not idx.requires_grad
    np.testing.assert_array_equal(N_(idx._t), tidx.numpy())
    np.testing.assert_array_equal(N_(out._t), tout.numpy())
    # Everything except the 1x1 plane mean (a different summation) matches torch to the bit.
    if resolved(shape, os) != (1, 1):
        np.testing.assert_array_equal(N_(F.adaptive_avg_pool2d(ck.tensor(x), os)._t),
                                      TF.adaptive_avg_pool2d(torch.from_numpy(x), os).numpy())


def test_adaptive_empty_output_like_torch():
    """output_size 0 gives an empty output as in torch (whose backward then refuses; ours returns zeros)."""
    torch = pytest.importorskip("torch")
    x = rand((1, 2, 3, 3), np.float32)
    for os in [0, (0, 2), (None, 0)]:
        assert tuple(F.adaptive_avg_pool2d(ck.tensor(x), os).shape) == \
            tuple(torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), os).shape)
        assert tuple(F.adaptive_max_pool2d(ck.tensor(x), os).shape) == \
            tuple(torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), os).shape)


def test_adaptive_max_nan_like_torch():
    torch = pytest.importorskip("torch")
    x = rand((1, 2, 7, 9), np.float32, seed=6)
    x[0, 0, 1, 2] = x[0, 0, 5, 5] = np.nan
    x[0, 1, :, :] = 1.0
    x[0, 1, 3, 3] = np.inf
    for os in [1, (2, 3), (10, 4)]:
        out, idx = F.adaptive_max_pool2d(ck.tensor(x), os, return_indices=True)
        tout, tidx = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), os, return_indices=True)
        np.testing.assert_array_equal(N_(idx._t), tidx.numpy())
        np.testing.assert_array_equal(N_(out._t), tout.numpy())


def test_adaptive_modules_repr_and_exports():
    torch = pytest.importorskip("torch")
    for args, kw in [(((1, 1),), {}), ((1,), {}), (((2, None),), {}), ((3,), {})]:
        assert repr(nn.AdaptiveAvgPool2d(*args, **kw)) == repr(torch.nn.AdaptiveAvgPool2d(*args, **kw))
    for args, kw in [(((1, 1),), {}), ((5,), {"return_indices": True}), (((None, 3),), {})]:
        assert repr(nn.AdaptiveMaxPool2d(*args, **kw)) == repr(torch.nn.AdaptiveMaxPool2d(*args, **kw))
    assert "AdaptiveAvgPool2d" in nn.__all__ and "AdaptiveMaxPool2d" in nn.__all__
    x = ck.randn(2, 3, 7, 7)
    assert tuple(nn.AdaptiveAvgPool2d((1, 1))(x).shape) == (2, 3, 1, 1)
    out, idx = nn.AdaptiveMaxPool2d(2, return_indices=True)(x)
    assert tuple(out.shape) == (2, 3, 2, 2) and idx.dtype == ck.int64
    assert tuple(F.adaptive_avg_pool2d(x, np.int64(3)).shape) == (2, 3, 3, 3)


@pytest.mark.parametrize("bad,err,match", [
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), ValueError, "adaptive_avg_pool2d: expected output_size to have 2"),
    (lambda x: F.adaptive_avg_pool2d(x, -1), ValueError, r"adaptive_avg_pool2d: expected output_size to be non-negative, got \(-1, -1\)"),
    (lambda x: F.adaptive_max_pool2d(x, (2, -1)), ValueError, r"adaptive_max_pool2d: .*non-negative, got \(2, -1\)"),
    (lambda x: F.adaptive_avg_pool2d(x, "ab"), TypeError, "adaptive_avg_pool2d: expected output_size to be an int"),
    (lambda x: F.adaptive_avg_pool2d(x, 1.5), TypeError, "got float"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 1.0)), TypeError, "adaptive_max_pool2d: expected output_size to contain ints"),
    (lambda x: F.adaptive_avg_pool2d(x, True), TypeError, "got bool"),
    (lambda x: F.adaptive_avg_pool2d(x[0, 0], 1), ValueError, "adaptive_avg_pool2d: expected input to be a 3D or 4D"),
    (lambda x: F.adaptive_max_pool2d(x.flatten(), 1), ValueError, "adaptive_max_pool2d: expected input to be a 3D or 4D"),
    (lambda x: F.adaptive_avg_pool2d(x.long(), 1), TypeError, "adaptive_avg_pool2d"),
    (lambda x: F.adaptive_max_pool2d(np.zeros((1, 1, 4, 4)), 1), TypeError, "must be Tensor"),
])
def test_adaptive_errors(bad, err, match):
    x = ck.randn(1, 2, 5, 5)
    with pytest.raises(err, match=match):
        bad(x)


def test_adaptive_backward_validation():
    g = _C.from_numpy(np.ones((1, 2, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d_backward: expected grad_output with 3 dims for input of shape \[2, 5, 5\]"):
        _C.adaptive_avg_pool2d_backward(g, [2, 5, 5])
    with pytest.raises(ValueError, match="leading dims"):
        _C.adaptive_avg_pool2d_backward(g, [1, 3, 5, 5])
    idx = _C.from_numpy(np.zeros((1, 2, 2, 2), np.int64))
    with pytest.raises(ValueError, match="indices"):
        _C.adaptive_max_pool2d_backward(g, _C.from_numpy(np.zeros((1, 2, 2, 1), np.int64)), [1, 2, 5, 5])
    with pytest.raises(TypeError, match="indices"):
        _C.adaptive_max_pool2d_backward(g, _C.from_numpy(np.zeros((1, 2, 2, 2), np.float32)), [1, 2, 5, 5])
    bad = np.zeros((1, 2, 2, 2), np.int64)
    bad[0, 1, 1, 0] = 25
    with pytest.raises(IndexError, match="adaptive_max_pool2d_backward: index 25 is out of bounds for an input plane of 5x5"):
        _C.adaptive_max_pool2d_backward(g, _C.from_numpy(bad), [1, 2, 5, 5])
    bad[0, 1, 1, 0] = -1
    with pytest.raises(IndexError, match="index -1"):
        _C.adaptive_max_pool2d_backward_naive(g, _C.from_numpy(bad), [1, 2, 5, 5])
    assert N_(_C.adaptive_max_pool2d_backward(g, idx, [1, 2, 5, 5])).sum() == 8


def resnet_like(nn_mod):
    """Two residual-style stages ending in the usual global pool + Flatten + Linear head."""
    class Block(nn_mod.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn_mod.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn_mod.BatchNorm2d(c)
            self.conv2 = nn_mod.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn_mod.BatchNorm2d(c)
            self.relu = nn_mod.ReLU()

        def forward(self, x):
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + x)

    return nn_mod.Sequential(
        nn_mod.Conv2d(3, 8, 3, stride=2, padding=1), nn_mod.ReLU(), Block(8),
        nn_mod.AdaptiveMaxPool2d((5, None)), Block(8),
        nn_mod.AdaptiveAvgPool2d((1, 1)), nn_mod.Flatten(), nn_mod.Linear(8, 4),
    )


def test_resnet_like_training_step_matches_torch():
    torch = pytest.importorskip("torch")
    import cnnkit.optim as optim

    ck.manual_seed(0)
    ours, theirs = resnet_like(nn), resnet_like(torch.nn)
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert name == tname
            tp.copy_(torch.from_numpy(np.asarray(p.numpy()).copy()))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 13, 11)).astype(np.float32)
    y = rng.integers(0, 4, 4)
    o_opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(3):
        o_opt.zero_grad()
        loss = F.cross_entropy(ours(ck.tensor(x)), ck.tensor(y))
        loss.backward()
        o_opt.step()
        t_opt.zero_grad()
        tl = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        tl.backward()
        t_opt.step()
        losses.append((loss.item(), tl.item()))
    ours_l, theirs_l = zip(*losses)
    np.testing.assert_allclose(ours_l, theirs_l, rtol=2e-4)
    for (name, p), (_, tp) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(np.asarray(p.numpy()), tp.detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
    assert math.isfinite(ours_l[-1])
