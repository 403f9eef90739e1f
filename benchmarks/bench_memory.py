"""CPU caching allocator: training step time and memory traffic with the cache on and off.

    python benchmarks/bench_memory.py [--quick] [--threads N] [--repeats R] [--steps S] [--json out.json]

For each network (LeNet-5 on 64x1x28x28; ResNet-10 on 8x3x32x32 unless --quick) a fresh interpreter
trains with CNNKIT_CPU_CACHING=1 and another with CNNKIT_CPU_CACHING=0 (the variable is read once per
process), alternating R times so that load changes on a shared machine hit both alike. Each worker
runs 3 warm-up steps, then S timed steps, and reports per step: the median wall time, the minor page
faults (getrusage: touching freshly mapped memory), and the blocks the allocator took from the
operating system (cnnkit.cpu.memory_stats()['num_system_allocs']; the target is none with caching).
Kernels' scratch buffers (ScratchBuffer in ops/gemm.cpp) come from the same allocator, so both counts
cover them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, resource, sys, time
import numpy as np
import cnnkit, cnnkit.cpu
from cnnkit.bench.layers import make_lenet, make_resnet
from cnnkit.bench.suite import Suite
name, steps = sys.argv[1], int(sys.argv[2])
if name == "LeNet-5":
    model, shape = make_lenet(cnnkit.nn), (64, 1, 28, 28)
else:
    bn = hasattr(cnnkit.nn, "BatchNorm2d")  # not in every build yet
    model, shape = make_resnet(cnnkit.nn, cnnkit.nn.functional, (1, 1, 1, 1), batch_norm=bn), (8, 3, 32, 32)
rng = np.random.default_rng(0)
x = cnnkit.from_numpy(rng.standard_normal(shape).astype(np.float32))
y = cnnkit.from_numpy(rng.integers(0, 10, shape[0]).astype(np.int64))
step = Suite.sgd_step(cnnkit, model, x, y)
for _ in range(3):
    step()
s0 = cnnkit.cpu.memory_stats()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
s1 = cnnkit.cpu.memory_stats()
print(json.dumps({"step_ms": 1e3 * sorted(times)[len(times) // 2],
                  "faults_per_step": (f1 - f0) / steps,
                  "system_allocs": s1["num_system_allocs"] - s0["num_system_allocs"],
                  "cache_hits": s1["num_cache_hits"] - s0["num_cache_hits"],
                  "reserved_mib": s1["reserved"] / 2**20, "caching": s1["caching_enabled"]}))
"""


def run_worker(name, steps, caching, threads):
    env = dict(os.environ, CNNKIT_CPU_CACHING="1" if caching else "0", OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, name, str(steps)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_memory: the {name} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="LeNet-5 only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="interpreters per network and mode")
    p.add_argument("--steps", type=int, default=20, help="timed steps per interpreter")
    p.add_argument("--json", help="write the rows here")
    a = p.parse_args()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"load average (1 min) before: {load:.2f}; {a.threads} thread(s); {a.repeats} interpreters x "
          f"{a.steps} steps per mode; medians over interpreters of per-interpreter median step times")
    nets = ["LeNet-5"] if a.quick else ["LeNet-5", "ResNet-10"]
    rows = []
    print(f"{'network':<10} {'caching':<8} {'step ms':>8} {'(min..max)':>16} {'faults/step':>12} "
          f"{'OS allocs/step':>15} {'reserved MiB':>13}")
    for name in nets:
        res = {True: [], False: []}
        for _ in range(a.repeats):
            for caching in (True, False):
                res[caching].append(run_worker(name, a.steps, caching, a.threads))
        for caching in (True, False):
            r = res[caching]
            ms = [x["step_ms"] for x in r]
            row = {"network": name, "caching": caching, "threads": a.threads,
                   "step_ms": statistics.median(ms), "step_ms_min": min(ms), "step_ms_max": max(ms),
                   "faults_per_step": statistics.median(x["faults_per_step"] for x in r),
                   "system_allocs_per_step": max(x["system_allocs"] for x in r) / a.steps,
                   "reserved_mib": statistics.median(x["reserved_mib"] for x in r)}
            rows.append(row)
            print(f"{name:<10} {'on' if caching else 'off':<8} {row['step_ms']:8.2f} "
                  f"{f'({min(ms):.2f}..{max(ms):.2f})':>16} {row['faults_per_step']:12.1f} "
                  f"{row['system_allocs_per_step']:15.2f} {row['reserved_mib']:13.1f}", flush=True)
        on, off = rows[-2]["step_ms"], rows[-1]["step_ms"]
        print(f"{name}: caching on / off step time = {on / off:.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"load_average_before": load, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
