"""dtypes int32, int16, int8, float16, bfloat16: conversions (bit-exact against NumPy and torch),
type promotion, arithmetic, reductions, indexing, printing, NumPy interop, save/load, modules.

The casts (test_cast_every_pair_matches_torch) run on each device (the `device` fixture), bit for bit against
torch on both, plus host <-> device copies with conversion on CUDA. The [cuda]-only tests (cuda_only: their
CPU side is the rest of this file) check fills and round trips of every dtype and the integer / half kernels
on the device against torch, bit for bit as on the CPU (integer ops are exact; half ops compute in float32 and
round once, and each op's float32 result rounds to the same half on both devices).
"""
import io
import itertools
import pickle

import numpy as np
import pytest

import cnnkit
import cnnkit.nn as nn
import cnnkit.nn.functional as F
from cuda_twin_helpers import cuda_extras, cuda_only

torch = pytest.importorskip("torch")

NAMES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]
DT = {n: getattr(cnnkit, n) for n in NAMES}
TDT = {n: getattr(torch, n) for n in NAMES}
INTS = ["int64", "int32", "int16", "int8", "uint8"]
HALF = ["float16", "bfloat16"]


def ck_from_torch(t):
    """A cnnkit tensor with the values (and bits) of torch tensor t."""
    if t.dtype == torch.bfloat16:
        bits = t.contiguous().view(torch.int16).numpy().copy()
        return cnnkit.from_numpy(bits).view(cnnkit.bfloat16)
    return cnnkit.from_numpy(t.contiguous().numpy().copy())


def as_torch(x):
    """torch tensor with the values of cnnkit tensor x (bit-exact)."""
    x = x.detach().cpu()
    if x.dtype is cnnkit.bfloat16:
        return torch.from_numpy(x.view(cnnkit.int16).numpy().copy()).view(torch.bfloat16)
    return torch.from_numpy(x.numpy().copy())


def assert_same(ours, ref):
    """Same dtype name, shape and values (NaN where NaN); half types compared bit for bit."""
    assert ours.dtype.name == str(ref.dtype).replace("torch.", ""), (ours.dtype, ref.dtype)
    assert tuple(ours.shape) == tuple(ref.shape)
    a, b = as_torch(ours), ref
    if a.dtype in (torch.float16, torch.bfloat16):
        nan = torch.isnan(b)
        assert torch.equal(torch.isnan(a), nan)
        assert torch.equal(a[~nan].view(torch.int16), b[~nan].view(torch.int16))
    elif a.dtype.is_floating_point:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6, equal_nan=True)
    else:
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------------------------
def random_float_bits(n, seed):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2 ** 32, size=n, dtype=np.uint64).astype(np.uint32)
    # Concentrate many samples near half's range (exponents 100..145) to hit subnormals, ties and overflow.
    near = rng.integers(0, 2 ** 23, size=n, dtype=np.uint32) | (rng.integers(100, 146, size=n).astype(np.uint32) << 23)
    near |= (rng.integers(0, 2, size=n).astype(np.uint32) << 31)
    special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
                        0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x38800000, 0x387FFFFF, 0x33800000,
                        0x33000000, 0x33000001, 0x337FFFFF, 0x32FFFFFF, 0x3F801000, 0x3F803000, 0x3F802000,
                        0x3F808000, 0x3F818000, 0x7F7FFFFF, 0x7F7F8000, 0x00000001, 0x007FFFFF], dtype=np.uint32)
    return np.concatenate([bits, near, special]).view(np.float32)


def test_float32_to_float16_bit_exact_against_numpy():
    x = random_float_bits(60000, 0)
    ours = cnnkit.from_numpy(x).half().view(cnnkit.int16).numpy()
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    nan = np.isnan(x)
    np.testing.assert_array_equal(ours[~nan], ref.view(np.int16)[~nan])
    o16 = ours.view(np.float16)
    assert np.isnan(o16[nan]).all()
    np.testing.assert_array_equal(np.signbit(o16[nan]), np.signbit(x[nan]))


def test_float16_to_float32_exhaustive_against_numpy():
    h = np.arange(2 ** 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    ours = cnnkit.from_numpy(h.copy()).float().numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), h.astype(np.float32).view(np.uint32))


def test_float32_to_bfloat16_bit_exact_against_torch():
    x = random_float_bits(60000, 1)
    ours = cnnkit.from_numpy(x).bfloat16().view(cnnkit.int16).numpy()
    ref = torch.from_numpy(x).bfloat16().view(torch.int16).numpy()
    nan = np.isnan(x)
    np.testing.assert_array_equal(ours[~nan], ref[~nan])
    back = cnnkit.from_numpy(ours.copy()).view(cnnkit.bfloat16).float().numpy()
    assert np.isnan(back[nan]).all()


