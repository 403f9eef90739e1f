"""Autograd Functions of the basic tensor ops: elementwise arithmetic, reductions, views, copies,
indexing and concatenation. Each forward calls a ``_C`` kernel; each backward sits beside it.
Broadcasting is undone in backward by summing the gradient back to each input's shape."""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap, tensor, where
from .. import _dtype
from .._dtype import bool_, int8, int16, int64


def _sum_to(g, shape):
    return g if tuple(g.shape) == tuple(shape) else g.sum_to_size(shape)


def _scalar(v, like):
    return _wrap(_C.full([], float(v), like._t.dtype, like._t.device))


def _zeros(shape, like):
    """A zero _C.Tensor of `shape` with the dtype and device of `like` (a Tensor)."""
    return _C.zeros(list(shape), like._t.dtype, like._t.device)


# ---------------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------------
class Binary(Function):
    """out = a op b with broadcasting; a and b already share one dtype."""

    @staticmethod
    def forward(ctx, a, b, op):
        ctx.op = op
        ctx._name = op.title().replace("_", "")
        ctx.shapes = (a.shape, b.shape)
        out = _wrap(_C.binary(op, a._t, b._t))
        if op == "pow":
            ctx.save_for_backward(a, b, out)
        elif op in ("mul", "div", "maximum", "minimum", "atan2"):
            ctx.save_for_backward(a, b)
        elif op == "hypot":
            ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        op = ctx.op
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad[:2]
        ga = gb = None
        if op == "add":
            ga, gb = g, g
        elif op == "sub":
            ga, gb = g, (-g if nb else None)
        elif op == "mul":
            a, b = ctx.saved_tensors
            ga = g * b if na else None
            gb = g * a if nb else None
        elif op == "div":
            a, b = ctx.saved_tensors
            ga = g / b if na else None
            gb = -g * a / (b * b) if nb else None
        elif op == "pow":
            a, b, out = ctx.saved_tensors
            ga = g * b * _wrap(_C.binary("pow", a._t, (b - 1)._t)) if na else None
            # d/db a^b = a^b log a, with 0 where a == 0 and b >= 0 (torch's convention).
            gb = g * out * where((a == 0) & (b >= 0), 0.0, a.log()) if nb else None
        elif op in ("maximum", "minimum"):
            a, b = ctx.saved_tensors
            win = (a > b) if op == "maximum" else (a < b)
            tie = a == b
            # Ties split the gradient evenly, as torch does.
            wa = win.to(g.dtype) + tie.to(g.dtype) * 0.5
            ga = g * wa if na else None
            gb = g * (1 - wa) if nb else None
        elif op == "atan2":
            a, b = ctx.saved_tensors
            r2 = a * a + b * b
            ga = g * b / r2 if na else None
            gb = -g * a / r2 if nb else None
        elif op == "hypot":
            a, b, out = ctx.saved_tensors
            ga = g * a / out if na else None
            gb = g * b / out if nb else None
        else:
            return None, None, None  # comparisons and logical ops are not differentiable
        return (_sum_to(ga, sa) if ga is not None and na else None,
                _sum_to(gb, sb) if gb is not None and nb else None, None)


class Unary(Function):
    @staticmethod
    def forward(ctx, x, op):
        ctx.op = op
        ctx._name = op.title().replace("_", "")
        out = _wrap(_C.unary(op, x._t))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        op = ctx.op
        if op == "neg":
            return -g, None
        if op == "exp":
            return g * out, None
        if op == "log":
            return g / x, None
        if op == "log2":
            return g / (x * math.log(2.0)), None
        if op == "log1p":
            return g / (x + 1), None
        if op == "expm1":
            return g * (out + 1), None
        if op == "sqrt":
            return g / (out * 2), None
        if op == "rsqrt":
            return g * out * out * out * -0.5, None
        if op == "abs":
            return g * x.sign(), None
        if op == "sin":
            return g * x.cos(), None
        if op == "cos":
            return -g * x.sin(), None
        if op == "reciprocal":
            return -g * out * out, None
        if op == "square":
            return g * x * 2, None
        gx = _unary_grad(op, g, x, out)
        if gx is not None:
            return gx, None
        # sign, floor, ceil, round, trunc: zero gradient almost everywhere
        return g * 0, None


