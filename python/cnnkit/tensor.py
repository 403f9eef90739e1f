"""``cnnkit.Tensor``: a C++ tensor (``._t``, storage + shape + strides) plus autograd state.

Compute goes through autograd Functions (``_functions/``) that call the ``_C`` kernels; this file
holds the class, its operator overloads, type promotion, printing and the factory functions.
"""
from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from . import _C
from . import autograd as _ag
from ._dtype import (
    _BY_NAME,
    _device_str,
    _from_c,
    _from_numpy_dtype,
    _scalar_dtype,
    bfloat16,
    bool_,
    device,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    uint8,
)


class Size(tuple):
    """A tensor's shape: a tuple of ints (``torch.Size``)."""

    def __repr__(self):
        return f"cnnkit.Size([{', '.join(str(d) for d in self)}])"

    def numel(self):
        # Checked like a tensor's numel (core/shape.h): RuntimeError when it exceeds int64.
        return _C.shape_numel(list(self))

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


def _wrap(ct, requires_grad=False):
    """A Python tensor around a ``_C.Tensor``."""
    t = Tensor.__new__(Tensor)
    t._t = ct
    t._requires_grad = requires_grad
    t.grad = None
    t.grad_fn = None
    t._output_nr = 0
    t._acc = None
    t._retains_grad = False
    return t


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _shape_arg(size, op=None):
    """Accepts ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` and ``f(Size)``; every size must be an int
    that fits in int64 (TypeError otherwise, as torch's argument parser)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, np.integer)) or isinstance(s, (bool, np.bool_)):
            raise TypeError(f"size must be a sequence of ints, got an element of type {type(s).__name__}")
        s = int(s)
        if not _INT64_MIN <= s <= _INT64_MAX:
            where = f"{op}(): argument" if op else "argument"
            raise TypeError(f"{where} 'size' must be a sequence of ints that fit in int64, got {s} "
                            "(Overflow when unpacking long long)")
        out.append(s)
    return out


def _new_shape(op, size, dt):
    """The sizes of a new dense tensor of dtype ``dt`` built outside ``_C.empty`` (through NumPy),
    checked first as ``_C.empty`` checks them: RuntimeError for a negative size or a byte count past
    int64 ("Storage size calculation overflowed"), so NumPy never sees an impossible size."""
    shape = _shape_arg(size, op)
    _C.contiguous_nbytes(shape, dt.itemsize)
    return shape


def _numpy_alloc(op, make):
    """Runs ``make()`` (a NumPy allocation); a size NumPy cannot allocate becomes MemoryError, the
    same exception as cnnkit's own allocator's out-of-memory."""
    try:
        return make()
    except (MemoryError, ValueError) as e:
        if isinstance(e, ValueError) and "too big" not in str(e) and "Maximum allowed size" not in str(e):
            raise
        raise MemoryError(f"{op}: out of memory: {e}") from None


def _np_aliases(fn):
    """Lets a reduction accept NumPy's spellings as torch does: axis= for dim=, keepdims= for keepdim=."""
    import functools

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if "axis" in kwargs:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}() got both 'dim' and its alias 'axis'")
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            if "keepdim" in kwargs:
                raise TypeError(f"{fn.__name__}() got both 'keepdim' and its alias 'keepdims'")
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(self, *args, **kwargs)

    return wrapper


def _int_arg(op, value, name="dim"):
    """An int argument (a dim) accepted the way torch accepts one: a Python or NumPy integer, or an
    integer tensor of one element; bool, float, str and the rest raise TypeError naming ``op``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_floating_point \
            and value.dtype is not bool_:
        return int(value.item())
    where = f"{op}(): argument" if op else "argument"
    raise TypeError(f"{where} '{name}' must be int, not {type(value).__name__}")


def _dim_list(dim, ndim, op=None):
    """A reduction's ``dim`` (None, an int or a sequence of ints) as a list of ints, type-checked."""
    if dim is None:
        return []
    if isinstance(dim, (tuple, list)):
        return [_int_arg(op, d) for d in dim]
    return [_int_arg(op, dim)]