def test_bfloat16_to_float32_exhaustive():
    bits = np.arange(2 ** 16, dtype=np.uint32).astype(np.uint16).view(np.int16)
    ours = cnnkit.from_numpy(bits.copy()).view(cnnkit.bfloat16).float().numpy()
    ref = torch.from_numpy(bits.copy()).view(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), ref.view(np.uint32))
    np.testing.assert_array_equal(ours.view(np.uint32), bits.view(np.uint16).astype(np.uint32) << 16)


def test_float64_to_half_rounds_through_float32_like_torch():
    v = np.array([1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -8 + 2 ** -40, 65519.999, 1e-300, -3.3e38, 3.5e38], np.float64)
    for n in HALF:
        assert_same(cnnkit.from_numpy(v).to(DT[n]), torch.from_numpy(v).to(TDT[n]))
    assert cnnkit.tensor([1 + 2 ** -11 + 2 ** -40], dtype=cnnkit.float16).item() == 1.0  # torch's answer


def source_values(src):
    rng = np.random.default_rng(7)
    if src == "bool":
        return torch.from_numpy(rng.integers(0, 2, 37).astype(bool))
    if src == "uint8":
        return torch.from_numpy(rng.integers(0, 256, 37).astype(np.uint8))
    if src in INTS:
        lo, hi = {"int8": (-128, 128), "int16": (-32768, 32768)}.get(src, (-100000, 100000))
        return torch.from_numpy(rng.integers(lo, hi, 37)).to(TDT[src])
    v = np.concatenate([rng.uniform(-120, 120, 30), [2.5, -2.5, 0.0, -0.0, 127.9, -128.9, 0.1]])
    return torch.from_numpy(v).to(TDT[src])


@pytest.mark.parametrize("src,dst", list(itertools.product(NAMES, NAMES)))
def test_cast_every_pair_matches_torch(src, dst, device):
    t = source_values(src)
    if t.dtype.is_floating_point and dst == "uint8":
        t = t.abs()  # negative float -> uint8 is undefined in C++ (and differs between torch's paths)
    if dst in INTS and src in INTS + ["bool"]:
        pass  # integer -> integer wraps modulo 2^n in both
    elif dst in ("int8", "int16") and t.dtype.is_floating_point:
        t = t.clamp(-100, 100)  # in range: float -> narrow int truncates toward zero
    ours = ck_from_torch(t).to(device)
    out = ours.to(DT[dst])
    assert out.device == ours.device
    assert_same(out, t.to(TDT[dst]))
    # the strided path (non-contiguous source) and broadcasting copy_ into a prepared destination
    assert_same(ck_from_torch(t.reshape(1, -1).expand(3, -1)).to(device).t().to(DT[dst]),
                t.reshape(1, -1).expand(3, -1).t().to(TDT[dst]))
    dst_t = cnnkit.zeros(2, t.numel(), dtype=DT[dst], device=device)
    dst_t.copy_(ours)
    assert_same(dst_t, t.to(TDT[dst]).expand(2, -1))
    if cuda_extras(device):
        # host -> device and device -> host with conversion; broadcast into a strided device destination
        assert_same(cnnkit.zeros(t.numel(), dtype=DT[dst], device=device).copy_(ck_from_torch(t)), t.to(TDT[dst]))
        assert_same(cnnkit.zeros(t.numel(), dtype=DT[dst]).copy_(ours), t.to(TDT[dst]))
        wide = cnnkit.zeros(3, 2 * t.numel(), dtype=DT[dst], device=device)
        wide[:, ::2].copy_(ours)
        want = torch.zeros(3, 2 * t.numel(), dtype=TDT[dst])
        want[:, ::2].copy_(t)
        assert_same(wide, want)


@cuda_only
@pytest.mark.parametrize("n", NAMES)
def test_fill_and_round_trip_on_device(n, device):
    """[cuda] only: every dtype to the device and back unchanged, fills, item and repr on the device."""
    t = source_values(n)
    x = ck_from_torch(t)
    g = x.to(device)
    assert g.dtype is DT[n]
    assert_same(g, t)
    for v in [0, 1, 7]:
        assert_same(cnnkit.full((4, 3), v, dtype=DT[n], device=device), torch.full((4, 3), v, dtype=TDT[n]))
    assert g[5].item() == t[5].item()
    assert repr(g).replace(f", device='{g.device}'", "") == repr(x)


