"""Transposed convolution and depthwise convolution, forward and backward: cnnkit's kernels against
PyTorch's CPU convolution (when torch is installed), in the same run.

    python benchmarks/bench_conv_extra.py [--threads N] [--repeats R] [--batch N] [--json out.json]

Layers (batch 32 by default):
  transposed  autoencoder decoder shapes: 64->32 k4 s2 p1 at 8x8 and at 16x16 (-> 16x16, 32x32) and
              16->1 k4 s2 p1 at 14x14 (-> 28x28, an MNIST decoder's last layer). cnnkit builds these on
              the conv2d kernels: forward = conv2d's input gradient (GEMM W^T x, col2im), backward =
              conv2d forward (dinput) + conv2d weight gradient.
  depthwise   MobileNet-style 3x3, groups == channels: 32 channels at 56x56 and 64 at 28x28, stride 1
              and 2 (padding 1). cnnkit runs its direct depthwise kernels; the 'im2col' column times
              the grouped im2col + GEMM path on the same layer (the reference the fast path must beat).

Every layer is first checked against PyTorch (or, without it, the direct-loop conv2d_naive /
NumPy) -- forward and all three gradients -- then timed: median of R calls after a warm-up
(cnnkit.bench median_time). FLOPs: 2 multiply-add FLOPs per weight tap per output (transposed:
per input) element; backward (dinput + dweight) counts twice the forward. Kernels are called directly
(cnnkit._C, torch.ops.aten.convolution / convolution_backward), without autograd bookkeeping.
"""
from __future__ import annotations

import argparse
import json
import sys

from _common import cpu_model, median_time, peak_gflops, rel_err


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: cnnkit's)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (default 5)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p.parse_args()


# (name, kind, C_in, H, C_out, kernel, stride, padding, output_padding)
LAYERS = [
    ("tconv 64->32 k4s2 8x8", "transposed", 64, 8, 32, 4, 2, 1, 0),
    ("tconv 64->32 k4s2 16x16", "transposed", 64, 16, 32, 4, 2, 1, 0),
    ("tconv 16->1 k4s2 14x14", "transposed", 16, 14, 1, 4, 2, 1, 0),
    ("dw 32ch 3x3 s1 56x56", "depthwise", 32, 56, 32, 3, 1, 1, 0),
    ("dw 32ch 3x3 s2 56x56", "depthwise", 32, 56, 32, 3, 2, 1, 0),
    ("dw 64ch 3x3 s1 28x28", "depthwise", 64, 28, 64, 3, 1, 1, 0),
    ("dw 64ch 3x3 s2 28x28", "depthwise", 64, 28, 64, 3, 2, 1, 0),
]


