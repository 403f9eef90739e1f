"""Soak test: memory over many training steps, and memory given back once the model is dropped.

    python benchmarks/bench_soak.py [--steps N] [--resnet-steps M] [--every K] [--threads T] [--json out.json]

Each network trains in a fresh interpreter (SGD, momentum 0.9, cross-entropy, one fixed random batch):
LeNet-5 (cnnkit.vision.models.lenet5, 1x32x32, batch --batch) for --steps steps, then ResNet-18 for
CIFAR (resnet18_cifar, 3x32x32, batch --resnet-batch) for --resnet-steps steps. Every K steps the
worker samples:

- RSS: VmRSS from /proc/self/status (the resident set, what the operating system sees);
- cnnkit's CPU allocator: memory_allocated (live blocks), memory_reserved (live + cached) and the
  number of large blocks taken from the system so far (memory_stats()['num_system_allocs']);
- page faults since the previous sample: minor (fresh pages mapped) and major (read from disk),
  resource.getrusage(RUSAGE_SELF).

A flat run has RSS and reserved constant after the first samples and no new system allocations.
After the last step the worker drops the model, optimizer, batch and graph (del, gc.collect()) --
"dropped": the blocks are back in cnnkit's cache, still reserved -- then calls
cnnkit.cpu.empty_cache() -- "emptied": reserved falls to the bytes still held by live tensors and
RSS falls with it, the memory is back with the operating system.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import gc, json, resource, sys, time
import numpy as np
import cnnkit, cnnkit.cpu
from cnnkit.vision import models

name, steps, every, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def rss_bytes():
    # VmRSS in /proc/self/status (kB); getrusage only gives the peak (ru_maxrss).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


last = resource.getrusage(resource.RUSAGE_SELF)
t_last = time.perf_counter()
samples = []


def sample(label, step, n_steps=0):
    global last, t_last
    ru, now, s = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), cnnkit.cpu.memory_stats()
    samples.append({"label": label, "step": step, "rss": rss_bytes(), "allocated": s["allocated"],
                    "reserved": s["reserved"], "system_allocs": s["num_system_allocs"],
                    "minflt": ru.ru_minflt - last.ru_minflt, "majflt": ru.ru_majflt - last.ru_majflt,
                    "step_ms": 1e3 * (now - t_last) / n_steps if n_steps else None})
    last, t_last = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()


rng = np.random.default_rng(0)
if name == "LeNet-5":
    model, shape = models.lenet5(), (batch, 1, 32, 32)
else:
    model, shape = models.resnet18_cifar(), (batch, 3, 32, 32)
x = cnnkit.from_numpy(rng.standard_normal(shape).astype(np.float32))
y = cnnkit.from_numpy(rng.integers(0, 10, shape[0]).astype(np.int64))
opt = cnnkit.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
sample("start", 0)
for i in range(1, steps + 1):
    opt.zero_grad()
    loss = cnnkit.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if i % every == 0 or i == steps:
        sample("train", i, every if i % every == 0 else steps % every)
final_loss = float(loss)
del model, opt, x, y, loss
gc.collect()
sample("dropped", steps)
cnnkit.cpu.empty_cache()
sample("emptied", steps)
print(json.dumps({"network": name, "steps": steps, "batch": batch, "final_loss": final_loss,
                  "samples": samples}))
"""

MIB = 2 ** 20


def run_worker(name, steps, every, batch, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, name, str(steps), str(every), str(batch)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_soak: the {name} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(res):
    """The figures a reader checks: growth over the steady part of the run and what the drop returns."""
    train = [s for s in res["samples"] if s["label"] == "train"]
    by = {s["label"]: s for s in res["samples"]}
    # Steady state: from the second training sample on (the first covers the warm-up steps).
    first = train[1] if len(train) > 2 else train[0]
    last = train[-1]
    return {"rss_growth_mib": (last["rss"] - first["rss"]) / MIB,
            "reserved_growth_mib": (last["reserved"] - first["reserved"]) / MIB,
            "system_allocs_after_warmup": last["system_allocs"] - first["system_allocs"],
            "minflt_per_step_steady": sum(s["minflt"] for s in train[train.index(first) + 1:])
            / max(1, last["step"] - first["step"]),
            "rss_trained_mib": last["rss"] / MIB, "rss_dropped_mib": by["dropped"]["rss"] / MIB,
            "rss_emptied_mib": by["emptied"]["rss"] / MIB,
            "reserved_trained_mib": last["reserved"] / MIB, "reserved_dropped_mib": by["dropped"]["reserved"] / MIB,
            "reserved_emptied_mib": by["emptied"]["reserved"] / MIB,
            "allocated_emptied_mib": by["emptied"]["allocated"] / MIB}


def print_table(res):
    print(f"\n{res['network']}: {res['steps']} steps, batch {res['batch']}, final loss {res['final_loss']:.4f}")
    print(f"{'sample':<8} {'step':>6} {'RSS MiB':>9} {'alloc MiB':>10} {'resv MiB':>9} {'OS allocs':>10} "
          f"{'minflt':>8} {'majflt':>7} {'ms/step':>8}")
    for s in res["samples"]:
        ms = f"{s['step_ms']:.1f}" if s["step_ms"] is not None else "-"
        print(f"{s['label']:<8} {s['step']:6d} {s['rss'] / MIB:9.1f} {s['allocated'] / MIB:10.2f} "
              f"{s['reserved'] / MIB:9.2f} {s['system_allocs']:10d} {s['minflt']:8d} {s['majflt']:7d} {ms:>8}")
    m = res["summary"]
    print(f"steady state: RSS {m['rss_growth_mib']:+.2f} MiB, reserved {m['reserved_growth_mib']:+.2f} MiB, "
          f"{m['system_allocs_after_warmup']} OS allocations, {m['minflt_per_step_steady']:.1f} minor faults/step")
    print(f"drop + empty_cache: RSS {m['rss_trained_mib']:.1f} -> {m['rss_dropped_mib']:.1f} -> "
          f"{m['rss_emptied_mib']:.1f} MiB, reserved {m['reserved_trained_mib']:.2f} -> "
          f"{m['reserved_dropped_mib']:.2f} -> {m['reserved_emptied_mib']:.2f} MiB")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="LeNet-5 training steps")
    p.add_argument("--resnet-steps", type=int, default=60, help="ResNet-18 (CIFAR) training steps; 0 skips it")
    p.add_argument("--every", type=int, default=0, help="sample every K steps (default: steps / 10)")
    p.add_argument("--batch", type=int, default=64, help="LeNet-5 batch size")
    p.add_argument("--resnet-batch", type=int, default=4, help="ResNet-18 batch size")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    for flag in ("steps", "batch", "resnet_batch", "threads"):
        if getattr(a, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1")
    if a.resnet_steps < 0 or a.every < 0:
        p.error("--resnet-steps and --every must not be negative")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"load average (1 min) before: {load:.2f}; {a.threads} thread(s)")
    runs = [("LeNet-5", a.steps, a.batch)]
    if a.resnet_steps:
        runs.append(("ResNet-18-CIFAR", a.resnet_steps, a.resnet_batch))
    results = []
    for name, steps, batch in runs:
        every = a.every or max(1, steps // 10)
        res = run_worker(name, steps, every, batch, a.threads)
        res["summary"] = summarize(res)
        results.append(res)
        print_table(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"load_average_before": load, "threads": a.threads, "runs": results}, f, indent=1)


if __name__ == "__main__":
    main()
