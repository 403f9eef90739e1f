"""Property-based tests: max/avg pooling (ceil_mode, padding up to k/2, windows in padding, count_include_pad,
divisor_override, return_indices, dilation) and adaptive pooling against torch, forward and backward."""
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
from fuzz_strategies import DTYPES, LAYOUTS, Pair, both_or_neither, check, distinct, fuzz, seeds  # noqa: E402


@st.composite
def window(draw, dilation=False):
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    # torch requires padding <= kernel/2; draw up to that, sometimes exactly at the bound
    pad = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    dil = draw(st.tuples(st.integers(1, 2), st.integers(1, 2))) if dilation else (1, 1)
    eff = [d * (kk - 1) + 1 for d, kk in zip(dil, k)]
    h = draw(st.integers(max(1, eff[0] - 2 * pad[0]), max(1, eff[0] - 2 * pad[0]) + 5))
    w = draw(st.integers(max(1, eff[1] - 2 * pad[1]), max(1, eff[1] - 2 * pad[1]) + 5))
    return dict(k=k, stride=stride, pad=pad, dil=dil, h=h, w=w, ceil=draw(st.booleans()),
                n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)))


@fuzz
@given(win=window(dilation=True), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), batched=st.booleans(),
       seed=seeds())
def test_max_pool2d(win, dtype, layout, batched, seed):
    rng = np.random.default_rng(seed)
    shape = (win["n"], win["c"], win["h"], win["w"]) if batched else (win["c"], win["h"], win["w"])
    x = Pair(distinct(rng, shape, dtype), True, layout, rng)
    kw = dict(kernel_size=win["k"], stride=win["stride"], padding=win["pad"], dilation=win["dil"],
              ceil_mode=win["ceil"], return_indices=True)
    ok, _ = both_or_neither(lambda: F.max_pool2d(x.ck.detach(), **kw), lambda: TF.max_pool2d(x.th.detach(), **kw))
    if ok is None:
        return
    check(lambda a: F.max_pool2d(a, **kw), lambda a: TF.max_pool2d(a, **kw), [x], dtype, rng, backward=False)

    # A dilated window wholly in the padding gives -inf; torch's CPU backward adds its gradient into the next
    # plane (an out-of-bounds index), cnnkit drops it (test_fuzz_regressions). Compare the gradients of the
    # finite outputs: where() sends nothing back to the -inf ones.
    def finite(lib, pool):
        def fn(a):
            out, idx = pool(a, **kw)
            return lib.where(lib.isinf(out), lib.zeros_like(out), out), idx
        return fn

    check(finite(cnnkit, F.max_pool2d), finite(torch, TF.max_pool2d), [x], dtype, rng)


@fuzz
@given(win=window(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), cip=st.booleans(),
       div=st.one_of(st.none(), st.integers(1, 9)), seed=seeds())
def test_avg_pool2d(win, dtype, layout, cip, div, seed):
    rng = np.random.default_rng(seed)
    x = Pair(rng.uniform(-2, 2, (win["n"], win["c"], win["h"], win["w"])).astype(dtype), True, layout, rng)
    kw = dict(kernel_size=win["k"], stride=win["stride"], padding=win["pad"], ceil_mode=win["ceil"],
              count_include_pad=cip, divisor_override=div)
    ok, _ = both_or_neither(lambda: F.avg_pool2d(x.ck.detach(), **kw), lambda: TF.avg_pool2d(x.th.detach(), **kw))
    if ok is None:
        return
    check(lambda a: F.avg_pool2d(a, **kw), lambda a: TF.avg_pool2d(a, **kw), [x], dtype, rng)


@fuzz
@given(k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 3), ceil=st.booleans(),
       h=st.integers(1, 8), w=st.integers(1, 8), seed=seeds())
def test_pool_invalid_windows_raise_like_torch(k, stride, pad, ceil, h, w, seed):
    """Padding past k/2, windows larger than the padded input: torch raises, so must cnnkit (cleanly)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (1, 1, h, w)).astype("float32")
    for ck_fn, th_fn in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        got = both_or_neither(lambda: ck_fn(cnnkit.from_numpy(x), k, stride, pad, ceil_mode=ceil),
                              lambda: th_fn(torch.from_numpy(x), k, stride, pad, ceil_mode=ceil))
        if got[0] is not None:
            np.testing.assert_allclose(got[0].numpy(), got[1].numpy(), rtol=1e-6, atol=1e-6)


@fuzz
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       oh=st.one_of(st.none(), st.integers(1, 6)), ow=st.one_of(st.none(), st.integers(1, 6)),
       dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_adaptive_pools(n, c, h, w, oh, ow, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    size = (oh, ow)
    x = Pair(distinct(rng, (n, c, h, w), dtype), True, layout, rng)
    check(lambda a: F.adaptive_avg_pool2d(a, size), lambda a: TF.adaptive_avg_pool2d(a, size), [x], dtype, rng)
    x = Pair(distinct(rng, (n, c, h, w), dtype), True, layout, rng)
    check(lambda a: F.adaptive_max_pool2d(a, size, return_indices=True),
          lambda a: TF.adaptive_max_pool2d(a, size, return_indices=True), [x], dtype, rng)
