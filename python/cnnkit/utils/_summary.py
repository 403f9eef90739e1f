"""``cnnkit.utils.summary(model, input_size)``: a per-layer table of output shapes, parameters and
multiply-adds, and with ``timing=True`` the measured forward and backward time of every layer (the
per-layer profile that ``caffe time`` prints).

How it works: forward pre-/post-hooks on every leaf module record the output shape and, when timing,
the wall time between them; full backward pre-/post-hooks (``register_full_backward_pre_hook`` /
``register_full_backward_hook``) bracket each layer's backward the same way. The input is made to
require grad so that the first layer's backward (its weight gradient) is bracketed too. Times are the
median over ``repeats`` passes after one warm-up pass; on CUDA the device is synchronised at each mark.

Multiply-adds counted: convolution ``out.numel() * C_in/groups * kH * kW`` (transposed: per input
element), linear ``out.numel() * in_features``, normalisation layers ``input.numel()`` (one scale-add per
element); other layers 0. Bias additions are not counted.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field

__all__ = ["summary", "ModelSummary", "LayerInfo"]


@dataclass
class LayerInfo:
    name: str
    type: str
    depth: int
    output_shape: list
    num_params: int
    trainable_params: int
    mult_adds: int
    forward_ms: float | None = None
    backward_ms: float | None = None
    _fwd: list = field(default_factory=list, repr=False)
    _bwd: list = field(default_factory=list, repr=False)


def _mult_adds(module, inputs, output):
    name = type(module).__name__
    out = output if hasattr(output, "numel") else None
    x = inputs[0] if inputs and hasattr(inputs[0], "numel") else None
    if out is None:
        return 0
    if name.startswith("Conv"):
        ks = module.kernel_size if isinstance(module.kernel_size, (tuple, list)) else (module.kernel_size,)
        k = 1
        for s in ks:
            k *= s
        if "Transpose" in name:
            return (x.numel() if x is not None else 0) * (module.out_channels // module.groups) * k
        return out.numel() * (module.in_channels // module.groups) * k
    if name == "Linear":
        return out.numel() * module.in_features
    if "Norm" in name and x is not None:
        return x.numel()
    return 0


def _shape_of(output):
    if hasattr(output, "shape"):
        return list(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape_of(o) for o in output]
    return []


@dataclass
class ModelSummary:
    model_name: str
    input_size: list
    layers: list
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int
    timing: bool

    def __str__(self):
        cols = ["Layer (type)", "Output shape", "Param #", "Mult-adds"]
        if self.timing:
            cols += ["Fwd ms", "Bwd ms"]
        rows = []
        for layer in self.layers:
            r = ["  " * layer.depth + f"{layer.name} ({layer.type})", str(layer.output_shape),
                 f"{layer.num_params:,}", f"{layer.mult_adds:,}"]
            if self.timing:
                r += [f"{layer.forward_ms:.3f}" if layer.forward_ms is not None else "--",
                      f"{layer.backward_ms:.3f}" if layer.backward_ms is not None else "--"]
            rows.append(r)
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]

        def line(cells):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "=" * len(line(cols))
        out = [rule, line(cols), rule] + [line(r) for r in rows] + [rule]
        if self.timing:
            fwd = sum(x.forward_ms or 0 for x in self.layers)
            bwd = sum(x.backward_ms or 0 for x in self.layers)
            out.append(f"Layer times (sum): forward {fwd:.3f} ms, backward {bwd:.3f} ms")
        mb = 1024 * 1024
        out += [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds: {_human(self.total_mult_adds)}",
            rule,
            f"Input size (MB): {self.input_bytes / mb:.2f}",
            f"Forward pass size (MB): {self.activation_bytes / mb:.2f}",
            f"Params size (MB): {self.param_bytes / mb:.2f}",
            f"Estimated total size (MB): {(self.input_bytes + self.activation_bytes + self.param_bytes) / mb:.2f}",
            rule,
        ]
        return "\n".join(out)

    __repr__ = __str__


def _human(n):
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit} ({n:,})"
    return f"{n:,}"


def summary(model, input_size=None, *, input_data=None, device=None, dtype=None, timing=False, repeats=5,
            file=sys.stdout, verbose=1):
    """Runs ``model`` on a random input of ``input_size`` (including the batch dim, e.g. ``(1, 3, 224, 224)``;
    a list of sizes for several inputs) or on ``input_data``, prints the table (``verbose=0``: don't) and
    returns a :class:`ModelSummary`. The model's train/eval mode is restored afterwards."""
    from .. import cuda, randn
    from ..autograd import no_grad
    from ..tensor import Tensor

    params = list(model.parameters())
    if device is None:
        device = params[0].device if params else "cpu"
    if dtype is None:
        dtype = params[0].dtype if params and params[0].is_floating_point() else None
    if input_data is None:
        if input_size is None:
            raise ValueError("summary: give input_size (with the batch dim, e.g. (1, 3, 32, 32)) or input_data")
        sizes = [input_size] if input_size and isinstance(input_size[0], int) else list(input_size)
        inputs = [randn(*s, device=device, dtype=dtype) for s in sizes]
    else:
        inputs = list(input_data) if isinstance(input_data, (list, tuple)) else [input_data]
    on_cuda = str(device).startswith("cuda")

    def now():
        if on_cuda:
            cuda.synchronize()
        return time.perf_counter()

    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children()) and n]
    if not leaves:
        leaves = [(type(model).__name__, model)]
    rows, by_module, handles = [], {}, []
    recording = {"first": True}

    def pre(module, args):
        module._summary_t0 = now()

    def post(module, args, output):
        t = now()
        info = by_module.get(id(module))
        if recording["first"]:
            own = list(module.parameters(recurse=False))
            info = LayerInfo(name=names[id(module)], type=type(module).__name__,
                             depth=names[id(module)].count("."), output_shape=_shape_of(output),
                             num_params=sum(p.numel() for p in own),
                             trainable_params=sum(p.numel() for p in own if p.requires_grad),
                             mult_adds=_mult_adds(module, args, output))
            info._out_bytes = output.numel() * output.element_size() if isinstance(output, Tensor) else 0
            rows.append(info)
            by_module[id(module)] = info
        elif timing and info is not None:
            info._fwd.append((t - module._summary_t0) * 1e3)

    def bpre(module, grad_output):
        module._summary_b0 = now()

    def bpost(module, grad_input, grad_output):
        t = now()
        info = by_module.get(id(module))
        if timing and not recording["first"] and info is not None and hasattr(module, "_summary_b0"):
            info._bwd.append((t - module._summary_b0) * 1e3)

    names = {id(m): n for n, m in leaves}
    for _, m in leaves:
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
        if timing:
            handles.append(m.register_full_backward_pre_hook(bpre))
            handles.append(m.register_full_backward_hook(bpost))
    was_training = model.training
    try:
        if timing:
            model.train()
            runs = 1 + max(1, int(repeats))
            for i in range(runs):
                recording["first"] = i == 0
                xs = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
                out = model(*xs)
                outs = out if isinstance(out, (tuple, list)) else (out,)
                loss = sum(o.float().sum() for o in outs if isinstance(o, Tensor) and o.is_floating_point())
                loss.backward()
                model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with no_grad():
                model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for _, m in leaves:
            for a in ("_summary_t0", "_summary_b0"):
                m.__dict__.pop(a, None)
        model.train(was_training)
    for info in rows:
        if timing:
            info.forward_ms = statistics.median(info._fwd) if info._fwd else None
            info.backward_ms = statistics.median(info._bwd) if info._bwd else None
    total = sum(p.numel() for p in params)
    result = ModelSummary(
        model_name=type(model).__name__, input_size=[list(x.shape) for x in inputs], layers=rows,
        total_params=total, trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_mult_adds=sum(r.mult_adds for r in rows),
        input_bytes=sum(x.numel() * x.element_size() for x in inputs),
        activation_bytes=sum(getattr(r, "_out_bytes", 0) for r in rows),
        param_bytes=sum(p.numel() * p.element_size() for p in params), timing=bool(timing))
    if verbose and file is not None:
        print(result, file=file)
    return result
