"""Dropout family (dropout, dropout1d/2d/3d, alpha_dropout, feature_alpha_dropout) and the
Philox4x32-10 masks behind them: the stream against the Random123 known answer and an independent
Python implementation, masks against the keep rule, exact output/gradient formulas, statistics with
stated tolerances, reproducibility under cnnkit.manual_seed, PyTorch's edge cases, errors and reprs."""
import math
import warnings

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, is_cuda, on

M32 = 0xFFFFFFFF


def philox_ref(ctr, key):
    """Philox4x32-10 (Salmon et al., SC'11) in plain Python integers."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
    return [c0, c1, c2, c3]


def stream_ref(seed, offset, n):
    """Word e of the dropout stream: word e % 4 of the block with counter (e // 4, offset), key seed."""
    out = []
    for j in range((n + 3) // 4):
        ctr = [j & M32, j >> 32, offset & M32, offset >> 32]
        out += philox_ref(ctr, [seed & M32, seed >> 32])
    return np.array(out[:n], dtype=np.int64)


def keep_ref(seed, offset, n, p):
    return stream_ref(seed, offset, n) < math.ceil((1.0 - p) * 2.0 ** 32)


def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10
    assert philox_ref([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox_ref([M32] * 4, [M32, M32]) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox_ref([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == \
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    np.testing.assert_array_equal(np.asarray(_C.philox4x32(0, 0, 4)), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])


@pytest.mark.parametrize("seed,offset,n", [(0, 0, 9), (1, 0, 13), (0xDEADBEEFCAFEF00D, 7, 22),
                                           ((1 << 64) - 1, (1 << 64) - 1, 6), (12345, 1 << 40, 31)])
def test_stream_matches_reference(seed, offset, n):
    np.testing.assert_array_equal(np.asarray(_C.philox4x32(seed, offset, n)), stream_ref(seed, offset, n))


ALPHA = 1.7580993408473766
# (mask elements, inner): one element, odd counts, channel-wise masks (inner > 1), a 4x16 feature map of 7x7
# planes, and "large" (past the CPU's parallel grain, or more than one CUDA grid without its grid-stride loop).
# cuda_case: the CUDA twin test's cases (and alpha dropout, which test_alpha_kernel_formula covers on the CPU),
# run by the [cuda] half only.
MASK_CASES = [(37, 1), (37, 3), (37, 8), cuda_case(1, 1), cuda_case(12, 5), cuda_case(64, 49), cuda_case("large", 1)]


@pytest.mark.parametrize("p", [0.0, 0.1, cuda_case(0.3), 0.5, 0.9, 1.0])
@pytest.mark.parametrize("m,inner", MASK_CASES)
@pytest.mark.parametrize("alpha", [False, cuda_case(True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_mask_and_output(p, m, inner, alpha, dtype, device):
    """On each device the mask is the keep rule on the Philox stream, bit for bit. Plain dropout scales by one
    multiply: exact on both devices. Alpha dropout computes a * x + b, which nvcc may contract into an FMA:
    within 2 ulp-ish (rtol 1e-6 / 1e-14) of the float64 formula."""
    if m == "large":
        m = 1000003 if is_cuda(device) else 4099
    seed, offset = 0x123456789ABCDEF, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal(m * inner).astype(dtype)
    out, mask = _C.dropout_forward(on(x, device), p, seed, offset, inner, alpha)
    # the stream from the Python Philox for small masks, from _C.philox4x32 (checked against it above) for large
    stream = stream_ref(seed, offset, m) if m <= 64 else np.asarray(_C.philox4x32(seed, offset, m))
    keep = stream < math.ceil((1.0 - p) * 2.0 ** 32)
    np.testing.assert_array_equal(back(mask), keep)
    g = rng.standard_normal(m * inner).astype(dtype)
    dx = back(_C.dropout_backward(on(g, device), mask, p, inner, alpha))
    k = np.repeat(keep, inner)
    if not alpha:
        scale = dtype(1.0 / (1.0 - p)) if p < 1 else dtype(0)
        np.testing.assert_array_equal(back(out), x * np.where(k, scale, dtype(0)))
        np.testing.assert_array_equal(dx, g * np.where(k, scale, dtype(0)))
        return
    if p == 1.0:  # every element dropped: the output is x * 0 (torch's alpha_dropout at p = 1), bit for bit
        np.testing.assert_array_equal(back(out), x * dtype(0))
        np.testing.assert_array_equal(dx, g * dtype(0))
        return
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    x64 = x.astype(np.float64)
    kw = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(back(out), np.where(k, a * x64 + ALPHA * a * p, ALPHA * a * (p - 1)), **kw)
    np.testing.assert_allclose(dx, np.where(k, a * g.astype(np.float64), 0.0), **kw)


def test_kernel_errors():
    x = ck.randn(6)._t
    with pytest.raises(ValueError, match="dropout_forward: dropout probability has to be between 0 and 1, but got 1.5"):
        _C.dropout_forward(x, 1.5, 0)
    with pytest.raises(ValueError, match="multiple of inner = 4"):
        _C.dropout_forward(x, 0.5, 0, 0, 4)
    with pytest.raises(TypeError, match="dropout_forward: expected input to be float32 or float64, got int64"):
        _C.dropout_forward(ck.arange(3)._t, 0.5, 0)
    _, mask = _C.dropout_forward(x, 0.5, 0)
    with pytest.raises(ValueError, match="expected mask of 3 elements"):
        _C.dropout_backward(x, mask, 0.5, 2)
    with pytest.raises(TypeError, match="dropout_backward: expected mask of dtype bool, got float32"):
        _C.dropout_backward(x, x, 0.5)


def test_thread_count_does_not_change_the_mask():
    x = np.ones(200003, np.float32)
    n0 = ck.get_num_threads()
    try:
        ck.set_num_threads(1)
        a = np.asarray(_C.dropout_forward(_C.from_numpy(x), 0.4, 77, 0)[1]).copy()
        ck.set_num_threads(max(2, n0))
        b = np.asarray(_C.dropout_forward(_C.from_numpy(x), 0.4, 77, 0)[1])
    finally:
        ck.set_num_threads(n0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[-50:], keep_ref(77, 0, 200003, 0.4)[-50:])


# ---------------------------------------------------------------------------------------------
# F.dropout / nn.Dropout
# ---------------------------------------------------------------------------------------------
def test_dropout_exact_output_and_gradient():
    ck.manual_seed(3)
    x_np = np.random.default_rng(4).standard_normal((7, 33)).astype(np.float32) + 5.0  # nonzero
    x = ck.from_numpy(x_np.copy()).requires_grad_(True)
    y = F.dropout(x, 0.3)
    kept = y.detach().numpy() != 0
    scale = np.float32(1 / 0.7)
    np.testing.assert_array_equal(y.detach().numpy(), np.where(kept, x_np * scale, 0))
    g = np.random.default_rng(5).standard_normal((7, 33)).astype(np.float32)
    y.backward(ck.from_numpy(g))
    np.testing.assert_array_equal(x.grad.numpy(), g * np.where(kept, scale, np.float32(0)))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics(p):
    # n = 200000 Bernoulli(1 - p) draws: the kept fraction lies within 5 standard deviations of 1 - p
    # (failure probability ~6e-7), and so does the mean of dropout(ones) around 1.
    n = 200000
    ck.manual_seed(11)
    y = F.dropout(ck.ones(n), p).numpy()
    kept = (y != 0).mean()
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) <= 5 * sd
    assert abs(y.mean() - 1.0) <= 5 * sd / (1 - p)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - p))}


def test_dropout_reproducible_with_manual_seed():
    ck.manual_seed(1234)
    a = F.dropout(ck.ones(1000), 0.5).numpy()
    b = F.dropout(ck.ones(1000), 0.5).numpy()
    ck.manual_seed(1234)
    a2 = F.dropout(ck.ones(1000), 0.5).numpy()
    b2 = F.dropout(ck.ones(1000), 0.5).numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert (a != b).any()  # each call draws a new mask
    m = nn.Dropout(0.4)
    ck.manual_seed(5)
    r1 = m(ck.ones(300)).numpy()
    ck.manual_seed(5)
    np.testing.assert_array_equal(m(ck.ones(300)).numpy(), r1)


def test_dropout_edges():
    x = ck.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    e = ck.randn(0, 3)
    assert F.dropout(e, 0.5) is e
    # p == 1: input * 0, as PyTorch (signed zeros; NaN and inf stay NaN)
    z = F.dropout(ck.tensor([-1.0, 2.0, float("nan"), float("inf")]), 1.0).numpy()
    assert z[0] == 0 and np.signbit(z[0]) and z[1] == 0 and not np.signbit(z[1]) and np.isnan(z[2:]).all()
    # a dropped NaN is NaN (input * 0), as in PyTorch
    ck.manual_seed(0)
    assert np.isnan(F.dropout(ck.full((64,), float("nan")), 0.5).numpy()).all()
    x = ck.randn(3, requires_grad=True)
    F.dropout(x, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0])
    y = F.dropout(ck.tensor(2.0), 0.5)
    assert tuple(y.shape) == () and y.item() in (0.0, 4.0)
    assert F.dropout(ck.randn(5, dtype=ck.float64), 0.5).dtype == ck.float64


def test_dropout_inplace():
    x_np = np.random.default_rng(6).standard_normal(50).astype(np.float32)
    ck.manual_seed(9)
    ref = F.dropout(ck.from_numpy(x_np.copy()), 0.5).numpy()
    x = ck.from_numpy(x_np.copy())
    ck.manual_seed(9)
    assert F.dropout(x, 0.5, inplace=True) is x
    np.testing.assert_array_equal(x.numpy(), ref)
    leaf = ck.from_numpy(x_np.copy()).requires_grad_(True)
    h = leaf * 2.0
    ck.manual_seed(9)
    assert nn.Dropout(0.5, inplace=True)(h) is h
    h.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), np.where(ref != 0, np.float32(2.0 * np.float32(2.0)), 0))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        F.dropout(ck.randn(3, requires_grad=True), 0.5, inplace=True)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
                                F.feature_alpha_dropout])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_checked(fn, p):
    with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but got {p}"):
        fn(ck.randn(2, 3, 4, 5), p)


