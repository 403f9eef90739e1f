"""MaxUnpool2d / F.max_unpool2d (forward scatter, backward gather) against a NumPy loop and
PyTorch, MaxPool2d(return_indices=True) index semantics end to end (flat h*W+w per plane, with
padding, dilation, ceil_mode, unbatched input), float64 gradient checks, output_size rules and
error messages; AvgPool2d(divisor_override=...) against PyTorch forward and backward."""
import itertools
import re

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


def np_unpool(x, idx, OH, OW):
    lead = x.shape[:-2]
    xs, ids = x.reshape(-1, x.shape[-2] * x.shape[-1]), idx.reshape(-1, idx.shape[-2] * idx.shape[-1])
    out = np.zeros((xs.shape[0], OH * OW), x.dtype)
    for p in range(xs.shape[0]):
        for i in reversed(range(xs.shape[1])):  # the first of equal indices wins
            out[p, ids[p, i]] = xs[p, i]
    return out.reshape(lead + (OH, OW))


def test_kernel_matches_numpy_and_gather_backward():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
        idx = rng.integers(0, 7 * 9, size=x.shape)  # random, with repeats
        out = np.asarray(_C.max_unpool2d_forward(T(x), T(idx), [7, 9]))
        np.testing.assert_array_equal(out, np_unpool(x, idx, 7, 9))
        g = rng.standard_normal((2, 3, 7, 9)).astype(dtype)
        dx = np.asarray(_C.max_unpool2d_backward(T(g), T(idx)))
        want = np.take_along_axis(g.reshape(6, -1), idx.reshape(6, -1), 1).reshape(x.shape)
        np.testing.assert_array_equal(dx, want)


@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (1, 1, 5, 5), (3, 9, 8), (2, 2, 1, 9)])
@pytest.mark.parametrize("k,s,p,d,ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True),
                                          ((2, 3), (1, 2), (1, 0), 1, False), (2, 1, 0, 2, True), (1, 1, 0, 1, False)])
def test_max_pool_indices_and_unpool_match_torch(shape, k, s, p, d, ceil):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    try:
        ot, it = torch.nn.functional.max_pool2d(xt, k, s, p, d, ceil, return_indices=True)
    except RuntimeError:
        pytest.skip("torch rejects this geometry")
    oo, io = nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)(xo)
    assert io.dtype == ck.int64
    np.testing.assert_array_equal(io.numpy(), it.numpy())
    np.testing.assert_array_equal(oo.detach().numpy(), ot.detach().numpy())
    # unpool back to the input's size (dilation is not an unpool argument: output_size gives it)
    kk, ss, pp = k, (s if s is not None else k), p
    try:
        ut = torch.nn.MaxUnpool2d(kk, ss, pp)(ot, it, output_size=list(xt.shape[-2:]))
    except ValueError as e:  # the input size is not within stride of the default unpooled size
        with pytest.raises(ValueError, match=re.escape(str(e))):
            nn.MaxUnpool2d(kk, ss, pp)(oo, io, output_size=list(xo.shape[-2:]))
        return
    uo = nn.MaxUnpool2d(kk, ss, pp)(oo, io, output_size=list(xo.shape[-2:]))
    np.testing.assert_array_equal(uo.detach().numpy(), ut.detach().numpy())
    g = rng.standard_normal(tuple(ut.shape)).astype(np.float32)
    uo.backward(ck.tensor(g))
    ut.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((2, 3), (2, 1), (0, 1))])
def test_default_and_explicit_output_size_match_torch(k, s, p):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    ot, it = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    oo, io = ck.tensor(ot.numpy(), requires_grad=True), ck.tensor(it.numpy())

    def both(size):
        """Ours against torch for one output_size (None: the default), errors included."""
        try:
            ref = torch.nn.functional.max_unpool2d(ot, it, k, s, p, output_size=size)
        except (RuntimeError, ValueError) as e:  # e.g. an index beyond a smaller output
            # which bad index is named may differ (we name the first in memory order)
            msg = re.escape(re.sub(r"index: -?\d+", "INDEX", str(e))).replace("INDEX", r"index: -?\d+")
            with pytest.raises(type(e), match=msg):
                F.max_unpool2d(oo, io, k, s, p, output_size=size)
            return None
        np.testing.assert_array_equal(F.max_unpool2d(oo, io, k, s, p, output_size=size).detach().numpy(),
                                      ref.numpy())
        return ref

    both(None)
    default = [(n - 1) * st + kk - 2 * pp for n, st, kk, pp in zip(
        oo.shape[2:], *(v if isinstance(v, tuple) else (v, v) for v in ((s if s is not None else k), k, p)))]
    ss = (s if s is not None else k)
    ss = ss if isinstance(ss, tuple) else (ss, ss)
    for dh, dw in itertools.product((-1, 0, 1), repeat=2):
        both((default[0] + dh * (ss[0] - 1), default[1] + dw * (ss[1] - 1)))
    both(x.shape)  # 4-element form


