"""Plain regression tests for discrepancies with torch that the property-based tests (test_fuzz_*.py) found."""
import numpy as np
import pytest

import cnnkit


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_of_0d_tensor_over_its_implicit_dim(dim, keepdim):
    # found by test_fuzz_reduce: x.prod(0) on a 0-d tensor raised IndexError (torch returns x)
    x = cnnkit.tensor(3.0, requires_grad=True)
    y = x.prod(dim, keepdim=keepdim)
    assert y.shape == () and y.item() == 3.0
    y.backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError):
        x.prod(1)


def test_max_pool2d_backward_of_a_dilated_window_wholly_in_padding():
    # found by test_fuzz_pool: a 1x1 plane, kernel (1, 2), padding (0, 1), dilation (1, 2): the one window
    # reads columns -1 and 1, both padding. The forward gives -inf and index 1 (torch's values); the backward
    # raised IndexError. Its gradient goes nowhere (torch's CPU kernel adds it into the next plane's element).
    import cnnkit.nn.functional as F

    x = cnnkit.tensor([[[[0.5]], [[0.7]]]], requires_grad=True)
    y, idx = F.max_pool2d(x, (1, 2), None, (0, 1), (1, 2), return_indices=True)
    assert np.isneginf(y.detach().numpy()).all() and idx.numpy().ravel().tolist() == [1, 1]
    y.backward(cnnkit.ones_like(y) * 3)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 2, 1, 1), np.float32))
    # a window that does reach the input still routes its gradient there
    x = cnnkit.tensor([[[[0.5, 2.0, 1.0]]]], requires_grad=True)
    y = F.max_pool2d(x, (1, 2), 1, (0, 1), (1, 2))
    y.sum().backward()
    # windows read columns (-1, 1), (0, 2), (1, 3): maxima 2.0, 1.0, 2.0
    np.testing.assert_array_equal(y.detach().numpy().ravel(), [2.0, 1.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0.0, 2.0, 1.0])


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std"])
@pytest.mark.parametrize("dim", [0, -1, (0,)])
def test_reductions_of_a_0d_tensor_over_dim_0(op, dim):
    # found by test_fuzz_reduce: sum(0-d, dim=0) failed in backward (ZeroDivisionError), var/std(0-d, dim=0)
    # raised IndexError; torch reduces over the implicit dim (var with correction=1 of one element: nan)
    x = cnnkit.tensor(1.5, dtype=cnnkit.float64, requires_grad=True)
    kw = {"correction": 0} if op in ("var", "std") else {}
    y = getattr(cnnkit, op)(x, dim=dim, **kw)
    assert y.shape == ()
    y.backward()
    want = {"sum": (1.5, 1.0), "mean": (1.5, 1.0), "amax": (1.5, 1.0), "amin": (1.5, 1.0),
            "logsumexp": (1.5, 1.0), "var": (0.0, 0.0)}
    if op != "std":  # std at 0 has an undefined gradient (nan in torch too)
        np.testing.assert_allclose([y.item(), x.grad.item()], want[op])
    with pytest.raises(IndexError):
        getattr(cnnkit, op)(x, dim=1)