@pytest.mark.parametrize("cls", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                 "FeatureAlphaDropout"])
def test_module_repr_and_checks(cls):
    torch = pytest.importorskip("torch")
    for args in [(), (0.2,), (0.3, True)]:
        assert repr(getattr(nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        getattr(nn, cls)(1.5)
    m = getattr(nn, cls)(0.5)
    x = ck.randn(2, 3, 4) if cls == "Dropout1d" else ck.randn(2, 3, 4, 5)
    m.eval()
    assert m(x) is x


def test_integer_input_raises():
    with pytest.raises(TypeError, match="expected input to be float32 or float64, got int64"):
        F.dropout(ck.arange(4), 0.5)
    x = ck.arange(4)
    assert F.dropout(x, 0.5, training=False) is x


# ---------------------------------------------------------------------------------------------
# channel dropout
# ---------------------------------------------------------------------------------------------
def _channels_all_or_nothing(y, x, scale, lead):
    """Each channel (indexed by the first `lead` dims) is either all zero or x * scale."""
    ys = y.reshape(int(np.prod(y.shape[:lead])), -1)
    xs = x.reshape(ys.shape)
    kept = np.zeros(ys.shape[0], bool)
    for i in range(ys.shape[0]):
        if (ys[i] == 0).all():
            continue
        np.testing.assert_array_equal(ys[i], xs[i] * scale)
        kept[i] = True
    return kept


def test_dropout2d_zeroes_whole_channels_and_gradient():
    ck.manual_seed(21)
    x_np = np.random.default_rng(7).standard_normal((8, 16, 5, 3)).astype(np.float32) + 4.0
    x = ck.from_numpy(x_np.copy()).requires_grad_(True)
    y = F.dropout2d(x, 0.4)
    scale = np.float32(1 / 0.6)
    kept = _channels_all_or_nothing(y.detach().numpy(), x_np, scale, 2)
    assert 0 < kept.sum() < kept.size
    y.backward(ck.ones(8, 16, 5, 3))
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.where(kept, scale, 0).reshape(8, 16, 1, 1),
                                                                  x_np.shape))
    m = nn.Dropout2d(0.4)
    ck.manual_seed(21)
    np.testing.assert_array_equal(m(ck.from_numpy(x_np)).numpy(), y.detach().numpy())


