"""GEMM throughput: cnnkit's blocked gemm (and the naive loop) against NumPy (OpenBLAS) and PyTorch.

    python benchmarks/bench_gemm.py [--quick] [--threads N] [--repeats R] [--cpu-time] [--json out.json]
                                    [--sizes n ...] [--no-conv] [--conv-only] [--batch 32]

Square float32 products C = A @ B for n = 256, 512, 1024, 2048 (--quick: 256, 512), then the GEMMs
that conv2d calls for the CIFAR ResNet-18 layers (cnnkit.bench.layers.LAYERS) and the two LeNet-5
convolutions at --batch images (default 32):
per layer the forward product W @ cols, the weight gradient dout @ cols^T and the input gradient
W^T @ dout, with the shapes and transpose flags csrc/ops/conv2d.cpp uses (conv_gemm_shapes mirrors
its choice of how many images share one GEMM). For each case the result is first checked against a
float64 NumPy product (max error relative to max |C|), then each implementation is timed: one
warm-up call, then the median of R timed calls, in --rounds rounds that alternate cnnkit and NumPy;
each library's best round counts (on a shared machine a burst of other load then hits both rather
than whichever ran during it). Every implementation writes into a preallocated output (cnnkit's c=,
NumPy's out=), so no timing includes allocating C. GFLOP/s counts 2*M*N*K flops; the last column is
cnnkit's time ratio against NumPy (higher is better, 1.0 = parity). Every library gets the same
number of threads (OpenBLAS through its environment variable, set before NumPy is imported). When cnnkit runs its avx2 micro-kernel, the "portable"
column times the same gemm with the portable kernel (selected through _C.set_gemm_kernel), so one
run shows what the AVX2 kernel buys. --cpu-time (one thread only) times with the process CPU clock
instead of the wall clock: on a machine shared with other jobs it leaves out the time this process
spends descheduled, which otherwise dominates the spread.

Napkin math printed at the end: the machine's float32 peak estimated as
threads x clock x flops/cycle, with 32 flops/cycle for AVX2+FMA (two 8-wide FMA units) -- what
OpenBLAS, PyTorch and cnnkit's avx2 micro-kernel use -- and 16 flops/cycle for the SSE2 code the
portable micro-kernel compiles to (4-wide multiply and add on two ports each). The header line names
the micro-kernel cnnkit selected; CNNKIT_GEMM_KERNEL=portable|avx2 forces one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="sizes 256 and 512 only, 3 repeats")
    p.add_argument("--threads", type=int, default=None, help="threads for every library (default: cnnkit's)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 5, quick 3)")
    p.add_argument("--sizes", type=int, nargs="*", default=None, help="matrix sizes (default 256 512 1024 2048)")
    p.add_argument("--cpu-time", action="store_true", help="time with process CPU time (needs --threads 1)")
    p.add_argument("--no-conv", action="store_true", help="square sizes only")
    p.add_argument("--conv-only", action="store_true", help="conv GEMM shapes only")
    p.add_argument("--batch", type=int, default=32, help="batch size for the conv GEMM shapes (default 32)")
    p.add_argument("--no-portable", action="store_true", help="skip the portable-kernel column")
    p.add_argument("--no-naive", action="store_true", help="skip the naive-loop column")
    p.add_argument("--rounds", type=int, default=3, help="alternating cnnkit/NumPy timing rounds (best counts)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p.parse_args()


# Mirrors chunk_images() in csrc/ops/conv2d.cpp: images per GEMM so that the GEMM has about
# TARGET_COLS columns, with the chunk's column matrix under MAX_CHUNK_BYTES. Keep the two in step.
TARGET_COLS = 1024
MAX_CHUNK_BYTES = 16 << 20


def chunk_images(batch, ohw, ckk, elem_size=4):
    g = max(1, -(-TARGET_COLS // ohw))
    g = min(g, max(1, MAX_CHUNK_BYTES // max(1, ohw * ckk * elem_size)))
    return max(1, min(g, batch))


def conv_gemm_shapes(batch, quick=False):
    """(name, M, N, K, trans_a, trans_b) of the three GEMMs conv2d runs per image chunk for each layer of
    bench_conv.LAYERS (groups = 1): forward (OC, cols) = W (OC, CKK) @ cols (CKK, cols); weight gradient
    (OC, CKK) = dout (OC, cols) @ cols^T; input gradient (CKK, cols) = W^T @ dout (OC, cols)."""
    from cnnkit.bench.layers import LAYERS, QUICK

    shapes = []
    for name, c, h, oc, k, s in LAYERS:
        if quick and name not in QUICK:
            continue
        pad = 1 if k == 3 else 0
        oh = (h + 2 * pad - k) // s + 1
        ckk = c * k * k
        cols = chunk_images(batch, oh * oh, ckk) * oh * oh
        label = name.split()[0]
        shapes += [(f"{label} fwd", oc, cols, ckk, False, False),
                   (f"{label} dW", oc, ckk, cols, False, True),
                   (f"{label} dX", ckk, cols, oc, True, False)]
    # LeNet-5 (benchmarks' make_lenet): conv1 1->6 5x5 pad 2 on 28x28, conv2 6->16 5x5 on 14x14. M = 6 and
    # 16 rows are the small-M case (the forward GEMM's B is read in place, not packed).
    for label, c, h, oc, k, pad in (("lenet1", 1, 28, 6, 5, 2), ("lenet2", 6, 14, 16, 5, 0)):
        oh = h + 2 * pad - k + 1
        ckk = c * k * k
        cols = chunk_images(batch, oh * oh, ckk) * oh * oh
        shapes += [(f"{label} fwd", oc, cols, ckk, False, False),
                   (f"{label} dW", oc, ckk, cols, False, True),
                   (f"{label} dX", ckk, cols, oc, True, False)]
    return shapes


def cpu_mhz():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1])
    except OSError:
        pass
    return None


CLOCK = time.perf_counter


# Seconds to sleep before each measurement when timing with several threads. Three thread pools
# share the cores here (cnnkit's and PyTorch's OpenMP runtimes, OpenBLAS's own pthreads), and each
# keeps its workers spinning for a while after a call: OpenBLAS for ~2^28 cycles (~0.1 s), libgomp for
# up to a few ms. Timing one library right after another then measures it fighting the other's
# spinning workers for the two cores (we saw 10-100x slowdowns, in either direction, without this).
SETTLE_S = 0.25


def median_time(fn, repeats):
    if SETTLE_S:
        time.sleep(SETTLE_S)  # let the previous library's worker threads go to sleep
    fn()  # warm-up: page faults, packing buffers, thread pool start
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def main():
    global CLOCK, SETTLE_S
    args = parse_args()
    # OpenBLAS reads its thread count when NumPy is first imported, and importing cnnkit imports
    # NumPy, so the count is settled here from the command line / OMP_NUM_THREADS / usable CPUs.
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or len(os.sched_getaffinity(0))
    if args.cpu_time:
        if threads != 1:
            sys.exit("--cpu-time needs --threads 1 (the process CPU clock sums all threads)")
        CLOCK = time.process_time
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    if threads == 1:
        SETTLE_S = 0.0
    import numpy as np
    from cnnkit import _C
    from cnnkit.bench._machine import cpu_model

    _C.set_num_threads(threads)

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    sizes = args.sizes if args.sizes is not None else ([256, 512] if args.quick else [256, 512, 1024, 2048])
    cases = [] if args.conv_only else [(f"square {n}", n, n, n, False, False) for n in sizes]
    if not args.no_conv:
        cases += conv_gemm_shapes(args.batch, quick=args.quick)
    repeats = args.repeats or (3 if args.quick else 5)
    rng = np.random.default_rng(0)
    rows = []
    kernel = _C.gemm_kernel_name()
    compare = kernel.startswith("avx2") and not args.no_portable
    print(f"gemm float32, {threads} thread(s), median of {repeats} after warm-up"
          f"{' (CPU time)' if args.cpu_time else ''}; GFLOP/s (higher is better); cnnkit micro-kernel: {kernel}")
    header = (f"{'case':<30} {'M':>5} {'N':>5} {'K':>5} {'op':>3} {'max rel err':>11} {'naive':>7} "
              f"{'portabl':>7} {'cnnkit':>7} {'numpy':>7} {'torch':>7} {'cnnkit/numpy':>12}")
    print(header)
    print("-" * len(header))
    for name, M, N, K, ta, tb in cases:
        # Stored operands: A is (K, M) when transposed, B is (N, K); NumPy gets the same transposed views.
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        an, bn = (a.T if ta else a), (b.T if tb else b)
        ta_c, tb_c = _C.from_numpy(a), _C.from_numpy(b)
        c_c = _C.from_numpy(np.zeros((M, N), np.float32))
        c_np = np.zeros((M, N), np.float32)
        ref = an.astype(np.float64) @ bn.astype(np.float64)
        out = np.asarray(_C.gemm(ta_c, tb_c, ta, tb, c=c_c))
        err = float(np.abs(out - ref).max() / np.abs(ref).max())
        if err > 1e-5:
            print(f"{name}: cnnkit gemm is wrong (max relative error {err:.3g})", file=sys.stderr)
            sys.exit(1)
        flops = 2.0 * M * N * K
        ops = ("T" if ta else "N") + ("T" if tb else "N")
        row = {"case": name, "M": M, "N": N, "K": K, "trans_a": ta, "trans_b": tb, "max_rel_err": err}
        ours = lambda: _C.gemm(ta_c, tb_c, ta, tb, c=c_c)  # noqa: E731
        best = {"cnnkit": float("inf"), "numpy": float("inf")}
        for _ in range(max(1, args.rounds)):
            best["cnnkit"] = min(best["cnnkit"], median_time(ours, repeats))
            best["numpy"] = min(best["numpy"], median_time(lambda: np.matmul(an, bn, out=c_np), repeats))
        row["cnnkit"] = flops / best["cnnkit"] / 1e9
        row["numpy"] = flops / best["numpy"] / 1e9
        if compare:
            _C.set_gemm_kernel("portable")
            try:
                row["portable"] = flops / median_time(ours, repeats) / 1e9
            finally:
                _C.set_gemm_kernel("auto")
        if torch is not None:
            at, bt = torch.from_numpy(an), torch.from_numpy(bn)
            c_t = torch.from_numpy(c_np)
            row["torch"] = flops / median_time(lambda: torch.mm(at, bt, out=c_t), repeats) / 1e9
        if M * N * K <= 512 ** 3 and not args.no_naive:  # the triple loop takes seconds beyond this
            row["naive"] = flops / median_time(lambda: _C.gemm_naive(ta_c, tb_c, ta, tb), 1) / 1e9
        rows.append(row)
        fmt = lambda k: f"{row[k]:7.1f}" if k in row else f"{'-':>7}"  # noqa: E731
        print(f"{name:<30} {M:>5} {N:>5} {K:>5} {ops:>3} {err:11.2e} {fmt('naive')} {fmt('portable')} "
              f"{fmt('cnnkit')} {fmt('numpy')} {fmt('torch')} {row['cnnkit'] / row['numpy']:12.2f}")
    ratios = [r["cnnkit"] / r["numpy"] for r in rows]
    print(f"\ncnnkit/numpy over {len(rows)} cases: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
          f"geometric mean {statistics.geometric_mean(ratios):.2f}")

    mhz = cpu_mhz()
    peak = {}
    if mhz:
        ghz = mhz / 1000
        peak = {"avx2_fma": threads * ghz * 32, "sse2": threads * ghz * 16}
        print(f"\nnapkin math: {threads} thread(s) x {ghz:.2f} GHz -> float32 peak ~{peak['avx2_fma']:.0f} GFLOP/s "
              f"with AVX2+FMA (OpenBLAS/PyTorch and cnnkit's avx2 kernel), ~{peak['sse2']:.0f} GFLOP/s for SSE2 "
              f"code (cnnkit's portable kernel; SIMD level of this CPU: {_C.simd_level()})")
        fastest = max(max(r.get("numpy", 0), r.get("torch", 0)) for r in rows)
        if fastest > peak["avx2_fma"]:
            print(f"(the clock in /proc/cpuinfo is the nominal one: a reference reached {fastest:.0f} GFLOP/s, "
                  f"so the cores run at >= {fastest / threads / 32:.2f} GHz under load)")
        best = max(r["cnnkit"] for r in rows)
        print(f"best cnnkit: {best:.1f} GFLOP/s = {100 * best / peak['sse2']:.0f}% of the SSE2 ceiling, "
              f"{100 * best / peak['avx2_fma']:.0f}% of the AVX2+FMA peak")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gemm", "dtype": "float32", "threads": threads, "repeats": repeats,
                       "clock": "process_time" if args.cpu_time else "perf_counter",
                       "cpu": cpu_model() or platform.processor() or platform.machine(), "cpu_mhz": mhz,
                       "peak_gflops": peak, "simd_level": _C.simd_level(), "cpu_simd_level": _C.cpu_simd_level(),
                       "cpu_cache_sizes": _C.cpu_cache_sizes(), "gemm_kernel": _C.gemm_kernel_name(),
                       "gemm_blocking": _C.gemm_blocking(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