@cuda_only
@pytest.mark.parametrize("n", ["int32", "int16", "int8", "float16", "bfloat16"])
def test_integer_and_half_kernels_on_device(n, device):
    """[cuda] only: the elementwise, reduction, where and index kernels of the narrow dtypes on the device,
    against torch (which the CPU tests above match bit for bit)."""
    ta, tb = operands(n, 1), operands(n, 2)
    a, b = ck_from_torch(ta).to(device), ck_from_torch(tb).to(device)
    if n in HALF:
        cases = [(a + b, ta + tb), (a * 0.3, ta * 0.3), (a.exp(), ta.exp()), (a.sum(0), ta.sum(0)),
                 (a.relu(), ta.relu()), (a.max(1)[0], ta.max(1)[0])]
    else:
        cases = [(a + b, ta + tb), (a * 3, ta * 3), (a < b, ta < tb), (-a, -ta), (a.sum(1), ta.sum(1)),
                 (a.max(0)[1], ta.max(0)[1]), (a.argmax(), ta.argmax()),
                 (cnnkit.where(a > 0, a, b), torch.where(ta > 0, ta, tb))]
        i = torch.tensor([0, 2, 1, 2], dtype=torch.int32)
        cases.append((a.index_select(0, ck_from_torch(i).to(device)), ta.index_select(0, i)))
    for ours, ref in cases:
        assert ours.device == a.device
        assert_same(ours, ref)


def test_conversion_methods_and_type_names():
    x = cnnkit.tensor([1.7, -2.2, 3.0])
    cases = [("int", "int32", "IntTensor"), ("short", "int16", "ShortTensor"), ("char", "int8", "CharTensor"),
             ("half", "float16", "HalfTensor"), ("bfloat16", "bfloat16", "BFloat16Tensor"),
             ("long", "int64", "LongTensor"), ("byte", "uint8", "ByteTensor"), ("bool", "bool", "BoolTensor"),
             ("float", "float32", "FloatTensor"), ("double", "float64", "DoubleTensor")]
    tx = torch.tensor([1.7, -2.2, 3.0])
    for meth, name, tname in cases:
        y = getattr(x, meth)()
        assert y.dtype is DT[name]
        assert y.type() == "cnnkit." + tname
        assert getattr(tx, meth)().type() == "torch." + tname
        assert x.type("torch." + tname).dtype is DT[name]
        assert x.type(DT[name]).dtype is DT[name]
        assert y.element_size() == DT[name].itemsize == TDT[name].itemsize
        assert y.is_floating_point() == DT[name].is_floating_point == TDT[name].is_floating_point
        assert DT[name].is_signed == TDT[name].is_signed == y.is_signed() == getattr(tx, meth)().is_signed()
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.NoSuchTensor")
    assert x.half().to(cnnkit.half) is not None and x.to(cnnkit.int32).dtype is cnnkit.int32
    # to(dtype) on an integer tensor to a half type
    assert_same(cnnkit.tensor([1, 2, 70000]).to(cnnkit.float16), torch.tensor([1, 2, 70000]).to(torch.float16))


def test_aliases():
    assert cnnkit.int is cnnkit.int32 and cnnkit.short is cnnkit.int16 and cnnkit.half is cnnkit.float16
    assert cnnkit.float is cnnkit.float32 and cnnkit.double is cnnkit.float64 and cnnkit.long is cnnkit.int64
    assert repr(cnnkit.int8) == "cnnkit.int8" and repr(cnnkit.bfloat16) == "cnnkit.bfloat16"
    assert pickle.loads(pickle.dumps(cnnkit.bfloat16)) is cnnkit.bfloat16
    cnnkit.set_num_threads(cnnkit.get_num_threads())  # still works with cnnkit.int the dtype


def test_finfo_iinfo_match_torch():
    for n in ["float16", "bfloat16", "float32", "float64"]:
        a, b = cnnkit.finfo(DT[n]), torch.finfo(TDT[n])
        for attr in ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"]:
            assert getattr(a, attr) == getattr(b, attr), (n, attr)
        assert a.dtype == b.dtype
        assert repr(a) == repr(b)
    assert cnnkit.finfo().eps == torch.finfo().eps
    for n in ["int8", "int16", "int32", "int64", "uint8"]:
        a, b = cnnkit.iinfo(DT[n]), torch.iinfo(TDT[n])
        assert (a.bits, a.min, a.max, a.dtype) == (b.bits, b.min, b.max, b.dtype)
        assert repr(a) == repr(b)
    with pytest.raises(TypeError):
        cnnkit.finfo(cnnkit.int32)
    with pytest.raises(TypeError):
        cnnkit.iinfo(cnnkit.float16)


