"""Overflow-checked shape arithmetic (core/shape.h) and dim type checks.

The rule, PyTorch's: sizes multiply left to right as unsigned 64-bit integers, any overflow on the
way is an error and so is a numel above INT64_MAX ("numel: integer multiplication overflow"); a new
dense tensor whose byte count overflows or exceeds INT64_MAX is an error too ("Storage size
calculation overflowed"). Both are RuntimeError; a representable size the system cannot provide is
MemoryError. Views that need no memory (expand of one element) may be huge if their numel fits.
Each case is checked against an independent reference (Python integers) and, where torch is
installed, against torch.
"""
import math

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn.functional as F

I64_MAX = 2 ** 63 - 1


def torch_or_skip():
    return pytest.importorskip("torch")


def ref_numel(sizes):
    """torch's safe_compute_numel on Python integers: None when it overflows."""
    prod, overflow = 1, False
    for d in sizes:
        prod *= d
        if prod >= 2 ** 64:
            overflow, prod = True, prod % 2 ** 64
    return None if overflow or prod > I64_MAX else prod


def outcome(fn):
    """('ok', value) or (exception type name, message) of fn()."""
    try:
        return "ok", fn()
    except (RuntimeError, TypeError, ValueError, IndexError, MemoryError) as e:
        return type(e).__name__, str(e)


# ---- numel of views: expand to huge sizes -------------------------------------------------------
EXPAND_SIZES = [
    (2 ** 40,), (2 ** 62,), (I64_MAX,), (2 ** 31, 2 ** 31), (2 ** 31, 2 ** 32), (2 ** 32, 2 ** 32),
    (2 ** 40, 2 ** 40), (3, 2 ** 62), (2 ** 62, 2), (2 ** 62, 4), (2, 2 ** 62), (2 ** 61, 3), (1, 1, 2 ** 31, 2 ** 31),
    (7, 2 ** 60), (2 ** 21, 2 ** 21, 2 ** 21),
]


@pytest.mark.parametrize("sizes", EXPAND_SIZES, ids=str)
def test_expand_numel_exact_or_runtime_error(sizes):
    x = ck.ones(*([1] * len(sizes)))
    want = ref_numel(sizes)
    if want is None:
        with pytest.raises(RuntimeError, match="numel: integer multiplication overflow"):
            x.expand(*sizes)
    else:
        v = x.expand(*sizes)
        assert v.numel() == want == math.prod(sizes)
        assert v.shape == tuple(sizes)
        assert all(st == 0 for st, d in zip(v.stride(), sizes) if d != 1)  # broadcast dims: stride 0


def test_issue_examples():
    # ck.ones(1, 1).expand(2**40, 2**40).numel() used to return 0, and (3, 2**62) a negative number.
    with pytest.raises(RuntimeError, match="numel: integer multiplication overflow"):
        ck.ones(1, 1).expand(2 ** 40, 2 ** 40).numel()
    with pytest.raises(RuntimeError, match="numel: integer multiplication overflow"):
        ck.ones(3, 1).expand(3, 2 ** 62)
    with pytest.raises(RuntimeError, match=r"\[1099511627776, 1099511627776\]"):  # the message names the sizes
        ck.ones(1, 1).expand(2 ** 40, 2 ** 40)


@pytest.mark.parametrize("sizes", EXPAND_SIZES, ids=str)
def test_expand_matches_torch(sizes):
    torch = torch_or_skip()

    def run(m):
        return outcome(lambda: m.ones(*([1] * len(sizes))).expand(*sizes).numel())

    ours, theirs = run(ck), run(torch)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        assert ours[1] == theirs[1]


def test_huge_expanded_view_reduces_correctly():
    # A stride-0 view needs no memory; its reductions see every element (torch gives the same).
    n = 3 * 2 ** 20 + 7
    v = ck.full((1,), 0.5).expand(n)
    assert v.numel() == n
    assert float(v.sum()) == 0.5 * n
    assert float(v.mean()) == 0.5
    w = ck.ones(1, 1).expand(2 ** 11, 2 ** 11 + 3)
    assert float(w.sum()) == 2 ** 11 * (2 ** 11 + 3)
    assert w.sum(0).shape == (2 ** 11 + 3,) and float(w.sum(0)[5]) == 2 ** 11