def main():
    args = parse_args()
    import numpy as np
    from cnnkit import _C

    threads = args.threads or _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    N, R = args.batch, args.repeats
    rng = np.random.default_rng(0)
    peak = peak_gflops(threads)
    ref_name = "torch" if torch is not None else "naive"
    print(f"cnnkit conv extras, float32, batch {N}, {threads} thread(s), {cpu_model()}, median of {R}; "
          f"GFLOP/s (ms); correctness vs {ref_name}"
          + (f"; float32 peak ~{peak:.0f} GFLOP/s" if peak else ""))
    header = (f"{'layer':<24} {'err':>8} {'fwd cnnkit':>16} {'fwd torch':>16} {'bwd cnnkit':>16} {'bwd torch':>16} "
              f"{'fwd x':>6} {'bwd x':>6} {'im2col fwd+bwd':>15}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, kind, C, H, OC, k, s, p, op in LAYERS:
        x = rng.standard_normal((N, C, H, H)).astype(np.float32)
        groups = C if kind == "depthwise" else 1
        wshape = (OC, 1, k, k) if kind == "depthwise" else (C, OC, k, k)
        w = (rng.standard_normal(wshape) / np.sqrt(wshape[1] * k * k)).astype(np.float32)
        b = rng.standard_normal(OC).astype(np.float32)
        tx, tw, tb = _C.from_numpy(x), _C.from_numpy(w), _C.from_numpy(b)
        needs = (True, True, True)
        if kind == "transposed":
            fwd = lambda: _C.conv_transpose2d_forward(tx, tw, tb, s, p, op, 1, 1)  # noqa: E731
            out = np.asarray(fwd())
            td = _C.from_numpy(rng.standard_normal(out.shape).astype(np.float32))
            bwd = lambda: _C.conv_transpose2d_backward(td, tx, tw, s, p, op, 1, 1, needs)  # noqa: E731
            fflops = 2.0 * N * C * H * H * OC * k * k
            im2col = None
        else:
            fwd = lambda: _C.conv2d_forward(tx, tw, tb, s, p, 1, groups)  # noqa: E731
            out = np.asarray(fwd())
            td = _C.from_numpy(rng.standard_normal(out.shape).astype(np.float32))
            bwd = lambda: _C.conv2d_backward(td, tx, tw, s, p, 1, groups, needs)  # noqa: E731
            fflops = 2.0 * N * OC * out.shape[2] * out.shape[3] * k * k
            im2col = lambda: (_C.conv2d_forward(tx, tw, tb, s, p, 1, groups, algo="im2col"),  # noqa: E731
                              _C.conv2d_backward(td, tx, tw, s, p, 1, groups, needs, algo="im2col"))
        grads = bwd()
        if torch is not None:
            xt, wt, bt, dt = (torch.from_numpy(np.asarray(a)) for a in (x, w, b, td))
            tr = kind == "transposed"
            fwd_t = lambda: torch.ops.aten.convolution(xt, wt, bt, [s, s], [p, p], [1, 1], tr, [op, op], groups)  # noqa
            bwd_t = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
                dt, xt, wt, [OC], [s, s], [p, p], [1, 1], tr, [op, op], groups, [True, True, True])
            refs = [fwd_t()] + list(bwd_t())
            errs = [rel_err(out, refs[0])] + [rel_err(np.asarray(g), r) for g, r in zip(grads, refs[1:])]
        elif kind == "depthwise":
            one = lambda a: _C.from_numpy(np.ascontiguousarray(np.asarray(a)[:1]))  # noqa: E731
            ref_out = np.asarray(_C.conv2d_naive(one(x), tw, tb, s, p, 1, groups))
            ref_g = _C.conv2d_backward_naive(one(td), one(x), tw, s, p, 1, groups, (True, False, False))
            errs = [rel_err(out[:1], ref_out), rel_err(np.asarray(grads[0])[:1], np.asarray(ref_g[0]))]
        else:  # transposed without torch: the adjoint identity <convT(x), y> = <x, conv2d(y)>
            y = np.asarray(td)
            conv = np.asarray(_C.conv2d_forward(td, tw, None, s, p, 1, 1))[..., :H, :H]
            lhs = float((np.asarray(_C.conv_transpose2d_forward(tx, tw, None, s, p, op, 1, 1)) * y).sum())
            errs = [abs(lhs - float((x * conv).sum())) / max(abs(lhs), 1e-30)]
        err = max(errs)
        if err > 1e-4:
            print(f"{name}: cnnkit disagrees with {ref_name} (relative errors {errs})", file=sys.stderr)
            sys.exit(1)
        row = {"layer": name, "kind": kind, "C": C, "H": H, "OC": OC, "k": k, "stride": s, "padding": p,
               "batch": N, "max_rel_err": err, "fwd_flops": fflops,
               "fwd_cnnkit_s": median_time(fwd, R), "bwd_cnnkit_s": median_time(bwd, R)}
        if torch is not None:
            row["fwd_torch_s"] = median_time(fwd_t, R)
            row["bwd_torch_s"] = median_time(bwd_t, R)
        if im2col is not None:
            row["im2col_fwd_bwd_s"] = median_time(im2col, R)
        rows.append(row)

        def cell(key, flops):
            if key not in row:
                return f"{'-':>16}"
            return f"{flops / row[key] / 1e9:7.1f} ({row[key] * 1e3:6.2f})"

        ratio = lambda a, b: f"{row[b] / row[a]:6.2f}" if b in row else f"{'-':>6}"  # noqa: E731
        im = f"{row['im2col_fwd_bwd_s'] * 1e3:12.2f} ms" if "im2col_fwd_bwd_s" in row else f"{'-':>15}"
        print(f"{name:<24} {err:8.1e} {cell('fwd_cnnkit_s', fflops)} {cell('fwd_torch_s', fflops)} "
              f"{cell('bwd_cnnkit_s', 2 * fflops)} {cell('bwd_torch_s', 2 * fflops)} "
              f"{ratio('fwd_cnnkit_s', 'fwd_torch_s')} {ratio('bwd_cnnkit_s', 'bwd_torch_s')} {im}")
    print("x = torch time / cnnkit time (> 1: cnnkit faster). im2col: cnnkit's grouped im2col + GEMM path, "
          "forward + backward, on the same depthwise layer.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "conv_extra", "dtype": "float32", "batch": N, "threads": threads,
                       "repeats": R, "cpu": cpu_model(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