class PowScalar(Function):
    @staticmethod
    def forward(ctx, x, e):
        ctx.e = e
        ctx.save_for_backward(x)
        return _wrap(_C.pow_scalar(x._t, float(e))) if x.dtype.is_floating_point else \
            _wrap(_C.binary("pow", x._t, _scalar(e, x)._t))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        e = ctx.e
        if e == 0:
            return g * 0, None
        return g * (e * _wrap(_C.pow_scalar(x._t, float(e - 1)))), None


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.lo, ctx.hi = lo, hi
        ctx.save_for_backward(x)
        return _wrap(_C.clamp(x._t, None if lo is None else float(lo), None if hi is None else float(hi)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        return _wrap(_C.clamp_backward(g._t, x._t, None if lo is None else float(lo),
                                       None if hi is None else float(hi))), None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return _wrap(_C.where(cond._t, a._t, b._t))

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        zero = _scalar(0, g)
        ga = _sum_to(_wrap(_C.where(cond._t, g._t, zero._t)), ctx.shapes[0]) if ctx.needs_input_grad[1] else None
        gb = _sum_to(_wrap(_C.where(cond._t, zero._t, g._t)), ctx.shapes[1]) if ctx.needs_input_grad[2] else None
        return None, ga, gb


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        if mask.dtype is not bool_:
            raise TypeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
        ctx.save_for_backward(mask)
        out = _wrap(x._t.clone())
        v = value.item() if isinstance(value, Tensor) else value
        _C.masked_fill_(out._t, mask._t, float(v))
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        gx = _wrap(g._t.clone())
        _C.masked_fill_(gx._t, mask._t, 0.0)
        return gx, None, None


class Cast(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, dt):
        ctx.src = x.dtype
        return _wrap(x._t.to(dt._c))

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.src) if ctx.src.is_floating_point else None), None


class ToDevice(Function):
    """A copy on another device; the gradient goes back to the source device."""

    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, device, non_blocking=False):
        ctx.src = x._t.device
        return _wrap(x._t.to_device(device, non_blocking))

    @staticmethod
    def backward(ctx, g):
        return _wrap(g._t.to_device(ctx.src)), None, None


class Clone(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x):
        return _wrap(x._t.clone())

    @staticmethod
    def backward(ctx, g):
        return g


class CopyInto(Function):
    """out = a copy of `dst` with `src` broadcast into it (the graph of ``dst.copy_(src)``)."""

    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, dst, src):
        ctx.src_shape, ctx.src_dtype = src.shape, src.dtype
        out = _wrap(_C.empty(list(dst.shape), dst._t.dtype, dst._t.device))
        out._t.copy_(src._t)
        return out

    @staticmethod
    def backward(ctx, g):
        gs = _sum_to(g, ctx.src_shape).to(ctx.src_dtype) if ctx.needs_input_grad[1] else None
        return (g * 0 if ctx.needs_input_grad[0] else None), gs


# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------
def _expand_back(g, shape, dims, keepdim):
    """Broadcasts the gradient of a reduction over `dims` back to the input `shape`."""
    nd = len(shape)
    if nd == 0:  # a 0-d input reduced over its implicit dim 0 / -1: the gradient is already 0-d
        return g.reshape(shape)
    dims = sorted(d % nd for d in dims) if dims else list(range(nd))
    if not keepdim:
        gs = list(g.shape)
        for d in dims:
            gs.insert(d, 1)
        g = g.reshape(gs)
    return g.expand(shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        return _wrap(_C.sum(x._t, dims, keepdim))

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        nd = max(x.dim(), 1)
        ctx.count = math.prod(x.shape[d % nd] for d in dims) if dims and x.dim() else x.numel()
        return _wrap(_C.mean(x._t, dims, keepdim))

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g / ctx.count, ctx.shape, ctx.dims, ctx.keepdim), None, None


class MaxDim(Function):
    """(values, indices) of max/min along one dim; the gradient goes to the arg position."""

    @staticmethod
    def forward(ctx, x, which, dim, keepdim):
        fn = _C.max_dim if which == "max" else _C.min_dim
        values, indices = fn(x._t, dim, keepdim)
        values, indices = _wrap(values), _wrap(indices)
        ctx.mark_non_differentiable(indices)
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim % max(x.dim(), 1), keepdim
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g, _gi):
        (idx,) = ctx.saved_tensors
        if not ctx.keepdim and len(ctx.shape):
            g = g.unsqueeze(ctx.dim)
            idx = idx.unsqueeze(ctx.dim)
        out = _wrap(_zeros(ctx.shape, g))
        if len(ctx.shape) == 0:
            return g.reshape(()), None, None, None
        _C.scatter_add_(out._t, ctx.dim, idx.contiguous()._t, g.contiguous()._t)
        return out, None, None, None


