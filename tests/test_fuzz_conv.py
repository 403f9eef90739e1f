"""Property-based tests: conv2d / conv_transpose2d / conv1d against torch, forward and backward."""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("torch")

from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import cnnkit.nn.functional as F  # noqa: E402
from fuzz_strategies import DTYPES, LAYOUTS, Pair, check, fuzz, seeds  # noqa: E402

# torch warns about this case; the warning is torch's, not a failure
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

pair2 = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def conv_case(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dil = draw(st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if mode == "same":
        stride = 1
        padding = "same"
    else:
        stride = draw(st.one_of(st.integers(1, 3), pair2))
        padding = "valid" if mode == "valid" else (
            draw(st.integers(0, 2)) if mode == "int" else draw(st.tuples(st.integers(0, 2), st.integers(0, 2))))
    d = dil if isinstance(dil, tuple) else (dil, dil)
    pad = (0, 0) if padding in ("same", "valid") else (padding if isinstance(padding, tuple) else (padding,) * 2)
    min_h = d[0] * (kh - 1) + 1 - 2 * pad[0]
    min_w = d[1] * (kw - 1) + 1 - 2 * pad[1]
    h = draw(st.integers(max(1, min_h), max(1, min_h) + 4))
    w = draw(st.integers(max(1, min_w), max(1, min_w) + 4))
    n = draw(st.integers(1, 2))
    return dict(n=n, cin=cin, cout=cout, h=h, w=w, kh=kh, kw=kw, stride=stride, padding=padding,
                dilation=dil, groups=groups)


@fuzz
@given(case=conv_case(), dtype=DTYPES, bias=st.booleans(), layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_conv2d(case, dtype, bias, layout, seed):
    rng = np.random.default_rng(seed)
    c = case
    x = Pair(rng.uniform(-1, 1, (c["n"], c["cin"], c["h"], c["w"])).astype(dtype), True, layout, rng)
    w = Pair(rng.uniform(-1, 1, (c["cout"], c["cin"] // c["groups"], c["kh"], c["kw"])).astype(dtype), True)
    pairs = [x, w]
    if bias:
        pairs.append(Pair(rng.uniform(-1, 1, (c["cout"],)).astype(dtype), True))
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    check(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), pairs, dtype, rng, scale=10)


@fuzz
@given(case=conv_case(), dtype=DTYPES, seed=seeds())
def test_conv2d_channels_last_input(case, dtype, seed):
    """An NHWC buffer permuted to NCHW (what a channels-last pipeline hands to conv)."""
    rng = np.random.default_rng(seed)
    c = case
    base = rng.uniform(-1, 1, (c["n"], c["h"], c["w"], c["cin"])).astype(dtype)
    x = Pair(base, True)
    w = Pair(rng.uniform(-1, 1, (c["cout"], c["cin"] // c["groups"], c["kh"], c["kw"])).astype(dtype), True)
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    check(lambda a, b: F.conv2d(a.permute(0, 3, 1, 2), b, **kw),
          lambda a, b: TF.conv2d(a.permute(0, 3, 1, 2), b, **kw), [x, w], dtype, rng, scale=10)


@st.composite
def convt_case(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    dil = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    # output_padding must be smaller than stride or dilation (torch's rule)
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dil))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    out_h = (h - 1) * stride[0] - 2 * padding[0] + dil[0] * (kh - 1) + op[0] + 1
    out_w = (w - 1) * stride[1] - 2 * padding[1] + dil[1] * (kw - 1) + op[1] + 1
    assume(out_h > 0 and out_w > 0)
    return dict(n=draw(st.integers(1, 2)), cin=cin, cout=cout, h=h, w=w, kh=kh, kw=kw, stride=stride,
                padding=padding, output_padding=op, dilation=dil, groups=groups)


@fuzz
@given(case=convt_case(), dtype=DTYPES, bias=st.booleans(), layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_conv_transpose2d(case, dtype, bias, layout, seed):
    rng = np.random.default_rng(seed)
    c = case
    x = Pair(rng.uniform(-1, 1, (c["n"], c["cin"], c["h"], c["w"])).astype(dtype), True, layout, rng)
    w = Pair(rng.uniform(-1, 1, (c["cin"], c["cout"] // c["groups"], c["kh"], c["kw"])).astype(dtype), True)
    pairs = [x, w]
    if bias:
        pairs.append(Pair(rng.uniform(-1, 1, (c["cout"],)).astype(dtype), True))
    kw = dict(stride=c["stride"], padding=c["padding"], output_padding=c["output_padding"],
              groups=c["groups"], dilation=c["dilation"])
    check(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw),
          pairs, dtype, rng, scale=10)


@fuzz
@given(n=st.integers(1, 2), cin=st.integers(1, 3), cout=st.integers(1, 3), k=st.integers(1, 3),
       stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       extra=st.integers(0, 5), dtype=DTYPES, seed=seeds())
def test_conv1d(n, cin, cout, k, stride, padding, dilation, extra, dtype, seed):
    rng = np.random.default_rng(seed)
    length = max(1, dilation * (k - 1) + 1 - 2 * padding) + extra
    x = Pair(rng.uniform(-1, 1, (n, cin, length)).astype(dtype), True)
    w = Pair(rng.uniform(-1, 1, (cout, cin, k)).astype(dtype), True)
    b = Pair(rng.uniform(-1, 1, (cout,)).astype(dtype), True)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    check(lambda *a: F.conv1d(*a, **kw), lambda *a: TF.conv1d(*a, **kw), [x, w, b], dtype, rng, scale=10)