# ---------------------------------------------------------------------------------------------
# type promotion
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_matches_torch(a, b):
    assert cnnkit.promote_types(DT[a], DT[b]).name == str(torch.promote_types(TDT[a], TDT[b])).replace("torch.", "")


SCALARS = [True, 3, -2, 2.5]


@pytest.mark.parametrize("a", NAMES)
def test_result_type_matches_torch(a):
    for b in NAMES:
        for sa, sb in [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())]:
            x, y = cnnkit.zeros(sa, dtype=DT[a]), cnnkit.zeros(sb, dtype=DT[b])
            tx, ty = torch.zeros(sa, dtype=TDT[a]), torch.zeros(sb, dtype=TDT[b])
            assert cnnkit.result_type(x, y).name == str(torch.result_type(tx, ty))[6:], (a, b, sa, sb)
    for s in SCALARS:
        for shape in [(2,), ()]:
            x, tx = cnnkit.zeros(shape, dtype=DT[a]), torch.zeros(shape, dtype=TDT[a])
            assert cnnkit.result_type(x, s).name == str(torch.result_type(tx, s))[6:], (a, s, shape)


# ---------------------------------------------------------------------------------------------
# arithmetic, comparisons, reductions, indexing
# ---------------------------------------------------------------------------------------------
def operands(n, seed, positive=False):
    rng = np.random.default_rng(seed)
    if n in INTS:
        lo, hi = (1, 100) if positive or n == "uint8" else (-100, 100)
        v = rng.integers(lo, hi, (3, 5))
        if positive:
            v[v == 0] = 1
        return torch.from_numpy(v).to(TDT[n])
    v = rng.uniform(0.5 if positive else -4, 4, (3, 5))
    return torch.from_numpy(v).to(TDT[n])


BIN = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "div": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
       "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b),
       "eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "ge": lambda a, b: a >= b}


@pytest.mark.parametrize("n", INTS[1:] + HALF)
@pytest.mark.parametrize("op", sorted(BIN))
def test_binary_ops_match_torch(n, op):
    ta, tb = operands(n, 1), operands(n, 2, positive=op in ("div", "floordiv", "mod"))
    if n in HALF and op in ("floordiv", "mod"):
        tb = tb + 0.25  # keep exact ties away from integers
    a, b = ck_from_torch(ta), ck_from_torch(tb)
    f = BIN[op]
    assert_same(f(a, b), f(ta, tb))
    assert_same(f(a, b[0]), f(ta, tb[0]))       # broadcasting
    if op in ("maximum", "minimum"):
        return  # torch.maximum takes tensors only
    assert_same(f(a, 3), f(ta, 3))              # Python int keeps the tensor's dtype
    if op not in ("floordiv", "mod"):
        assert_same(f(a, 2.5), f(ta, 2.5))      # Python float: floating kind (default dtype or half)


@pytest.mark.parametrize("pair", [("int8", "uint8"), ("int32", "int64"), ("int32", "float16"), ("float16", "bfloat16"),
                                  ("int16", "bfloat16"), ("uint8", "int16"), ("bool", "int8"), ("float16", "float64")])
def test_mixed_dtype_arithmetic(pair):
    ta, tb = operands(pair[0], 3) if pair[0] != "bool" else torch.tensor([True, False, True]), operands(pair[1], 4)
    if pair[0] == "bool":
        tb = tb[0, :3]
    a, b = ck_from_torch(ta), ck_from_torch(tb)
    assert_same(a + b, ta + tb)
    assert_same(b * a, tb * ta)
    assert_same(a < b, ta < tb)


def test_integer_overflow_wraps_like_torch():
    for n in ["int8", "int16", "int32"]:
        info = torch.iinfo(TDT[n])
        t = torch.tensor([info.max, info.min, 100], dtype=TDT[n])
        x = ck_from_torch(t)
        assert_same(x + 1, t + 1)
        assert_same(x * 3, t * 3)
        assert_same(-x, -t)
        assert_same(x.abs(), t.abs())