def test_huge_view_of_one_element_keeps_numel():
    v = ck.ones(1).expand(2 ** 40)
    assert v.numel() == 2 ** 40 and len(v) == 2 ** 40
    assert float(v[2 ** 40 - 1]) == 1.0 and float(v[-1]) == 1.0
    assert v[2 ** 39:].numel() == 2 ** 39
    assert v[::2 ** 20].numel() == 2 ** 20
    assert v.view(2 ** 20, 2 ** 20).shape == (2 ** 20, 2 ** 20)


# ---- factories --------------------------------------------------------------------------------
# (sizes, dtype name, expected): "overflow" = RuntimeError (cannot exist), "oom" = MemoryError.
FACTORY_CASES = [
    ((2 ** 62,), "float32", "overflow"), ((I64_MAX,), "float32", "overflow"), ((2 ** 40, 2 ** 40), "float32", "overflow"),
    ((2 ** 32, 2 ** 32), "float32", "overflow"), ((2 ** 31, 2 ** 32), "float32", "overflow"),
    ((2 ** 61,), "float32", "overflow"), ((2 ** 62, 4, 0), "float32", "overflow"),
    ((2 ** 61,), "int8", "oom"), ((2 ** 60,), "float32", "oom"), ((2 ** 46,), "float32", "oom"),
    ((2 ** 62, 2, 0), "float32", "empty"), ((0, 2 ** 62, 4), "float32", "stride"), ((2 ** 60, 0), "float64", "empty"),
]


def ref_factory(sizes, itemsize):
    """'overflow' / 'stride' / 'empty' / 'oom' (anything non-empty this large) by Python integers."""
    n = ref_numel(sizes)
    if n is None or ref_numel(list(sizes) + [itemsize]) is None:
        return "overflow"
    # A contiguous stride (product of the later sizes, 0 and 1 counting as 1) past int64.
    if any(math.prod(max(d, 1) for d in sizes[i + 1:]) > I64_MAX for i in range(len(sizes))):
        return "stride"
    return "empty" if n == 0 else "oom"


@pytest.mark.parametrize("factory", ["empty", "zeros", "ones", "full", "rand", "randn"])
@pytest.mark.parametrize("sizes,dt,expected", FACTORY_CASES, ids=[f"{c[0]}-{c[1]}" for c in FACTORY_CASES])
def test_factory_sizes(factory, sizes, dt, expected):
    if factory in ("rand", "randn") and not dt.startswith("float"):
        pytest.skip("rand/randn make floating-point tensors")
    dtype = getattr(ck, dt)
    assert ref_factory(sizes, dtype.itemsize) == expected
    make = {
        "empty": lambda: ck.empty(*sizes, dtype=dtype), "zeros": lambda: ck.zeros(sizes, dtype=dtype),
        "ones": lambda: ck.ones(list(sizes), dtype=dtype), "full": lambda: ck.full(sizes, 2, dtype=dtype),
        "rand": lambda: ck.rand(*sizes, dtype=dtype), "randn": lambda: ck.randn(sizes, dtype=dtype),
    }[factory]
    if expected == "overflow":
        with pytest.raises(RuntimeError, match="Storage size calculation overflowed with sizes="):
            make()
    elif expected == "oom":
        with pytest.raises(MemoryError, match="out of memory"):
            make()
    elif expected == "stride":
        with pytest.raises(RuntimeError, match="Stride calculation overflowed"):
            make()
    else:
        t = make()
        assert t.shape == sizes and t.numel() == 0