def test_gradcheck_unpool():
    rng = np.random.default_rng(2)
    x = ck.tensor(rng.standard_normal((2, 2, 6, 5)), requires_grad=True)

    def f(a):
        o, i = F.max_pool2d(a, 2, 2, return_indices=True)
        return F.max_unpool2d(o * 1.5, i, 2, 2, output_size=(6, 5))

    assert gradcheck(f, (x,))
    # padded, non-overlapping windows (overlapping ones may repeat an index: only one value lands
    # there, yet each copy's gradient is the gathered one, as in torch)
    o, i = F.max_pool2d(x.detach(), 2, 2, 1, return_indices=True)
    oo = o.detach().requires_grad_()
    assert gradcheck(lambda a: F.max_unpool2d(a, i, 2, 2, 1, output_size=(6, 5)), (oo,))


def test_unbatched_and_repr():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((3, 6, 6)).astype(np.float32)
    ot, it = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    out = F.max_unpool2d(ck.tensor(ot.numpy()), ck.tensor(it.numpy()), 2)
    np.testing.assert_array_equal(out.numpy(), torch.nn.functional.max_unpool2d(ot, it, 2).numpy())
    for args in [(2,), ((2, 3), 1, 1), (3, 2)]:
        assert repr(nn.MaxUnpool2d(*args)) == repr(torch.nn.MaxUnpool2d(*args))
    e = F.max_unpool2d(ck.zeros(0, 3, 2, 2), ck.zeros(0, 3, 2, 2, dtype=ck.int64), 2)
    assert tuple(e.shape) == (0, 3, 4, 4)


def test_unpool_errors():
    o, i = F.max_pool2d(ck.randn(2, 3, 4, 4), 2, return_indices=True)
    with pytest.raises(RuntimeError, match=r"^Found an invalid max index: 111 \(output volumes are of size 4x4\)$"):
        F.max_unpool2d(o, ck.tensor(np.full((2, 3, 2, 2), 111, np.int64)), 2)
    with pytest.raises(RuntimeError, match=r"^Found an invalid max index: -"):
        F.max_unpool2d(o, i - 100, 2)
    with pytest.raises(RuntimeError, match="^elements in indices should be type int64 but got: float32$"):
        F.max_unpool2d(o, i.to(ck.float32), 2)
    with pytest.raises(RuntimeError, match=r"^Expected shape of indices to be same as that of the input tensor "
                                           r"\(\[2, 3, 2, 2\]\) but got indices tensor with shape: \[2, 2, 2, 2\]$"):
        F.max_unpool2d(o, i[:, :2], 2)
    with pytest.raises(RuntimeError, match="^Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor "
                                           "with 2 dimensions.$"):
        F.max_unpool2d(o[0, 0], i[0, 0], 2)
    with pytest.raises(ValueError, match=r'^invalid output_size "\(9, 9\)" \(dim 0 must be between 2 and 6\)$'):
        F.max_unpool2d(o, i, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match="^output_size should be a sequence containing 2 or 4 elements, but it has a "
                                         "length of '3'$"):
        F.max_unpool2d(o, i, 2, output_size=(1, 5, 5))
    with pytest.raises(RuntimeError, match="Expected input to have non-zero size for non-batch dimensions"):
        F.max_unpool2d(ck.randn(2, 0, 2, 2), ck.zeros(2, 0, 2, 2, dtype=ck.int64), 2)
    with pytest.raises(TypeError, match="max_unpool2d: expected input to be float32 or float64"):
        _C.max_unpool2d_forward(T(np.zeros((1, 1, 2, 2), np.int64)), T(np.zeros((1, 1, 2, 2), np.int64)), [4, 4])
    with pytest.raises(RuntimeError, match="Found an invalid max index: 16"):
        _C.max_unpool2d_backward(T(np.zeros((1, 1, 4, 4))), T(np.full((1, 1, 2, 2), 16, np.int64)))


# ---------------------------------------------------------------------------------------------
# AvgPool2d(divisor_override=...)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("divisor", [1, 3, 7, -2])
@pytest.mark.parametrize("k,s,p,ceil,cip", [(2, None, 0, False, True), (3, 2, 1, False, True), (3, 2, 1, True, False),
                                            ((2, 3), (1, 2), (1, 1), True, True), (3, 3, 1, True, False)])
def test_avg_pool_divisor_override_matches_torch(divisor, k, s, p, ceil, cip):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(divisor + 10)
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    ours = nn.AvgPool2d(k, s, p, ceil, cip, divisor)
    theirs = torch.nn.AvgPool2d(k, s, p, ceil, cip, divisor)
    assert repr(ours) == repr(theirs)
    xo, xt = ck.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(tuple(ref.shape)).astype(np.float32)
    out.backward(ck.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_avg_pool_divisor_zero_error():
    with pytest.raises(ValueError, match="divisor must be not zero"):
        F.avg_pool2d(ck.randn(1, 1, 4, 4), 2, divisor_override=0)
