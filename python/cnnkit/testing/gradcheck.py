"""``gradcheck``: analytic gradients against float64 central differences (torch.autograd.gradcheck)."""
from __future__ import annotations

import numpy as np

from ..autograd import grad as _grad
from ..autograd import no_grad
from ..tensor import Tensor, from_numpy


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0):
    """Checks d fn(inputs) / d inputs for every float64 input that requires grad.

    For each output element j the analytic row comes from one backward pass with a one-hot
    gradient; each input element i is perturbed by +-eps for the numeric column
    (f(x+eps) - f(x-eps)) / 2eps. Returns True, or raises AssertionError naming the input and the
    worst element when the Jacobians differ by more than atol + rtol*|numeric|.
    """
    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise ValueError(f"gradcheck: input {i} must be float64 for reliable finite differences, got {inputs[i].dtype}")
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")

    def run():
        with no_grad():
            return [np.array(o.detach()._t, dtype=np.float64) for o in _as_tuple(fn(*inputs))]

    outs = _as_tuple(fn(*inputs))
    diff_outs = [k for k, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
    for k in diff_outs:
        o = outs[k]
        n_out = o.numel()
        # Analytic Jacobian, one output element at a time.
        analytic = {i: np.zeros((inputs[i].numel(), n_out)) for i in diff}
        for j in range(n_out):
            g = np.zeros(n_out)
            g[j] = 1.0
            gt = from_numpy(g.reshape(tuple(o.shape)))
            grads = _grad([o], [inputs[i] for i in diff], [gt], retain_graph=True, allow_unused=True)
            for i, gi in zip(diff, grads):
                if gi is not None:
                    analytic[i][:, j] = np.asarray(gi._t, dtype=np.float64).reshape(-1)
        # Numeric Jacobian, one input element at a time (perturbing the tensor's memory in place).
        for i in diff:
            x = np.asarray(inputs[i]._t)
            numeric = np.zeros_like(analytic[i])
            for p, idx in enumerate(np.ndindex(*x.shape) if x.ndim else [()]):
                orig = x[idx]
                x[idx] = orig + eps
                fp = run()[k].reshape(-1)
                x[idx] = orig - eps
                fm = run()[k].reshape(-1)
                x[idx] = orig
                numeric[p] = (fp - fm) / (2 * eps)
            err = np.abs(analytic[i] - numeric)
            bad = err > atol + rtol * np.abs(numeric)
            if bad.any():
                p, j = np.unravel_index(np.argmax(err - (atol + rtol * np.abs(numeric))), err.shape)
                msg = (f"Jacobian mismatch for output {k} with respect to input {i}: "
                       f"element (input {p}, output {j}) analytic {analytic[i][p, j]:.8g} vs numeric "
                       f"{numeric[p, j]:.8g} (max abs error {err.max():.3g})")
                if raise_exception:
                    raise AssertionError(msg)
                return False
    return True