class MaxAll(Function):
    """max()/min() over all elements; ties share the gradient evenly (torch's rule)."""

    @staticmethod
    def forward(ctx, x, which):
        out = _wrap(_C.max_all(x._t) if which == "max" else _C.min_all(x._t))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        mask = (x == out).to(g.dtype)
        return mask * (g / mask.sum()), None


# ---------------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------------
class View(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, shape, allow_copy):
        ctx.shape = x.shape
        return _wrap(x._t.reshape(shape) if allow_copy else x._t.view(shape))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None, None


class Permute(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = [d % max(x.dim(), 1) for d in dims]
        return _wrap(x._t.permute(dims))

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(inv), None


class Unsqueeze(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, d):
        ctx.d = d
        return _wrap(x._t.unsqueeze(d))

    @staticmethod
    def backward(ctx, g):
        return g.squeeze(ctx.d), None


class Expand(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return _wrap(x._t.expand(shape))

    @staticmethod
    def backward(ctx, g):
        return _sum_to(g, ctx.shape), None


# ---------------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------------
class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        return _wrap(_C.index_select(x._t, dim, index._t))

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = _zeros(ctx.shape, g)
        _C.index_add_(out, ctx.dim, index._t, g._t)
        return _wrap(out), None, None


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)
        return _wrap(_C.gather(x._t, dim, index._t))

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = _zeros(ctx.shape, g)
        _C.scatter_add_(out, ctx.dim, index._t, g.contiguous()._t)
        return _wrap(out), None, None


class Cat(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] if x.dim() else 0 for x in xs]
        ctx.skip = [x.dim() == 1 and x.numel() == 0 for x in xs]
        return _wrap(_C.cat([x._t for x in xs], dim))

    @staticmethod
    def backward(ctx, g):
        grads, start = [None], 0
        for size, skip in zip(ctx.sizes, ctx.skip):
            if skip:
                grads.append(None)
                continue
            grads.append(g.narrow(ctx.dim, start, size))
            start += size
        return tuple(grads)


class BasicIndex(Function):
    """x[ints, slices, None, ...] as a view; backward writes the gradient into the same view of zeros."""

    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, spec):
        ctx.shape, ctx.spec = x.shape, spec
        return _wrap(_apply_basic(x._t, spec))

    @staticmethod
    def backward(ctx, g):
        out = _zeros(ctx.shape, g)
        _apply_basic(out, ctx.spec).copy_(g._t)
        return _wrap(out), None


def _apply_basic(t, spec):
    """Applies a normalised basic index (list of ('int', i) / ('slice', a, b, s) / ('new',)) to a _C.Tensor."""
    dim = 0
    for item in spec:
        kind = item[0]
        if kind == "int":
            t = t.select(dim, item[1])
        elif kind == "slice":
            t = t.slice(dim, item[1], item[2], item[3])
            dim += 1
        else:  # new axis
            t = t.unsqueeze(dim)
            dim += 1
    return t