@pytest.mark.parametrize("n", INTS[1:4] + HALF)
def test_unary_and_inplace_match_torch(n):
    t = operands(n, 5)
    x = ck_from_torch(t)
    for f in [lambda v: -v, lambda v: v.abs(), lambda v: v.sign(), lambda v: v.square(), lambda v: v ** 2,
              lambda v: v.clamp(-2, 3), lambda v: v.float().exp(), lambda v: v.sqrt() if n in HALF else v]:
        assert_same(f(x), f(t))
    if n in HALF:
        for f in [lambda v: v.exp(), lambda v: v.sin(), lambda v: v.relu(), lambda v: v.sigmoid(), lambda v: v.tanh(),
                  lambda v: v.softmax(-1), lambda v: v.round(), lambda v: v.floor()]:
            assert_same(f(x), f(t))
    y, ty = x.clone(), t.clone()
    y += 2
    ty += 2
    y *= x
    ty *= t
    assert_same(y, ty)
    y.masked_fill_(x > 0, 7)
    ty.masked_fill_(t > 0, 7)
    assert_same(y, ty)
    # in place: computed in the promoted dtype, cast into self when torch.can_cast allows it
    for other in [cnnkit.ones(3, 5, dtype=cnnkit.float64) / 3, cnnkit.ones(5, dtype=cnnkit.int64) * (2 ** 33 + 1), 1.5]:
        tother = as_torch(other) if isinstance(other, cnnkit.Tensor) else other
        y, ty = x.clone(), t.clone()
        if n in HALF or not (isinstance(other, float) or other.is_floating_point()):
            y += other
            ty += tother
            assert_same(y, ty)
        else:
            with pytest.raises(RuntimeError, match="result type (Float|Double) can't be cast to the desired output type"):
                y += other
            with pytest.raises(RuntimeError, match="result type (Float|Double) can't be cast to the desired output type"):
                ty += tother
    if n not in HALF:
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type"):
            x.div_(2)


def test_can_cast_and_is_floating_point_match_torch():
    for a, b in itertools.product(NAMES, NAMES):
        assert cnnkit.can_cast(DT[a], DT[b]) == torch.can_cast(TDT[a], TDT[b]), (a, b)
    for n in NAMES:
        assert cnnkit.is_floating_point(cnnkit.zeros(1, dtype=DT[n])) == torch.is_floating_point(
            torch.zeros(1, dtype=TDT[n]))


@pytest.mark.parametrize("n", INTS[1:] + HALF)
def test_reductions_match_torch(n):
    t = operands(n, 6)
    x = ck_from_torch(t)
    assert_same(x.sum(), t.sum())
    assert_same(x.sum(1), t.sum(1))
    assert_same(x.sum(0, keepdim=True), t.sum(0, keepdim=True))
    assert_same(x.max(), t.max())
    assert_same(x.min(), t.min())
    assert_same(x.max(1)[0], t.max(1)[0])
    assert_same(x.max(1)[1], t.max(1)[1])
    assert_same(x.min(0).indices, t.min(0).indices)
    assert_same(x.argmax(), t.argmax())
    assert_same(x.argmin(1), t.argmin(1))
    assert_same(x.amax(1), t.amax(1))
    if n in HALF:
        assert_same(x.mean(), t.mean())
        assert_same(x.mean(0), t.mean(0))
    else:
        with pytest.raises(RuntimeError, match="could not infer output dtype"):
            x.mean()
        assert_same(x.sum(dtype=cnnkit.int32), t.sum(dtype=torch.int32))


@pytest.mark.parametrize("n", INTS[1:] + HALF)
def test_where_masked_fill_cat_index(n):
    t, u = operands(n, 7), operands(n, 8)
    x, y = ck_from_torch(t), ck_from_torch(u)
    assert_same(cnnkit.where(x > y, x, y), torch.where(t > u, t, u))
    assert_same(x.masked_fill(y > 1, 5), t.masked_fill(u > 1, 5))
    assert_same(cnnkit.cat([x, y], 1), torch.cat([t, u], 1))
    assert_same(cnnkit.stack([x, y]), torch.stack([t, u]))
    idx32 = torch.tensor([2, 0, 2, 1], dtype=torch.int32)
    i = ck_from_torch(idx32)
    assert_same(x.index_select(1, i), t.index_select(1, idx32))
    neg = torch.tensor([2, 0, -1], dtype=torch.int32)
    assert_same(x[ck_from_torch(neg)], t[neg])
    assert_same(x[:, 1:4:2], t[:, 1:4:2])
    g = torch.tensor([[0, 4], [1, 1], [3, 2]], dtype=torch.int32)
    assert_same(x.gather(1, ck_from_torch(g)), t.gather(1, g))
    assert_same(x.nonzero(), t.nonzero())
    z, tz = x.clone(), t.clone()
    z[0, 1] = 9
    tz[0, 1] = 9
    z[ck_from_torch(torch.tensor([2]))] = 3
    tz[torch.tensor([2])] = 3
    assert_same(z, tz)


