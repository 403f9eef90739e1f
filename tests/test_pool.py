"""max_pool2d / avg_pool2d: the _C kernels against independent NumPy references and PyTorch.

References: max pooling is a plain loop over windows (first maximum in row-major order wins);
average pooling is a sum of shifted strided slices of a zero-padded copy, divided by a window sum
of a "counted cells" mask (real cells, plus the padding when count_include_pad; never the
ceil_mode overhang). Backward references scatter with np.add.at / the transposed slicing.
The kernel tests run on each device (the `device` fixture) with the same tolerances: outputs and indices of
max pooling are exact on both (selections); the average forward and backward sum in the CPU's order on CUDA
too (TOL against the references on both); the max-pool backward adds overlapping windows with atomics on CUDA
(TOL). Larger-than-a-grid cases stay CUDA-only in tests/test_cuda_pool.py.
"""
import math

import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, on

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}

# (input shape, kernel, stride, padding, dilation, ceil_mode)
CASES = [
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),
    ((2, 3, 33, 7), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1), (2, 2), False),
    ((3, 8, 8), (2, 3), (1, 2), (1, 0), (1, 1), True),
    ((2, 1, 6, 5), (3, 3), (3, 3), (1, 1), (1, 1), True),
    ((1, 3, 5, 5), (2, 2), (2, 2), (1, 1), (1, 1), True),
    ((4, 2, 3, 11), (1, 4), (1, 3), (0, 2), (1, 2), False),
]