@pytest.mark.parametrize("training", [False, True])
def test_functional_batch_norm_momentum_none_is_a_type_error_naming_it(training):
    # found by test_fuzz_norm_resize: F.batch_norm(momentum=None) raised Python's bare "float() argument must
    # be ..."; torch raises TypeError naming batch_norm and 'momentum' (None is a Module option only)
    import cnnkit.nn.functional as F

    x = cnnkit.ones(3, 2)
    with pytest.raises(TypeError, match=r"batch_norm\(\): argument 'momentum' must be float, not NoneType"):
        F.batch_norm(x, cnnkit.zeros(2), cnnkit.ones(2), training=training, momentum=None)
    bn = cnnkit.nn.BatchNorm1d(2, momentum=None)  # the cumulative moving average still works in the Module
    bn(cnnkit.tensor([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(bn.running_mean.numpy(), [2.0, 4.0])


@pytest.mark.parametrize("shape", [(1, 1, 0, 0), (2, 1, 0, 3), (1, 1, 4, 0)])
def test_conv_of_zero_pixel_images_raises_like_torch(shape):
    # found by test_fuzz_empty: conv2d of a (1, 1, 0, 0) input with padding=1 returned a 2x2 bias-only image;
    # torch raises "Only zero batch or zero channel inputs are supported"
    import cnnkit.nn.functional as F

    with pytest.raises(RuntimeError, match="Only zero batch or zero channel inputs are supported"):
        F.conv2d(cnnkit.zeros(*shape), cnnkit.zeros(2, 1, 1, 1), padding=1)
    with pytest.raises(RuntimeError, match="Only zero batch or zero channel inputs are supported"):
        F.conv_transpose2d(cnnkit.zeros(*shape), cnnkit.zeros(1, 2, 1, 1))
    # a batch of zero images is fine
    assert F.conv2d(cnnkit.zeros(0, 1, 3, 3), cnnkit.zeros(2, 1, 1, 1), padding=1).shape == (0, 2, 5, 5)


@pytest.mark.parametrize("shape,dim,size,step", [((7,), 0, 3, 2), ((3, 6), 1, 2, 1), ((4, 5), 0, 4, 3),
                                                  ((2, 3, 5), -1, 5, 1), ((3, 4), 1, 0, 2)])
def test_tensor_unfold_against_numpy(shape, dim, size, step):
    # Tensor.unfold was missing (found writing test_fuzz_index's view cases). Reference: NumPy's
    # sliding_window_view taken every `step` windows; the gradient counts how many windows hold each element.
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x = cnnkit.from_numpy(a.copy()).requires_grad_(True)
    y = x.unfold(dim, size, step)
    d = dim % len(shape)
    want = np.lib.stride_tricks.sliding_window_view(a, size, axis=d)
    want = want[(slice(None),) * d + (slice(None, None, step),)]
    np.testing.assert_array_equal(y.detach().numpy(), want)
    y.sum().backward()
    count = np.zeros(shape[d])
    for s in range(0, shape[d] - size + 1, step):
        count[s:s + size] += 1
    bshape = [1] * len(shape)
    bshape[d] = shape[d]
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(count.reshape(bshape), shape))


def test_tensor_unfold_is_a_view_and_checks_its_arguments():
    b = cnnkit.zeros(5)
    b.unfold(0, 2, 2)[1, 0] = 7.0  # writes through to element 2
    np.testing.assert_array_equal(b.numpy(), [0, 0, 7, 0, 0])
    assert cnnkit.tensor(3.0).unfold(0, 1, 1).shape == (1,)
    with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 0 is 5 but size is 6"):
        b.unfold(0, 6, 1)
    with pytest.raises(RuntimeError, match="step is 0 but must be > 0"):
        b.unfold(0, 2, 0)
    with pytest.raises(RuntimeError, match="size is -1 but must be >= 0"):
        b.unfold(0, -1, 1)
    with pytest.raises(IndexError):
        b.unfold(1, 1, 1)
    with pytest.raises(TypeError, match="unfold"):
        b.unfold(0, 2.0, 1)


def test_prod_and_logsumexp_over_an_empty_dim():
    # found by test_fuzz_empty: prod over an empty dim returned a constant 1 outside the graph (backward raised
    # "does not require grad"), logsumexp raised IndexError from its max; torch gives 1 and -inf
    x = cnnkit.zeros(2, 0, dtype=cnnkit.float64).requires_grad_(True)
    p = x.prod(1)
    np.testing.assert_array_equal(p.detach().numpy(), [1.0, 1.0])
    p.sum().backward()
    assert x.grad.shape == (2, 0)
    y = cnnkit.logsumexp(x, 1)
    np.testing.assert_array_equal(y.detach().numpy(), [-np.inf, -np.inf])
    assert cnnkit.logsumexp(cnnkit.zeros(0, 3), 0, keepdim=True).shape == (1, 3)
    np.testing.assert_allclose(cnnkit.logsumexp(cnnkit.zeros(0, 3), 1).numpy().shape, (0,))