def test_index_dtype_rules():
    x = cnnkit.arange(12.0).reshape(3, 4)
    i32 = cnnkit.tensor([0, 2], dtype=cnnkit.int32)
    # int32 indices where torch takes them: index_add_ and scatter_add_ (kernels), not index_copy_
    out = x.clone()
    cnnkit._C.index_add_(out._t, 0, i32._t, cnnkit.ones(2, 4)._t)
    ref = torch.arange(12.0).reshape(3, 4).index_add_(0, torch.tensor([0, 2], dtype=torch.int32), torch.ones(2, 4))
    assert_same(out, ref)
    out = x.clone()
    si = cnnkit.tensor([[2, 0, 1, 0]], dtype=cnnkit.int32)
    cnnkit._C.scatter_add_(out._t, 0, si._t, cnnkit.ones(1, 4)._t)
    ref = torch.arange(12.0).reshape(3, 4).scatter_add_(0, torch.tensor([[2, 0, 1, 0]], dtype=torch.int32),
                                                        torch.ones(1, 4))
    assert_same(out, ref)
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[cnnkit.tensor([0, 1], dtype=cnnkit.int16)]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[cnnkit.tensor([0, 1], dtype=cnnkit.int8)]
    with pytest.raises(TypeError, match="index_copy_.*int64"):
        cnnkit._C.index_copy_(x._t, 0, i32._t, cnnkit.ones(2, 4)._t)
    with pytest.raises(TypeError, match="int64 or int32"):
        x.index_select(0, cnnkit.tensor([0], dtype=cnnkit.int16))


def test_half_autograd():
    t = torch.randn(4, 3).half().requires_grad_()
    x = ck_from_torch(t.detach()).requires_grad_()
    (x * x + x.exp()).sum().backward()
    (t * t + t.exp()).sum().backward()
    assert x.grad.dtype is cnnkit.float16
    np.testing.assert_allclose(x.grad.float().numpy(), t.grad.float().numpy(), rtol=2e-3, atol=2e-3)
    for n in HALF:
        x = cnnkit.randn(5, dtype=DT[n], requires_grad=True)
        y = x.float().sum() + x.sum().float()
        y.backward()
        assert x.grad.dtype is DT[n]
        assert (x.grad.float() == 2).all()


def test_half_nn_ops_upcast():
    xt = torch.randn(2, 3, 7, 7)
    wt = torch.randn(4, 3, 3, 3)
    for n in HALF:
        x, w = ck_from_torch(xt.to(TDT[n])), ck_from_torch(wt.to(TDT[n]))
        y = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
        assert y.dtype is DT[n]
        ref = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(
            xt.to(TDT[n]).float(), wt.to(TDT[n]).float(), padding=1)), 2).to(TDT[n])
        assert_same(y, ref)


def test_module_half_and_to():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m.half()
    assert all(p.dtype is cnnkit.float16 for p in m.parameters())
    assert m[1].running_mean.dtype is cnnkit.float16
    assert m[1].num_batches_tracked.dtype is cnnkit.int64  # integer buffers stay
    y = m(cnnkit.randn(5, 3).half())
    assert y.dtype is cnnkit.float16 and y.shape == (5, 2)
    assert m[1].running_mean.dtype is cnnkit.float16 and m[1].running_var.dtype is cnnkit.float16
    assert bool((m[1].running_mean != 0).any()) and bool((m[1].running_var != 1).any())  # updated in place
    y.float().sum().backward()
    assert m[0].weight.grad.dtype is cnnkit.float16
    m.to(cnnkit.bfloat16)
    assert m[0].weight.dtype is cnnkit.bfloat16
    m.bfloat16().float()
    assert m[2].bias.dtype is cnnkit.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(cnnkit.int32)


# ---------------------------------------------------------------------------------------------
# factories, printing, NumPy interop, item/tolist, save/load
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", NAMES)
def test_factories(n):
    d, td = DT[n], TDT[n]
    for f in ["zeros", "ones", "empty"]:
        x = getattr(cnnkit, f)(2, 3, dtype=d)
        assert x.dtype is d and x.shape == (2, 3)
        if f != "empty":
            assert_same(x, getattr(torch, f)(2, 3, dtype=td))
    assert_same(cnnkit.full((2,), 1, dtype=d), torch.full((2,), 1, dtype=td))
    assert_same(cnnkit.zeros_like(cnnkit.ones(3, dtype=d)), torch.zeros_like(torch.ones(3, dtype=td)))
    if n != "bool":
        assert_same(cnnkit.arange(5, dtype=d), torch.arange(5, dtype=td))
        assert_same(cnnkit.tensor([[1, 2], [3, 4]], dtype=d), torch.tensor([[1, 2], [3, 4]], dtype=td))
        r = cnnkit.randint(0, 5, (10,), dtype=d)
        assert r.dtype is d and bool(((r.long() >= 0) & (r.long() < 5)).all())
    if d.is_floating_point:
        assert_same(cnnkit.arange(0, 1, 0.25, dtype=d), torch.arange(0, 1, 0.25, dtype=td))
        assert_same(cnnkit.tensor([0.1, -2.7, 1e10], dtype=d), torch.tensor([0.1, -2.7, 1e10], dtype=td))
        assert_same(cnnkit.linspace(0, 1, 5, dtype=d), torch.linspace(0, 1, 5, dtype=td))
        assert cnnkit.randn(3, dtype=d).dtype is d and cnnkit.rand(3, dtype=d).dtype is d
    assert_same(cnnkit.eye(3, dtype=d), torch.eye(3, dtype=td))