def test_dropout2d_channel_statistics():
    # 40000 channels: kept fraction within 5 standard deviations of 1 - p
    ck.manual_seed(22)
    y = F.dropout2d(ck.ones(200, 200, 2, 2), 0.3).numpy()
    kept = (y[:, :, 0, 0] != 0)
    assert (kept[:, :, None, None] == (y != 0)).all()
    assert abs(kept.mean() - 0.7) <= 5 * math.sqrt(0.21 / 40000)


def test_dropout2d_rank_warnings():
    x3 = np.random.default_rng(8).standard_normal((4, 6, 5)).astype(np.float32) + 4.0
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d and assuming that "
                                         "channel-wise 1D dropout"):
        y = F.dropout2d(ck.from_numpy(x3), 0.5).numpy()
    _channels_all_or_nothing(y, x3, np.float32(2.0), 2)  # (N, C, L): channels are (n, c) rows
    with pytest.warns(UserWarning, match="dropout2d: Received a 2-D input to dropout2d, which is deprecated"):
        F.dropout2d(ck.randn(3, 4), 0.5)
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions in the input"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.dropout2d(ck.randn(4), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(ck.randn(2, 3, 4, 5), 0.5)  # 4-D: no warning
        F.dropout2d(ck.randn(2, 3, 4, 5), 0.5, training=False)