class Tensor:
    """A multi-dimensional array with autograd (``torch.Tensor``)."""

    __slots__ = ("_t", "_requires_grad", "grad", "grad_fn", "_output_nr", "_acc", "_retains_grad",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, *args, **kwargs):
        # torch.Tensor(2, 3) makes an uninitialised float tensor; torch.Tensor([1, 2]) copies data.
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            src = tensor(args[0], dtype=get_default_dtype())
        else:
            src = empty(*args)
        self._t = src._t
        self._requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._acc = None
        self._retains_grad = False

    @classmethod
    def _make_subclass(cls, data, requires_grad=False):
        """An instance of ``cls`` sharing ``data``'s storage (how ``nn.Parameter`` is built).
        Like torch, it allocates without running ``cls.__new__``/``__init__``."""
        t = object.__new__(cls)
        t._t = data._t
        t._requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._output_nr = 0
        t._acc = None
        t._retains_grad = False
        t.requires_grad = requires_grad
        return t

    # ------------------------------------------------------------------------------------------
    # metadata
    # ------------------------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._t.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._t.shape)
        return self._t.shape[_C_wrap(dim, self.dim())]

    def stride(self, dim=None):
        if dim is None:
            return tuple(self._t.strides)
        return self._t.strides[_C_wrap(dim, self.dim())]

    def storage_offset(self):
        return self._t.offset

    def dim(self):
        return self._t.dim()

    ndimension = dim

    @property
    def ndim(self):
        return self._t.dim()

    def numel(self):
        return self._t.numel()

    nelement = numel

    def element_size(self):
        return self._t.itemsize

    @property
    def dtype(self):
        return _from_c(self._t.dtype)

    @property
    def device(self):
        return device(self._t.device) if self._t.device == "cpu" else device(*self._t.device.split(":"))

    @property
    def is_cuda(self):
        return self._t.device != "cpu"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_signed(self):
        return self.dtype.is_signed

    def is_contiguous(self, memory_format=None):
        return self._t.is_contiguous()

    def data_ptr(self):
        return self._t.data_ptr

    @property
    def requires_grad(self):
        return self._requires_grad or self.grad_fn is not None

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
                "in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def data(self):
        return _wrap(self._t)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._t = value._t

    @property
    def T(self):
        return self.permute(*reversed(range(self.dim())))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    @property
    def is_sparse(self):
        return False

    # ------------------------------------------------------------------------------------------
    # autograd
    # ------------------------------------------------------------------------------------------
    def _attach(self, node, nr):
        self.grad_fn = node
        self._output_nr = nr

    def _accumulator(self):
        if self._acc is None:
            self._acc = _ag.AccumulateGrad(self)
        return self._acc

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        _ag.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self):
        return _wrap(self._t)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def register_hook(self, hook):
        """Calls ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node, nr = (self.grad_fn, self._output_nr) if self.grad_fn is not None else (self._accumulator(), 0)
        hooks = node._hooks.setdefault(nr, [])
        hooks.append(hook)

        class _Handle:
            def remove(self_inner):
                if hook in hooks:
                    hooks.remove(hook)

        return _Handle()

    def retain_grad(self):
        """Keeps the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if self.grad_fn is None:
            return
        self._retains_grad = True
        self.grad_fn.__dict__.setdefault("_retained", {})[self._output_nr] = self

    @property
    def retains_grad(self):
        return self._retains_grad

    # ------------------------------------------------------------------------------------------
    # conversion
    # ------------------------------------------------------------------------------------------
    def numpy(self, force=False):
        if self.is_cuda:
            raise TypeError(
                f"can't convert {self._t.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
            )
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.dtype is bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        return np.asarray(self._t)

    def __array__(self, dtype=None, copy=None):
        if self.is_cuda:
            raise TypeError(
                f"can't convert {self._t.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
            )
        a = np.asarray(self._t)
        return a.astype(dtype) if dtype is not None else a

    def item(self):
        return self._t.item()

    def tolist(self):
        return _host_array(self._t).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __len__(self):
        if self.dim() == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._t.shape[0]

    def __iter__(self):
        if self.dim() == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._t.shape[0]))

    def __hash__(self):
        return id(self)

    def __format__(self, spec):
        if self.dim() == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, proto):
        if self.dtype is bfloat16:  # NumPy has no bfloat16: pickle its bits (int16) and say so
            bits = np.array(self._t.to_device("cpu").view_dtype(int16._c))
            return (_rebuild, (bits, self.requires_grad, self._t.device, "bfloat16"))
        return (_rebuild, (np.array(self._t.to_device("cpu")), self.requires_grad, self._t.device))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol")
        new = type(self).__new__(type(self))
        new._t = self._t.clone()
        new._requires_grad = self._requires_grad
        new.grad = None if self.grad is None else self.grad.clone()
        new.grad_fn = None
        new._output_nr = 0
        new._acc = None
        new._retains_grad = False
        memo[id(self)] = new
        return new

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; copy=False returns self when nothing changes.

        ``non_blocking=True`` (keyword, or a bool after the device/dtype as in torch): a copy from pinned
        host memory to the GPU (or from the GPU into pinned memory) is queued asynchronously."""
        dt, dev = kwargs.get("dtype"), kwargs.get("device")
        non_blocking = bool(kwargs.get("non_blocking", False))
        flags = []
        for a in args:
            if isinstance(a, bool):
                flags.append(a)
            elif isinstance(a, dtype):
                dt = a
            elif isinstance(a, Tensor):
                dt, dev = a.dtype, a.device
            elif isinstance(a, (str, device, int)):
                dev = a
        if flags:  # torch's positional order: non_blocking, then copy
            non_blocking = flags[0]
            if len(flags) > 1:
                kwargs.setdefault("copy", flags[1])
        out = self
        if dt is not None and dt is not self.dtype:
            out = _fn().Cast.apply(self, dt)
        if dev is not None:
            target = _C.resolve_device(_device_str(dev))
            if target != self._t.device:
                out = _fn().ToDevice.apply(out, target, non_blocking)
        if kwargs.get("copy") and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu") if self.is_cuda else self

    def cuda(self, device=None, non_blocking=False):
        return self.to(device if device is not None else "cuda", non_blocking=non_blocking)

    def is_pinned(self, device=None):
        """Whether this tensor lives in page-locked host memory (``pin_memory()``)."""
        return self._t.is_pinned()

    def pin_memory(self, device=None):
        """A copy in page-locked host memory (itself when already pinned), so that
        ``.to('cuda', non_blocking=True)`` is an asynchronous transfer. Needs a usable GPU, as torch."""
        from . import cuda as _cuda

        if self.is_cuda:
            raise RuntimeError(f"cannot pin '{self.type()}' on {self._t.device}: only dense CPU tensors can be pinned")
        if not _cuda.is_available():
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if self._t.is_pinned():
            return self
        out = _wrap(self._t.pin_memory())
        out._requires_grad = self._requires_grad and self.is_leaf
        return out

    def type(self, dtype=None, non_blocking=False):
        """The type name (``'cnnkit.IntTensor'``) without an argument; else a copy converted to
        ``dtype`` (a dtype or a type name such as ``'torch.HalfTensor'``/``'cnnkit.HalfTensor'``)."""
        if dtype is None:
            return "cnnkit." + _TYPE_NAMES[self.dtype.name]
        if isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            match = [k for k, v in _TYPE_NAMES.items() if v == name]
            if not match:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _BY_NAME[match[0]]
        return self.to(dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def bfloat16(self):
        return self.to(bfloat16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def short(self):
        return self.to(int16)

    def char(self):
        return self.to(int8)

    def bool(self):
        return self.to(bool_)

    def byte(self):
        return self.to(uint8)

    def clone(self, memory_format=None):
        return _fn().Clone.apply(self)

    def contiguous(self, memory_format=None):
        return self if self._t.is_contiguous() else self.clone()

    # ------------------------------------------------------------------------------------------
    # in place
    # ------------------------------------------------------------------------------------------
    def _check_inplace(self):
        if _ag.is_grad_enabled() and self.is_leaf and self._requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")

    def _rebase(self, out):
        """Makes ``self`` hold ``out``'s values (in its own storage) and ``out``'s history."""
        self._t.copy_(out._t)
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self._output_nr = out._output_nr
        return self

    def copy_(self, src, non_blocking=False):
        self._check_inplace()
        if not isinstance(src, Tensor):
            src = tensor(src)
        if _ag.is_grad_enabled() and (src.requires_grad or self.requires_grad):
            return self._rebase(_fn().CopyInto.apply(self, src))
        self._t.copy_(src._t, bool(non_blocking))
        return self

    def zero_(self):
        self._check_inplace()
        self._t.fill_(0.0)
        return self

    def fill_(self, value):
        self._check_inplace()
        self._t.fill_(float(value.item() if isinstance(value, Tensor) else value))
        return self

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from . import random as _r

        self._check_inplace()
        self._t.copy_(_r._uniform_c(self.shape, a, b, generator))
        return self

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from . import random as _r

        self._check_inplace()
        self._t.copy_(_r._normal_c(self.shape, mean, std, generator))
        return self

    def bernoulli_(self, p=0.5, generator=None):
        from . import random as _r

        self._check_inplace()
        self._t.copy_(_C.binary("lt", _r._uniform_c(self.shape, 0.0, 1.0, generator),
                                 _C.full([], float(p), _C.DType.float64, "cpu")))
        return self

    def random_(self, low=0, high=None, generator=None):
        from . import random as _r

        if high is None:
            low, high = 0, low
        self._t.copy_(_r.randint(low, high, tuple(self.shape), generator=generator, dtype=int64)._t)
        return self

    def masked_fill_(self, mask, value):
        self._check_inplace()
        if _ag.is_grad_enabled() and self.requires_grad:
            return self._rebase(self.masked_fill(mask, value))
        if self._t.is_half:  # no kernel computes in half types: fill through float32
            self._t.copy_(self.masked_fill(mask, value)._t)
            return self
        _C.masked_fill_(self._t, mask._t, float(value))
        return self

    def _inplace_binary(self, op, other):
        """self = self op other in place: computed in the promoted dtype (torch's rule), which must be
        castable to self's dtype (no float result into an integer tensor)."""
        self._check_inplace()
        if isinstance(other, (list, tuple, np.ndarray)):
            other = tensor(other, device=self.device)
        rt = _binary_dtype(op, self, other)
        if not can_cast(rt, self.dtype):
            raise RuntimeError(f"result type {_TORCH_SCALAR_NAMES[rt.name]} can't be cast to the desired output type "
                               f"{_TORCH_SCALAR_NAMES[self.dtype.name]}")
        if _ag.is_grad_enabled() and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            return self._rebase(_binary(op, self, other))
        if rt is not self.dtype or self._t.is_half:  # computed out of place (half types in float32), cast into self
            self._t.copy_(_binary(op, self, other)._t)
            return self
        _C.binary_(op, self._t, _as_operand(other, self.dtype)._t)
        return self

    def add_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary("add", other)

    def sub_(self, other, alpha=1):
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary("sub", other)

    def mul_(self, other):
        return self._inplace_binary("mul", other)

    def div_(self, other):
        return self._inplace_binary("div", other)

    def pow_(self, e):
        self._check_inplace()
        return self._rebase(self.pow(e)) if self.requires_grad else self.copy_(self.pow(e))

    def clamp_(self, min=None, max=None):
        self._check_inplace()
        return self._rebase(self.clamp(min, max)) if self.requires_grad else self.copy_(self.clamp(min, max))

    clip_ = clamp_

    def relu_(self):
        self._check_inplace()
        r = self.relu()
        return self._rebase(r) if r.requires_grad else self.copy_(r)

    def __iadd__(self, o):
        return self.add_(o)

    def __isub__(self, o):
        return self.sub_(o)

    def __imul__(self, o):
        return self.mul_(o)

    def __itruediv__(self, o):
        return self.div_(o)

    # ------------------------------------------------------------------------------------------
    # arithmetic
    # ------------------------------------------------------------------------------------------
    def __add__(self, o):
        return _binary("add", self, o)

    def __radd__(self, o):
        return _binary("add", o, self)

    def __sub__(self, o):
        return _binary("sub", self, o)

    def __rsub__(self, o):
        return _binary("sub", o, self)

    def __mul__(self, o):
        return _binary("mul", self, o)

    def __rmul__(self, o):
        return _binary("mul", o, self)

    def __truediv__(self, o):
        return _binary("div", self, o)

    def __rtruediv__(self, o):
        # torch's Tensor.__rdiv__: `number / t` is t.reciprocal() * number (it can differ from a true
        # division in the last bit; half types round the reciprocal first)
        if isinstance(o, (numbers.Number, np.generic)):
            return self.reciprocal() * o
        return _binary("div", o, self)

    def __floordiv__(self, o):
        return _binary("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return _binary("floor_divide", o, self)

    def __mod__(self, o):
        return _binary("remainder", self, o)

    def __pow__(self, o):
        return self.pow(o)

    def __rpow__(self, o):
        return _binary("pow", o, self)

    def matmul(self, o):
        return _fn_nn().matmul(self, o)

    def mm(self, o):
        return _fn_nn().mm(self, o)

    def bmm(self, o):
        return _fn_nn().bmm(self, o)

    def __matmul__(self, o):
        return _fn_nn().matmul(self, o)

    def __rmatmul__(self, o):
        return _fn_nn().matmul(o, self)

    def __neg__(self):
        return self.neg()

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __eq__(self, o):
        return _binary("eq", self, o)

    def __ne__(self, o):
        return _binary("ne", self, o)

    def __lt__(self, o):
        return _binary("lt", self, o)

    def __le__(self, o):
        return _binary("le", self, o)

    def __gt__(self, o):
        return _binary("gt", self, o)

    def __ge__(self, o):
        return _binary("ge", self, o)

    def __and__(self, o):
        return _binary("logical_and", self, o)

    def __or__(self, o):
        return _binary("logical_or", self, o)

    def __xor__(self, o):
        return _binary("logical_xor", self, o)

    def __invert__(self):
        if self.dtype is not bool_:
            raise TypeError("~ (bitwise not) is only supported on bool tensors in cnnkit")
        return _unary("logical_not", self)

    def add(self, other, alpha=1):
        return _binary("add", self, other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return _binary("sub", self, other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return _binary("mul", self, other)

    multiply = mul

    def div(self, other, rounding_mode=None):
        if rounding_mode == "floor":
            return _binary("floor_divide", self, other)
        if rounding_mode == "trunc":
            return _binary("div", self, other).trunc()
        return _binary("div", self, other)

    divide = div
    true_divide = div

    def pow(self, e):
        if isinstance(e, Tensor):
            return _binary("pow", self, e)
        if not isinstance(e, numbers.Number):
            raise TypeError(f"pow(): exponent must be a number or a Tensor, got {type(e).__name__}")
        x = self if self.dtype.is_floating_point or isinstance(e, int) and e >= 0 else self.to(get_default_dtype())
        if not x.dtype.is_floating_point and not isinstance(e, int):
            x = x.to(get_default_dtype())
        return _fn().PowScalar.apply(x, e)

    def maximum(self, o):
        return _binary("maximum", self, o)

    def minimum(self, o):
        return _binary("minimum", self, o)

    def eq(self, o):
        return _binary("eq", self, o)

    def ne(self, o):
        return _binary("ne", self, o)

    def lt(self, o):
        return _binary("lt", self, o)

    def le(self, o):
        return _binary("le", self, o)

    def gt(self, o):
        return _binary("gt", self, o)

    def ge(self, o):
        return _binary("ge", self, o)

    def logical_and(self, o):
        return _binary("logical_and", self, o)

    def logical_or(self, o):
        return _binary("logical_or", self, o)

    def logical_not(self):
        return _unary("logical_not", self)

    def equal(self, o):
        return self.shape == o.shape and bool((self == o).all())

    def allclose(self, o, rtol=1e-05, atol=1e-08, equal_nan=False):
        return bool(self.isclose(o, rtol, atol, equal_nan).all())

    def isclose(self, o, rtol=1e-05, atol=1e-08, equal_nan=False):
        o = _as_operand(o, self.dtype)
        diff = (self - o).abs()
        close = diff <= atol + rtol * o.abs()
        close = close | (self == o)
        if equal_nan:
            close = close | (self.isnan() & o.isnan())
        return close

    # ---- unary ----
    def neg(self):
        return _unary("neg", self)

    negative = neg

    def exp(self):
        return _unary("exp", self)

    def log(self):
        return _unary("log", self)

    def log2(self):
        return _unary("log2", self)

    def log1p(self):
        return _unary("log1p", self)

    def expm1(self):
        return _unary("expm1", self)

    def sqrt(self):
        return _unary("sqrt", self)

    def rsqrt(self):
        return _unary("rsqrt", self)

    def abs(self):
        return _unary("abs", self)

    absolute = abs

    def sign(self):
        return _unary("sign", self)

    def sin(self):
        return _unary("sin", self)

    def cos(self):
        return _unary("cos", self)

    def floor(self):
        return _unary("floor", self)

    def ceil(self):
        return _unary("ceil", self)

    def round(self, decimals=0):
        if decimals:
            s = 10.0 ** decimals
            return _unary("round", self * s) / s
        return _unary("round", self)

    def trunc(self):
        return _unary("trunc", self)

    def reciprocal(self):
        return _unary("reciprocal", self)

    def square(self):
        return _unary("square", self)

    def isnan(self):
        return _unary("isnan", self)

    def isinf(self):
        return _unary("isinf", self)

    def isfinite(self):
        return _unary("isfinite", self)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            # Tensor bounds broadcast; composed of where so the gradient goes to x inside
            # [min, max] (ties included) and to the bound that was applied, as torch.clamp does.
            out = self
            if min is not None:
                out = where(out < min, min, out)
            if max is not None:
                out = where(out > max, max, out)
            return out
        return _fn().Clamp.apply(self, min, max)

    clip = clamp

    def clamp_min(self, m):
        return self.clamp(min=m)

    def clamp_max(self, m):
        return self.clamp(max=m)

    def relu(self):
        return _fn_nn().relu(self)

    def sigmoid(self):
        return _fn_nn().sigmoid(self)

    def tanh(self):
        return _fn_nn().tanh(self)

    def softmax(self, dim, dtype=None):
        return _fn_nn().softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        return _fn_nn().log_softmax(self, dim, dtype=dtype)

    def where(self, condition, other):
        return where(condition, self, other)

    def masked_fill(self, mask, value):
        return _fn().MaskedFill.apply(self, mask, value)

    def lerp(self, end, weight):
        return self + (end - self) * weight

    # ---- reductions ----
    @_np_aliases
    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self.to(dtype) if dtype is not None else self
        out = _fn().Sum.apply(x, _dim_list(dim, self.dim()), keepdim)
        # integers sum in int64; an explicit dtype (sum(dtype=int32)) is the result's (wrapped) type
        return out.to(dtype) if dtype is not None and out.dtype is not dtype else out

    @_np_aliases
    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self.to(dtype) if dtype is not None else self
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {x.dtype.name.capitalize()}"
            )
        return _fn().Mean.apply(x, _dim_list(dim, self.dim()), keepdim)

    @_np_aliases
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        if isinstance(dim, bool) and unbiased is None:  # torch's var(unbiased) overload: var(True)
            dim, unbiased = None, dim
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        dims = _dim_list(dim, self.dim())
        n = self.numel() if not dims or not self.dim() else math.prod(self.shape[d] for d in dims)
        centered = self - self.mean(dim=dims or None, keepdim=True)
        return (centered * centered).sum(dim=dims or None, keepdim=keepdim) / builtins.max(n - correction, 0)

    @_np_aliases
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    @_np_aliases
    def var_mean(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction), self.mean(dim, keepdim)

    @_np_aliases
    def std_mean(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.std(dim, unbiased, keepdim, correction=correction), self.mean(dim, keepdim)

    @_np_aliases
    def prod(self, dim=None, keepdim=False, dtype=None):
        # exp(sum(log|x|)) loses exactness; prod is rare in CNN code, so compute it by repeated mul.
        x = self.to(dtype) if dtype is not None else self
        if dim is None:
            x = x.reshape(-1)
            dim = 0
        if x.dim() == 0:  # a 0-d tensor reduces over its one implicit dim (0 or -1) to itself, as in torch
            _C_wrap(dim, 1)
            return x.clone()
        dim = _C_wrap(dim, x.dim())
        # an empty dim's product is 1; built from x (sum over nothing is 0) so the graph reaches x, as in torch
        out = x.select(dim, 0) if x.shape[dim] else x.sum(dim) * 0 + 1
        for i in range(1, x.shape[dim]):
            out = out * x.select(dim, i)
        return out.unsqueeze(dim) if keepdim else out

    def _minmax(self, which, dim, keepdim):
        if dim is None:
            return _fn().MaxAll.apply(self, which)
        from .return_types import minmax

        values, indices = _fn().MaxDim.apply(self, which, _int_arg(which, dim), keepdim)
        return minmax(values, indices)

    @_np_aliases
    def max(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._minmax("max", dim, keepdim)

    @_np_aliases
    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._minmax("min", dim, keepdim)

    @_np_aliases
    def amax(self, dim=(), keepdim=False):
        dims = _dim_list(dim, self.dim())
        if not dims:
            return self.max()
        out = self
        for d in sorted((_C_wrap(d, self.dim()) for d in dims), reverse=True):
            out = out.max(d, keepdim=True)[0]
        return out if keepdim else out.squeeze_dims(dims)

    @_np_aliases
    def amin(self, dim=(), keepdim=False):
        if self.dtype is uint8:  # negation wraps around for unsigned values: mirror inside [0, 255]
            return 255 - (255 - self).amax(dim, keepdim)
        return -((-self).amax(dim, keepdim))

    @_np_aliases
    def argmax(self, dim=None, keepdim=False):
        return _wrap(_C.argmax(_compute_t(self), None if dim is None else _int_arg("argmax", dim), keepdim))

    @_np_aliases
    def argmin(self, dim=None, keepdim=False):
        return _wrap(_C.argmin(_compute_t(self), None if dim is None else _int_arg("argmin", dim), keepdim))

    @_np_aliases
    def all(self, dim=None, keepdim=False):
        x = self if self.dtype is bool_ else self != 0
        dims = _dim_list(dim, self.dim())
        n = x.numel() if not dims or not x.dim() else math.prod(x.shape[_C_wrap(d, x.dim())] for d in dims)
        return x.long().sum(dim, keepdim) == n

    @_np_aliases
    def any(self, dim=None, keepdim=False):
        x = self if self.dtype is bool_ else self != 0
        return x.long().sum(dim, keepdim) > 0

    @_np_aliases
    def count_nonzero(self, dim=None):
        return (self != 0).long().sum(dim)

    @_np_aliases
    def norm(self, p="fro", dim=None, keepdim=False):
        if p in ("fro", 2):
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return self.abs().amax(dim if dim is not None else (), keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def sum_to_size(self, *size):
        size = tuple(_shape_arg(size))
        if tuple(self.shape) == size:
            return self
        lead = self.dim() - len(size)
        dims = list(range(lead)) + [lead + i for i, s in enumerate(size) if s == 1 and self.shape[lead + i] != 1]
        out = self.sum(dim=dims, keepdim=True) if dims else self
        return out.reshape(size)

    # ------------------------------------------------------------------------------------------
    # shape and views
    # ------------------------------------------------------------------------------------------
    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], dtype):
            # Reinterprets the bytes (equal element sizes only; not differentiable, like torch).
            return _wrap(self._t.view_dtype(shape[0]._c))
        return _fn().View.apply(self, _shape_arg(shape, "view"), False)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape(self, *shape):
        return _fn().View.apply(self, _shape_arg(shape, "reshape"), True)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.dim() == 0:
            return self.reshape(1)
        s = _C_wrap(start_dim, self.dim())
        e = _C_wrap(end_dim, self.dim())
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = list(self.shape)
        return self.reshape(shape[:s] + [math.prod(shape[s:e + 1])] + shape[e + 1:])

    def unflatten(self, dim, sizes):
        dim = _C_wrap(dim, self.dim())
        shape = list(self.shape)
        return self.reshape(shape[:dim] + list(sizes) + shape[dim + 1:])

    def permute(self, *dims):
        return _fn().Permute.apply(self, _shape_arg(dims))

    def transpose(self, d0, d1):
        nd = builtins.max(self.dim(), 1)
        perm = list(range(self.dim()))
        if self.dim() == 0:
            return self
        a, b = _C_wrap(d0, nd), _C_wrap(d1, nd)
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(perm)

    swapaxes = transpose

    def t(self):
        if self.dim() > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.dim()}D")
        return self.transpose(0, 1) if self.dim() == 2 else self

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape([s for s in self.shape if s != 1])
        dims = _dim_list(dim, self.dim())
        return self.squeeze_dims(dims)

    def squeeze_dims(self, dims):
        nd = self.dim()
        drop = {_C_wrap(d, nd) for d in dims}
        return self.reshape([s for i, s in enumerate(self.shape) if not (i in drop and s == 1)])

    def unsqueeze(self, dim):
        d = _C_wrap(dim, self.dim() + 1)
        shape = list(self.shape)
        return _fn().View.apply(self, shape[:d] + [1] + shape[d:], False) if self._t.is_contiguous() else \
            _fn().Unsqueeze.apply(self, d)

    def expand(self, *sizes):
        return _fn().Expand.apply(self, _shape_arg(sizes, "expand"))

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def repeat(self, *sizes):
        sizes = _shape_arg(sizes)
        if len(sizes) < self.dim():
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
        x = self.reshape([1] * (len(sizes) - self.dim()) + list(self.shape))
        # Interleave a new axis of size r before each dim, expand, then merge: (r0, s0, r1, s1, ...).
        inter = []
        for r, s in zip(sizes, x.shape):
            inter += [1, s]
        x = x.reshape(inter)
        target = []
        for r, s in zip(sizes, x.shape[1::2]):
            target += [r, s]
        return x.expand(target).reshape([r * s for r, s in zip(sizes, x.shape[1::2])])

    def narrow(self, dim, start, length):
        dim = _C_wrap(dim, self.dim())
        idx = [slice(None)] * dim + [slice(start, start + length)]
        return self[tuple(idx)]

    def unfold(self, dimension, size, step):
        """A view holding every window of `size` elements taken along `dimension` every `step` elements:
        that dim becomes the window count, (L - size) // step + 1, and a new last dim of length `size` is
        appended (torch.Tensor.unfold). Windows may overlap; their gradients add up."""
        for name, v in (("size", size), ("step", step)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
                raise TypeError(f"unfold(): argument '{name}' must be int, not {type(v).__name__}")
        d = _dim_arg("unfold", dimension, builtins.max(self.dim(), 1), "dimension")
        length = self.shape[d] if self.dim() else 1
        if size > length:
            raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {length} but size is {size}")
        if size < 0:
            raise RuntimeError(f"unfold: size is {size} but must be >= 0")
        if step <= 0:
            raise RuntimeError(f"unfold: step is {step} but must be > 0")
        return _fn().Unfold.apply(self, d, int(size), int(step))

    def select(self, dim, index):
        dim = _C_wrap(dim, self.dim())
        return self[(slice(None),) * dim + (index,)]

    def chunk(self, chunks, dim=0):
        n = self.shape[dim]
        step = -(-n // chunks)
        return self.split(step, dim)

    def split(self, split_size, dim=0):
        dim = _C_wrap(dim, self.dim())
        n = self.shape[dim]
        if isinstance(split_size, int):
            sizes = [builtins.min(split_size, n - i) for i in range(0, n, split_size)] or [0]
        else:
            sizes = list(split_size)
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {dim}), but got split_sizes={sizes}")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def unbind(self, dim=0):
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    def index_select(self, dim, index):
        return _fn().IndexSelect.apply(self, _C_wrap(dim, self.dim()), index)

    def gather(self, dim, index):
        return _fn().Gather.apply(self, _C_wrap(dim, self.dim()), index)

    def nonzero(self, as_tuple=False):
        nz = _wrap(_C.nonzero(_compute_t(self)))
        return tuple(nz[:, i] for i in range(self.dim())) if as_tuple else nz

    def masked_select(self, mask):
        return self[mask.expand(self.shape) if mask.shape != self.shape else mask]

    # ------------------------------------------------------------------------------------------
    # sorting, scans, flips, triangles (kernels in ops/sort.*, ops/reduce.*; the rest composed)
    # ------------------------------------------------------------------------------------------
    def sort(self, dim=-1, descending=False, stable=False):
        """Always stable (equal values keep their order); NaN sorts as the greatest value."""
        from .return_types import sort as _sort

        d = _dim_arg("sort", dim, self.dim())
        values, indices = _fn().sort_indices(self, d, bool(descending))
        index = _wrap(indices)
        if _ag.is_grad_enabled() and self.requires_grad:
            return _sort(self.gather(d, index), index)  # values differentiable through gather
        return _sort(_wrap(values), index)

    def argsort(self, dim=-1, descending=False, stable=False):
        return self.sort(dim, descending, stable)[1]

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The k largest (smallest) along dim, always in sorted order; ties keep index order."""
        from .return_types import topk as _topk

        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
        d = _dim_arg("topk", dim, self.dim())
        values, indices = _fn().sort_indices(self, d, bool(largest), int(k))
        index = _wrap(indices)
        if _ag.is_grad_enabled() and self.requires_grad:
            return _topk(self.gather(d, index), index)
        return _topk(_wrap(values), index)

    def msort(self):
        return self.sort(0)[0]

    def kthvalue(self, k, dim=-1, keepdim=False):
        """The k-th smallest element (1-based) along dim and its index (NaN counts as the greatest)."""
        from .return_types import kthvalue as _kth

        d = _dim_arg("kthvalue", dim, self.dim())
        n = self.shape[d] if self.dim() else 1
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"kthvalue(): argument 'k' must be int, not {type(k).__name__}")
        if not 1 <= k <= n:
            raise IndexError(f"kthvalue(): selected number k out of range for dimension {d}")
        _, indices = _fn().sort_indices(self, d, False, int(k))
        index = _wrap(indices).narrow(d, k - 1, 1) if self.dim() else _wrap(indices)
        values = self.gather(d, index)
        if not keepdim and self.dim():
            values, index = values.squeeze(d), index.squeeze(d)
        return _kth(values, index)

    def median(self, dim=None, keepdim=False):
        """The lower median (element (n-1)//2 in sorted order); a line holding NaN gives NaN and the
        index of its first NaN, as torch. Without dim: the median of all elements (a 0-d tensor)."""
        from .return_types import median as _median

        if dim is None:
            if self.numel() == 0:
                return full((), float("nan"), dtype=self.dtype, device=self.device)
            return self.reshape(-1).median(0).values
        d = _dim_arg("median", dim, self.dim())
        n = self.shape[d] if self.dim() else 1
        if n == 0:
            raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
        _, indices = _fn().sort_indices(self, d, False)
        order = _wrap(indices)
        if self.dtype.is_floating_point:
            # NaNs sort last in order of position: the first NaN sits at n - (number of NaNs).
            n_nan = self.isnan().long().sum(d, keepdim=True) if self.dim() else self.isnan().long()
            pos = where(n_nan > 0, n - n_nan, (n - 1) // 2)
        else:
            pos = full([1] * self.dim(), (n - 1) // 2, dtype=int64, device=self.device)
        index = order.gather(d, pos.expand([*self.shape[:d], 1, *self.shape[d + 1:]]).contiguous()) if self.dim() \
            else order
        values = self.gather(d, index)
        if not keepdim and self.dim():
            values, index = values.squeeze(d), index.squeeze(d)
        return _median(values, index)

    @_np_aliases
    def logsumexp(self, dim, keepdim=False):
        """log(sum(exp(x))) over dim (int or tuple), shifted by the detached max for stability."""
        x = self if self.dtype.is_floating_point else self.to(get_default_dtype())
        if x.numel() == 0:  # nothing to take the max of: shift by 0 (an empty reduced dim gives log(0) = -inf)
            m = x.detach().sum(dim, keepdim=True)
        else:
            m = x.detach().amax(dim, keepdim=True)
            m = where(m.isinf(), 0.0, m)
        out = (x - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.squeeze_dims(_dim_list(dim, self.dim()) or list(range(self.dim())))

    def take_along_dim(self, indices, dim=None):
        """torch.take_along_dim: gather with indices broadcast against self (flattened when dim is None)."""
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        d = _dim_arg("take_along_dim", dim, self.dim())
        shape_x, shape_i = list(self.shape), list(indices.shape)
        if len(shape_i) != len(shape_x):
            raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of "
                               f"dimensions, but got {len(shape_x)} dimensions for input, and {len(shape_i)} "
                               f"dimensions for indices")
        bx, bi = list(shape_x), list(shape_i)
        bx[d] = bi[d] = 1
        b = list(_C.broadcast_shapes(bx, bi))
        x = self.expand([s if k != d else shape_x[d] for k, s in enumerate(b)])
        idx = indices.expand([s if k != d else shape_i[d] for k, s in enumerate(b)]).contiguous()
        return x.gather(d, idx)

    def cumsum(self, dim, dtype=None):
        d = _dim_arg("cumsum", dim, self.dim())
        x = self.to(dtype) if dtype is not None else self
        return _fn().Cumsum.apply(x, d)

    def cumprod(self, dim, dtype=None):
        d = _dim_arg("cumprod", dim, self.dim())
        x = self.to(dtype) if dtype is not None else self
        return _fn().Cumprod.apply(x, d)

    def cumsum_(self, dim, dtype=None):
        return self.copy_(self.cumsum(dim, dtype))

    def cumprod_(self, dim, dtype=None):
        return self.copy_(self.cumprod(dim, dtype))

    def flip(self, *dims, **kwargs):
        """Reverses the order along each of dims (an index_select with a reversed index per dim)."""
        if "dims" in kwargs:  # torch.flip(x, dims=[1]) / x.flip(dims=(0, 1))
            if dims:
                raise TypeError("flip() got multiple values for argument 'dims'")
            dims = (kwargs.pop("dims"),)
        if kwargs:
            raise TypeError(f"flip() got an unexpected keyword argument '{next(iter(kwargs))}'")
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        ds = [_dim_arg("flip", d, self.dim(), "dims") for d in dims]
        if len(set(ds)) != len(ds):
            raise RuntimeError(f"flip(): dims has duplicates, original flip dims size={len(ds)}, but unique flip "
                               f"dims size={len(set(ds))}")
        out = self
        for d in ds:
            if self.dim() == 0 or self.shape[d] <= 1:
                continue
            rev = _wrap(_C.from_numpy(np.arange(self.shape[d] - 1, -1, -1, dtype=np.int64)))
            out = out.index_select(d, rev.to(self.device) if self.is_cuda else rev)
        return out if out is not self else self.clone()

    def fliplr(self):
        if self.dim() < 2:
            raise RuntimeError("Input must be >= 2-d.")
        return self.flip(1)

    def flipud(self):
        if self.dim() < 1:
            raise RuntimeError("Input must be >= 1-d.")
        return self.flip(0)

    def roll(self, shifts, dims=None):
        """Rolls elements along dims (without dims: over the flattened tensor, then reshaped);
        composed of narrow + cat per dim."""
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        if dims is None:
            if len(shifts) != 1:
                raise RuntimeError(f"roll(): shifts and dimensions must align. shifts: {len(shifts)}, dims: 0")
            return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        if len(shifts) != len(dims):
            raise RuntimeError(f"roll(): shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
        out = self
        for s, d in zip(shifts, dims):
            d = _dim_arg("roll", d, self.dim(), "dims")
            n = self.shape[d] if self.dim() else 1
            s = int(s) % n if n else 0
            if s == 0 or self.dim() == 0:
                continue
            out = cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
        return out if out is not self else self.clone()

    def _tri(self, name, diagonal, lower):
        if self.dim() < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        r, c = self.shape[-2], self.shape[-1]
        i = _wrap(_C.from_numpy(np.arange(r, dtype=np.int64).reshape(r, 1)))
        j = _wrap(_C.from_numpy(np.arange(c, dtype=np.int64).reshape(1, c)))
        drop = (j - i > diagonal) if lower else (j - i < diagonal)
        return self.masked_fill(drop.to(self.device) if self.is_cuda else drop, 0)

    def tril(self, diagonal=0):
        return self._tri("tril", diagonal, True)

    def triu(self, diagonal=0):
        return self._tri("triu", diagonal, False)

    def tril_(self, diagonal=0):
        return self._inplace_result(self.tril(diagonal))

    def triu_(self, diagonal=0):
        return self._inplace_result(self.triu(diagonal))

    def _inplace_result(self, r):
        """Writes an out-of-place result into self (keeping r's graph when it has one)."""
        self._check_inplace()
        return self._rebase(r) if r.requires_grad else self.copy_(r)

    # ------------------------------------------------------------------------------------------
    # scatter / index_add / index_fill (kernels in ops/index.*)
    # ------------------------------------------------------------------------------------------
    def _scatter_src(self, op, src, value):
        if src is None and value is None:
            raise TypeError(f"{op}() missing 1 required positional argument: 'src' or 'value'")
        v = src if src is not None else value
        if isinstance(v, Tensor):
            if v._t.device != self._t.device:
                raise RuntimeError(f"{op}(): expected all tensors to be on the same device, but found self on "
                                   f"{self._t.device} and src on {v._t.device}")
            if src is not None and v.dim() != self.dim():
                raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as src tensor")
            if v.dtype is not self.dtype:
                if v.dim() and src is not None:
                    raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
                v = v.to(self.dtype)
            return v
        if not isinstance(v, (numbers.Number, np.generic)):
            raise TypeError(f"{op}(): argument 'src' must be Tensor or a number, not {type(v).__name__}")
        return _wrap(_C.full([], float(v), self._t.dtype, self._t.device))

    def _check_index(self, op, index):
        if not isinstance(index, Tensor):
            raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
        if index.dtype is not int64:
            raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        self._check_index("scatter", index)
        d = _dim_arg("scatter", dim, self.dim())
        if reduce not in (None, "add", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce!r}")
        s = self._scatter_src("scatter", src, value)
        return _fn().Scatter.apply(self, d, index, s, reduce)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        self._check_inplace()
        if _ag.is_grad_enabled() and (self.requires_grad or (isinstance(src, Tensor) and src.requires_grad)):
            return self._rebase(self.scatter(dim, index, src, value, reduce=reduce))
        self._check_index("scatter_", index)
        d = _dim_arg("scatter_", dim, self.dim())
        if reduce not in (None, "add", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce!r}")
        _C.scatter_(self._t, d, index._t, self._scatter_src("scatter_", src, value)._t, reduce or "")
        return self

    def scatter_add(self, dim, index, src):
        return self.scatter(dim, index, src, reduce="add")

    def scatter_add_(self, dim, index, src):
        return self.scatter_(dim, index, src, reduce="add")

    def index_add(self, dim, index, source, *, alpha=1):
        self._check_index("index_add", index)
        d = _dim_arg("index_add", dim, self.dim())
        self._check_source("index_add", source)
        return _fn().IndexAdd.apply(self, d, index, source, alpha)

    def _check_source(self, op, source):
        if not isinstance(source, Tensor):
            raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
        if source.dtype is not self.dtype:
            names = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "uint8": "Byte"}
            raise RuntimeError(f"{op}_(): self ({names.get(self.dtype.name, self.dtype.name)}) and source "
                               f"({names.get(source.dtype.name, source.dtype.name)}) must have the same scalar type")

    def index_add_(self, dim, index, source, *, alpha=1):
        self._check_inplace()
        if _ag.is_grad_enabled() and (self.requires_grad or source.requires_grad):
            return self._rebase(self.index_add(dim, index, source, alpha=alpha))
        self._check_index("index_add_", index)
        d = _dim_arg("index_add_", dim, self.dim())
        self._check_source("index_add", source)
        s = source if alpha == 1 else source * alpha
        _C.index_add_(self._t, d, index._t, s._t)
        return self

    def index_fill(self, dim, index, value):
        self._check_index("index_fill", index)
        d = _dim_arg("index_fill", dim, self.dim())
        if index.dim() > 1:
            raise IndexError(f"index_fill_(): Index is supposed to be a vector, got index of shape {list(index.shape)}")
        return _fn().IndexFill.apply(self, d, index, value)

    def index_fill_(self, dim, index, value):
        self._check_inplace()
        if _ag.is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            return self._rebase(self.index_fill(dim, index, value))
        self._check_index("index_fill_", index)
        d = _dim_arg("index_fill_", dim, self.dim())
        if index.dim() > 1:
            raise IndexError(f"index_fill_(): Index is supposed to be a vector, got index of shape {list(index.shape)}")
        _fn()._index_fill(self, d, index, value)
        return self

    def index_copy(self, dim, index, source):
        out = self.clone()
        return out.index_copy_(dim, index, source)

    def index_copy_(self, dim, index, source):
        self._check_inplace()
        self._check_index("index_copy_", index)
        d = _dim_arg("index_copy_", dim, self.dim())
        _C.index_copy_(self._t, d, index._t, source._t)
        return self

    def masked_scatter_(self, mask, source):
        """self[mask] = the first mask.sum() elements of source, in row-major order."""
        self._check_inplace()
        if mask.dtype is not bool_:
            raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {mask.dtype}")
        m = mask.expand(self.shape) if mask.shape != self.shape else mask
        n = int(m.sum().item())
        if source.numel() < n:
            raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask")
        self[m] = source.reshape(-1)[:n]
        return self

    def masked_scatter(self, mask, source):
        return self.clone().masked_scatter_(mask, source)

    # ------------------------------------------------------------------------------------------
    # linear-algebra helpers (compositions)
    # ------------------------------------------------------------------------------------------
    def diagonal(self, offset=0, dim1=0, dim2=1):
        d1, d2 = _dim_arg("diagonal", dim1, self.dim(), "dim1"), _dim_arg("diagonal", dim2, self.dim(), "dim2")
        if d1 == d2:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        return _fn().Diagonal.apply(self, int(offset), d1, d2)

    def diag(self, diagonal=0):
        """1-D: a square matrix with self on the given diagonal; 2-D: that diagonal as 1-D."""
        if self.dim() == 2:
            return self.diagonal(diagonal, 0, 1)
        if self.dim() != 1:
            raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{self.dim()}D")
        n = self.shape[0] + builtins.abs(diagonal)
        out = zeros(n, n, dtype=self.dtype, device=self.device)
        pos = _wrap(_C.from_numpy(np.arange(self.shape[0], dtype=np.int64)))
        rows = pos + builtins.max(-diagonal, 0)
        cols = pos + builtins.max(diagonal, 0)
        flat = (rows * n + cols).to(self.device)
        return out.reshape(-1).index_add(0, flat, self).reshape(n, n)

    def trace(self):
        if self.dim() != 2:
            raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self.dim()}")
        return self.diagonal().sum()

    def dot(self, other):
        if self.dim() != 1 or other.dim() != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.dim()}D and {other.dim()}D tensors")
        if self.shape[0] != other.shape[0]:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{self.shape[0]}] and src "
                               f"[{other.shape[0]}] to have the same number of elements, but got {self.shape[0]} "
                               f"and {other.shape[0]} elements respectively")
        if self.dtype is not other.dtype:
            raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {self.dtype.name} and "
                               f"{other.dtype.name}")
        return (self * other).sum()

    vdot = dot

    def inner(self, other):
        if self.dim() == 0 or other.dim() == 0:
            return self * other
        a = self.reshape(-1, self.shape[-1])
        b = other.reshape(-1, other.shape[-1])
        return a.matmul(b.t()).reshape(list(self.shape[:-1]) + list(other.shape[:-1]))

    def outer(self, vec2):
        if self.dim() != 1 or vec2.dim() != 1:
            raise RuntimeError(f"outer: expected 1-D tensors, got {self.dim()}-D and {vec2.dim()}-D")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    ger = outer

    # ------------------------------------------------------------------------------------------
    # repeats, tiles
    # ------------------------------------------------------------------------------------------
    def tile(self, *dims):
        dims = _shape_arg(dims)
        if len(dims) < self.dim():
            dims = [1] * (self.dim() - len(dims)) + list(dims)
        return self.repeat(dims)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Each element (slice along dim) repeated `repeats` times (an int or a 1-D tensor of counts)."""
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _dim_arg("repeat_interleave", dim, self.dim())
        n = x.shape[d] if x.dim() else 1
        if isinstance(repeats, Tensor):
            reps = np.asarray(repeats.detach().cpu()._t).reshape(-1).astype(np.int64)
            if reps.size == 1:
                reps = np.repeat(reps, n)
        else:
            reps = np.full(n, int(repeats), dtype=np.int64)
        if reps.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{reps.size} and input.size({d}) = {n}")
        if (reps < 0).any():
            raise RuntimeError("repeats can not be negative")
        idx = _wrap(_C.from_numpy(np.repeat(np.arange(n, dtype=np.int64), reps)))
        return x.index_select(d, idx.to(self.device) if self.is_cuda else idx)

    # ------------------------------------------------------------------------------------------
    # construction helpers and elementwise callables
    # ------------------------------------------------------------------------------------------
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return zeros(*size, dtype=dtype or self.dtype, device=device if device is not None else self.device,
                     requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return ones(*size, dtype=dtype or self.dtype, device=device if device is not None else self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return empty(*size, dtype=dtype or self.dtype, device=device if device is not None else self.device,
                     requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return full(size, fill_value, dtype=dtype or self.dtype, device=device if device is not None else self.device,
                    requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        src = data.detach() if isinstance(data, Tensor) else data
        return tensor(src, dtype=dtype or self.dtype,
                      device=device if device is not None else self.device, requires_grad=requires_grad)

    def type_as(self, other):
        return self.to(other.dtype)

    def apply_(self, callable):
        """Replaces each element x by callable(x), in place; CPU only (as torch)."""
        if self.is_cuda:
            raise TypeError("apply_ is only implemented on CPU tensors")
        self._check_inplace()
        a = np.asarray(self._t)
        flat = [callable(v) for v in a.reshape(-1).tolist()]
        self._t.copy_(_C.from_numpy(np.asarray(flat, dtype=a.dtype).reshape(a.shape)))
        return self

    def fill_diagonal_(self, fill_value, wrap=False):
        self._check_inplace()
        if self.dim() < 2:
            raise RuntimeError("dimensions must larger than 1")
        if self.dim() > 2 and len(set(self.shape)) != 1:
            raise RuntimeError("all dimensions of input must be of equal length")
        n = builtins.min(self.shape)
        t = self._t
        step = sum(t.strides)
        count = n
        if wrap and self.dim() == 2 and self.shape[0] > self.shape[1] + 1:
            # NumPy/torch wrap: the diagonal restarts every (cols + 1) rows.
            count = (self.shape[0] * self.shape[1] + self.shape[1]) // (self.shape[1] + 1)
            step = self.shape[1] + 1
            if not t.is_contiguous():
                raise RuntimeError("fill_diagonal_(wrap=True) needs a contiguous tensor in cnnkit")
        t.as_strided([count], [step], t.offset).fill_(float(fill_value))
        return self

    # ---- step-5 unary math (kernels in ops/elementwise.*); integer input computes in float ----
    def _float_unary(self, op):
        return _unary(op, self if self.dtype.is_floating_point else self.to(get_default_dtype()))

    def sinh(self):
        return self._float_unary("sinh")

    def cosh(self):
        return self._float_unary("cosh")

    def tan(self):
        return self._float_unary("tan")

    def asin(self):
        return self._float_unary("asin")

    def acos(self):
        return self._float_unary("acos")

    def atan(self):
        return self._float_unary("atan")

    def asinh(self):
        return self._float_unary("asinh")

    def acosh(self):
        return self._float_unary("acosh")

    def atanh(self):
        return self._float_unary("atanh")

    def erf(self):
        return self._float_unary("erf")

    def erfc(self):
        return self._float_unary("erfc")

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def _float_binary(self, op, other):
        dt = result_type(self, other)
        if not dt.is_floating_point:
            dt = get_default_dtype()
        return _binary(op, _as_operand(self, dt, self._t.device), _as_operand(other, dt, self._t.device))

    def atan2(self, other):
        return self._float_binary("atan2", other)

    arctan2 = atan2

    def hypot(self, other):
        return self._float_binary("hypot", other)

    def __getitem__(self, idx):
        return _fn().getitem(self, idx)

    def __setitem__(self, idx, value):
        _fn().setitem(self, idx, value)

    def __repr__(self):
        from ._print import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__


def _C_wrap(dim, ndim, op=None, name="dim"):
    """A dim argument type-checked (_int_arg) and wrapped into [0, ndim) (IndexError otherwise)."""
    dim = _int_arg(op, dim, name)
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def _dim_arg(op, dim, ndim, name="dim"):
    """A dim argument checked like torch: an int (TypeError otherwise) within range (IndexError)."""
    return _C_wrap(dim, ndim, op, name)


def _rebuild(array, requires_grad, device="cpu", dtype_name=None):
    t = from_numpy(array)
    if dtype_name is not None:
        t = _wrap(t._t.contiguous().view_dtype(_BY_NAME[dtype_name]._c))
    if device != "cpu":
        t = _wrap(t._t.to_device(device))
    t.requires_grad = requires_grad
    return t


# torch's legacy type names (Tensor.type()).
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def _compute_t(t):
    """t's _C tensor in a dtype kernels compute in: half types widen to float32 (exactly)."""
    return t._t.to(float32._c) if t._t.is_half else t._t