REPR_DATA = [[1, 2, -3], [[1.5, 2.25], [3.0, -4.125]], [1e-5, 1.0, 300.0], [0.1, 70000.0, -1.0], 7, [],
             [[0, 100], [-100, 5]], list(range(1200))]


@pytest.mark.parametrize("n", NAMES)
def test_repr_matches_torch(n):
    for data in REPR_DATA:
        t = torch.tensor(data, dtype=torch.float64)
        if n in INTS or n == "bool":
            t = t.clamp(-100, 100).trunc()
        if n == "uint8":
            t = t.abs()
        t = t.to(TDT[n])
        x = ck_from_torch(t)
        assert repr(x) == repr(t).replace("torch.", "cnnkit."), (n, data)
    for n2 in HALF:
        y = cnnkit.tensor([1.0, 2.0], dtype=DT[n2], requires_grad=True)
        ty = torch.tensor([1.0, 2.0], dtype=TDT[n2], requires_grad=True)
        assert repr(y) == repr(ty).replace("torch.", "cnnkit.")


@pytest.mark.parametrize("n", NAMES)
def test_item_tolist(n):
    t = source_values(n)[:5].reshape(5)
    if n in INTS:
        t = t % 100
    x = ck_from_torch(t)
    assert x.tolist() == t.tolist()
    assert x[2].item() == t[2].item()
    assert type(x[2].item()) is type(t[2].item())


@pytest.mark.parametrize("n", ["int32", "int16", "int8", "float16", "uint8", "bool"])
def test_numpy_interop(n):
    a = source_values(n).numpy().copy()
    x = cnnkit.from_numpy(a)
    assert x.dtype is DT[n]
    a[0] = a[1]
    assert x[0].item() == a[1].item()  # shares memory
    assert x.numpy().dtype == a.dtype
    assert np.asarray(x).dtype == a.dtype
    np.testing.assert_array_equal(np.asarray(x), a)
    assert cnnkit.tensor(a).dtype is DT[n]  # tensor() keeps a NumPy array's dtype
    assert cnnkit.as_tensor(a).dtype is DT[n]


def test_bfloat16_numpy_raises_like_torch():
    x = cnnkit.ones(3, dtype=cnnkit.bfloat16)
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        x.numpy()
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        torch.ones(3, dtype=torch.bfloat16).numpy()
    assert x.tolist() == [1.0, 1.0, 1.0]
    assert cnnkit.tensor(x).dtype is cnnkit.bfloat16


def test_unsupported_numpy_dtypes():
    with pytest.raises(TypeError, match="can't convert np.ndarray of type numpy.complex64"):
        cnnkit.from_numpy(np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="uint16"):
        cnnkit.from_numpy(np.zeros(2, np.uint16))


def test_save_load_round_trip_every_dtype(tmp_path):
    state = {}
    for n in NAMES:
        t = source_values(n)
        state[n] = ck_from_torch(t)
    nanbits = cnnkit.tensor([float("nan"), -float("inf"), 1e-40], dtype=cnnkit.bfloat16)
    state["bf_special"] = nanbits
    state["half_param"] = nn.Parameter(cnnkit.randn(3, dtype=cnnkit.float16))
    path = tmp_path / "s.pt"
    cnnkit.save(state, path)
    back = cnnkit.load(path)
    for k, v in state.items():
        assert back[k].dtype is v.dtype, k
        if v.dtype.itemsize == 2 and v.dtype.is_floating_point:
            assert back[k].view(cnnkit.int16).tolist() == v.view(cnnkit.int16).tolist()
        else:
            assert back[k].tolist() == v.tolist()
    buf = io.BytesIO()
    cnnkit.save([cnnkit.ones(2, dtype=cnnkit.bfloat16)], buf)
    buf.seek(0)
    assert cnnkit.load(buf)[0].dtype is cnnkit.bfloat16
    # pickling / deepcopy keep the dtype too
    for n in NAMES:
        x = state[n]
        y = pickle.loads(pickle.dumps(x))
        assert y.dtype is x.dtype and y.tolist() == x.tolist()


