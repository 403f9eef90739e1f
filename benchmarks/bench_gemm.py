"""GEMM throughput: cnnkit's blocked gemm (and the naive loop) against NumPy (OpenBLAS) and PyTorch.

    python benchmarks/bench_gemm.py [--quick] [--threads N] [--repeats R] [--cpu-time] [--json out.json]

Square float32 products C = A @ B for n = 256, 512, 1024, 2048 (--quick: 256, 512). For each size
the result is first checked against a float64 NumPy product (max error relative to max |C|), then
each implementation is timed: one warm-up call, then the median of R timed calls. GFLOP/s counts
2*n^3 flops. Every library gets the same number of threads (OpenBLAS through its environment
variable, set before NumPy is imported). When cnnkit runs its avx2 micro-kernel, the "portable"
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
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p.parse_args()


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


def median_time(fn, repeats):
    fn()  # warm-up: page faults, packing buffers, thread pool start
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def main():
    args = parse_args()
    # OpenBLAS reads its thread count when NumPy is first imported, and importing cnnkit imports
    # NumPy, so the count is settled here from the command line / OMP_NUM_THREADS / usable CPUs.
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or len(os.sched_getaffinity(0))
    if args.cpu_time:
        if threads != 1:
            sys.exit("--cpu-time needs --threads 1 (the process CPU clock sums all threads)")
        global CLOCK
        CLOCK = time.process_time
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    import numpy as np
    from cnnkit import _C

    _C.set_num_threads(threads)

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    sizes = args.sizes or ([256, 512] if args.quick else [256, 512, 1024, 2048])
    repeats = args.repeats or (3 if args.quick else 5)
    rng = np.random.default_rng(0)
    rows = []
    kernel = _C.gemm_kernel_name()
    compare = kernel.startswith("avx2")
    print(f"gemm float32, {threads} thread(s), median of {repeats} after warm-up"
          f"{' (CPU time)' if args.cpu_time else ''}; GFLOP/s (higher is better); cnnkit micro-kernel: {kernel}")
    header = (f"{'n':>6} {'max rel err':>12} {'naive':>8} {'portable':>8} {'cnnkit':>8} {'numpy':>8} {'torch':>8} "
              f"{'cnnkit/numpy':>13}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        ta, tb = _C.from_numpy(a), _C.from_numpy(b)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        out = np.asarray(_C.gemm(ta, tb))
        err = float(np.abs(out - ref).max() / np.abs(ref).max())
        if err > 1e-5:
            print(f"n={n}: cnnkit gemm is wrong (max relative error {err:.3g})", file=sys.stderr)
            sys.exit(1)
        flops = 2.0 * n ** 3
        row = {"n": n, "max_rel_err": err}
        row["cnnkit"] = flops / median_time(lambda: _C.gemm(ta, tb), repeats) / 1e9
        if compare:
            _C.set_gemm_kernel("portable")
            try:
                row["portable"] = flops / median_time(lambda: _C.gemm(ta, tb), repeats) / 1e9
            finally:
                _C.set_gemm_kernel("auto")
        row["numpy"] = flops / median_time(lambda: a @ b, repeats) / 1e9
        if torch is not None:
            at, bt = torch.from_numpy(a), torch.from_numpy(b)
            row["torch"] = flops / median_time(lambda: torch.mm(at, bt), repeats) / 1e9
        if n <= 512:  # the triple loop takes seconds beyond this
            row["naive"] = flops / median_time(lambda: _C.gemm_naive(ta, tb), 1) / 1e9
        rows.append(row)
        fmt = lambda k: f"{row[k]:8.1f}" if k in row else f"{'-':>8}"  # noqa: E731
        print(f"{n:>6} {err:12.2e} {fmt('naive')} {fmt('portable')} {fmt('cnnkit')} {fmt('numpy')} {fmt('torch')} "
              f"{row['cnnkit'] / row['numpy']:13.2f}")

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
                       "cpu": platform.processor() or platform.machine(), "cpu_mhz": mhz, "peak_gflops": peak,
                       "simd_level": _C.simd_level(), "gemm_kernel": _C.gemm_kernel_name(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