def _host_array(ct):
    """A NumPy array of a _C tensor's values on the host (bfloat16 widened to float32)."""
    ct = ct.to_device("cpu")
    return np.asarray(ct.to(float32._c) if ct.dtype == bfloat16._c else ct)


_BASIC = None
_NN_F = None


def _fn():
    """cnnkit._functions.basic (imported on first use: it imports this module); cached, since every
    operator goes through here."""
    global _BASIC
    if _BASIC is None:
        from ._functions import basic

        _BASIC = basic
    return _BASIC


def _fn_nn():
    global _NN_F
    if _NN_F is None:
        from .nn import functional

        _NN_F = functional
    return _NN_F


# ---------------------------------------------------------------------------------------------
# type promotion and operands
# ---------------------------------------------------------------------------------------------
def result_type(a, b):
    """PyTorch's promotion: dimensioned tensors take precedence over 0-d tensors, which take
    precedence over Python scalars; a lower-precedence operand only changes the result when its
    category (bool < integer < floating) is higher (then its own dtype, float scalars -> default)."""
    classes = [None, None, None]  # dimensioned tensors, 0-d tensors, Python scalars
    for x in (a, b):
        k, d = ((0 if x.dim() else 1), x.dtype) if isinstance(x, Tensor) else (2, _scalar_dtype(x))
        classes[k] = d if classes[k] is None else promote_types(classes[k], d)
    out = None
    for d in classes:
        if d is not None and (out is None or d._category > out._category):
            out = d
    return out