def test_errors():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        cnnkit.ones(2, dtype=cnnkit.int32).requires_grad_()
    with pytest.raises(TypeError, match="binary: unsupported dtype float16"):
        cnnkit._C.binary("add", cnnkit.ones(2, dtype=cnnkit.float16)._t, cnnkit.ones(2, dtype=cnnkit.float16)._t)
    with pytest.raises(TypeError, match="float16"):
        cnnkit._C.relu_forward(cnnkit.ones(2, dtype=cnnkit.float16)._t)
    with pytest.raises(RuntimeError, match="same element size"):
        cnnkit.ones(2).view(cnnkit.int16)
    with pytest.raises(RuntimeError, match="cannot be converted to type int8 without overflow"):
        cnnkit.zeros(2, dtype=cnnkit.int8).masked_fill(cnnkit.tensor([True, False]), 300)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        cnnkit.ones(2, dtype=cnnkit.int16) // cnnkit.zeros(2, dtype=cnnkit.int16)


def test_half_scalar_operands_at_float32_precision_like_torch():
    # torch's mul/div read a CPU scalar of half arithmetic as float32 (3 * 0.3f rounds to 0.8999, not
    # 0.9004); add/sub round it to the half type first; number / t is t.reciprocal() * number.
    for n in HALF:
        t = torch.cat([torch.tensor([3.0, -7.0, 0.1, 1000.0]), torch.randn(2000) * 10]).to(TDT[n])
        x = ck_from_torch(t)
        for s in [0.3, 1.1, 1e-3, torch.tensor(0.3)]:
            cs = cnnkit.tensor(0.3) if isinstance(s, torch.Tensor) else s
            for f in [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a / b,
                      lambda a, b: b * a, lambda a, b: b - a, lambda a, b: b / a]:
                assert_same(f(x, cs), f(t, s))
        assert_same(x > 0.3, t > 0.3)  # comparisons round the scalar to the half type, as torch
        y, ty = x.clone(), t.clone()
        y *= 0.3
        ty *= 0.3
        assert_same(y, ty)


def test_sort_topk_half():
    for n in HALF:
        t = torch.tensor([[3.0, -1.0, 2.5, 0.0], [1.0, 7.0, -2.0, 7.0]], dtype=TDT[n])
        x = ck_from_torch(t)
        assert_same(x.sort(1)[0], t.sort(stable=True, dim=1)[0])
        assert_same(x.sort(1)[1], t.sort(stable=True, dim=1)[1])
        assert_same(x.topk(2)[0], t.topk(2)[0])


def test_kernel_dtype_errors_name_the_op_and_the_fix():
    h = cnnkit.ones(2, 3, dtype=cnnkit.float16)
    with pytest.raises(TypeError, match=r"sgd_step_: .*float16.*\.float\(\)"):
        cnnkit._C.sgd_step_(h._t, h._t, None, 0.1, 0.0, 0.0, 0.0, False, False, True)
    with pytest.raises(TypeError, match=r"unary: unsupported dtype bfloat16.*\.float\(\)"):
        cnnkit._C.unary("neg", h.bfloat16()._t)


def test_modules_built_in_half_dtypes_match_torch():
    for n in HALF:
        lin = nn.Linear(6, 3, dtype=DT[n])
        conv = nn.Conv2d(2, 4, 3, padding=1, dtype=DT[n])
        assert lin.weight.dtype is DT[n] and conv.bias.dtype is DT[n]
        tl = torch.nn.Linear(6, 3)
        tc = torch.nn.Conv2d(2, 4, 3, padding=1)
        with torch.no_grad():
            for ours, ref in [(lin.weight, tl.weight), (lin.bias, tl.bias), (conv.weight, tc.weight), (conv.bias, tc.bias)]:
                ref.copy_(as_torch(ours.detach()).float())
        x = torch.randn(5, 6).to(TDT[n])
        assert_same(lin(ck_from_torch(x)), tl(x.float()).to(TDT[n]))  # computed in float32, rounded once
        xi = torch.randn(1, 2, 5, 5).to(TDT[n])
        assert_same(conv(ck_from_torch(xi)), tc(xi.float()).to(TDT[n]))
        loss = F.cross_entropy(lin(ck_from_torch(x)), cnnkit.tensor([0, 1, 2, 0, 1]))
        assert loss.dtype is DT[n]
        loss.backward()
        assert lin.weight.grad.dtype is DT[n]
