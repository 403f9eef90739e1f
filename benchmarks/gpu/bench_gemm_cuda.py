"""CUDA GEMM and convolution: cnnkit's own kernels against cuBLAS / cuDNN (through PyTorch) in FP32.

    python benchmarks/gpu/bench_gemm_cuda.py [--quick] [--repeats R] [--batch 128] [--json out.json]

GEMM: square float32 C = A @ B for n = 1024, 2048, 4096, 8192 (--quick: 1024, 2048); our tiled
kernel (_C.gemm), our naive one-thread-per-element kernel (n <= 2048) and torch.mm (cuBLAS) with
torch.backends.cuda.matmul.allow_tf32 = False, so both sides do true FP32 arithmetic.
Conv: the CIFAR ResNet-18 convolutions at batch 128, forward and backward (dinput + dweight), ours
(_C.conv2d_forward / _C.conv2d_backward: im2col + our GEMM) against cuDNN (aten convolution and
convolution_backward) with torch.backends.cudnn.allow_tf32 = False.
Every result is checked before timing (against cuBLAS/cuDNN when torch has CUDA, else against a
float64 NumPy product of a few rows). Timing: one warm-up call, then the median of R calls, each
bracketed by device synchronisation. GFLOP/s count 2*n^3 (GEMM), 2*N*OC*OH*OW*C*KH*KW (conv forward)
and twice that for the backward.
Napkin math: the FP32 (non-tensor-core) peak of the GPU, printed next to the best figure.
Exits cleanly (status 0, one line) when no CUDA device is available.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cnnkit.bench.layers import LAYERS  # noqa: E402  (the CIFAR ResNet-18 conv shapes: name, C, H(=W), OC, kernel, stride)

# FP32 (CUDA core) peaks in TFLOP/s, by substring of the device name.
PEAKS = [("H100 PCIe", 51.2), ("H100", 66.9), ("H200", 66.9), ("A100", 19.5), ("L40S", 91.6), ("A10", 31.2),
         ("V100", 15.7), ("T4", 8.1)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="GEMM sizes 1024 and 2048, four conv layers, 3 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 10, quick 3)")
    p.add_argument("--batch", type=int, default=128, help="conv batch size (default 128)")
    p.add_argument("--sizes", type=int, nargs="*", default=None, help="GEMM sizes (default 1024 2048 4096 8192)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p.parse_args()


def main():
    args = parse_args()
    import numpy as np

    import cnnkit
    from cnnkit import _C

    if not cnnkit.cuda.is_available():
        print("bench_gemm_cuda: skipped, no CUDA device available to cnnkit")
        return 0
    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        torch, has_torch = None, False
    if has_torch:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True

    def sync():
        if has_torch:
            torch.cuda.synchronize()  # the same device and default stream as our kernels
        else:
            cnnkit.cuda.synchronize()

    def median_time(fn, repeats):
        fn()
        sync()
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def dev(a):
        return _C.from_numpy(np.ascontiguousarray(a)).to_device("cuda:0")

    def host(t):
        return np.asarray(t.to_device("cpu"))

    name = _C.cuda_device_name(0)
    peak = next((p for key, p in PEAKS if key in name), None)
    repeats = args.repeats or (3 if args.quick else 10)
    sizes = args.sizes or ([1024, 2048] if args.quick else [1024, 2048, 4096, 8192])
    rng = np.random.default_rng(0)
    result = {"benchmark": "gemm_cuda", "device": name, "fp32_peak_tflops": peak, "repeats": repeats,
              "reference": "torch (cuBLAS/cuDNN), TF32 off" if has_torch else None, "gemm": [], "conv": []}

    print(f"{name}: float32 GEMM, median of {repeats} after warm-up; TFLOP/s (higher is better)")
    header = f"{'n':>6} {'max rel err':>12} {'naive':>8} {'cnnkit':>8} {'cuBLAS':>8} {'cnnkit/cuBLAS':>14}"
    print(header)
    print("-" * len(header))
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        da, db = dev(a), dev(b)
        out = host(_C.gemm(da, db))
        if has_torch:
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            ref = (ta.double() @ tb.double()).cpu().numpy()
        else:
            rows = slice(0, 64)
            ref, out = a[rows].astype(np.float64) @ b.astype(np.float64), out[rows]
        err = float(np.abs(out - ref).max() / np.abs(ref).max())
        if err > 1e-5:
            print(f"n={n}: cnnkit CUDA gemm is wrong (max relative error {err:.3g})", file=sys.stderr)
            return 1
        flops = 2.0 * n ** 3
        row = {"n": n, "max_rel_err": err}
        row["cnnkit"] = flops / median_time(lambda: _C.gemm(da, db), repeats) / 1e12
        if n <= 2048:
            row["naive"] = flops / median_time(lambda: _C.gemm_naive(da, db), min(repeats, 3)) / 1e12
        if has_torch:
            row["cublas"] = flops / median_time(lambda: torch.mm(ta, tb), repeats) / 1e12
        result["gemm"].append(row)
        fmt = lambda k: f"{row[k]:8.2f}" if k in row else f"{'-':>8}"  # noqa: E731
        ratio = f"{row['cnnkit'] / row['cublas']:14.2f}" if "cublas" in row else f"{'-':>14}"
        print(f"{n:>6} {err:12.2e} {fmt('naive')} {fmt('cnnkit')} {fmt('cublas')} {ratio}")

    N = args.batch
    layers = LAYERS if not args.quick else [LAYERS[1], LAYERS[3], LAYERS[5], LAYERS[9]]
    print(f"\nconv2d float32, batch {N}: TFLOP/s forward | backward (dinput + dweight)")
    header = (f"{'layer':<24} {'fwd ours':>9} {'fwd cuDNN':>10} {'ratio':>6} {'bwd ours':>9} {'bwd cuDNN':>10} "
              f"{'ratio':>6}")
    print(header)
    print("-" * len(header))
    for lname, C, H, OC, k, s in layers:
        pad = 1 if k == 3 else 0
        x = rng.standard_normal((N, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((OC, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
        dx_, dw_ = dev(x), dev(w)
        out = _C.conv2d_forward(dx_, dw_, None, s, pad, 1, 1)
        OH = (H + 2 * pad - k) // s + 1
        dout = rng.standard_normal((N, OC, OH, OH)).astype(np.float32)
        ddout = dev(dout)
        grads = _C.conv2d_backward(ddout, dx_, dw_, s, pad, 1, 1, (True, True, False))
        if has_torch:
            tx, tw, tdout = (torch.from_numpy(v).cuda() for v in (x, w, dout))
            fwd_t = lambda: torch.ops.aten.convolution(  # noqa: E731
                tx, tw, None, [s, s], [pad, pad], [1, 1], False, [0, 0], 1)
            bwd_t = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
                tdout, tx, tw, None, [s, s], [pad, pad], [1, 1], False, [0, 0], 1, [True, True, False])
            checks = [(host(out), fwd_t()), (host(grads[0]), bwd_t()[0]), (host(grads[1]), bwd_t()[1])]
            for got, want in checks:
                want = want.cpu().numpy()
                err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
                if err > 1e-4:
                    print(f"{lname}: cnnkit CUDA conv differs from cuDNN (max relative error {err:.3g})",
                          file=sys.stderr)
                    return 1
        flops = 2.0 * N * OC * OH * OH * C * k * k
        row = {"layer": lname}
        row["fwd"] = flops / median_time(lambda: _C.conv2d_forward(dx_, dw_, None, s, pad, 1, 1), repeats) / 1e12
        row["bwd"] = 2 * flops / median_time(
            lambda: _C.conv2d_backward(ddout, dx_, dw_, s, pad, 1, 1, (True, True, False)), repeats) / 1e12
        if has_torch:
            row["fwd_cudnn"] = flops / median_time(fwd_t, repeats) / 1e12
            row["bwd_cudnn"] = 2 * flops / median_time(bwd_t, repeats) / 1e12
        result["conv"].append(row)
        f = lambda k: f"{row[k]:9.2f}" if k in row else f"{'-':>9}"  # noqa: E731
        r = lambda a, b: f"{row[a] / row[b]:6.2f}" if b in row else f"{'-':>6}"  # noqa: E731
        print(f"{lname:<24} {f('fwd')} {f('fwd_cudnn'):>10} {r('fwd', 'fwd_cudnn')} {f('bwd')} "
              f"{f('bwd_cudnn'):>10} {r('bwd', 'bwd_cudnn')}")

    if peak:
        best = max(r["cnnkit"] for r in result["gemm"])
        print(f"\nnapkin math: {name} FP32 (CUDA-core) peak ~{peak:.1f} TFLOP/s; best cnnkit GEMM "
              f"{best:.2f} TFLOP/s = {100 * best / peak:.0f}% of it")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
