"""Shared helpers for the benchmark suite (``cnnkit bench``, benchmarks/run.py and the scripts beside it):
timing, errors, machine description and the two ceilings every row is measured against.

Timing: one warm-up call (page faults, packing buffers, thread-pool start, CUDA context), then the
median of `repeats` wall-clock calls; on a GPU a synchronize function runs before each clock read so
the time covers the queued kernels, not just their launch.

Ceilings (printed by run.py and used for its "% peak" column):
  * compute: threads x nominal clock x 32 float32 flops/cycle (two 8-wide AVX2 FMA units, 2 flops per
    FMA). This is an estimate from the CPU's published width, not a measurement: a loop over our own
    GEMM would only measure our GEMM.
  * memory: copy bandwidth measured with a large NumPy copy (bytes read + bytes written, per second),
    arrays far larger than the last-level cache so the copy streams from DRAM.
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

__all__ = ["FLOPS_PER_CYCLE_AVX2_FMA", "median_time", "rel_err", "cpu_model", "nominal_ghz", "load_average",
           "usable_cores", "peak_gflops", "copy_bandwidth_gbs"]

FLOPS_PER_CYCLE_AVX2_FMA = 32  # float32: 2 FMA ports x 8 lanes x 2 flops


# Pause before each timing on the CPU: after a call, OpenBLAS's worker threads keep spinning for up to
# ~0.1 s (2^28 cycles) and OpenMP's (ours, torch's) for a while too; a kernel timed inside that window
# shares the 2 cores with them (seen: a 0.09 ms GEMM timed at 8 ms right after a NumPy matmul).
SETTLE_S = 0.15


def median_time(fn, repeats, sync=None, min_total=0.05, max_repeats=50, settle=SETTLE_S):
    """Median wall time (s) of at least `repeats` calls of fn after a settle pause and one warm-up call.

    Short calls are repeated more (until about min_total seconds, at most max_repeats calls): on a
    machine shared with other jobs a median of 3 sub-millisecond calls mostly measures the neighbours.
    """
    if settle:
        time.sleep(settle)
    t0 = time.perf_counter()
    fn()
    if sync:
        sync()
    first = time.perf_counter() - t0
    repeats = max(repeats, min(max_repeats, int(min_total / max(first, 1e-9))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rel_err(a, b):
    """max |a - b| / max |b| in float64 (0-d and scalars allowed)."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-30))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nominal_ghz():
    """Clock from /proc/cpuinfo ('cpu MHz', the nominal/TSC clock on most VMs); None if unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    return None


def load_average():
    """1-minute load average (runnable + running tasks, all processes), None where unavailable."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_gflops(threads):
    """Estimated float32 peak: threads x nominal GHz x 32 (AVX2 FMA). None when the clock is unknown."""
    ghz = nominal_ghz()
    return None if ghz is None else threads * ghz * FLOPS_PER_CYCLE_AVX2_FMA


def copy_bandwidth_gbs(nbytes=256 << 20, repeats=5):
    """Measured copy bandwidth (GB/s, read + write counted) with np.copyto on nbytes-sized arrays."""
    import numpy as np

    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    t = median_time(lambda: np.copyto(dst, src), repeats)
    return 2.0 * nbytes / t / 1e9
