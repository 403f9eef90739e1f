"""PyTorch-style printing: ``tensor([[0.1000, 2.0000]], requires_grad=True)``.

Follows torch/_tensor_str.py's rules: integer-valued floats print as ``1.``; otherwise 4 decimals,
switching to scientific notation when the magnitudes span more than 1000x or leave [1e-4, 1e8];
tensors over 1000 elements are summarised with ``...`` (3 items each side); rows wrap at 80 columns.
"""
from __future__ import annotations

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    def __init__(self, values, is_float, is_bool):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if is_bool:
            self.width = max((len(str(bool(v))) for v in values), default=1)
            self.kind = "bool"
            return
        self.kind = "float" if is_float else "int"
        if not is_float:
            self.width = max((len(str(int(v))) for v in values), default=1)
            return
        finite = values[np.isfinite(values)]
        strs = []
        if finite.size == 0:
            self.width = max((len(self._special(v)) for v in values), default=1)
            return
        nonzero = np.abs(finite[finite != 0])
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if self.int_mode:
            if nonzero.size and (nonzero.max() / nonzero.min() > 1000.0 or nonzero.max() > 1e8):
                self.sci_mode = True
        elif nonzero.size:
            hi, lo = nonzero.max(), nonzero.min()
            if hi / lo > 1000.0 or hi > 1e8 or lo < 1e-4:
                self.sci_mode = True
        strs = [self._fmt(v) for v in values]
        self.width = max(len(s) for s in strs)

    def _special(self, v):
        if np.isnan(v):
            return "nan"
        return "inf" if v > 0 else "-inf"

    def _fmt(self, v):
        if self.kind == "bool":
            return str(bool(v))
        if self.kind == "int":
            return str(int(v))
        if not np.isfinite(v):
            return self._special(v)
        if self.sci_mode:
            return f"{v:.{PRECISION}e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.{PRECISION}f}"

    def format(self, v):
        return self._fmt(v).rjust(self.width)


def _summarised_values(a, summarize):
    if not summarize or a.ndim == 0:
        return a.reshape(-1)
    parts = []

    def walk(x):
        if x.ndim == 1:
            parts.append(np.concatenate([x[:EDGEITEMS], x[-EDGEITEMS:]]) if x.shape[0] > 2 * EDGEITEMS else x)
            return
        idx = list(range(x.shape[0]))
        if x.shape[0] > 2 * EDGEITEMS:
            idx = idx[:EDGEITEMS] + idx[-EDGEITEMS:]
        for i in idx:
            walk(x[i])

    walk(a)
    return np.concatenate(parts) if parts else a.reshape(-1)


def _format_array(a, fmt, indent, summarize):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        n = a.shape[0]
        if summarize and n > 2 * EDGEITEMS:
            # torch's 1-D ellipsis item is " ..." (rows of higher dims use "...")
            items = [fmt.format(v) for v in a[:EDGEITEMS]] + [" ..."] + [fmt.format(v) for v in a[-EDGEITEMS:]]
        else:
            items = [fmt.format(v) for v in a]
        # Wrap rows at LINEWIDTH like torch: as many elements per line as fit.
        elem_w = fmt.width + 2
        per_line = max(int((LINEWIDTH - indent) // elem_w), 1)
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = [_format_array(a[i], fmt, indent + 1, summarize) for i in range(EDGEITEMS)] + ["..."] + \
               [_format_array(a[i], fmt, indent + 1, summarize) for i in range(n - EDGEITEMS, n)]
    else:
        rows = [_format_array(a[i], fmt, indent + 1, summarize) for i in range(n)]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def tensor_repr(t, prefix="tensor("):
    from .tensor import _host_array

    a = _host_array(t.detach()._t)  # bfloat16 values as float32 (exact)
    indent = len(prefix)
    suffixes = []
    summarize = a.size > THRESHOLD
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
    else:
        values = _summarised_values(a, summarize).astype(np.float64 if a.dtype.kind == "f" else a.dtype)
        fmt = _Formatter(values, a.dtype.kind == "f", a.dtype.kind == "b")
        body = _format_array(a, fmt, indent, summarize)
    if t.is_cuda:
        suffixes.append(f"device='{t._t.device}'")
    from ._dtype import bool_, get_default_dtype, int64

    # torch names the dtype unless it is the default one, int64 or bool; an empty tensor shows
    # every dtype but the default (nothing to infer it from).
    shown = (get_default_dtype(),) if a.size == 0 else (get_default_dtype(), int64, bool_)
    if t.dtype not in shown:
        suffixes.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"