def _as_operand(x, dt, device="cpu"):
    """x as a tensor of dtype dt (Python scalars become 0-d tensors on `device`)."""
    if isinstance(x, Tensor):
        return x if x.dtype is dt else x.to(dt)
    if isinstance(x, (numbers.Number, np.generic)):
        v = float(bool(x)) if isinstance(x, (bool, np.bool_)) else float(x)
        return _wrap(_C.full([], v, dt._c, device))
    return tensor(x, dtype=dt, device=device)


def _operand_device(*xs):
    for x in xs:
        if isinstance(x, Tensor):
            return x._t.device
    return "cpu"


_FLOAT_OPS = {"div", "pow"}
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_LOGICAL = {"logical_and", "logical_or", "logical_xor"}


def _binary(op, a, b):
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor operand")
    for x in (a, b):
        if not isinstance(x, (Tensor, numbers.Number, np.generic, list, tuple, np.ndarray)):
            return NotImplemented
    if type(a) is Tensor and type(b) is Tensor and op not in _LOGICAL and op not in _FLOAT_OPS:
        # Fast path: two tensors (the common case). Same rule as below, without scalar handling.
        da, db = a.dtype, b.dtype
        if da is db:
            return _fn().Binary.apply(a, b, op)
    dev = _operand_device(a, b)
    if isinstance(a, (list, tuple, np.ndarray)):
        a = tensor(a, device=dev)
    if isinstance(b, (list, tuple, np.ndarray)):
        b = tensor(b, device=dev)
    dt = _binary_dtype(op, a, b)
    if op in _OPMATH_SCALAR_OPS and (dt is float16 or dt is bfloat16):
        # torch's mul and div read a CPU scalar operand of half arithmetic at float32 precision
        # (its "opmath" type) instead of rounding it to the half type first: x16 * 0.3 uses 0.3f.
        # add and sub round the scalar to the half type (measured against torch 2.x).
        return _fn().Binary.apply(_half_operand(a, dt, dev, False), _half_operand(b, dt, dev, True), op)
    return _fn().Binary.apply(_as_operand(a, dt, dev), _as_operand(b, dt, dev), op)