def out_size(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def as4d(x):
    return x if x.ndim == 4 else x[None]


def ref_max_pool(x, k, s, p, d, ceil):
    x4 = as4d(x)
    N, C, H, W = x4.shape
    OH, OW = out_size(H, k[0], s[0], p[0], d[0], ceil), out_size(W, k[1], s[1], p[1], d[1], ceil)
    out = np.empty((N, C, OH, OW), x.dtype)
    idx = np.empty((N, C, OH, OW), np.int64)
    for oh in range(OH):
        hs = [oh * s[0] - p[0] + i * d[0] for i in range(k[0])]
        hs = [h for h in hs if 0 <= h < H]
        for ow in range(OW):
            ws = [ow * s[1] - p[1] + j * d[1] for j in range(k[1])]
            ws = [w for w in ws if 0 <= w < W]
            flat = np.array([h * W + w for h in hs for w in ws])
            vals = x4.reshape(N, C, H * W)[:, :, flat]
            a = np.argmax(vals, axis=2)  # first maximum in row-major order
            out[:, :, oh, ow] = np.take_along_axis(vals, a[..., None], 2)[..., 0]
            idx[:, :, oh, ow] = flat[a]
    if x.ndim == 3:
        return out[0], idx[0]
    return out, idx


def ref_max_pool_backward(dout, idx, in_shape):
    d4, i4 = as4d(dout), as4d(idx)
    N, C = d4.shape[:2]
    H, W = in_shape[-2:]
    dx = np.zeros((N, C, H * W), dout.dtype)
    for n in range(N):
        for c in range(C):
            np.add.at(dx[n, c], i4[n, c].ravel(), d4[n, c].ravel())
    return dx.reshape(in_shape)


def avg_geometry(H, W, k, s, p, ceil):
    OH, OW = out_size(H, k[0], s[0], p[0], 1, ceil), out_size(W, k[1], s[1], p[1], 1, ceil)
    # padded canvas large enough for every window, overhang included
    PH = max(H + 2 * p[0], (OH - 1) * s[0] + k[0])
    PW = max(W + 2 * p[1], (OW - 1) * s[1] + k[1])
    return OH, OW, PH, PW


def ref_avg_pool(x, k, s, p, ceil, count_include_pad, divisor):
    x4 = as4d(x)
    N, C, H, W = x4.shape
    OH, OW, PH, PW = avg_geometry(H, W, k, s, p, ceil)
    xp = np.zeros((N, C, PH, PW), np.float64)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x4
    real = np.zeros((PH, PW))
    real[p[0]:p[0] + H, p[1]:p[1] + W] = 1
    counted = np.zeros((PH, PW))
    counted[:H + 2 * p[0], :W + 2 * p[1]] = 1
    mask = counted if count_include_pad else real
    tot = np.zeros((N, C, OH, OW))
    cnt = np.zeros((OH, OW))
    nreal = np.zeros((OH, OW))
    for i in range(k[0]):
        for j in range(k[1]):
            sl = (slice(i, i + s[0] * (OH - 1) + 1, s[0]), slice(j, j + s[1] * (OW - 1) + 1, s[1]))
            tot += xp[(Ellipsis,) + sl]
            cnt += mask[sl]
            nreal += real[sl]
    div = np.full((OH, OW), float(divisor)) if divisor else cnt
    out = np.where(nreal > 0, tot / div, 0.0).astype(x.dtype)
    return out if x.ndim == 4 else out[0]


def ref_avg_pool_backward(dout, in_shape, k, s, p, ceil, count_include_pad, divisor):
    H, W = in_shape[-2:]
    OH, OW, PH, PW = avg_geometry(H, W, k, s, p, ceil)
    real = np.zeros((PH, PW))
    real[p[0]:p[0] + H, p[1]:p[1] + W] = 1
    counted = np.zeros((PH, PW))
    counted[:H + 2 * p[0], :W + 2 * p[1]] = 1
    mask = counted if count_include_pad else real
    cnt = np.zeros((OH, OW))
    for i in range(k[0]):
        for j in range(k[1]):
            cnt += mask[i:i + s[0] * (OH - 1) + 1:s[0], j:j + s[1] * (OW - 1) + 1:s[1]]
    div = np.full((OH, OW), float(divisor)) if divisor else cnt
    g = as4d(dout).astype(np.float64) / np.where(div == 0, 1, div)
    dxp = np.zeros(g.shape[:2] + (PH, PW))
    for i in range(k[0]):
        for j in range(k[1]):
            dxp[:, :, i:i + s[0] * (OH - 1) + 1:s[0], j:j + s[1] * (OW - 1) + 1:s[1]] += g
    dx = dxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W].astype(dout.dtype)
    return dx if len(in_shape) == 4 else dx[0]


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_max_pool2d_matches_reference(case, dtype, device):
    shape, k, s, p, d, ceil = case
    x = rand(shape, dtype)
    out, idx = _C.max_pool2d_forward(on(x, device), k, s, p, d, ceil)
    assert out.device == device and idx.device == device
    ro, ri = ref_max_pool(x, k, s, p, d, ceil)
    assert back(idx).dtype == np.int64
    np.testing.assert_array_equal(back(out), ro)
    np.testing.assert_array_equal(back(idx), ri)
    dout = rand(ro.shape, dtype, seed=1)
    dx = _C.max_pool2d_backward(on(dout, device), idx, list(shape))
    np.testing.assert_allclose(back(dx), ref_max_pool_backward(dout, ri, shape), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor", [None, 3, cuda_case(5)])  # 5: the CUDA twin test's
def test_avg_pool2d_matches_reference(case, dtype, count_include_pad, divisor, device):
    shape, k, s, p, _, ceil = case
    x = rand(shape, dtype)
    out = _C.avg_pool2d_forward(on(x, device), k, s, p, ceil, count_include_pad, divisor)
    ref = ref_avg_pool(x, k, s, p, ceil, count_include_pad, divisor)
    np.testing.assert_allclose(back(out), ref, **TOL[dtype])
    dout = rand(ref.shape, dtype, seed=1)
    dx = _C.avg_pool2d_backward(on(dout, device), list(shape), k, s, p, ceil, count_include_pad, divisor)
    np.testing.assert_allclose(back(dx), ref_avg_pool_backward(dout, shape, k, s, p, ceil, count_include_pad,
                                                               divisor), **TOL[dtype])


def test_max_pool2d_nan_and_ties(device):
    """All-equal windows: the first element in row-major order wins; a NaN in a window wins it."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 2] = np.nan
    out, idx = _C.max_pool2d_forward(on(x, device), (2, 2), (1, 1), (0, 0), (1, 1), False)
    ro, ri = ref_max_pool(x, (2, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(back(out), ro)
    np.testing.assert_array_equal(back(idx), ri)
    assert np.isnan(ro[0, 0, 0, 1]) and ri[0, 0, 0, 0] == 0


def test_pool_accepts_any_strides(device):
    base = rand((2, 9, 7, 3), np.float32)
    x = base.transpose(0, 3, 1, 2)  # (2, 3, 9, 7), not contiguous
    xt = on(base, device).permute([0, 3, 1, 2])
    assert not xt.is_contiguous()
    out, idx = _C.max_pool2d_forward(xt, (3, 2), (2, 2), (1, 0), (1, 1), False)
    ro, ri = ref_max_pool(np.ascontiguousarray(x), (3, 2), (2, 2), (1, 0), (1, 1), False)
    np.testing.assert_array_equal(back(out), ro)
    np.testing.assert_array_equal(back(idx), ri)
    avg = _C.avg_pool2d_forward(xt, (3, 2), (2, 2), (1, 0), False, True, None)
    np.testing.assert_allclose(back(avg), ref_avg_pool(x, (3, 2), (2, 2), (1, 0), False, True, None), rtol=1e-5)


def test_pool_zero_batch(device):
    x = on(np.zeros((0, 2, 5, 5), np.float32), device)
    out, idx = _C.max_pool2d_forward(x, (2, 2), (1, 1), (0, 0), (1, 1), False)
    assert back(out).shape == (0, 2, 4, 4) and back(idx).shape == (0, 2, 4, 4)
    assert back(_C.avg_pool2d_forward(x, (2, 2), (1, 1), (0, 0), False, True, None)).shape == (0, 2, 4, 4)
    assert back(_C.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, None)).shape == (0, 2, 2, 2)


def test_max_pool2d_numeric_gradient():
    x = rand((1, 2, 5, 6), np.float64)
    args = ((3, 2), (2, 2), (1, 1), (1, 1), True)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), *args)
    dout = rand(np.asarray(out).shape, np.float64, seed=2)
    dx = np.asarray(_C.max_pool2d_backward(_C.from_numpy(dout), idx, list(x.shape)))
    num = np.zeros_like(x)
    eps = 1e-6
    for i in range(x.size):
        xp, xm = x.copy().ravel(), x.copy().ravel()
        xp[i] += eps
        xm[i] -= eps
        fp = np.asarray(_C.max_pool2d_forward(_C.from_numpy(xp.reshape(x.shape)), *args)[0])
        fm = np.asarray(_C.max_pool2d_forward(_C.from_numpy(xm.reshape(x.shape)), *args)[0])
        num.ravel()[i] = ((fp - fm) * dout).sum() / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_pools_match_torch(case, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, k, s, p, d, ceil = case
    x = rand(shape, dtype, seed=5)
    tx = torch.from_numpy(x).requires_grad_()
    to, ti = F.max_pool2d(tx, k, s, p, d, ceil_mode=ceil, return_indices=True)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), k, s, p, d, ceil)
    np.testing.assert_array_equal(np.asarray(out), to.detach().numpy())
    np.testing.assert_array_equal(np.asarray(idx), ti.numpy())
    dout = rand(tuple(to.shape), dtype, seed=6)
    (tdx,) = torch.autograd.grad(to, tx, torch.from_numpy(dout))
    dx = _C.max_pool2d_backward(_C.from_numpy(dout), idx, list(shape))
    np.testing.assert_array_equal(np.asarray(dx), tdx.numpy())
    for cip in (True, False):
        for div in (None, 2):
            ta = F.avg_pool2d(tx, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
            a = _C.avg_pool2d_forward(_C.from_numpy(x), k, s, p, ceil, cip, div)
            np.testing.assert_array_equal(np.asarray(a), ta.detach().numpy())  # same summation order
            g = rand(tuple(ta.shape), dtype, seed=7)
            (tda,) = torch.autograd.grad(ta, tx, torch.from_numpy(g))
            da = _C.avg_pool2d_backward(_C.from_numpy(g), list(shape), k, s, p, ceil, cip, div)
            np.testing.assert_allclose(np.asarray(da), tda.numpy(), **TOL[dtype])


def test_max_pool2d_nan_and_inf_like_torch():
    torch = pytest.importorskip("torch")
    x = rand((1, 2, 6, 6), np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan
    x[0, 1, :2, :2] = -np.inf
    to, ti = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, 2, return_indices=True)
    out, idx = _C.max_pool2d_forward(_C.from_numpy(x), (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(np.asarray(out), to.numpy())  # NaN positions compare equal
    np.testing.assert_array_equal(np.asarray(idx), ti.numpy())


BAD = [
    # (shape, kernel, stride, padding, dilation, ceil, error, message fragment)
    ((5, 5), (2, 2), (2, 2), (0, 0), (1, 1), False, ValueError, "3D or 4D"),
    ((1, 1, 1, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), False, ValueError, "3D or 4D"),
    ((1, 0, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), False, ValueError, "3D or 4D"),
    ((1, 1, 5, 5), (0, 2), (2, 2), (0, 0), (1, 1), False, ValueError, "kernel size should be greater than zero"),
    ((1, 1, 5, 5), (2, 2), (0, 2), (0, 0), (1, 1), False, ValueError, "stride should be greater than zero"),
    ((1, 1, 5, 5), (2, 2), (2, 2), (-1, 0), (1, 1), False, ValueError, "pad must be non-negative"),
    ((1, 1, 5, 5), (3, 3), (1, 1), (2, 2), (1, 1), False, ValueError, "pad should be at most half"),
    ((1, 1, 5, 5), (2, 2), (2, 2), (0, 0), (0, 1), False, ValueError, "dilation should be greater than zero"),
    ((1, 1, 2, 2), (3, 3), (1, 1), (0, 0), (1, 1), False, ValueError, "larger than the padded input"),
    ((1, 1, 5, 5), (2,), (2, 2), (0, 0), (1, 1), False, ValueError, "pair"),
]


@pytest.mark.parametrize("bad", BAD)
def test_pool_bad_arguments(bad):
    shape, k, s, p, d, ceil, err, msg = bad
    x = _C.from_numpy(np.zeros(shape, np.float32))
    with pytest.raises(err, match=msg):
        _C.max_pool2d_forward(x, k, s, p, d, ceil)
    if d == (1, 1):
        with pytest.raises(err, match=msg):
            _C.avg_pool2d_forward(x, k, s, p, ceil, True, None)


def test_pool_bad_dtype_and_divisor():
    xi = _C.from_numpy(np.zeros((1, 1, 4, 4), np.int64))
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.max_pool2d_forward(xi, (2, 2), (2, 2), (0, 0), (1, 1), False)
    x = _C.from_numpy(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="divisor must be not zero"):
        _C.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, 0)


def test_pool_backward_validation():
    x = _C.from_numpy(rand((1, 2, 4, 4), np.float32))
    out, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    bad_idx = np.asarray(idx).copy()
    bad_idx[0, 0, 0, 0] = 16
    with pytest.raises(IndexError, match="out of bounds"):
        _C.max_pool2d_backward(out, _C.from_numpy(bad_idx), [1, 2, 4, 4])
    bad_idx[0, 0, 0, 0] = -1
    with pytest.raises(IndexError, match="out of bounds"):
        _C.max_pool2d_backward(out, _C.from_numpy(bad_idx), [1, 2, 4, 4])
    with pytest.raises(ValueError, match="leading dims"):
        _C.max_pool2d_backward(out, idx, [1, 3, 4, 4])
    with pytest.raises(TypeError, match="int64"):
        _C.max_pool2d_backward(out, out, [1, 2, 4, 4])
    with pytest.raises(ValueError, match="grad_output"):
        _C.avg_pool2d_backward(out, [1, 2, 6, 6], (2, 2), (2, 2), (0, 0), False, True, None)


def test_pool_thread_count_independent():
    x = _C.from_numpy(rand((4, 16, 33, 33), np.float32))
    n0 = _C.get_num_threads()
    res = []
    for n in (1, max(2, n0)):
        _C.set_num_threads(n)
        out, idx = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1), (1, 1), True)
        a = _C.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1), True, False, None)
        da = _C.avg_pool2d_backward(a, [4, 16, 33, 33], (3, 3), (2, 2), (1, 1), True, False, None)
        res.append([np.asarray(t).copy() for t in (out, idx, a, da)])
    _C.set_num_threads(n0)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# Python layer: cnnkit.nn.functional.max_pool2d / avg_pool2d (autograd Functions)
# ------------------------------------------------------------------------------------------------
import cnnkit as ck  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402


@pytest.mark.parametrize("case", CASES)
def test_functional_pools_gradcheck(case):
    shape, k, s, p, d, ceil = case
    x = ck.tensor(rand(shape, np.float64, seed=3), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil), (x,))
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=False), (x,))
    assert gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode=ceil, divisor_override=5), (x,))


def test_functional_pools_match_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = rand((2, 3, 9, 8), np.float32, seed=4)
    compare_with_torch(lambda t: F.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2), [x])
    compare_with_torch(lambda t: F.max_pool2d(t, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
                       lambda t: TF.max_pool2d(t, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True),
                       [x])
    compare_with_torch(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                       lambda t: TF.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    compare_with_torch(lambda t: F.avg_pool2d(t, [2], stride=[]), lambda t: TF.avg_pool2d(t, [2], stride=[]), [x[0]])
    out, idx = F.max_pool2d(ck.tensor(x), 3, 2, 1, return_indices=True)
    tout, tidx = TF.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    assert idx.dtype == ck.int64 and not idx.requires_grad
    np.testing.assert_array_equal(np.asarray(idx._t), tidx.numpy())
    np.testing.assert_array_equal(np.asarray(out._t), tout.numpy())


def test_functional_autograd_on_device(device):
    """max_pool2d * 2 + avg_pool2d(...).sum() through autograd on each device, against the reference backwards."""
    x = rand((2, 3, 9, 8), np.float32, seed=6)
    xt = ck.tensor(x, device=device, requires_grad=True)
    m = F.max_pool2d(xt, 3, 2, 1)
    y = m * 2 + F.avg_pool2d(xt, 2, ceil_mode=True).sum()
    y.sum().backward()
    assert xt.grad.device == xt.device
    _, ri = ref_max_pool(x, (3, 3), (2, 2), (1, 1), (1, 1), False)
    ones_avg = np.ones(ref_avg_pool(x, (2, 2), (2, 2), (0, 0), True, True, None).shape, np.float64)
    ref = (2 * ref_max_pool_backward(np.ones(ri.shape), ri, x.shape)
           + m.numel() * ref_avg_pool_backward(ones_avg, x.shape, (2, 2), (2, 2), (0, 0), True, True, None))
    np.testing.assert_allclose(xt.grad.cpu().numpy(), ref, rtol=1e-5, atol=1e-5)


def test_functional_pool_defaults_and_errors():
    x = ck.randn(1, 2, 6, 6, requires_grad=True)
    y = F.max_pool2d(x, 2)  # stride defaults to the kernel size
    assert tuple(y.shape) == (1, 2, 3, 3) and y.requires_grad
    y.backward(ck.ones(1, 2, 3, 3))
    g = np.asarray(x.grad._t)
    assert g.shape == (1, 2, 6, 6) and g.sum() == 18  # one max per window, non-overlapping windows
    assert tuple(F.avg_pool2d(x, (2, 3)).shape) == (1, 2, 3, 2)
    with pytest.raises(ValueError, match="3D or 4D"):
        F.max_pool2d(ck.randn(4, 4), 2)
    with pytest.raises(ValueError, match="stride should be greater than zero"):
        F.avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="tuple of two ints"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="must be Tensor"):
        F.max_pool2d(np.zeros((1, 1, 4, 4)), 2)


def test_ceil_mode_window_may_overhang_the_padded_input():
    """torch gives a 1x1 output here; the window (3) is larger than the input (2)."""
    import cnnkit
    import cnnkit.nn.functional as F

    x = cnnkit.randn(1, 1, 2, 2)
    out = F.max_pool2d(x, 3, 2, ceil_mode=True)
    assert out.shape == (1, 1, 1, 1) and out.item() == x.max().item()
    assert F.avg_pool2d(x, 3, 2, ceil_mode=True).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool2d(x, 3)
