"""One optimizer step of cnnkit against torch.optim over real model parameter sets.

    python benchmarks/bench_optim.py [--threads 2] [--repeats 7] [--only sgd adam ...]

Parameter sets (float32, the models' real tensor shapes): ResNet-18 (62 tensors, 11,689,512 values) and
LeNet-5 (10 tensors, 61,706 values). Optimizers: SGD momentum=0.9, Adam, AdamW, RMSprop (defaults
otherwise). Correctness first: 3 steps of ours and of torch (foreach=False) from the same parameters and
gradients, max error relative to torch's max |value|. Then the median time of one step() (one warm-up;
short calls repeated until ~50 ms are covered) for cnnkit (one fused kernel per parameter), torch's
default path (on CPU tensors this is the per-tensor loop) and torch foreach=True (multi-tensor ops).
GB/s = bytes the update must stream (param, grad and state read, param and state written) / time.
Ratio = torch time / ours (above 1: ours faster). cnnkit and torch run with the same thread count.
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import copy_bandwidth_gbs, cpu_model, load_average, median_time, rel_err, usable_cores  # noqa: E402

import cnnkit  # noqa: E402
import torch  # noqa: E402


def resnet18_shapes():
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for block in range(2):
            first_in = cin if block == 0 else cout
            shapes += [(cout, first_in, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if block == 0 and (stride != 1 or cin != cout):
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
        cin = cout
    return shapes + [(1000, 512), (1000,)]


def lenet5_shapes():
    return [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,), (10, 84), (10,)]


# name, constructor kwargs, arrays streamed per element (reads + writes of param, grad, state)
OPTIMIZERS = [
    ("SGD", dict(lr=0.01, momentum=0.9), 5),      # read p g buf, write p buf
    ("Adam", dict(lr=1e-3), 7),                   # read p g m v, write p m v
    ("AdamW", dict(lr=1e-3), 7),
    ("RMSprop", dict(lr=1e-2), 5),                # read p g sq, write p sq
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=usable_cores())
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--only", nargs="+", default=None, help="optimizer names (case-insensitive prefixes)")
    return p.parse_args()


def make(shapes, seed):
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    return inits, grads


def torch_params(inits, grads):
    ps = [torch.tensor(a, requires_grad=True) for a in inits]
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(g)
    return ps


def ours_params(inits, grads):
    ps = [cnnkit.tensor(a, requires_grad=True) for a in inits]
    for p, g in zip(ps, grads):
        p.grad = cnnkit.tensor(g)
    return ps


def check(name, kw, inits, grads):
    tp, cp = torch_params(inits, grads), ours_params(inits, grads)
    to = getattr(torch.optim, name)(tp, foreach=False, **kw)
    co = getattr(cnnkit.optim, name)(cp, **kw)
    for _ in range(3):
        to.step()
        co.step()
    return max(rel_err(q.detach().numpy(), p.detach().numpy()) for p, q in zip(tp, cp))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    cnnkit.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}  threads: {args.threads}  load: {load_average()}  torch {torch.__version__}")
    print(f"copy bandwidth (np.copyto, read+write): {copy_bandwidth_gbs():.1f} GB/s")
    head = (f"{'params':9} {'optimizer':8} {'n':>10} {'err':>8} {'ours ms':>8} {'GB/s':>6} {'torch ms':>9} "
            f"{'ratio':>6} {'foreach ms':>10} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for set_name, shapes in [("resnet18", resnet18_shapes()), ("lenet5", lenet5_shapes())]:
        inits, grads = make(shapes, 0)
        n = sum(int(np.prod(s)) for s in shapes)
        for name, kw, arrays in OPTIMIZERS:
            if args.only and not any(name.lower().startswith(o.lower()) for o in args.only):
                continue
            err = check(name, kw, inits, grads)
            co = getattr(cnnkit.optim, name)(ours_params(inits, grads), **kw)
            to = getattr(torch.optim, name)(torch_params(inits, grads), **kw)
            tf = getattr(torch.optim, name)(torch_params(inits, grads), foreach=True, **kw)
            t_ours = median_time(co.step, args.repeats)
            t_torch = median_time(to.step, args.repeats)
            t_fe = median_time(tf.step, args.repeats)
            gbs = arrays * 4 * n / t_ours / 1e9
            print(f"{set_name:9} {name:8} {n:>10,} {err:8.1e} {t_ours * 1e3:8.3f} {gbs:6.1f} {t_torch * 1e3:9.3f} "
                  f"{t_torch / t_ours:6.2f} {t_fe * 1e3:10.3f} {t_fe / t_ours:6.2f}")


if __name__ == "__main__":
    main()