def _normalize_index(x, idx):
    """Splits an index into a basic part (views) and advanced parts (tensors) per dimension."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    # Expand a bool mask over k dims into k integer index tensors (nonzero), like NumPy.
    expanded = []
    for it in idx:
        if isinstance(it, (list, np.ndarray)) or (isinstance(it, Tensor)):
            t = it if isinstance(it, Tensor) else tensor(it)
            if t._t.device != x._t.device:
                t = t.to(x.device)
            if t.dtype is bool_:
                nz = _wrap(_C.nonzero(t._t))
                if t.dim() == 0:
                    expanded.append(("bool0", bool(t.item())))
                    continue
                for k in range(t.dim()):
                    expanded.append(("adv", nz.select(1, k).contiguous()))
                continue
            if t.dtype.is_floating_point or t.dtype in (int16, int8):
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            expanded.append(("adv", t if t.dtype is int64 else t.long()))
        elif it is None:
            expanded.append(("new",))
        elif it is Ellipsis:
            expanded.append(("ellipsis",))
        elif isinstance(it, slice):
            expanded.append(("slice", it))
        elif isinstance(it, (bool, np.bool_)):
            expanded.append(("bool0", bool(it)))
        elif isinstance(it, (int, np.integer)):
            expanded.append(("int", int(it)))
        else:
            raise IndexError(
                f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(it).__name__})"
            )
    n_consume = sum(1 for e in expanded if e[0] in ("adv", "slice", "int"))
    if sum(1 for e in expanded if e[0] == "ellipsis") > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_consume > x.dim():
        raise IndexError(f"too many indices for tensor of dimension {x.dim()}")
    out = []
    for e in expanded:
        if e[0] == "ellipsis":
            out += [("slice", slice(None))] * (x.dim() - n_consume)
        elif e[0] == "bool0":
            # x[True] adds a dim of size 1; x[False] a dim of size 0
            out.append(("new",) if e[1] else ("empty",))
        else:
            out.append(e)
    return out


def getitem(x, idx):
    items = _normalize_index(x, idx)
    spec, dim, adv = [], 0, []
    shape = x.shape
    for e in items:
        kind = e[0]
        if kind == "int":
            n = shape[dim]
            if not -n <= e[1] < n:
                raise IndexError(f"index {e[1]} is out of bounds for dimension {dim} with size {n}")
            spec.append(("int", e[1] + n if e[1] < 0 else e[1]))
            dim += 1
        elif kind == "slice":
            start, stop, step = e[1].start, e[1].stop, e[1].step
            step = 1 if step is None else int(step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start = 0 if start is None else int(start)
            stop = shape[dim] if stop is None else int(stop)
            spec.append(("slice", start, stop, step))
            dim += 1
        elif kind == "adv":
            adv.append((len([s for s in spec if s[0] != "int"]), e[1]))
            spec.append(("slice", 0, shape[dim], 1))
            dim += 1
        elif kind == "new":
            spec.append(("new",))
        else:  # empty (x[False])
            spec.append(("new",))
            adv.append((len([s for s in spec if s[0] != "int"]) - 1, _wrap(_C.zeros([0], int64._c, x._t.device))))
    whole = len(spec) == x.dim() and all(s == ("slice", 0, n, 1) for s, n in zip(spec, shape))
    out = x if whole else BasicIndex.apply(x, spec)
    if not adv:
        return out
    return _advanced(out, adv)


def _advanced(x, adv):
    """x indexed by integer tensors at dims [d for d, _] (NumPy/torch advanced indexing).

    The indexed dims are moved to the front and merged into one, the index tensors (broadcast
    together) become one linear index into that merged dim, and a single index_select gathers
    the rows. Result dims: the index shape goes where the first indexed dim was if the indexed
    dims are adjacent, else in front (NumPy's rule)."""
    dims = [d for d, _ in adv]
    idxs = [t for _, t in adv]
    bshape = list(idxs[0].shape)
    for t in idxs[1:]:
        bshape = list(_C.broadcast_shapes(bshape, list(t.shape)))
    sizes = [x.shape[d] for d in dims]
    linear = None
    for t, n, d in zip(idxs, sizes, dims):
        t = t.expand(bshape)
        if t.numel():
            lo, hi = int(t.min().item()), int(t.max().item())
            if lo < -n or hi >= n:
                bad = hi if hi >= n else lo
                raise IndexError(f"index {bad} is out of bounds for dimension {d} with size {n}")
        t = t + (t < 0).long() * n
        linear = t if linear is None else linear * n + t
    rest = [d for d in range(x.dim()) if d not in dims]
    xp = x.permute(dims + rest) if dims != list(range(len(dims))) else x
    merged = xp.reshape([math.prod(sizes)] + [x.shape[d] for d in rest])
    picked = IndexSelect.apply(merged, 0, linear.reshape(-1).contiguous())
    out = picked.reshape(bshape + [x.shape[d] for d in rest])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if adjacent and dims[0] > 0:
        k, nb = dims[0], len(bshape)
        order = list(range(nb, nb + k)) + list(range(nb)) + list(range(nb + k, out.dim()))
        out = out.permute(order)
    return out


def setitem(x, idx, value):
    """x[idx] = value, in place (PyTorch's index_put_ semantics for the cases CNN code uses)."""
    from .. import autograd

    x._check_inplace()
    if not isinstance(value, Tensor):
        value = tensor(value, dtype=x.dtype, device=x.device) if not isinstance(value, (int, float, bool)) else \
            _wrap(_C.full([], float(value), x._t.dtype, x._t.device))
    if value._t.device != x._t.device:
        value = value.to(x.device)
    if autograd.is_grad_enabled() and (x.requires_grad or value.requires_grad):
        # Out of place on a graph node, then rebase x onto it (x's old history feeds the new node).
        out = SetItem.apply(x, value, idx)
        x._rebase(out)
        return
    items = _normalize_index(x, idx)
    if not any(e[0] == "adv" for e in items):
        view = getitem(x.detach(), idx)
        view._t.copy_(value._t.to(x._t.dtype) if value.dtype is not x.dtype else value._t)
        return
    # Advanced: compute the linear positions with the same machinery as getitem on an index map.
    positions = getitem(_wrap(_C.from_numpy(np.arange(x.numel(), dtype=np.int64).reshape(x.shape))
                              ).to(x.device), idx)
    flat = x._t.reshape([-1]) if x._t.is_contiguous() else None
    src = value._t.to(x._t.dtype).expand(list(positions.shape)).contiguous().reshape([-1])
    pos = positions._t.contiguous().reshape([-1])
    if flat is None:
        tmp = x._t.contiguous().reshape([-1])
        _C.index_copy_(tmp, 0, pos, src)
        x._t.copy_(tmp.reshape(list(x.shape)))
    else:
        _C.index_copy_(flat, 0, pos, src)


class SetItem(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, value, idx):
        ctx.idx, ctx.vshape = idx, value.shape
        out = _wrap(x._t.clone())
        setitem(out, idx, value.detach())
        return out

    @staticmethod
    def backward(ctx, g):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = _wrap(g._t.clone())
            setitem(gx, ctx.idx, 0.0)
        gv = _sum_to(getitem(g, ctx.idx), ctx.vshape) if ctx.needs_input_grad[1] else None
        return gx, gv, None


# ---------------------------------------------------------------------------------------------
# unary math added in step 5 (kernels in ops/elementwise.*): gradients from their derivatives
# ---------------------------------------------------------------------------------------------
def _unary_grad(op, g, x, out):
    """d op(x) / dx * g for the step-5 unary ops, or None when `op` is not one of them."""
    if op == "sinh":
        return g * x.cosh()
    if op == "cosh":
        return g * x.sinh()
    if op == "tan":
        return g * (out * out + 1)
    if op == "asin":
        return g * (1 - x * x).rsqrt()
    if op == "acos":
        return -g * (1 - x * x).rsqrt()
    if op == "atan":
        return g / (x * x + 1)
    if op == "asinh":
        return g * (x * x + 1).rsqrt()
    if op == "acosh":
        return g * (x * x - 1).rsqrt()
    if op == "atanh":
        return g / (1 - x * x)
    if op == "erf":
        return g * (-(x * x)).exp() * (2.0 / math.sqrt(math.pi))
    if op == "erfc":
        return g * (-(x * x)).exp() * (-2.0 / math.sqrt(math.pi))
    return None


# ---------------------------------------------------------------------------------------------
# sorting and scans (kernels in ops/sort.*, ops/reduce.*)
# ---------------------------------------------------------------------------------------------
def sort_indices(x, dim, descending, k=None):
    """(values, indices) _C tensors of x sorted along dim (k: topk's first k, largest = descending).
    float16/bfloat16 sort their exact float32 widening (same order), values rounded back (exactly)."""
    t = x._t.to(_dtype.float32._c) if x._t.is_half else x._t
    values, indices = _C.sort(t, dim, descending) if k is None else _C.topk(t, k, dim, descending)
    return (values.to(x._t.dtype) if x._t.is_half else values), indices


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return _wrap(_C.cumsum(x._t, dim, False))

    @staticmethod
    def backward(ctx, g):
        # d/dx_i sum_{j >= i} g_j: a cumulative sum from the end.
        return _wrap(_C.cumsum(g._t, ctx.dim, True)), None


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        ctx.save_for_backward(x)
        return _wrap(_C.cumprod(x._t, dim))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return _wrap(_C.cumprod_backward(g.to(x.dtype)._t, x._t, ctx.dim)), None


# ---------------------------------------------------------------------------------------------
# scatter / index_add / index_fill (kernels in ops/index.*): out-of-place, differentiable forms
# ---------------------------------------------------------------------------------------------
class Scatter(Function):
    """x.scatter(dim, index, src|value, reduce): a copy of x with src scattered into it."""

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce):
        ctx.dim, ctx.reduce = dim, reduce
        out = _wrap(x._t.clone())
        _C.scatter_(out._t, dim, index._t, src._t, reduce or "")
        ctx.src_shape = src.shape
        if reduce == "multiply":
            ctx.save_for_backward(index, x, src, out)
        else:
            ctx.save_for_backward(index)
        return out

    @staticmethod
    def backward(ctx, g):
        index = ctx.saved_tensors[0]
        nx, ns = ctx.needs_input_grad[0], ctx.needs_input_grad[3]
        gx = gs = None
        g = g.contiguous()
        if ctx.reduce is None:
            if nx:  # overwritten positions get no gradient
                gx = _wrap(g._t.clone())
                _C.scatter_(gx._t, ctx.dim, index._t, _scalar(0, g)._t, "")
            if ns:
                gs = _wrap(_C.gather(g._t, ctx.dim, index._t))
        elif ctx.reduce == "add":
            gx = g if nx else None
            gs = _wrap(_C.gather(g._t, ctx.dim, index._t)) if ns else None
        else:  # multiply: out = x * prod(src scattered here)
            _, x, src, out = ctx.saved_tensors
            if nx:
                factor = _wrap(_C.full(list(x.shape), 1.0, x._t.dtype, x._t.device))
                _C.scatter_(factor._t, ctx.dim, index._t, src._t, "multiply")
                gx = g * factor
            if ns:
                # d out / d src_j = out / src_j (as torch's scatter_reduce "prod" without zeros).
                gs = _wrap(_C.gather((g * out)._t, ctx.dim, index._t)) / src
        if gs is not None and tuple(ctx.src_shape) != tuple(gs.shape):
            full_g = _wrap(_zeros(ctx.src_shape, gs))
            region = full_g._t  # src larger than index: positions outside index get 0
            for d, n in enumerate(gs.shape):
                region = region.slice(d, 0, n, 1)
            region.copy_(gs._t)
            gs = full_g
        return gx, None, None, gs, None