@pytest.mark.parametrize("sizes,dt,expected", FACTORY_CASES, ids=[f"{c[0]}-{c[1]}" for c in FACTORY_CASES])
def test_factory_sizes_match_torch(sizes, dt, expected):
    torch = torch_or_skip()
    ours = outcome(lambda: ck.empty(*sizes, dtype=getattr(ck, dt)).shape)
    theirs = outcome(lambda: torch.empty(*sizes, dtype=getattr(torch, dt)).shape)
    # torch raises RuntimeError for both kinds ("DefaultCPUAllocator: can't allocate memory" for the
    # second); cnnkit raises MemoryError when the size exists but memory does not (docs/differences.md).
    if expected == "oom":
        assert (ours[0], theirs[0]) == ("MemoryError", "RuntimeError")
    else:
        assert ours[0] == theirs[0], (ours, theirs)
        if ours[0] == "ok":
            assert tuple(ours[1]) == tuple(theirs[1])
        else:
            assert theirs[1].split(" with")[0] in ours[1]


def test_size_argument_forms():
    big = [2 ** 62, 4]
    for args in ([big], [tuple(big)], [ck.Size(big)], [np.int64(2 ** 62), np.int64(4)], big):
        with pytest.raises(RuntimeError, match="Storage size calculation overflowed"):
            ck.empty(*args)
    assert ck.empty(np.int64(2), np.int32(3)).shape == (2, 3)
    assert ck.ones(1).expand(np.int64(2 ** 40)).numel() == 2 ** 40
    assert ck.ones(1, 1).expand(ck.Size([2 ** 31, 2 ** 31])).numel() == 2 ** 62


@pytest.mark.parametrize("make", [
    lambda: ck.empty(2 ** 63), lambda: ck.zeros(2 ** 64), lambda: ck.ones(1).expand(2 ** 63),
    lambda: ck.ones(4).view(2 ** 63, -1), lambda: ck.empty(-(2 ** 63) - 1),
], ids=["empty", "zeros", "expand", "view", "negative"])
def test_sizes_outside_int64_are_type_errors(make):
    with pytest.raises(TypeError, match="int64"):  # torch: TypeError "Overflow when unpacking long long"
        make()


@pytest.mark.parametrize("make", [
    lambda m: m.empty(-1), lambda m: m.zeros(3, -2), lambda m: m.ones(-5, 0), lambda m: m.full((2, -1), 1.0),
    lambda m: m.empty(-(2 ** 63)),
], ids=["empty", "zeros", "ones", "full", "int64-min"])
def test_negative_sizes_are_runtime_errors(make):
    with pytest.raises(RuntimeError, match="negative dimension"):
        make(ck)
    try:
        torch = __import__("torch")
    except ImportError:
        return
    with pytest.raises(RuntimeError):
        make(torch)


def test_arange_sizes():
    with pytest.raises(RuntimeError, match="Storage size calculation overflowed"):
        ck.arange(0, 2 ** 62)
    with pytest.raises(RuntimeError, match="invalid size"):
        ck.arange(0.0, 1e30, 1e-10)
    with pytest.raises(MemoryError, match="out of memory"):
        ck.arange(0, 2 ** 58)
    assert ck.arange(2 ** 62, 2 ** 62 + 3).tolist() == [2 ** 62, 2 ** 62 + 1, 2 ** 62 + 2]


def test_randint_randperm_sizes():
    with pytest.raises(RuntimeError, match="Storage size calculation overflowed"):
        ck.randint(0, 5, (2 ** 40, 2 ** 40))
    with pytest.raises(RuntimeError, match="negative dimension"):
        ck.randint(0, 5, (3, -1))
    with pytest.raises(RuntimeError, match="Storage size calculation overflowed"):
        ck.randperm(2 ** 62)


def test_size_numel_checked():
    assert ck.Size([2 ** 31, 2 ** 31]).numel() == 2 ** 62
    assert ck.Size([2 ** 62, 2, 0]).numel() == 0
    assert ck.Size([]).numel() == 1
    # torch.Size([2**40, 2**40]).numel() wraps to 0; cnnkit refuses (docs/differences.md).
    with pytest.raises(RuntimeError, match="numel: integer multiplication overflow"):
        ck.Size([2 ** 40, 2 ** 40]).numel()


