"""Property-based tests: indexing (basic and advanced), gather/scatter/index_select/index_add/masked_fill, and
views (transpose, permute, slicing with a step, expand, narrow, unfold) fed into ops, against torch, forward
and backward."""
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

SHAPE = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


def _idx(rng, n, shape, allow_negative=True):
    lo = -n if allow_negative else 0
    return rng.integers(lo, n, shape)


@fuzz
@given(shape=SHAPE, data=st.data(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_gather_and_take_along_dim(shape, data, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    # index: same rank, each dim <= input's (except `dim`, any length)
    ishape = tuple(data.draw(st.integers(1, 5)) if i == dim % nd else data.draw(st.integers(1, s))
                   for i, s in enumerate(shape))
    index = rng.integers(0, shape[dim], ishape)
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    i_ck, i_th = cnnkit.from_numpy(index.copy()), torch.from_numpy(index.copy())
    check(lambda a: cnnkit.gather(a, dim, i_ck), lambda a: torch.gather(a, dim, i_th), [x], dtype, rng)


@fuzz
@given(shape=SHAPE, data=st.data(), dtype=DTYPES, reduce_=st.sampled_from([None, "add"]),
       src_scalar=st.booleans(), seed=seeds())
def test_scatter(shape, data, dtype, reduce_, src_scalar, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    ishape = tuple(data.draw(st.integers(1, s)) for s in shape)
    # scatter (no reduce) with duplicate indices writes an unspecified one: use distinct indices along dim
    index = np.stack([rng.permutation(shape[dim])[:ishape[dim % nd]] for _ in range(int(np.prod(ishape)) // ishape[dim % nd])])
    index = np.moveaxis(index.reshape(tuple(s for i, s in enumerate(ishape) if i != dim % nd) + (ishape[dim % nd],)),
                        -1, dim % nd)
    if reduce_ == "add":
        index = rng.integers(0, shape[dim], ishape)  # duplicates are fine for a sum
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True)
    i_ck, i_th = cnnkit.from_numpy(np.ascontiguousarray(index)), torch.from_numpy(np.ascontiguousarray(index))
    if src_scalar and reduce_ is None:
        check(lambda a: cnnkit.scatter(a, dim, i_ck, 1.5), lambda a: torch.scatter(a, dim, i_th, 1.5), [x], dtype, rng)
        return
    src = Pair(rng.uniform(-2, 2, ishape).astype(dtype), True)
    if reduce_ == "add":
        check(lambda a, s: cnnkit.scatter_add(a, dim, i_ck, s), lambda a, s: torch.scatter_add(a, dim, i_th, s),
              [x, src], dtype, rng)
    else:
        check(lambda a, s: cnnkit.scatter(a, dim, i_ck, s), lambda a, s: torch.scatter(a, dim, i_th, s),
              [x, src], dtype, rng)


@fuzz
@given(shape=SHAPE, data=st.data(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_index_select_and_index_add(shape, data, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    k = data.draw(st.integers(0, 6), label="k")
    index = rng.integers(0, shape[dim], (k,))
    i_ck, i_th = cnnkit.from_numpy(index.copy()), torch.from_numpy(index.copy())
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    check(lambda a: cnnkit.index_select(a, dim, i_ck), lambda a: torch.index_select(a, dim, i_th), [x], dtype, rng)
    src_shape = list(shape)
    src_shape[dim] = k
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True)
    s = Pair(rng.uniform(-2, 2, src_shape).astype(dtype), True, layout, rng)
    alpha = float(data.draw(st.sampled_from([1, 2, -0.5]), label="alpha"))
    check(lambda a, b: a.index_add(dim, i_ck, b, alpha=alpha), lambda a, b: a.index_add(dim, i_th, b, alpha=alpha),
          [x, s], dtype, rng)


@fuzz
@given(shape=SHAPE, data=st.data(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_masked_fill_and_select(shape, data, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    # the mask broadcasts to the input: drop some leading dims and set some to 1
    drop = data.draw(st.integers(0, len(shape)), label="drop")
    mshape = tuple(1 if data.draw(st.booleans()) else s for s in shape[drop:])
    mask = np.asarray(rng.random(mshape) > 0.5)
    m_ck, m_th = cnnkit.from_numpy(mask.copy()), torch.from_numpy(mask.copy())
    value = data.draw(st.sampled_from([0.0, -1.5, float("-inf")]), label="value")
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    check(lambda a: a.masked_fill(m_ck, value), lambda a: a.masked_fill(m_th, value), [x], dtype, rng)
    full = np.broadcast_to(mask, shape).copy()
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    check(lambda a: a[cnnkit.from_numpy(full.copy())], lambda a: a[torch.from_numpy(full.copy())], [x], dtype, rng)


@st.composite
def basic_index(draw, shape):
    """A basic index: ints (negative too), slices with start/stop/step (positive steps), None, Ellipsis."""
    items = []
    used_ellipsis = False
    for s in shape:
        kind = draw(st.sampled_from(["int", "slice", "full", "none", "ellipsis"]))
        if kind == "int":
            items.append(draw(st.integers(-s, s - 1)))
        elif kind == "slice":
            items.append(slice(draw(st.one_of(st.none(), st.integers(-s - 2, s + 2))),
                               draw(st.one_of(st.none(), st.integers(-s - 2, s + 2))),
                               draw(st.one_of(st.none(), st.integers(1, 3)))))
        elif kind == "none":
            items.append(None)
            items.append(slice(None))
        elif kind == "ellipsis" and not used_ellipsis:
            used_ellipsis = True
            items.append(Ellipsis)
            break
        else:
            items.append(slice(None))
    return tuple(items)


@fuzz
@given(shape=SHAPE, data=st.data(), dtype=DTYPES, layout=st.sampled_from(LAYOUTS), seed=seeds())
def test_basic_indexing(shape, data, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    idx = data.draw(basic_index(shape), label="index")
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, layout, rng)
    out, _ = check(lambda a: a[idx] * 2, lambda a: a[idx] * 2, [x], dtype, rng)


@fuzz
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple), data=st.data(), dtype=DTYPES,
       seed=seeds())
def test_advanced_indexing(shape, data, dtype, seed):
    """Integer-array indices (lists and tensors, broadcast together, negative values) mixed with slices,
    adjacent or separated (which moves the indexed dims to the front), and setitem with them."""
    rng = np.random.default_rng(seed)
    nd = len(shape)
    k = data.draw(st.integers(1, min(nd, 3)), label="k")
    dims = sorted(data.draw(st.permutations(list(range(nd))), label="dims")[:k])
    ishape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple), label="ishape")
    idx_np = [rng.integers(-shape[d], shape[d], ishape) for d in dims]
    as_list = data.draw(st.booleans(), label="as_list")

    def build(lib):
        items = []
        for d in range(nd):
            if d in dims:
                arr = idx_np[dims.index(d)]
                items.append(arr.tolist() if as_list and arr.ndim == 1 else lib.from_numpy(arr.copy()))
            else:
                items.append(slice(None, None, data_step))
        return tuple(items)

    data_step = data.draw(st.sampled_from([None, 2]), label="step")
    i_ck, i_th = build(cnnkit), build(torch)
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, "transposed", rng)
    check(lambda a: a[i_ck], lambda a: a[i_th], [x], dtype, rng)
    # setitem with the same index (no duplicate positions for assignment: use index_put-like accumulate=False only
    # on unique rows)
    base = rng.uniform(-2, 2, shape).astype(dtype)
    c, t = cnnkit.from_numpy(base.copy()), torch.from_numpy(base.copy())
    c[i_ck] = 0.25
    t[i_th] = 0.25
    np.testing.assert_array_equal(c.numpy(), t.numpy())


VIEWS = {
    "transpose": (lambda a: a.transpose(0, -1), None),
    "permute": (lambda a: a.permute(*reversed(range(a.dim()))), None),
    "step": (lambda a: a[::2], None),
    "negstep_flip": (lambda a: a.flip(0), None),
    "narrow": (lambda a: a.narrow(-1, a.shape[-1] // 2, a.shape[-1] - a.shape[-1] // 2), None),
    "expand": (lambda a: a[:1].expand(3, *a.shape[1:]), None),
    "unsqueeze_expand": (lambda a: a.unsqueeze(1).expand(a.shape[0], 2, *a.shape[1:]), None),
    "unfold": (lambda a: a.unfold(0, min(2, a.shape[0]), 1), None),
    "t_contig": (lambda a: a.transpose(0, -1).contiguous(), None),
    "diagonal": (lambda a: a.diagonal(0, 0, -1) if a.dim() > 1 else a, None),
}
CONSUMERS = {
    "sum": (lambda a: a.sum(-1), lambda a: a.sum(-1)),
    "mul_self": (lambda a: a * a, lambda a: a * a),
    "softmax": (lambda a: F.softmax(a, -1), lambda a: TF.softmax(a, -1)),
    "relu": (lambda a: F.relu(a), lambda a: TF.relu(a)),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    "matmul_t": (lambda a: a @ a.transpose(-1, -2), lambda a: a @ a.transpose(-1, -2)),
    "reshape": (lambda a: a.reshape(-1) * 3, lambda a: a.reshape(-1) * 3),
    "max": (lambda a: a.amax(-1), lambda a: a.amax(-1)),
    "cumsum": (lambda a: a.cumsum(-1), lambda a: a.cumsum(-1)),
    "clone_add": (lambda a: a.clone() + 1, lambda a: a.clone() + 1),
}


@fuzz
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), view=st.sampled_from(sorted(VIEWS)),
       op=st.sampled_from(sorted(CONSUMERS)), dtype=DTYPES, seed=seeds())
def test_views_fed_to_ops(shape, view, op, dtype, seed):
    rng = np.random.default_rng(seed)
    vfn, _ = VIEWS[view]
    ck_op, th_op = CONSUMERS[op]
    vals = (rng.permutation(int(np.prod(shape))).reshape(shape) / max(np.prod(shape), 1) * 4 - 2).astype(dtype)
    x = Pair(vals, True, "contiguous", rng)
    if view in ("expand", "unsqueeze_expand", "unfold") and op == "max":
        op = "sum"  # expanded/overlapping copies tie for the max; the split of its gradient is a convention
        ck_op, th_op = CONSUMERS[op]
    # a view or consumer that does not apply to this shape (e.g. a 1-D matmul_t) must fail in both
    got = both_or_neither(lambda: ck_op(vfn(x.ck.detach())), lambda: th_op(vfn(x.th.detach())))
    if got[0] is None:
        return
    check(lambda a: ck_op(vfn(a)), lambda a: th_op(vfn(a)), [x], dtype, rng, scale=8)


@fuzz
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), data=st.data(), dtype=DTYPES,
       seed=seeds())
def test_unfold(shape, data, dtype, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    size = data.draw(st.integers(0, shape[dim] + 1), label="size")
    step = data.draw(st.integers(0, 3), label="step")
    x = Pair(rng.uniform(-2, 2, shape).astype(dtype), True, "transposed", rng)
    got = both_or_neither(lambda: x.ck.detach().unfold(dim, size, step), lambda: x.th.detach().unfold(dim, size, step))
    if got[0] is None:
        return
    check(lambda a: a.unfold(dim, size, step), lambda a: a.unfold(dim, size, step), [x], dtype, rng)


@fuzz
@given(shape=SHAPE, data=st.data(), seed=seeds())
def test_out_of_range_indices_raise_like_torch(shape, data, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1), label="dim")
    bad = data.draw(st.sampled_from([shape[dim], shape[dim] + 3, -shape[dim] - 1]), label="bad")
    x = rng.uniform(-1, 1, shape).astype("float32")
    c, t = cnnkit.from_numpy(x.copy()), torch.from_numpy(x.copy())
    index = np.array([0, bad])
    both_or_neither(lambda: c.index_select(dim, cnnkit.from_numpy(index)),
                    lambda: t.index_select(dim, torch.from_numpy(index)))
    sel = (slice(None),) * (dim % nd) + (bad,)
    both_or_neither(lambda: c[sel], lambda: t[sel])
    sel = (slice(None),) * (dim % nd) + ([0, bad],)
    both_or_neither(lambda: c[sel], lambda: t[sel])