class IndexAdd(Function):
    """x.index_add(dim, index, source, alpha=alpha) out of place."""

    @staticmethod
    def forward(ctx, x, dim, index, src, alpha):
        ctx.dim, ctx.alpha = dim, alpha
        ctx.save_for_backward(index)
        out = _wrap(x._t.clone())
        s = src if alpha == 1 else _wrap(_C.binary("mul", src._t, _scalar(alpha, src)._t))
        _C.index_add_(out._t, dim, index._t, s._t)
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        gs = None
        if ctx.needs_input_grad[3]:
            gs = _wrap(_C.index_select(g._t, ctx.dim, index.reshape(-1)._t))
            if ctx.alpha != 1:
                gs = gs * ctx.alpha
        return g, None, None, gs, None


class IndexFill(Function):
    """x.index_fill(dim, index, value) out of place; filled slices get no gradient."""

    @staticmethod
    def forward(ctx, x, dim, index, value):
        ctx.dim = dim
        ctx.size = x.shape[dim] if x.dim() else 1
        ctx.vshape = value.shape if isinstance(value, Tensor) else ()
        ctx.save_for_backward(index)
        return _index_fill(_wrap(x._t.clone()), dim, index, value)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        gx = _index_fill(_wrap(g._t.clone()), ctx.dim, index, 0.0) if ctx.needs_input_grad[0] else None
        gv = None
        if ctx.needs_input_grad[3]:
            # A tensor value receives the gradient of every filled element (each slice once).
            uniq = np.unique(np.asarray(index.reshape(-1)._t.to_device("cpu")) % max(ctx.size, 1))
            sel = _C.from_numpy(np.ascontiguousarray(uniq, dtype=np.int64)).to_device(g._t.device)
            gv = _wrap(_C.sum(_C.index_select(g._t, ctx.dim, sel), [], False)).reshape(ctx.vshape)
        return gx, None, None, gv