_OPMATH_SCALAR_OPS = {"mul", "div"}


def _binary_dtype(op, a, b):
    """The dtype `a op b` computes in and returns (before comparisons turn it into bool)."""
    dt = bool_ if op in _LOGICAL else result_type(a, b)
    if op in _FLOAT_OPS and not dt.is_floating_point and not (op == "pow" and dt._category == 1):
        dt = get_default_dtype()
    return dt


def can_cast(from_, to):
    """torch.can_cast: False only from floating to non-floating and from non-bool to bool."""
    if from_.is_floating_point and not to.is_floating_point:
        return False
    return from_ is bool_ or to is not bool_


def is_floating_point(input):
    return input.is_floating_point()


# c10's scalar type names, used in torch's messages.
_TORCH_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
                       "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                       "bool": "Bool"}


def _half_operand(x, dt, dev, second):
    """An operand of a half-type mul/div of result dtype dt: CPU scalars as float32, everything else
    as dt. As in torch, a 0-d CPU tensor counts only as the second operand; a Python number always
    does (a reflected `0.3 * x` is torch's x.mul(0.3))."""
    is_scalar = not isinstance(x, Tensor) or (second and x.dim() == 0 and not x.is_cuda and x.dtype is not dt)
    return _as_operand(x, float32 if is_scalar else dt, dev)