def test_dropout1d_and_3d():
    ck.manual_seed(23)
    x = np.random.default_rng(9).standard_normal((6, 9)).astype(np.float32) + 4.0
    y = F.dropout1d(ck.from_numpy(x), 0.5).numpy()  # unbatched (C, L): whole rows
    _channels_all_or_nothing(y, x, np.float32(2.0), 1)
    x3 = np.random.default_rng(10).standard_normal((3, 6, 9)).astype(np.float32) + 4.0
    _channels_all_or_nothing(nn.Dropout1d(0.5)(ck.from_numpy(x3)).numpy(), x3, np.float32(2.0), 2)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(ck.randn(2, 3, 4, 5), 0.5)
    x5 = np.random.default_rng(11).standard_normal((2, 5, 3, 2, 2)).astype(np.float32) + 4.0
    _channels_all_or_nothing(F.dropout3d(ck.from_numpy(x5), 0.5).numpy(), x5, np.float32(2.0), 2)
    x4 = x5[0].copy()  # unbatched (C, D, H, W)
    _channels_all_or_nothing(nn.Dropout3d(0.5)(ck.from_numpy(x4)).numpy(), x4, np.float32(2.0), 1)
    with pytest.warns(UserWarning, match="dropout3d: Received a 3-D input to dropout3d, which is deprecated"):
        F.dropout3d(ck.randn(2, 3, 4), 0.5)


def test_channel_dropout_inplace_and_unbatched_inplace():
    x_np = np.random.default_rng(12).standard_normal((5, 7)).astype(np.float32) + 4.0
    ck.manual_seed(31)
    ref = F.dropout1d(ck.from_numpy(x_np.copy()), 0.5).numpy()
    x = ck.from_numpy(x_np.copy())
    ck.manual_seed(31)
    assert F.dropout1d(x, 0.5, inplace=True) is x and tuple(x.shape) == (5, 7)
    np.testing.assert_array_equal(x.numpy(), ref)


# ---------------------------------------------------------------------------------------------
# alpha dropout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(p):
    # Standard normal input, n = 400000: the sample mean and variance of the output are within 0.02
    # of 0 and 1 (their standard errors are ~0.002 and ~0.003).
    ck.manual_seed(41)
    x = ck.randn(400000)
    y = F.alpha_dropout(x, p, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1.0) < 0.02
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    dropped = np.isclose(y, alpha * a * (p - 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(y[~dropped], a * x.numpy()[~dropped] + alpha * a * p, rtol=1e-5, atol=1e-5)
    assert abs(dropped.mean() - p) <= 5 * math.sqrt(p * (1 - p) / 400000)


def test_alpha_dropout_gradient_defaults_and_edges():
    p = 0.25
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    x = ck.randn(500, dtype=ck.float64, requires_grad=True)
    y = F.alpha_dropout(x, p, True)
    y.sum().backward()
    kept = ~np.isclose(y.detach().numpy(), alpha * a * (p - 1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-15)
    z = ck.randn(10)
    assert F.alpha_dropout(z) is z  # training defaults to False, as PyTorch
    assert F.feature_alpha_dropout(z) is z
    zero = F.alpha_dropout(ck.tensor([-1.0, 3.0]), 1.0, True).numpy()  # p == 1: input * 0, no shift
    assert (zero == 0).all() and np.signbit(zero[0])
    m = nn.AlphaDropout(0.2, inplace=True)  # as PyTorch's module, `inplace` is not passed on
    w = ck.randn(20)
    assert m(w) is not w


def test_feature_alpha_dropout_channels():
    p = 0.5
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    ck.manual_seed(51)
    x = np.random.default_rng(13).standard_normal((6, 10, 4, 4)).astype(np.float32)
    y = nn.FeatureAlphaDropout(p)(ck.from_numpy(x)).numpy()
    drop_val = np.float32(alpha * a * (p - 1))
    flat, xf = y.reshape(60, 16), x.reshape(60, 16)
    n_dropped = 0
    for i in range(60):
        if np.allclose(flat[i], drop_val, rtol=0, atol=1e-6):
            n_dropped += 1
        else:
            np.testing.assert_allclose(flat[i], a * xf[i] + alpha * a * p, rtol=1e-5, atol=1e-5)
    assert 0 < n_dropped < 60
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(ck.randn(5), 0.5, True)


def test_exports():
    for name in ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]:
        assert callable(getattr(F, name))
    for name in ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]:
        assert name in nn.__all__


def test_rng_state_restores_masks():
    ck.manual_seed(99)
    state = ck.get_rng_state()
    a = F.dropout(ck.ones(257), 0.5).numpy()
    ck.set_rng_state(state)
    np.testing.assert_array_equal(F.dropout(ck.ones(257), 0.5).numpy(), a)
    # the mask is the Philox stream of the 64-bit key drawn from the generator (offset 0)
    from cnnkit.random import _philox_seed

    ck.set_rng_state(state)
    key = _philox_seed()
    np.testing.assert_array_equal(a != 0, keep_ref(key, 0, 257, 0.5))
