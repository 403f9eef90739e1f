"""Bad input gets a clear Python exception naming the op and what was expected; nothing crashes.

The cases that would crash the interpreter if a check were missing (out-of-bounds memory access)
run in a subprocess, so a regression shows up as a failed test rather than a dead test run."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F


def x4(*shape):
    return ck.randn(*shape)


CASES = [
    ("conv2d wrong ndim", lambda: F.conv2d(x4(3, 8), x4(4, 3, 3, 3)), (ValueError, RuntimeError), "conv2d"),
    ("conv2d channel mismatch", lambda: F.conv2d(x4(1, 3, 8, 8), x4(4, 2, 3, 3)), (ValueError, RuntimeError), "channel"),
    ("conv2d kernel > padded input", lambda: F.conv2d(x4(1, 1, 2, 2), x4(1, 1, 5, 5)), (ValueError, RuntimeError), "kernel"),
    ("conv2d zero stride", lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=0), (ValueError, RuntimeError), "stride"),
    ("conv2d negative stride", lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), stride=-1), (ValueError, RuntimeError), "stride"),
    ("conv2d negative padding", lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3), padding=-1), (ValueError, RuntimeError), "padding"),
    ("conv2d dtype mismatch", lambda: F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 3, 3).double()), (TypeError, RuntimeError), "float"),
    ("linear shape mismatch", lambda: F.linear(x4(2, 3), x4(4, 5)), (ValueError, RuntimeError), "linear"),
    ("max_pool2d kernel > input", lambda: F.max_pool2d(x4(1, 1, 2, 2), 3), (ValueError, RuntimeError), ""),
    ("max_pool2d zero stride", lambda: F.max_pool2d(x4(1, 1, 4, 4), 2, stride=0), (ValueError, RuntimeError), "stride"),
    ("max_pool2d wrong ndim", lambda: F.max_pool2d(x4(4, 4), 2), (ValueError, RuntimeError), ""),
    ("avg_pool2d negative padding", lambda: F.avg_pool2d(x4(1, 1, 4, 4), 2, padding=-1), (ValueError, RuntimeError), "pad"),
    ("cross_entropy float labels", lambda: F.cross_entropy(x4(3, 4), ck.tensor([0.0, 1.0, 2.0])), (TypeError, RuntimeError, ValueError), ""),
    ("cross_entropy label out of range", lambda: F.cross_entropy(x4(3, 4), ck.tensor([0, 4, 1])), (IndexError, ValueError, RuntimeError), "out of bounds"),
    ("cross_entropy negative label", lambda: F.cross_entropy(x4(3, 4), ck.tensor([0, -3, 1])), (IndexError, ValueError, RuntimeError), "out of bounds"),
    ("cross_entropy batch mismatch", lambda: F.cross_entropy(x4(3, 4), ck.tensor([0, 1])), (ValueError, RuntimeError), ""),
    ("nll_loss label out of range", lambda: F.nll_loss(x4(3, 4), ck.tensor([0, 9, 1])), (IndexError, ValueError, RuntimeError), "out of bounds"),
    ("mismatched broadcast", lambda: ck.ones(2, 3) + ck.ones(4), (ValueError, RuntimeError), "broadcast"),
    ("bad view size", lambda: ck.ones(6).view(4, 2), RuntimeError, "invalid for input of size 6"),
    ("two inferred dims", lambda: ck.ones(6).view(-1, -1), RuntimeError, "only one dimension can be inferred"),
    ("matmul shape mismatch", lambda: ck.ones(2, 3) @ ck.ones(4, 2), (ValueError, RuntimeError), ""),
    ("cat dim mismatch", lambda: ck.cat([ck.ones(2, 3), ck.ones(2, 4)]), (ValueError, RuntimeError), "Sizes of tensors must match"),
    ("index out of range", lambda: ck.ones(3)[ck.tensor([3])], IndexError, "out of bounds"),
    ("huge allocation", lambda: ck.empty(1 << 40, 1 << 10), (MemoryError, RuntimeError), "memory"),
    ("negative size", lambda: ck.zeros(-1), (ValueError, RuntimeError), "negative"),
    ("integer division by zero", lambda: ck.tensor([1, 2]) // ck.tensor([1, 0]), (RuntimeError, ZeroDivisionError), ""),
]


@pytest.mark.parametrize("name,fn,exc,match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises(name, fn, exc, match):
    with pytest.raises(exc) as info:
        fn()
    if match:
        assert match.lower() in str(info.value).lower(), str(info.value)


def test_double_backward_raises():
    x = ck.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


CRASH_PRONE = r"""
import cnnkit as ck, cnnkit.nn.functional as F
from cnnkit import _C
cases = [
    lambda: _C.index_select(ck.ones(4)._t, 0, ck.tensor([1 << 40])._t),
    lambda: _C.gather(ck.ones(2, 3)._t, 1, ck.tensor([[0, 7], [1, 1]])._t),
    lambda: _C.index_add_(ck.zeros(3)._t, 0, ck.tensor([-9])._t, ck.ones(1)._t),
    lambda: F.cross_entropy(ck.randn(2, 3), ck.tensor([1 << 40, 0])),
    lambda: F.nll_loss(ck.randn(2, 3), ck.tensor([-(1 << 40), 0])),
    lambda: _C.max_pool2d_backward(ck.ones(1, 1, 2, 2)._t, ck.tensor([[[[0, 1], [99, 2]]]])._t, [1, 1, 4, 4]),
    lambda: ck.ones(3).as_strided if False else _C.Tensor.as_strided(ck.ones(3)._t, [10], [1], 0),
    lambda: F.conv2d(ck.randn(1, 2, 5, 5), ck.randn(4, 2, 3, 3), groups=3),
    lambda: ck.ones(2, 3)[:, 5:2],
]
for i, c in enumerate(cases):
    try:
        c()
        print(i, "no-error")
    except (ValueError, TypeError, IndexError, RuntimeError, MemoryError) as e:
        print(i, type(e).__name__, str(e).splitlines()[0][:100])
print("survived")
"""


def test_crash_prone_inputs_raise_in_subprocess():
    r = subprocess.run([sys.executable, "-c", CRASH_PRONE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "survived" in r.stdout
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if l[:1].isdigit())
    # Every case except the empty slice (valid in PyTorch) must have raised.
    for i in range(8):
        assert not lines[str(i)].startswith("no-error"), (i, lines[str(i)])
    assert lines["8"] == "no-error"