def _index_fill(out, dim, index, value):
    """Fills out's slices index along dim with value, in place (index_copy_ of a broadcast value)."""
    idx = index.reshape(-1)
    shape = list(out.shape)
    if out.dim():
        shape[dim] = idx.numel()
    v = value._t.to(out._t.dtype) if isinstance(value, Tensor) else _scalar(value, out)._t
    src = v.reshape([]).expand(shape).contiguous()
    _C.index_copy_(out._t, dim, idx._t, src)
    return out


# ---------------------------------------------------------------------------------------------
# diagonal (a strided view) and einsum (a composition of views, sums and bmm)
# ---------------------------------------------------------------------------------------------
def _diag_view(t, offset, d1, d2):
    """The diagonal of the _C.Tensor t over dims (d1, d2) as a view, appended as the last dim."""
    shape, strides = list(t.shape), list(t.strides)
    n1, n2 = shape[d1], shape[d2]
    if offset >= 0:
        n = max(0, min(n1, n2 - offset))
        start = t.offset + (offset * strides[d2] if n else 0)
    else:
        n = max(0, min(n1 + offset, n2))
        start = t.offset + (-offset * strides[d1] if n else 0)
    rest = [d for d in range(len(shape)) if d not in (d1, d2)]
    return t.as_strided([shape[d] for d in rest] + [n], [strides[d] for d in rest] + [strides[d1] + strides[d2]],
                        start)


