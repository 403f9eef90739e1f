"""Whole-model forward+backward time, cnnkit vs torch eager (CPU), same weights, same inputs.

For each model: torchvision's model is built, its weights copied into cnnkit's model through a torch
checkpoint read by cnnkit's reader, logits compared (eval mode) before any timing; then one training
step's forward + backward (train mode, cross-entropy loss) is timed for both, median of ``--repeat``
runs after a warm-up. Prints a table with the ratio (cnnkit / torch; < 1 means cnnkit is faster).

    PYTHONPATH=python python benchmarks/bench_models.py [--repeat 3] [--threads N] [--quick]
"""
import argparse
import io
import platform
import sys
import time
import types

import numpy as np

import cnnkit
from cnnkit.vision import models as M

CASES = [  # name, builder kwargs, input shape
    ("alexnet", {}, (2, 3, 224, 224)),
    ("vgg11", {}, (2, 3, 64, 64)),
    ("resnet18", {}, (4, 3, 224, 224)),
    ("resnet18_cifar", {"num_classes": 10}, (32, 3, 32, 32)),
]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def torch_model(tv, torch, name, kw):
    if name == "resnet18_cifar":
        m = tv.models.resnet18(**kw)
        m.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = torch.nn.Identity()
        return m
    return getattr(tv.models, name)(**kw)


def timed(fn, repeat):
    fn()  # warm-up (allocator caches, GEMM packing buffers)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: leave defaults)")
    ap.add_argument("--quick", action="store_true", help="only the two smallest cases")
    args = ap.parse_args()
    import torch

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision as tv

    if args.threads:
        torch.set_num_threads(args.threads)
        cnnkit.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}; threads: cnnkit {cnnkit.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"torch {torch.__version__}")
    rows = []
    cases = CASES[1::2] if args.quick else CASES
    for name, kw, shape in cases:
        torch.manual_seed(0)
        theirs = torch_model(tv, torch, name, kw)
        buf = io.BytesIO()
        torch.save(theirs.state_dict(), buf)
        buf.seek(0)
        ours = getattr(M, name)(**kw)
        ours.load_state_dict(cnnkit.load(buf))
        x = np.random.RandomState(0).randn(*shape).astype(np.float32)
        n_cls = theirs.state_dict()[[k for k in theirs.state_dict() if k.endswith("weight")][-1]].shape[0]
        y = np.random.RandomState(1).randint(0, n_cls, size=shape[0])
        theirs.eval(), ours.eval()
        with torch.no_grad():
            ref = theirs(torch.from_numpy(x)).numpy()
        with cnnkit.no_grad():
            out = ours(cnnkit.from_numpy(x)).numpy()
        err = float(np.abs(out - ref).max() / max(1.0, np.abs(ref).max()))
        if err > 1e-4:
            raise SystemExit(f"{name}: logits differ from torch's by {err:.2e} (relative); not timing")
        theirs.train(), ours.train()
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        cx, cy = cnnkit.from_numpy(x), cnnkit.from_numpy(y)

        def step_torch():
            theirs.zero_grad()
            torch.nn.functional.cross_entropy(theirs(tx), ty).backward()

        def step_ours():
            ours.zero_grad()
            cnnkit.nn.functional.cross_entropy(ours(cx), cy).backward()

        t_torch = timed(step_torch, args.repeat)
        t_ours = timed(step_ours, args.repeat)
        rows.append((name, "x".join(map(str, shape)), err, t_ours * 1e3, t_torch * 1e3, t_ours / t_torch))
        print(f"  done {name}", file=sys.stderr)
    print(f"| model | input | logits rel. err | cnnkit fwd+bwd ms | torch fwd+bwd ms | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1e} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f} |")


if __name__ == "__main__":
    main()
