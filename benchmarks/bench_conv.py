"""conv2d forward and backward on the CIFAR ResNet-18 convolutions: cnnkit's im2col + GEMM kernels
against PyTorch's CPU convolution (when torch is installed).

    python benchmarks/bench_conv.py [--batch 8] [--quick] [--lenet] [--threads N] [--repeats R] [--json out.json]

Layers (input C x H x W -> OC, kernel, stride; padding 1 for 3x3, 0 for 1x1): the stem 3->64 at
32x32, the 3x3 convolutions of the four stages (64 @ 32x32, 128 @ 16x16, 256 @ 8x8, 512 @ 4x4,
with the stride-2 first convolution of stages 2-4) and the three 1x1 stride-2 shortcuts.
--quick keeps one layer per stage plus one shortcut and uses 3 repeats. --lenet times LeNet-5's two
convolutions instead (1->6 5x5 padding 2 on 28x28, 6->16 5x5 on 14x14; batch 64 unless --batch is
given), the small-image case where conv2d's batch schedule applies.

Each layer is first checked against PyTorch (or, without it, against cnnkit's direct-loop
conv2d_naive on the first image) -- forward and all three gradients -- then timed: one warm-up call,
median of R calls. Forward FLOPs = 2*N*OC*OH*OW*C*KH*KW; backward (dinput + dweight) twice that.
The kernels are called directly (cnnkit._C.conv2d_forward/backward, torch's aten convolution and
convolution_backward) so that neither side pays for autograd bookkeeping.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from cnnkit.bench.layers import LAYERS, QUICK  # noqa: E402  (the CIFAR ResNet-18 convolution shapes)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=None, help="images per batch (default 8, --lenet 64; CIFAR training uses 128)")
    p.add_argument("--quick", action="store_true", help="6 layers, 3 repeats")
    p.add_argument("--lenet", action="store_true", help="LeNet-5's two convolutions (batch 64 by default)")
    p.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: cnnkit's)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 5, quick 3)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p.parse_args()


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rel_err(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


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
    repeats = args.repeats or (3 if args.quick else 5)
    if args.lenet:
        # (name, C, H, OC, kernel, stride, padding)
        layers = [("lenet conv1 1->6 28x28", 1, 28, 6, 5, 1, 2), ("lenet conv2 6->16 14x14", 6, 14, 16, 5, 1, 0)]
    else:
        layers = [l + ((1 if l[4] == 3 else 0),) for l in LAYERS if not args.quick or l[0] in QUICK]
    N = args.batch or (64 if args.lenet else 8)
    rng = np.random.default_rng(0)
    ref_name = "torch" if torch is not None else "naive"
    print(f"conv2d float32, batch {N}, {threads} thread(s), median of {repeats} after warm-up; "
          f"GFLOP/s (ms); correctness vs {ref_name}")
    header = (f"{'layer':<24} {'err':>8} {'fwd cnnkit':>16} {'fwd torch':>16} {'bwd cnnkit':>16} {'bwd torch':>16} "
              f"{'fwd x':>6} {'bwd x':>6}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, C, H, OC, k, s, p in layers:
        x = rng.standard_normal((N, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((OC, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
        b = rng.standard_normal(OC).astype(np.float32)
        tx, tw, tb = _C.from_numpy(x), _C.from_numpy(w), _C.from_numpy(b)
        out = np.asarray(_C.conv2d_forward(tx, tw, tb, s, p, 1, 1))
        dout = rng.standard_normal(out.shape).astype(np.float32)
        td = _C.from_numpy(dout)
        grads = _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True))

        if torch is not None:
            xt, wt, bt, dt = (torch.from_numpy(a) for a in (x, w, b, dout))
            fwd_t = lambda: torch.ops.aten.convolution(xt, wt, bt, [s, s], [p, p], [1, 1], False, [0, 0], 1)  # noqa
            bwd_t = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
                dt, xt, wt, [OC], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])
            refs = [fwd_t()] + list(bwd_t())
            errs = [rel_err(out, refs[0])] + [rel_err(g, r) for g, r in zip(grads, refs[1:])]
        else:
            one = lambda a: _C.from_numpy(np.ascontiguousarray(a[:1]))  # noqa: E731
            ref_out = np.asarray(_C.conv2d_naive(one(x), tw, tb, s, p, 1, 1))
            ref_grads = _C.conv2d_backward_naive(one(dout), one(x), tw, s, p, 1, 1, (True, False, False))
            errs = [rel_err(out[:1], ref_out), rel_err(np.asarray(grads[0])[:1], ref_grads[0])]
        err = max(errs)
        if err > 1e-4:
            print(f"{name}: cnnkit conv2d disagrees with {ref_name} (relative errors {errs})", file=sys.stderr)
            sys.exit(1)

        OH = (H + 2 * p - k) // s + 1
        fflops = 2.0 * N * OC * OH * OH * C * k * k
        row = {"layer": name, "C": C, "H": H, "OC": OC, "k": k, "stride": s, "batch": N, "max_rel_err": err,
               "fwd_flops": fflops}
        row["fwd_cnnkit_s"] = median_time(lambda: _C.conv2d_forward(tx, tw, tb, s, p, 1, 1), repeats)
        row["bwd_cnnkit_s"] = median_time(lambda: _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True)),
                                          repeats)
        if torch is not None:
            row["fwd_torch_s"] = median_time(fwd_t, repeats)
            row["bwd_torch_s"] = median_time(bwd_t, repeats)
        rows.append(row)

        def cell(key, flops):
            if key not in row:
                return f"{'-':>16}"
            return f"{flops / row[key] / 1e9:7.1f} ({row[key] * 1e3:6.2f})"

        ratio = lambda a, b: f"{row[b] / row[a]:6.2f}" if b in row else f"{'-':>6}"  # noqa: E731
        print(f"{name:<24} {err:8.1e} {cell('fwd_cnnkit_s', fflops)} {cell('fwd_torch_s', fflops)} "
              f"{cell('bwd_cnnkit_s', 2 * fflops)} {cell('bwd_torch_s', 2 * fflops)} "
              f"{ratio('fwd_cnnkit_s', 'fwd_torch_s')} {ratio('bwd_cnnkit_s', 'bwd_torch_s')}")

    tot = {k: sum(r.get(k, 0.0) for r in rows) for k in ("fwd_cnnkit_s", "bwd_cnnkit_s", "fwd_torch_s", "bwd_torch_s")}
    print(f"{'total (ms)':<24} {'':>8} {tot['fwd_cnnkit_s'] * 1e3:16.2f} {tot['fwd_torch_s'] * 1e3:16.2f} "
          f"{tot['bwd_cnnkit_s'] * 1e3:16.2f} {tot['bwd_torch_s'] * 1e3:16.2f}")
    print("x = torch time / cnnkit time (> 1: cnnkit faster). Reference point: PyTorch CPU, same threads.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "conv2d", "dtype": "float32", "batch": N, "threads": threads, "repeats": repeats,
                       "simd_level": _C.simd_level(), "rows": rows, "totals_s": tot}, f, indent=2)


if __name__ == "__main__":
    main()