def _unfold_view(t, d, size, step, j=None):
    """The windows of the _C.Tensor t along dim d (Tensor.unfold) as a view; with `j`, only element j of each
    window (the last dim dropped), a view whose elements are distinct. A 0-d t has one window, of shape [size]."""
    if not t.dim() and j is None:
        return t.as_strided([size], [1], t.offset)
    shape, strides = list(t.shape) or [1], list(t.strides) or [1]
    n = (shape[d] - size) // step + 1
    out_shape, out_strides = shape[:], strides[:]
    out_shape[d], out_strides[d] = n, strides[d] * step
    if j is not None:
        return t.as_strided(out_shape, out_strides, t.offset + j * strides[d])
    return t.as_strided(out_shape + [size], out_strides + [strides[d]], t.offset)


class Unfold(Function):
    _half_native = True  # moves data only: half tensors pass through

    @staticmethod
    def forward(ctx, x, d, size, step):
        ctx.shape, ctx.args = x.shape, (d, size, step)
        return _wrap(_unfold_view(x._t, d, size, step))

    @staticmethod
    def backward(ctx, g):
        d, size, step = ctx.args
        out = _zeros(list(ctx.shape) or [1], g)
        for j in range(size):  # element j of every window: distinct input elements, so a plain add
            dst = _wrap(_unfold_view(out, d, size, step, j))
            dst.add_(g.select(-1, j))
        out = _wrap(out)
        return (out.reshape(ctx.shape) if not len(ctx.shape) else out), None, None, None


class Diagonal(Function):
    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        ctx.shape, ctx.args = x.shape, (offset, d1, d2)
        return _wrap(_diag_view(x._t, offset, d1, d2))

    @staticmethod
    def backward(ctx, g):
        out = _zeros(ctx.shape, g)
        _diag_view(out, *ctx.args).copy_(g._t)
        return _wrap(out), None, None, None


