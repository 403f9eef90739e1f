"""Random numbers: a seedable ``Generator`` and the sampling factories.

Sampling is not part of the compute core: the bits come from NumPy's PCG64 generator (one default
generator, reseeded by ``cnnkit.manual_seed``), and are copied into tensors. The sequences therefore
differ from PyTorch's for the same seed (documented in docs/differences.md); a given seed is
reproducible across runs and platforms.
"""
from __future__ import annotations

import numpy as np

from . import _C
from ._dtype import float32, float64, get_default_dtype, int64


class Generator:
    """``torch.Generator``-shaped wrapper of a NumPy PCG64 stream."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721  # torch's default seed, for familiarity
        self._np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from .tensor import tensor

        state = self._np.bit_generator.state
        blob = repr(state).encode()
        return tensor(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, state):
        import ast

        self._np.bit_generator.state = ast.literal_eval(bytes(state.tolist()).decode())
        return self


default_generator = Generator()


def manual_seed(seed):
    """Seeds the default generator (and CUDA's, when it exists)."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def _gen(generator):
    return (generator or default_generator)._np


def _c(arr, dtype):
    # np.asarray keeps 0-d results 0-d (ascontiguousarray would make them 1-d).
    t = _C.from_numpy(np.array(np.asarray(arr, dtype=dtype.numpy), order="C"))
    return t if t.dtype == dtype._c else t.to(dtype._c)  # bfloat16: NumPy holds it as float32


def _uniform_c(shape, a, b, generator=None, dtype=float64):
    return _c(_gen(generator).uniform(a, b, size=tuple(shape)), dtype)


def _normal_c(shape, mean, std, generator=None, dtype=float64):
    return _c(_gen(generator).normal(mean, std, size=tuple(shape)), dtype)


def _finish(ct, requires_grad, device=None):
    """Numbers are drawn on the CPU and moved to `device` (one stream for every device)."""
    from ._dtype import _device_str
    from .tensor import _wrap

    t = _wrap(ct if device is None or _device_str(device) == "cpu" else ct.to_device(_device_str(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _draw(op, size, dt, draw):
    """``draw(shape)`` (a NumPy generator call) as a tensor of dtype ``dt``, the sizes checked first
    as ``_C.empty`` checks them; an empty shape skips NumPy, which refuses some (``(2**62, 2, 0)``)."""
    from .tensor import _new_shape, _numpy_alloc

    shape = tuple(_new_shape(op, size, dt))
    if _C.shape_numel(list(shape)) == 0:
        return _C.empty(list(shape), dt._c)
    return _c(_numpy_alloc(op, lambda: draw(shape)), dt)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    dt = dtype or get_default_dtype()
    return _finish(_draw("rand", size, dt, lambda shape: _gen(generator).random(size=shape)), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    dt = dtype or get_default_dtype()
    return _finish(_draw("randn", size, dt, lambda shape: _gen(generator).standard_normal(size=shape)),
                   requires_grad, device)


def randint(low=0, high=None, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform on [low, high)."""
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _finish(_draw("randint", (tuple(size),), dtype or int64,
                         lambda shape: _gen(generator).integers(low, high, size=shape)), requires_grad, device)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    from .tensor import _new_shape, _numpy_alloc

    (n,) = _new_shape("randperm", (int(n),), dtype or int64)
    return _finish(_c(_numpy_alloc("randperm", lambda: _gen(generator).permutation(n)), dtype or int64), requires_grad,
                   device)


def rand_like(t, dtype=None, generator=None, device=None):
    return rand(*t.shape, dtype=dtype or t.dtype, generator=generator, device=device or t.device)


def randn_like(t, dtype=None, generator=None, device=None):
    return randn(*t.shape, dtype=dtype or t.dtype, generator=generator, device=device or t.device)


def randint_like(t, low=0, high=None, dtype=None, device=None):
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype, device=device or t.device)


def normal(mean, std, size=None, generator=None, dtype=None, device=None):
    from .tensor import Tensor, tensor

    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean if isinstance(mean, Tensor) else tensor(float(mean))
        s = std if isinstance(std, Tensor) else tensor(float(std))
        shape = np.broadcast_shapes(tuple(m.shape), tuple(s.shape))
        return m + s * randn(*shape, generator=generator, dtype=m.dtype if m.dtype.is_floating_point else None,
                             device=m.device)
    return _finish(_c(_gen(generator).normal(mean, std, size=tuple(size)), dtype or get_default_dtype()), False, device)


def bernoulli(input, p=None, generator=None):
    from .tensor import _wrap

    probs = input if p is None else None
    u = _uniform_c(input.shape, 0.0, 1.0, generator, dtype=input.dtype).to_device(input._t.device)
    ref = probs._t if probs is not None else _C.full([], float(p), input._t.dtype, input._t.device)
    return _wrap(_C.binary("lt", u, ref).to(input._t.dtype))


def multinomial(input, num_samples, replacement=False, generator=None):
    from .tensor import from_numpy

    p = np.asarray(input.detach()._t.to_device("cpu"), dtype=np.float64)
    g = _gen(generator)
    rows = p.reshape(-1, p.shape[-1])
    out = np.stack([g.choice(p.shape[-1], size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return from_numpy(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64)).to(input.device)


def _philox_seed(generator=None):
    """A fresh 64-bit key for the counter-based (Philox4x32-10) dropout kernels, drawn from the
    generator's stream: ``cnnkit.manual_seed(s)`` makes the following dropout masks reproducible, and
    each call gets new masks. The kernels' counter offset stays 0 (every call has its own key)."""
    return int(_gen(generator).integers(0, 1 << 64, dtype=np.uint64))
