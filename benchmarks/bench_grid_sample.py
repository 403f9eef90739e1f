"""grid_sample (CPU, float32) of cnnkit against torch's aten kernel: a 32x3x64x64 batch sampled
through a rotation grid (affine_grid, 30 degrees, 64x64 output), forward and backward.

    python benchmarks/bench_grid_sample.py [--threads 1 2] [--modes bilinear nearest bicubic]
                                           [--padding zeros] [--json out.json]

Rows: mode x direction x thread count. Forward: _C.grid_sample_forward vs torch.grid_sampler_2d;
backward: _C.grid_sample_backward vs aten::grid_sampler_2d_backward, both computing the input AND
the grid gradient. Correctness first (max error relative to torch's max |value|), then the median
of repeated wall-clock calls (one warm-up). Columns: ours ms, torch ms, torch/ours (> 1: we are
faster), Msamples/s (output values N*C*Ho*Wo per second) and GB/s of compulsory traffic (input,
grid and output read/written once; for backward also dout, dinput and dgrid). The gather/scatter
is latency-bound, not bandwidth-bound: the copy bandwidth of the machine is printed as the ceiling.
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import copy_bandwidth_gbs, cpu_model, load_average, median_time, rel_err  # noqa: E402

import cnnkit as ck  # noqa: E402
import cnnkit.nn.functional as F  # noqa: E402
from cnnkit import _C  # noqa: E402

try:
    import torch
except ImportError:  # the torch columns show '-'
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--modes", nargs="+", default=["bilinear", "nearest", "bicubic"])
    p.add_argument("--padding", default="zeros", choices=["zeros", "border", "reflection"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", default=None)
    return p.parse_args()


def main():
    args = parse_args()
    rng = np.random.default_rng(0)
    N, C, Hs, Ws = 32, 3, 64, 64
    x = rng.standard_normal((N, C, Hs, Ws)).astype(np.float32)
    a = math.radians(30.0)
    theta = np.tile(np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], np.float32),
                    (N, 1, 1))
    grid = F.affine_grid(ck.tensor(theta), [N, C, Hs, Ws], align_corners=False).numpy()
    dout = rng.standard_normal((N, C, Hs, Ws)).astype(np.float32)
    xc, gc, dc = (_C.from_numpy(np.ascontiguousarray(v)) for v in (x, grid, dout))
    codes = {"bilinear": 0, "nearest": 1, "bicubic": 2, "zeros": 0, "border": 1, "reflection": 2}
    pm = args.padding
    samples = N * C * Hs * Ws
    fwd_bytes = 4 * (x.size + grid.size + samples)
    bwd_bytes = 4 * (x.size + grid.size + samples + x.size + grid.size)
    print(f"# {cpu_model()}, load average {load_average()}, copy bandwidth {copy_bandwidth_gbs(64 << 20):.1f} GB/s")
    print(f"# input {N}x{C}x{Hs}x{Ws}, rotation grid 30 deg, padding_mode={pm}, align_corners=False, float32")
    print(f"{'case':<28} {'err':>8} {'ours ms':>8} {'torch ms':>8} {'t/ours':>6} {'Msamp/s':>8} {'GB/s':>6}")
    rows = []
    for nt in args.threads:
        _C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for mode in args.modes:
            if torch is not None:
                xt, gt, dt = torch.from_numpy(x), torch.from_numpy(grid), torch.from_numpy(dout)
                tf = lambda: torch.grid_sampler_2d(xt, gt, codes[mode], codes[pm], False)  # noqa: E731
                tb = lambda: torch.ops.aten.grid_sampler_2d_backward(  # noqa: E731
                    dt, xt, gt, codes[mode], codes[pm], False, [True, True])
                ref_out = tf().numpy()
                ref_dx, ref_dg = (v.numpy() for v in tb())
            of = lambda: _C.grid_sample_forward(xc, gc, mode, pm, False)  # noqa: E731
            ob = lambda: _C.grid_sample_backward(dc, xc, gc, mode, pm, False, (True, True))  # noqa: E731
            for direction, ours_fn, torch_fn, nbytes in [("forward", of, tf if torch else None, fwd_bytes),
                                                         ("backward", ob, tb if torch else None, bwd_bytes)]:
                err = None
                if torch is not None:
                    if direction == "forward":
                        err = rel_err(np.asarray(ours_fn()), ref_out)
                    else:
                        dx, dg = ours_fn()
                        err = max(rel_err(np.asarray(dx), ref_dx), rel_err(np.asarray(dg), ref_dg))
                    assert err < 1e-4, f"{mode} {direction}: relative error {err}"
                mine = median_time(ours_fn, args.repeats)
                ref = median_time(torch_fn, args.repeats) if torch_fn is not None else None
                name = f"{mode} {direction} t={nt}"
                f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
                print(f"{name:<28} {f(err, '.1e'):>8} {mine * 1e3:8.3f} {f(None if ref is None else ref * 1e3, '8.3f'):>8} "
                      f"{f(None if ref is None else ref / mine, '.2f'):>6} {samples / mine / 1e6:8.1f} "
                      f"{nbytes / mine / 1e9:6.2f}", flush=True)
                rows.append(dict(mode=mode, direction=direction, threads=nt, err=err, ours_ms=mine * 1e3,
                                 torch_ms=None if ref is None else ref * 1e3))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(cpu=cpu_model(), shape=[N, C, Hs, Ws], padding=pm, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
