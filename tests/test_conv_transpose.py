"""ConvTranspose2d / ConvTranspose1d / F.conv_transpose2d (_C.conv_transpose2d_forward/backward): against a
NumPy scatter-loop reference, the adjoint identity with conv2d, PyTorch forward and backward for every
option combination (stride, padding, output_padding, dilation, groups, bias, unbatched), float64
gradchecks, output_size rules, torch's errors, reprs and init.

The kernel test (test_forward_backward_vs_numpy) runs on each device (the `device` fixture; module device
moves stay in tests/test_cuda_conv_transpose.py): the forward against the NumPy scatter loop, the backward by
the adjoint identities <x, dx> = <w, dw> = <conv_transpose2d(x, w), dout>, db = dout summed, and (on CUDA, or
under CNNKIT_CUDA_TESTS_ON_CPU=1) elementwise against the CPU twin. Tolerance `tol`, the same on both devices:
float32 1e-4 (2e-4 absolute for the gradients, summed over the batch), float64 1e-11 (1e-10 for the
gradients): CUDA's FMA contraction and scatter order move the last bits only."""
import itertools
import zlib

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cnnkit import _C
from cnnkit.testing import gradcheck
from cuda_twin_helpers import back, cuda_case, on, runs_twin


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def T(a):
    return _C.from_numpy(np.ascontiguousarray(a))


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def np_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Scatter reference: input pixel (ih, iw) adds x * w[c, o] at full-output position
    (ih*S + kh*D, iw*S + kw*D); the full output (with output_padding rows at the end) is then cropped by
    the padding on both sides."""
    s, p, op, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    N, Cin, H, W = x.shape
    _, OCg, KH, KW = w.shape
    Cg = Cin // groups
    Hf = (H - 1) * s[0] + d[0] * (KH - 1) + 1 + op[0]
    Wf = (W - 1) * s[1] + d[1] * (KW - 1) + 1 + op[1]
    full = np.zeros((N, OCg * groups, Hf, Wf))
    for c, kh, kw in itertools.product(range(Cin), range(KH), range(KW)):
        g = c // Cg
        for o in range(OCg):
            full[:, g * OCg + o, kh * d[0]: kh * d[0] + s[0] * (H - 1) + 1: s[0],
                 kw * d[1]: kw * d[1] + s[1] * (W - 1) + 1: s[1]] += x[:, c] * w[c, o, kh, kw]
    out = full[:, :, p[0]: Hf - p[0], p[1]: Wf - p[1]]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


CASES = [  # (x shape, Cout, kernel, kwargs)
    ((2, 4, 5, 7), 6, 3, dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((1, 3, 4, 4), 2, 4, dict(stride=2, padding=1)),
    ((2, 4, 3, 5), 4, 3, dict(stride=1, padding=0, output_padding=1, groups=4, dilation=2)),
    ((2, 6, 5, 5), 3, (3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=3)),
    ((3, 2, 1, 1), 5, 3, dict()),
    ((2, 3, 6, 4), 4, (2, 3), dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1))),
    ((2, 16, 7, 7), 1, 4, dict(stride=2, padding=1)),
    ((2, 4, 8, 8), 4, 3, dict(stride=2, padding=1, output_padding=1, groups=4)),  # depthwise transposed
    ((4, 5, 6), 3, 3, dict(stride=3, padding=2, output_padding=2)),  # unbatched
]


def case_arrays(case, dtype, bias=True):
    xs, cout, k, kw = case
    k = pair(k)
    groups = kw.get("groups", 1)
    rng = rng_for(case, dtype)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((xs[-3], cout // groups, *k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    return x, w, b


# The CUDA twin test's cases on top of CASES (a decoder layer, several chunks of a large batch): [cuda] only.
CUDA_CASES = [
    ((2, 4, 5, 7), 6, (3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((32, 64, 8, 8), 32, (4, 4), dict(stride=2, padding=1)),     # autoencoder decoder layer
    ((3, 16, 14, 14), 1, (4, 4), dict(stride=2, padding=1)),
    ((2, 4, 3, 5), 4, (3, 3), dict(output_padding=1, dilation=2, groups=4)),
    ((2, 6, 5, 5), 3, (3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=3)),
    ((1, 3, 1, 1), 5, (3, 3), dict()),
    ((70, 3, 6, 4), 4, (2, 3), dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1))),  # several chunks
]


def tol(dtype, grad=False):
    if dtype == np.float32:
        return dict(rtol=1e-4, atol=2e-4 if grad else 1e-4)
    return dict(rtol=1e-11, atol=1e-10 if grad else 1e-11)


def full_kwargs(kw):
    return dict(stride=kw.get("stride", 1), padding=kw.get("padding", 0),
                output_padding=kw.get("output_padding", 0), groups=kw.get("groups", 1),
                dilation=kw.get("dilation", 1))


@pytest.mark.parametrize("case", CASES + [cuda_case(c) for c in CUDA_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_backward_vs_numpy(case, dtype, device):
    x, w, b = case_arrays(case, dtype)
    kw = full_kwargs(case[3])
    out_t = F.conv_transpose2d(cnnkit.tensor(x, device=device), cnnkit.tensor(w, device=device),
                               cnnkit.tensor(b, device=device), **kw)
    assert out_t.device == cnnkit.device(device)
    out = out_t.cpu().numpy()
    xb = x if x.ndim == 4 else x[None]
    x64, w64 = xb.astype(np.float64), w.astype(np.float64)
    ref_nb = np_conv_transpose2d(x64, w64, None, **kw)
    ref = ref_nb + b.astype(np.float64)[None, :, None, None]
    np.testing.assert_allclose(out, ref if x.ndim == 4 else ref[0], **tol(dtype))
    # the kernel's backward (batched input): adjoint identities, then elementwise against the CPU twin
    args = (kw["stride"], kw["padding"], kw["output_padding"], kw["dilation"], kw["groups"])
    dout = rng_for("dout", case).standard_normal(ref.shape).astype(dtype)
    dx, dw, db = (back(t) for t in _C.conv_transpose2d_backward(on(dout, device), on(xb, device), on(w, device),
                                                                 *args))
    loss = np.vdot(ref_nb, dout.astype(np.float64))
    np.testing.assert_allclose(np.vdot(x64, dx.astype(np.float64)), loss, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.vdot(w64, dw.astype(np.float64)), loss, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dout.astype(np.float64).sum(axis=(0, 2, 3)), **tol(dtype, grad=True))
    part = _C.conv_transpose2d_backward(on(dout, device), on(xb, device), on(w, device), *args, (False, True, False))
    assert part[0] is None and part[2] is None
    np.testing.assert_allclose(back(part[1]), dw, **tol(dtype, grad=True))
    if runs_twin(device):
        cpu = _C.conv_transpose2d_backward(T(dout), T(xb), T(w), *args)
        for got, want in zip((dx, dw, db), cpu):
            np.testing.assert_allclose(got, np.asarray(want), **tol(dtype, grad=True))


@pytest.mark.parametrize("case", CASES[:8])
def test_adjoint_of_conv2d(case):
    """<conv_transpose2d(y, w), x> == <y, conv2d(x, w)> (no bias, output_padding 0 sizes)."""
    xs, cout, k, kw = case
    kw = full_kwargs(kw)
    y, w, _ = case_arrays(case, np.float64, bias=False)
    out = F.conv_transpose2d(cnnkit.tensor(y), cnnkit.tensor(w), None, **kw).numpy()
    x = rng_for("x", case).standard_normal(out.shape)
    conv = F.conv2d(cnnkit.tensor(x), cnnkit.tensor(w), None, kw["stride"], kw["padding"], kw["dilation"],
                    kw["groups"]).numpy()
    # conv2d of the transposed output size gives back at least the transposed input's size
    conv = conv[..., :y.shape[-2], :y.shape[-1]]
    np.testing.assert_allclose((out * x).sum(), (y * conv).sum(), rtol=1e-10)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_forward_backward_vs_torch(case, bias):
    torch = pytest.importorskip("torch")
    x, w, b = case_arrays(case, np.float32, bias)
    kw = full_kwargs(case[3])
    arrays = [x, w] + ([b] if bias else [])
    ours = [cnnkit.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    yc = F.conv_transpose2d(*ours, **kw) if bias else F.conv_transpose2d(*ours, None, **kw)
    yt = torch.nn.functional.conv_transpose2d(*theirs, **kw) if bias else \
        torch.nn.functional.conv_transpose2d(*theirs, None, **kw)
    assert tuple(yc.shape) == tuple(yt.shape)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = rng_for("g", case).standard_normal(tuple(yt.shape)).astype(np.float32)
    yc.backward(cnnkit.tensor(g))
    yt.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[3], CASES[8]])
def test_gradcheck(case):
    xs, cout, k, kw = case
    small = (1,) * (len(xs) == 4) + (xs[-3],) + tuple(min(s, 4) for s in xs[-2:])
    x, w, b = case_arrays((small, cout, k, kw), np.float64)
    xt, wt, bt = (cnnkit.tensor(a, requires_grad=True) for a in (x, w, b))
    assert gradcheck(lambda a, ww, bb: F.conv_transpose2d(a, ww, bb, **full_kwargs(kw)), (xt, wt, bt))


def test_grads_only_where_needed():
    x, w, b = case_arrays(CASES[0], np.float32)
    xt, wt, bt = cnnkit.tensor(x), cnnkit.tensor(w, requires_grad=True), cnnkit.tensor(b)
    F.conv_transpose2d(xt, wt, bt, **full_kwargs(CASES[0][3])).sum().backward()
    assert xt.grad is None and bt.grad is None and tuple(wt.grad.shape) == w.shape
    dx, dw, db = _C.conv_transpose2d_backward(T(np.ones((2, 6, 10, 14), np.float32)), T(x), T(w), 2, 1, 1, 1, 2,
                                              (True, False, True))
    assert dw is None and tuple(dx.shape) == x.shape and np.allclose(np.array(db), 2 * 10 * 14)


def test_conv_transpose1d_vs_torch():
    torch = pytest.importorskip("torch")
    for xs, kw in [((2, 4, 9), dict(stride=2, padding=1, output_padding=1, groups=2)), ((4, 7), dict(dilation=2))]:
        ref = torch.nn.ConvTranspose1d(4, 6, 3, **kw)
        ours = nn.ConvTranspose1d(4, 6, 3, **kw)
        assert repr(ours) == repr(ref)
        ours.weight.data = cnnkit.tensor(ref.weight.detach().numpy().copy())
        ours.bias.data = cnnkit.tensor(ref.bias.detach().numpy().copy())
        x = rng_for(xs).standard_normal(xs).astype(np.float32)
        xt, xc = torch.tensor(x, requires_grad=True), cnnkit.tensor(x, requires_grad=True)
        yt, yc = ref(xt), ours(xc)
        np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        yt.sum().backward()
        yc.sum().backward()
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# module: repr, parameters, init, output_size
# ---------------------------------------------------------------------------------------------
REPRS = [
    lambda n: n.ConvTranspose2d(64, 32, 4, 2, 1),
    lambda n: n.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2),
    lambda n: n.ConvTranspose2d(16, 1, (3, 5), stride=(1, 2)),
    lambda n: n.ConvTranspose1d(3, 6, 5, stride=3, output_padding=2, groups=3),
]


@pytest.mark.parametrize("make", REPRS)
def test_module_like_torch(make):
    torch = pytest.importorskip("torch")
    ours, ref = make(nn), make(torch.nn)
    assert repr(ours) == repr(ref)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode", "output_padding", "transposed"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert [c.__name__ for c in type(ours).__mro__[1:3]] == ["_ConvTransposeNd", "_ConvNd"]


def test_init_bounds():
    cnnkit.manual_seed(0)
    m = nn.ConvTranspose2d(64, 32, 4, 2, 1)
    bound = 1 / np.sqrt(32 * 16)  # fan_in from weight dim 1 (out_channels / groups) times the kernel
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.shape == (64, 32, 4, 4)
    assert bound * 0.95 < np.abs(w).max() <= bound and np.abs(b).max() <= bound


@pytest.mark.parametrize("size", [[17, 17], [16, 17], [2, 32, 17, 16], [15, 16], [18, 16], [17], [1, 2, 3]])
def test_output_size_like_torch(size):
    torch = pytest.importorskip("torch")
    ref = torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)
    ours = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype(np.float32)
    try:
        yt = ref(torch.tensor(x), output_size=size)
    except ValueError as e:
        with pytest.raises(ValueError) as ce:
            ours(cnnkit.tensor(x), output_size=size)
        assert str(ce.value).replace("cnnkit.Size", "torch.Size") == str(e)
        return
    ours.load_state_dict({k: cnnkit.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    yc = ours(cnnkit.tensor(x), output_size=size)
    assert tuple(yc.shape) == tuple(yt.shape)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_unbatched_module_output_size():
    m = nn.ConvTranspose2d(3, 2, 3, stride=2)
    assert tuple(m(cnnkit.zeros(3, 4, 5), output_size=[10, 12]).shape) == (2, 10, 12)


def test_padding_mode_rejected_like_torch():
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(3, 2, 3, padding_mode="reflect")


# ---------------------------------------------------------------------------------------------
# functional errors: torch's types and messages
# ---------------------------------------------------------------------------------------------
ERRORS = [
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(stride=2, output_padding=2)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(stride=1, output_padding=2, dilation=2)),
    ((2, 6, 9, 9), (4, 2, 3, 3), dict()),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(groups=4)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(stride=0)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(padding=-1)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(dilation=0)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(groups=0)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(output_padding=-1)),
    ((2, 6, 9, 9), (6, 2, 3, 3), dict(stride=(1, 2, 3))),
    ((6, 4), (6, 2, 3, 3), dict()),
]


@pytest.mark.parametrize("xs,ws,kw", ERRORS)
def test_errors_match_torch(xs, ws, kw):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.conv_transpose2d(torch.zeros(xs), torch.zeros(ws), **kw)
    with pytest.raises(RuntimeError) as ce:
        F.conv_transpose2d(cnnkit.zeros(*xs), cnnkit.zeros(*ws), **kw)
    if kw.get("dilation") == 0:  # torch 2.13 (CPU) reports a oneDNN descriptor failure here; ours names the cause
        assert str(ce.value) == "non-positive dilation is not supported"
    else:
        assert str(ce.value) == str(te.value).split("\n")[0]


def test_bias_and_type_errors():
    torch = pytest.importorskip("torch")
    x, w = np.zeros((2, 6, 4, 4), np.float32), np.zeros((6, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.zeros(3))
    with pytest.raises(RuntimeError) as ce:
        F.conv_transpose2d(cnnkit.tensor(x), cnnkit.tensor(w), cnnkit.zeros(3))
    assert str(ce.value) == str(te.value)
    with pytest.raises(TypeError, match=r"argument 'padding' must be tuple of ints, not str"):
        F.conv_transpose2d(cnnkit.tensor(x), cnnkit.tensor(w), padding="same")
    with pytest.raises(ValueError, match=r"conv_transpose2d: the output size \(-3, -3\) is not positive"):
        F.conv_transpose2d(cnnkit.zeros(1, 6, 1, 1), cnnkit.tensor(w), padding=3)
    with pytest.raises(ValueError, match=r"conv_transpose2d_backward: expected grad_output of shape"):
        _C.conv_transpose2d_backward(T(np.zeros((2, 2, 5, 5), np.float32)), T(x), T(w), 1, 0, 0, 1, 3)
    with pytest.raises(TypeError, match=r"conv_transpose2d: expected input and weight to have the same dtype"):
        _C.conv_transpose2d_forward(T(x), T(w.astype(np.float64)), None)


# Small inputs (<= 256 pixels, batch >= 2) run as whole-batch GEMMs, G images side by side; the
# second case's column matrix (C_out*KK rows x 256 columns per image, float64) caps G at 8 of 20
# images, so the batch goes in chunks 8, 8, 4 with dweight accumulated across them.
@pytest.mark.parametrize("xs,cout,kw", [
    ((6, 64, 8, 8), 32, dict(stride=2, padding=1)),
    ((20, 16, 16, 16), 128, dict(stride=2, padding=1)),
    ((5, 6, 7, 9), 4, dict(stride=2, padding=1, output_padding=1, groups=2, dilation=2)),
])
def test_whole_batch_path_vs_torch_and_thread_count(xs, cout, kw):
    torch = pytest.importorskip("torch")
    case = (xs, cout, 4, kw)
    x, w, b = case_arrays(case, np.float64)
    kw = full_kwargs(kw)
    args = (kw["stride"], kw["padding"], kw["output_padding"], kw["dilation"], kw["groups"])
    before = _C.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            out = np.asarray(_C.conv_transpose2d_forward(T(x), T(w), T(b), *args))
            g = rng_for("g", case).standard_normal(out.shape)
            grads = [np.asarray(a) for a in _C.conv_transpose2d_backward(T(g), T(x), T(w), *args, (True, True, True))]
            results.append([out] + grads)
    finally:
        _C.set_num_threads(before)
    for a, c in zip(*results):
        np.testing.assert_array_equal(a, c)
    s, p, op, d, gr = (pair(kw[k]) if k != "groups" else kw[k]
                       for k in ("stride", "padding", "output_padding", "dilation", "groups"))
    xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, w, b, g))
    ref = [torch.ops.aten.convolution(xt, wt, bt, list(s), list(p), list(d), True, list(op), gr)]
    ref += list(torch.ops.aten.convolution_backward(gt, xt, wt, [cout], list(s), list(p), list(d), True, list(op), gr,
                                                    [True, True, True]))
    for a, r in zip(results[1], ref):
        np.testing.assert_allclose(a, r.numpy(), rtol=1e-11, atol=1e-11)
