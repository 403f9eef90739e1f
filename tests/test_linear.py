"""_C.linear_forward / _C.linear_backward against NumPy (float64) and PyTorch; error messages.

The kernel tests run on each device (the `device` fixture; the mixed-device errors are in
tests/test_cuda_conv.py) at the same tolerance against the float64 NumPy reference (float32 1e-4, float64
1e-10: FMA contraction on CUDA changes the last bits of each dot product, far below it). A partial backward
equals the full one bit for bit on the CPU, within that tolerance on CUDA.
"""
import numpy as np
import pytest

from cnnkit import _C
from cuda_twin_helpers import back, cuda_case, is_cuda, on

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1), (3, 7, 33), (33, 65, 7), (7, 127, 3), (65, 33, 130),  # (N, IN, OUT)
          cuda_case(128, 257, 10), cuda_case(7, 1, 130)]  # the CUDA twin test's other shapes


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


def T(a):
    return None if a is None else _C.from_numpy(a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,IN,OUT", SHAPES)
def test_linear_forward_backward(N, IN, OUT, dtype, device):
    rng = np.random.default_rng(N * IN * OUT)
    x = rng.standard_normal((N, IN)).astype(dtype)
    w = rng.standard_normal((OUT, IN)).astype(dtype)
    b = rng.standard_normal(OUT).astype(dtype)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    D = lambda a: None if a is None else on(a, device)  # noqa: E731
    for bias in (b, None):
        out_t = _C.linear_forward(D(x), D(w), D(bias))
        assert out_t.device == device
        out = back(out_t)
        ref = x64 @ w64.T + (0 if bias is None else bias.astype(np.float64))
        assert out.dtype == dtype and out.shape == (N, OUT)
        np.testing.assert_allclose(out, ref, **tol(dtype))
    dout = rng.standard_normal((N, OUT)).astype(dtype)
    dx, dw, db = (back(t) for t in _C.linear_backward(D(dout), D(x), D(w), (True, True, True)))
    np.testing.assert_allclose(dx, dout.astype(np.float64) @ w64, **tol(dtype))
    np.testing.assert_allclose(dw, dout.astype(np.float64).T @ x64, **tol(dtype))
    np.testing.assert_allclose(db, dout.astype(np.float64).sum(0), **tol(dtype))
    for needs in [(True, False, False), (False, True, False), (False, False, True)]:
        part = _C.linear_backward(D(dout), D(x), D(w), needs)
        for got, want, need in zip(part, (dx, dw, db), needs):
            if need:
                np.testing.assert_allclose(back(got), want, **(tol(dtype) if is_cuda(device) else dict(rtol=0, atol=0)))
            else:
                assert got is None


def test_linear_non_contiguous_and_empty(device):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 10)).astype(np.float32)
    w = rng.standard_normal((10, 4)).astype(np.float32)  # weight given as a transposed view (4, 10)
    out = back(_C.linear_forward(on(x[:, ::2], device), on(w[::2], device).transpose(0, 1), None))
    np.testing.assert_allclose(out, x[:, ::2] @ w[::2], rtol=1e-5, atol=1e-5)
    # empty batch: dweight and dbias are zero, not garbage
    dx, dw, db = _C.linear_backward(on(np.zeros((0, 4), np.float32), device),
                                    on(np.zeros((0, 5), np.float32), device),
                                    on(np.ones((4, 5), np.float32), device))
    assert tuple(dx.shape) == (0, 5)
    np.testing.assert_array_equal(back(dw), 0)
    np.testing.assert_array_equal(back(db), 0)
    # zero input features: the output is the bias
    out = _C.linear_forward(on(np.zeros((3, 0)), device), on(np.zeros((2, 0)), device),
                            on(np.array([1.0, 2.0]), device))
    np.testing.assert_array_equal(back(out), [[1, 2]] * 3)