def _einsum_parse(equation, operands):
    """Labels per operand and for the output. Letters map to themselves; the dims covered by
    '...' get labels (0, k) numbered from the right-aligned broadcast of all ellipses."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->", 1)
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                           if len(operands) > len(terms) else
                           "einsum(): fewer operands were provided than specified in the equation")
    n_ell = 0
    parsed = []
    for term, op in zip(terms, operands):
        if term.count("...") > 1 or term.replace("...", "").count(".") or any(
                not (c.isalpha() or c == ".") for c in term):
            raise RuntimeError(f"einsum(): invalid subscript given at index {lhs.index(term)} in the equation "
                             f"string, subscripts must be in [a-zA-Z]")
        letters = term.replace("...", "")
        if "..." in term:
            e = op.dim() - len(letters)
            if e < 0:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(letters)}) is more "
                                 f"than the number of dimensions ({op.dim()}) for operand {len(parsed)}")
            n_ell = max(n_ell, e)
        elif len(letters) != op.dim():
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(letters)}) does not match "
                             f"the number of dimensions ({op.dim()}) for operand {len(parsed)} and no ellipsis was "
                             f"given")
        parsed.append(term)
    labels = []
    for term, op in zip(parsed, operands):
        if "..." in term:
            pre, post = term.split("...")
            e = op.dim() - len(pre) - len(post)
            labels.append(list(pre) + [(0, n_ell - e + k) for k in range(e)] + list(post))
        else:
            labels.append(list(term))
    ell = [(0, k) for k in range(n_ell)]
    if rhs is None:
        counts = {}
        for ls in labels:
            for c in ls:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and isinstance(c, str))
    else:
        if rhs.count("...") > 1 or rhs.replace("...", "").count("."):
            raise RuntimeError("einsum(): found '.' for output but it is not part of any ellipsis (...)")
        pre, _, post = rhs.partition("...")
        out = list(pre) + (ell if "..." in rhs else []) + list(post)
        seen = set()
        for c in out:
            if c in seen:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
            seen.add(c)
            if not any(c in ls for ls in labels) and isinstance(c, str):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input "
                                 f"operand")
    return labels, out


def _einsum_prepare(x, ls):
    """Takes diagonals of repeated labels so each label appears once in x."""
    ls = list(ls)
    while True:
        dup = next((c for i, c in enumerate(ls) if c in ls[:i]), None)
        if dup is None:
            return x, ls
        i = ls.index(dup)
        j = ls.index(dup, i + 1)
        if x.shape[i] != x.shape[j]:
            raise RuntimeError(f"einsum(): subscript {dup} is repeated for operand but the sizes don't match, "
                             f"{x.shape[i]} != {x.shape[j]}")
        x = Diagonal.apply(x, 0, i, j)
        ls = [c for k, c in enumerate(ls) if k not in (i, j)] + [dup]


def _einsum_sum(x, ls, keep):
    """Sums the labels of x not in `keep`."""
    dims = [i for i, c in enumerate(ls) if c not in keep]
    if not dims:
        return x, ls
    return x.sum(dim=dims), [c for c in ls if c in keep]


def _einsum_pair(a, la, b, lb, keep):
    """Contracts a (labels la) with b (labels lb) through one bmm; labels in `keep` survive."""
    batch = [c for c in la if c in lb and c in keep]
    contr = [c for c in la if c in lb and c not in keep]
    a_only = [c for c in la if c not in lb]
    b_only = [c for c in lb if c not in la]

    def size(c):
        sa = a.shape[la.index(c)] if c in la else 1
        sb = b.shape[lb.index(c)] if c in lb else 1
        if sa != sb and sa != 1 and sb != 1:
            raise RuntimeError(f"einsum(): subscript {c} has size {sb} for operand {list(b.shape)} which does not "
                               f"broadcast with previously seen size {sa}")
        return max(sa, sb)

    sizes = {c: size(c) for c in batch + contr}
    pa = a.permute([la.index(c) for c in batch + a_only + contr]) if la else a
    pb = b.permute([lb.index(c) for c in batch + contr + b_only]) if lb else b
    pa = pa.expand([sizes[c] for c in batch] + [a.shape[la.index(c)] for c in a_only] + [sizes[c] for c in contr])
    pb = pb.expand([sizes[c] for c in batch] + [sizes[c] for c in contr] + [b.shape[lb.index(c)] for c in b_only])
    nb = math.prod(sizes[c] for c in batch)
    m = math.prod(a.shape[la.index(c)] for c in a_only)
    k = math.prod(sizes[c] for c in contr)
    n = math.prod(b.shape[lb.index(c)] for c in b_only)
    from ..nn import functional as F

    out = F.bmm(pa.reshape(nb, m, k), pb.reshape(nb, k, n))
    shape = [sizes[c] for c in batch] + [a.shape[la.index(c)] for c in a_only] + [b.shape[lb.index(c)] for c in b_only]
    return out.reshape(shape), batch + a_only + b_only


def einsum(equation, *operands):
    """``torch.einsum``: explicit ('ij,jk->ik') and implicit ('ij,jk') outputs, '...' broadcasting,
    repeated labels (diagonals / traces). Operands are contracted left to right, one pair at a time,
    each pair as a single bmm after permute/reshape; labels needed by no later operand or the output
    are summed as early as possible."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): equation must be a str, got {type(equation).__name__}")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for op in operands:
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): expected Tensor operands, got {type(op).__name__}")
    labels, out = _einsum_parse(equation, operands)
    xs = []
    for x, ls in zip(operands, labels):
        xs.append(list(_einsum_prepare(x, ls)))
    for i, (x, ls) in enumerate(xs):
        later = set(out)
        for j, (_, lj) in enumerate(xs):
            if j != i:
                later.update(lj)
        xs[i] = list(_einsum_sum(x, ls, later))
    acc, la = xs[0]
    for i in range(1, len(xs)):
        b, lb = xs[i]
        keep = set(out)
        for _, lj in xs[i + 1:]:
            keep.update(lj)
        acc, la = _einsum_sum(acc, la, keep | set(lb))
        b, lb = _einsum_sum(b, lb, keep | set(la))
        acc, la = _einsum_pair(acc, la, b, lb, keep)
    acc, la = _einsum_sum(acc, la, set(out))
    # An output label that no operand has: impossible (checked); size-1 broadcast labels stay.
    perm = [la.index(c) for c in out]
    return acc.permute(perm) if perm != list(range(len(perm))) else acc
