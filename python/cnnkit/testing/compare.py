"""Helpers that compare cnnkit with PyTorch when it is installed (tests skip without it)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, tensor


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _np(x):
    if isinstance(x, Tensor):
        return np.asarray(x.detach()._t.to_device("cpu"))
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual, expected, rtol=1e-4, atol=1e-5, msg=""):
    """Raises AssertionError with the worst element when actual and expected differ."""
    a, e = _np(actual), _np(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg} shape mismatch: {a.shape} vs {e.shape}")
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(a.astype(np.float64) - e.astype(np.float64))
        i = np.unravel_index(np.nanargmax(err), err.shape) if err.size else ()
        raise AssertionError(f"{msg} max abs error {np.nanmax(err):.3g} at {i}: {a[i]} vs {e[i]}")


def compare_with_torch(fn_ours, fn_torch, arrays, requires_grad=True, rtol=1e-4, atol=1e-5, grad_rtol=1e-3,
                       grad_atol=1e-4, seed=0):
    """Runs fn_ours on cnnkit tensors and fn_torch on torch tensors made from the same NumPy arrays,
    compares the outputs, then backpropagates the same random output gradient through both and
    compares the input gradients. Returns (ours, theirs) outputs."""
    import torch

    ours_in = [tensor(a, requires_grad=requires_grad and a.dtype.kind == "f") for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f") for a in arrays]
    ours = fn_ours(*ours_in)
    theirs = fn_torch(*theirs_in)
    assert_close(ours, theirs, rtol, atol, "forward:")
    if requires_grad and ours.requires_grad:
        g = np.random.default_rng(seed).standard_normal(tuple(ours.shape)).astype(_np(ours).dtype)
        ours.backward(tensor(g))
        theirs.backward(torch.tensor(g))
        for k, (a, b) in enumerate(zip(ours_in, theirs_in)):
            if b.grad is not None:
                assert a.grad is not None, f"input {k}: no gradient from cnnkit"
                assert_close(a.grad, b.grad, grad_rtol, grad_atol, f"grad of input {k}:")
    return ours, theirs