def test_linear_errors():
    f32 = lambda *s: _C.from_numpy(np.zeros(s, np.float32))  # noqa: E731
    with pytest.raises(ValueError, match=r"linear: expected input to be 2-D, got 3-D"):
        _C.linear_forward(f32(2, 3, 4), f32(5, 4), None)
    with pytest.raises(ValueError, match=r"linear: expected input with 4 features \(weight shape \[5, 4\]\), "
                                         r"got input shape \[2, 3\]"):
        _C.linear_forward(f32(2, 3), f32(5, 4), None)
    with pytest.raises(ValueError, match=r"linear: expected bias of shape \[5\], got \[4\]"):
        _C.linear_forward(f32(2, 4), f32(5, 4), f32(4))
    with pytest.raises(TypeError, match=r"linear: expected input and weight to have the same dtype"):
        _C.linear_forward(f32(2, 4), _C.from_numpy(np.zeros((5, 4))), None)
    with pytest.raises(ValueError, match=r"linear_backward: expected grad_output of shape \[2, 5\], got \[2, 4\]"):
        _C.linear_backward(f32(2, 4), f32(2, 4), f32(5, 4))


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((17, 33)).astype(np.float32)
    w = rng.standard_normal((10, 33)).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ref = torch.nn.functional.linear(xt, wt, bt)
    np.testing.assert_allclose(np.asarray(_C.linear_forward(T(x), T(w), T(b))), ref.detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    dout = rng.standard_normal((17, 10)).astype(np.float32)
    ref.backward(torch.from_numpy(dout))
    for got, want in zip(_C.linear_backward(T(dout), T(x), T(w)), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Python layer: cnnkit.nn.functional.linear
# ---------------------------------------------------------------------------------------------
import cnnkit  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit.testing import compare_with_torch, gradcheck  # noqa: E402

needs_add = pytest.mark.skipif(not hasattr(_C, "binary"), reason="needs the elementwise kernels (another family)")


@pytest.mark.parametrize("xs,ws,bias", [
    ((5, 7), (3, 7), True), ((5, 7), (3, 7), False), ((7,), (3, 7), True), ((2, 4, 7), (3, 7), True),
    ((2, 1, 3, 7), (5, 7), False), ((0, 7), (3, 7), True),
])
def test_functional_linear_matches_torch(xs, ws, bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(xs) * 10 + ws[0])
    arrays = [rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)]
    if bias:
        arrays.append(rng.standard_normal(ws[0]).astype(np.float32))
    ours, theirs = compare_with_torch(F.linear, torch.nn.functional.linear, arrays)
    assert tuple(ours.shape) == tuple(theirs.shape)


@needs_add
def test_functional_linear_vector_weight():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((4, 7)).astype(np.float32), rng.standard_normal(7).astype(np.float32)]
    compare_with_torch(F.linear, torch.nn.functional.linear, arrays)
    # torch rejects a bias with a 1-D weight; so do we, with its message.
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        F.linear(cnnkit.tensor(arrays[0]), cnnkit.tensor(arrays[1]), cnnkit.tensor(1.0))


@pytest.mark.parametrize("xs", [(3, 4), (4,), (2, 3, 4)])
def test_functional_linear_gradcheck(xs):
    rng = np.random.default_rng(len(xs))
    x = cnnkit.tensor(rng.standard_normal(xs), requires_grad=True)
    w = cnnkit.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    b = cnnkit.tensor(rng.standard_normal(5), requires_grad=True)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(lambda x_, w_: F.linear(x_, w_), (x, w))


def test_functional_linear_errors():
    with pytest.raises(RuntimeError, match=r"both arguments to linear need to be at least 1D, but they are 0D and 2D"):
        F.linear(cnnkit.tensor(1.0), cnnkit.zeros(3, 1))
    with pytest.raises(ValueError, match=r"linear: expected input with 4 features \(weight shape \[5, 4\]\)"):
        F.linear(cnnkit.zeros(2, 3), cnnkit.zeros(5, 4))
    with pytest.raises(ValueError, match=r"linear: expected bias of shape \[5\], got \[4\]"):
        F.linear(cnnkit.zeros(2, 4), cnnkit.zeros(5, 4), cnnkit.zeros(4))
    with pytest.raises(TypeError, match=r"linear: expected input and weight to have the same dtype"):
        F.linear(cnnkit.zeros(2, 4), cnnkit.zeros(5, 4, dtype=cnnkit.float64))
    with pytest.raises(ValueError, match=r"linear: expected weight to be 1-D or 2-D"):
        F.linear(cnnkit.zeros(2, 4), cnnkit.zeros(1, 5, 4))