_FLOAT_UNARY = {"exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "reciprocal"}


def _unary(op, x):
    if op in _FLOAT_UNARY and not x.dtype.is_floating_point:
        x = x.to(get_default_dtype())
    return _fn().Unary.apply(x, op)


def where(condition, input=None, other=None):
    """``where(cond, a, b)``: a where cond else b (broadcast); ``where(cond)`` is ``nonzero(as_tuple=True)``."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    dt = result_type(input, other)
    dev = _operand_device(condition, input, other)
    cond = condition if condition.dtype is bool_ else condition.bool()
    return _fn().Where.apply(cond, _as_operand(input, dt, dev), _as_operand(other, dt, dev))


# ---------------------------------------------------------------------------------------------
# factories
# ---------------------------------------------------------------------------------------------
def _finish(t, dtype=None, device=None, requires_grad=False):
    if dtype is not None and t.dtype is not dtype:
        t = _wrap(t._t.to(dtype._c))
    if device is not None and _device_str(device) != "cpu":
        t = _wrap(t._t.to_device(_device_str(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


_NATIVE_INTS = tuple(np.dtype(t) for t in (np.int64, np.int32, np.int16, np.int8, np.uint8))


def _infer_numpy(data, keep_float64=False):
    """Nested Python data -> a NumPy array with torch's default dtypes: Python floats -> the default
    dtype (float64 kept when ``keep_float64``: an explicit dtype follows), ints -> int64; arrays
    keep their dtype."""
    if isinstance(data, Tensor):
        return _host_array(data._t)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _to_plain(data)
    arr = np.array(data)
    if arr.dtype == object:
        raise ValueError("tensor(): could not infer a rectangular shape from ragged nested sequences")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor(): can't convert data of type {arr.dtype} to a cnnkit tensor")
    if arr.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)):
        if keep_float64:
            return arr
        arr = arr.astype(get_default_dtype().numpy)
    elif arr.dtype.kind in "iu" and arr.dtype.newbyteorder("=") not in _NATIVE_INTS:
        arr = arr.astype(np.int64)  # uint16/uint32/uint64 have no cnnkit dtype
    elif arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    return arr


def _flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flat(y)
    else:
        yield x


def _to_plain(x):
    if isinstance(x, (list, tuple)):
        return [_to_plain(y) for y in x]
    if isinstance(x, Tensor):
        return x.tolist()
    return x


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays, tensors). A
    ``dtype`` conversion happens in cnnkit's own casts (half types through float32, as torch)."""
    if isinstance(data, Tensor):
        ct = data.detach()._t.to_device("cpu").clone()
    else:
        ct = _C.from_numpy(np.array(_infer_numpy(data, keep_float64=dtype is not None), copy=True, order="C"))
    if dtype is not None and ct.dtype != dtype._c:
        ct = ct.to(dtype._c)
    out = _finish(_wrap(ct), None, device, requires_grad)
    return out.pin_memory() if pin_memory else out


def as_tensor(data, dtype=None, device=None):
    """Shares memory with a NumPy array or tensor when no conversion is needed (``torch.as_tensor``)."""
    if isinstance(data, Tensor):
        return data.to(dtype) if dtype is not None else data
    if isinstance(data, np.ndarray):
        t = from_numpy(data) if _np_supported(data.dtype) else tensor(data)
        return _finish(t, dtype, device)
    return tensor(data, dtype=dtype, device=device)


def _np_supported(npd):
    try:
        _from_numpy_dtype(npd)
        return True
    except TypeError:
        return False


def from_numpy(arr):
    """A tensor sharing ``arr``'s memory (``torch.from_numpy``)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return _wrap(_C.from_numpy(arr))


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, memory_format=None):
    dt = dtype or get_default_dtype()
    return _finish(_wrap(_C.empty(_shape_arg(size, "empty"), dt._c, _device_str(device))), None, None, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    dt = dtype or get_default_dtype()
    return _finish(_wrap(_C.zeros(_shape_arg(size, "zeros"), dt._c, _device_str(device))), None, None, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None):
    dt = dtype or get_default_dtype()
    return _finish(_wrap(_C.full(_shape_arg(size, "ones"), 1.0, dt._c, _device_str(device))), None, None, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False, out=None):
    dt = dtype or (_scalar_dtype(fill_value) if not isinstance(fill_value, float) else get_default_dtype())
    return _finish(_wrap(_C.full(_shape_arg((size,), "full"), float(fill_value), dt._c, _device_str(device))), None, None,
                   requires_grad)


def _like(fn, t, dtype, device, requires_grad):
    return fn(tuple(t.shape), dtype=dtype or t.dtype, device=device if device is not None else t.device,
              requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(empty, t, dtype, device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(ones, t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False, memory_format=None):
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, device=device if device is not None else t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, out=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        dtype = int64 if all(isinstance(v, (int, np.integer)) for v in vals) else get_default_dtype()
    # Same element count as torch: ceil((end - start) / step), computed in float64; a count past
    # int64 is torch's "invalid size" RuntimeError, one past memory MemoryError, before NumPy runs.
    span = (vals[1] - vals[0]) / vals[2]
    if not math.isfinite(span) or span > _INT64_MAX:
        raise RuntimeError(f"arange: invalid size, possible overflow? (start={vals[0]}, end={vals[1]}, "
                           f"step={vals[2]})")
    n = builtins.max(0, math.ceil(span))
    _new_shape("arange", (n,), dtype)
    arr = _numpy_alloc("arange", lambda: vals[0] + np.arange(n, dtype=np.float64) * vals[2]
                       if dtype.is_floating_point else np.arange(vals[0], vals[1], vals[2], dtype=np.int64))
    return _finish(tensor(arr, dtype=dtype), None, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    arr = np.linspace(start, end, steps, dtype=np.float64)
    return _finish(tensor(arr, dtype=dtype or get_default_dtype()), None, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    arr = np.eye(n, m if m is not None else n, dtype=np.float64)
    return _finish(tensor(arr, dtype=dtype or get_default_dtype()), None, device, requires_grad)


def cat(tensors, dim=0, out=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = promote_types(dt, t.dtype)
    tensors = [t if t.dtype is dt else t.to(dt) for t in tensors]
    ref = next((t for t in tensors if not (t.dim() == 1 and t.numel() == 0)), tensors[0])
    return _fn().Cat.apply(_C_wrap(dim, ref.dim()), *tensors)


concat = cat
concatenate = cat


def stack(tensors, dim=0, out=None):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and {list(t.shape)} at entry {i}"
            )
    d = _C_wrap(dim, len(shape) + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)
