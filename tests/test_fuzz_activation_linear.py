"""Property-based tests: activations (with their parameters, in-place forms) and linear/matmul/bmm against
torch, forward and backward, on strided views."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import cnnkit  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from fuzz_strategies import DTYPES, LAYOUTS, Pair, both_or_neither, check, fuzz, seeds  # noqa: E402

# name -> (kwargs strategy, kink points where the derivative jumps: inputs are kept away from them)
ACTS = {
    "relu": (st.just({}), [0.0]),
    "leaky_relu": (st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2, 1.5])}), [0.0]),
    "elu": (st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5, 2.0])}), [0.0]),
    "celu": (st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5, 2.0])}), [0.0]),
    "selu": (st.just({}), [0.0]),
    "gelu": (st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])}), []),
    "silu": (st.just({}), []),
    "mish": (st.just({}), []),
    "softplus": (st.fixed_dictionaries({"beta": st.sampled_from([1.0, 2.0, 0.5]),
                                        "threshold": st.sampled_from([20.0, 1.0])}), []),
    "hardtanh": (st.fixed_dictionaries({"min_val": st.sampled_from([-1.0, -0.5]),
                                        "max_val": st.sampled_from([1.0, 0.7])}), [-1.0, -0.5, 1.0, 0.7]),
    "hardsigmoid": (st.just({}), [-3.0, 3.0]),
    "hardswish": (st.just({}), [-3.0, 3.0]),
    "relu6": (st.just({}), [0.0, 6.0]),
    "sigmoid": (st.just({}), []),
    "tanh": (st.just({}), []),
    "logsigmoid": (st.just({}), []),
    "softsign": (st.just({}), []),
    "tanhshrink": (st.just({}), []),
    "hardshrink": (st.fixed_dictionaries({"lambd": st.sampled_from([0.5, 1.0])}), [-0.5, 0.5, -1.0, 1.0]),
    "softshrink": (st.fixed_dictionaries({"lambd": st.sampled_from([0.5, 1.0])}), [-0.5, 0.5, -1.0, 1.0]),
}


@fuzz
@given(shape=st.lists(st.integers(1, 4), max_size=4).map(tuple), name=st.sampled_from(sorted(ACTS)), data=st.data(),
       dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_activations(shape, name, data, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    kw_strategy, kinks = ACTS[name]
    kw = data.draw(kw_strategy, label="kwargs")
    vals = rng.uniform(-4, 4, shape) * (2.0 if name in ("relu6", "hardswish", "hardsigmoid") else 1.0)
    for k in kinks:
        vals = np.where(np.abs(vals - k) < 1e-2, k + 0.05, vals)
    x = Pair(vals.astype(dtype), True, layout, rng)
    check(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(TF, name)(a, **kw), [x], dtype, rng, scale=4)


@fuzz
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
       name=st.sampled_from(["relu", "leaky_relu", "elu", "hardtanh", "relu6", "selu", "celu"]),
       dtype=DTYPES, seed=seeds())
def test_inplace_activations_after_an_op(shape, name, dtype, seed):
    """F.<act>(y, inplace=True) on a non-leaf y = x * 2: same values and gradient as torch."""
    rng = np.random.default_rng(seed)
    vals = rng.uniform(-3, 3, shape)
    vals = np.where(np.abs(vals) < 1e-2, 0.05, vals)
    x = Pair(vals.astype(dtype), True)
    check(lambda a: getattr(F, name)(a * 2, inplace=True), lambda a: getattr(TF, name)(a * 2, inplace=True), [x],
          dtype, rng, scale=4)


@fuzz
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), fin=st.integers(1, 6), fout=st.integers(1, 6),
       bias=st.booleans(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_linear(lead, fin, fout, bias, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = Pair(rng.uniform(-1, 1, lead + (fin,)).astype(dtype), True, layout, rng)
    pairs = [x, Pair(rng.uniform(-1, 1, (fout, fin)).astype(dtype), True, "transposed", rng)]
    if bias:
        pairs.append(Pair(rng.uniform(-1, 1, (fout,)).astype(dtype), True))
    check(F.linear, TF.linear, pairs, dtype, rng, scale=4)


@fuzz
@given(a_shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), data=st.data(), dtype=DTYPES,
       seed=seeds())
def test_matmul_shapes(a_shape, data, dtype, seed):
    """matmul's rank rules: 1-D x 1-D, 1-D x N-D, N-D x 1-D, batched with broadcast batch dims."""
    rng = np.random.default_rng(seed)
    k = a_shape[-1]
    nb = data.draw(st.integers(1, 4), label="b_ndim")
    b_shape = tuple(data.draw(st.sampled_from([1, s])) for s in a_shape[:-2][-(nb - 2):]) if nb > 2 else ()
    b_shape = b_shape + ((k, data.draw(st.integers(1, 4))) if nb >= 2 else (k,))
    a = Pair(rng.uniform(-1, 1, a_shape).astype(dtype), True, "transposed", rng)
    b = Pair(rng.uniform(-1, 1, b_shape).astype(dtype), True)
    got = both_or_neither(lambda: cnnkit.matmul(a.ck.detach(), b.ck.detach()),
                          lambda: torch.matmul(a.th.detach(), b.th.detach()))
    if got[0] is None:
        return
    check(cnnkit.matmul, torch.matmul, [a, b], dtype, rng, scale=4)