# ---- view / reshape ---------------------------------------------------------------------------
VIEW_CASES = [
    (4, (2 ** 62, -1)), (4, (2 ** 32, 2 ** 32)), (0, (2 ** 40, 2 ** 40, 0)), (0, (2 ** 40, 2 ** 40, -1)),
    (0, (2 ** 62, 4, 0)), (0, (0, 2 ** 62, 4)), (0, (2 ** 62, 2, 0)), (6, (-1, 2 ** 63 - 1)), (0, (-1, 0)),
    (6, (3, -1)),
]


@pytest.mark.parametrize("n,shape", VIEW_CASES, ids=str)
@pytest.mark.parametrize("op", ["view", "reshape"])
def test_view_shapes(op, n, shape):
    run = lambda m: outcome(lambda: tuple(getattr(m.ones(n), op)(*shape).shape))  # noqa: E731
    ours = run(ck)
    known = [d for d in shape if d != -1]
    if -1 not in shape:
        # torch's order: the wrapped product is compared with numel first, then numel is checked.
        want, wrapped = ref_numel(shape), math.prod(shape) % 2 ** 64
        if wrapped != n:
            assert ours[0] == "RuntimeError" and "is invalid for input of size" in ours[1], ours
        elif want is None:
            assert ours[0] == "RuntimeError" and "numel: integer multiplication overflow" in ours[1], ours
        else:
            assert ours[0] == "ok", ours
    else:
        k = ref_numel(known)
        ok = k is not None and k != 0 and n % k == 0
        assert (ours[0] == "ok") == ok, ours
        if not ok:
            assert ours[0] == "RuntimeError"
    try:
        torch = __import__("torch")
    except ImportError:
        return
    theirs = run(torch)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        assert ours[1] == theirs[1]
    else:
        assert theirs[1][:30] in ours[1], (ours, theirs)


def test_flatten_of_huge_view():
    with pytest.raises(RuntimeError, match="numel: integer multiplication overflow"):
        ck.ones(1, 1).expand(2 ** 40, 2 ** 40).flatten()
    assert ck.ones(1, 1).expand(2 ** 20, 2 ** 20).reshape(-1).numel() == 2 ** 40


# ---- slicing with huge steps ------------------------------------------------------------------
@pytest.mark.parametrize("step", [2 ** 31, 2 ** 62, 2 ** 63 - 1, 7])
def test_slice_with_huge_step(step):
    x = ck.arange(10)
    ref = list(range(10))
    for start in (0, 1, 9, -1):
        got = x[start::step]
        assert got.tolist() == ref[start::step]
    assert ck.ones(1).expand(2 ** 40)[::step].numel() == len(range(0, 2 ** 40, step))


# ---- window ops: output sizes -----------------------------------------------------------------
def ref_window(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@pytest.mark.parametrize("kw", [dict(padding=2 ** 62), dict(padding=2 ** 63 - 1), dict(dilation=2 ** 62)],
                         ids=["pad2^62", "padmax", "dil2^62"])
def test_conv2d_huge_window_arguments_raise(kw):
    x, w = ck.ones(1, 1, 4, 4), ck.ones(1, 1, 3, 3)
    with pytest.raises(RuntimeError, match="conv2d: integer"):
        F.conv2d(x, w, **kw)


def test_conv2d_extreme_but_valid_arguments():
    x = ck.rand(1, 1, 4, 4)
    # A 1x1 kernel with a huge dilation and a huge stride: exact sizes (torch gives the same).
    y = F.conv2d(x, ck.ones(1, 1, 1, 1), dilation=2 ** 62)
    assert y.shape == (1, 1, 4, 4) and np.allclose(y.numpy(), x.numpy())
    y = F.conv2d(x, ck.ones(1, 1, 1, 1), stride=2 ** 63 - 1)
    assert y.shape == (1, 1, 1, 1) and float(y) == pytest.approx(float(x[0, 0, 0, 0]))
    assert ref_window(4, 1, 2 ** 63 - 1, 0, 1) == 1


@pytest.mark.parametrize("fn", [
    lambda: F.max_pool2d(ck.ones(1, 1, 4, 4), 2 ** 62), lambda: F.avg_pool2d(ck.ones(1, 1, 4, 4), 2, padding=2 ** 62),
    lambda: F.max_pool2d(ck.ones(1, 1, 4, 4), 3, stride=1, padding=1, dilation=2 ** 62),
    lambda: F.max_pool2d(ck.ones(1, 1, 4, 4), 2 ** 63 - 1, padding=2 ** 62),
], ids=["kernel", "avg-pad", "dilation", "kernel+pad"])
def test_pool_huge_window_arguments_raise_cleanly(fn):
    # torch raises RuntimeError for these; cnnkit keeps its ValueError for a bad window argument and
    # raises RuntimeError where the arithmetic itself overflows. Never a wrapped, plausible size.
    with pytest.raises((ValueError, RuntimeError)) as info:
        fn()
    assert "-9223372036854775" not in str(info.value)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("stride", [1, 2, 3, 2 ** 62, 2 ** 63 - 1])
def test_pool_output_size_with_huge_stride(stride, ceil_mode):
    x = ck.rand(1, 1, 5, 5)
    y = F.max_pool2d(x, 2, stride=stride, ceil_mode=ceil_mode)
    n = 5 - 2
    want = (-(-n // stride) if ceil_mode else n // stride) + 1
    if ceil_mode and (want - 1) * stride >= 5:
        want -= 1
    assert y.shape == (1, 1, want, want)
    try:
        torch = __import__("torch")
    except ImportError:
        return
    if stride < 2 ** 31:  # torch's pooling takes int strides
        assert tuple(torch.nn.functional.max_pool2d(torch.from_numpy(x.numpy()), 2, stride=stride,
                                                    ceil_mode=ceil_mode).shape) == y.shape


# ---- dim arguments: float/bool/str raise TypeError, ints of any kind work ------------------------
def _x():
    return ck.arange(24, dtype=ck.float32).reshape(2, 3, 4)


DIM_OPS = {
    "softmax": lambda x, d: F.softmax(x, dim=d), "log_softmax": lambda x, d: F.log_softmax(x, dim=d),
    "Tensor.softmax": lambda x, d: x.softmax(d), "nn.Softmax": lambda x, d: ck.nn.Softmax(dim=d)(x),
    "sum": lambda x, d: x.sum(d), "sum_kw": lambda x, d: x.sum(dim=d), "mean": lambda x, d: x.mean(d),
    "max": lambda x, d: x.max(d)[0], "min": lambda x, d: x.min(dim=d)[0], "argmax": lambda x, d: x.argmax(d),
    "argmin": lambda x, d: x.argmin(d), "amax": lambda x, d: x.amax(d), "prod": lambda x, d: x.prod(d),
    "std": lambda x, d: x.std(d), "var": lambda x, d: x.var(d), "logsumexp": lambda x, d: x.logsumexp(d),
    "all": lambda x, d: x.all(d), "any": lambda x, d: x.any(d),
    "cat": lambda x, d: ck.cat([x, x], d), "stack": lambda x, d: ck.stack([x, x], d),
    "squeeze": lambda x, d: x.squeeze(d), "unsqueeze": lambda x, d: x.unsqueeze(d),
    "flatten": lambda x, d: x.flatten(d), "transpose": lambda x, d: x.transpose(d, 0),
    "cumsum": lambda x, d: x.cumsum(d), "cumprod": lambda x, d: x.cumprod(d), "sort": lambda x, d: x.sort(d)[0],
    "argsort": lambda x, d: x.argsort(d), "topk": lambda x, d: x.topk(1, d)[0],
    "gather": lambda x, d: x.gather(d, ck.zeros(2, 3, 4, dtype=ck.int64)),
    "index_select": lambda x, d: x.index_select(d, ck.tensor([0])), "norm": lambda x, d: x.norm(dim=d),
    "size": lambda x, d: x.size(d), "narrow": lambda x, d: x.narrow(d, 0, 1), "select": lambda x, d: x.select(d, 0),
    "chunk": lambda x, d: x.chunk(2, d)[0], "split": lambda x, d: x.split(1, d)[0], "unbind": lambda x, d: x.unbind(d)[0],
    "flip": lambda x, d: x.flip(d), "roll": lambda x, d: x.roll(1, d), "median": lambda x, d: x.median(d)[0],
    "kthvalue": lambda x, d: x.kthvalue(1, d)[0], "unflatten": lambda x, d: x.unflatten(d, (3, 1)),
    "nn.Flatten": lambda x, d: ck.nn.Flatten(d)(x), "repeat_interleave": lambda x, d: x.repeat_interleave(2, dim=d),
    "scatter": lambda x, d: x.scatter(d, ck.zeros(2, 3, 4, dtype=ck.int64), x),
    "count_nonzero": lambda x, d: x.count_nonzero(d),
}
BAD_DIMS = {"float": 1.0, "bool": True, "str": "1", "np.float64": np.float64(1.0), "float-tensor": None}


@pytest.mark.parametrize("bad", list(BAD_DIMS), ids=list(BAD_DIMS))
@pytest.mark.parametrize("op", list(DIM_OPS), ids=list(DIM_OPS))
def test_dim_of_wrong_type_raises_type_error(op, bad):
    d = BAD_DIMS[bad] if bad != "float-tensor" else ck.tensor(1.0)
    if op in ("std", "var") and bad == "bool":
        pytest.skip("std(True)/var(True) is torch's unbiased overload, tested below")
    if op in ("max", "min") and bad == "float-tensor":
        pytest.skip("x.max(tensor) is torch's elementwise maximum")
    with pytest.raises(TypeError):
        DIM_OPS[op](_x(), d)


@pytest.mark.parametrize("op", list(DIM_OPS), ids=list(DIM_OPS))
def test_dim_of_integer_kinds_is_accepted(op):
    ref = DIM_OPS[op](_x(), 1)
    kinds = [np.int64(1), np.int32(1), -3 if op in ("unsqueeze", "stack") else -2]
    if op not in ("max", "min"):  # x.max(tensor) is torch's elementwise maximum, not a reduction
        kinds.append(ck.tensor(1))
    for d in kinds:
        got = DIM_OPS[op](_x(), d)
        if isinstance(ref, int):
            assert got == ref
        else:
            assert got.shape == ref.shape and np.array_equal(got.numpy(), ref.numpy()), (op, d)


def test_log_softmax_float_dim_message():
    with pytest.raises(TypeError, match=r"log_softmax\(\): argument 'dim' must be int, not float"):
        F.log_softmax(ck.ones(2, 3), dim=1.0)


def test_var_bool_is_unbiased_overload():
    x = ck.tensor([1.0, 2.0, 4.0])
    assert float(x.var(True)) == pytest.approx(np.var([1, 2, 4], ddof=1))
    assert float(x.var(False)) == pytest.approx(np.var([1, 2, 4]))


@pytest.mark.parametrize("op", list(DIM_OPS), ids=list(DIM_OPS))
def test_dim_type_errors_match_torch(op):
    torch = torch_or_skip()
    tx = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    tmod = {"F": torch.nn.functional}
    src = DIM_OPS[op]
    # The same lambda on torch objects: swap the module globals it closes over.
    g = dict(src.__globals__, ck=torch, F=tmod["F"], np=np)
    fn = type(src)(src.__code__, g)
    for name, d in BAD_DIMS.items():
        if name == "float-tensor" or (op in ("std", "var") and name == "bool"):
            continue
        with pytest.raises(TypeError):
            fn(tx, d)
    got = fn(tx, 1)
    ours = src(_x(), 1)
    if isinstance(ours, int):
        assert got == ours
    else:
        assert np.allclose(ours.numpy().astype(np.float64), got.numpy().astype(np.float64))
