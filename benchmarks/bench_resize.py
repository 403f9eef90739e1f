"""Resize kernels (F.interpolate bilinear antialias / bicubic / bicubic antialias) of cnnkit against torch's aten.

    python benchmarks/bench_resize.py [--threads 1 2] [--repeats 7] [--device cpu|cuda]

Cases (float32, align_corners=False, sizes given): a 64x3x64x64 batch resized to 32x32 (downsampling by
2, torchvision's Resize to a smaller image) and to 224x224 (upsampling by 3.5, a classifier input),
for bilinear antialias=True, bicubic and bicubic antialias=True; forward (_C.upsample_forward) and
backward (_C.upsample_backward, the input gradient), each against the aten op torch's interpolate
calls (_upsample_bilinear2d_aa, upsample_bicubic2d, _upsample_bicubic2d_aa and their backward),
no autograd. Each row: max error relative to torch's max |value| (correctness first), then the
median of repeated wall-clock calls (one warm-up) for cnnkit and torch, and torch/ours.
--device cuda times cnnkit on the GPU (synchronised; torch's column too when a CUDA torch is
installed, else '-').
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, load_average, median_time, rel_err  # noqa: E402

import cnnkit  # noqa: E402
from cnnkit import _C  # noqa: E402

try:
    import torch
except ImportError:  # the torch columns show '-'
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    return p.parse_args()


ARGS = parse_args()
GPU = ARGS.device == "cuda"
TORCH_DEV = "cuda" if GPU else "cpu"
if torch is not None and GPU and not torch.cuda.is_available():
    torch = None
N, C, H, W = 64, 3, 64, 64
SIZES = [(32, 32), (224, 224)]
# (name, kernel mode, antialias, aten forward, aten backward)
MODES = [("bilinear aa", "linear", True, "_upsample_bilinear2d_aa", "_upsample_bilinear2d_aa_backward"),
         ("bicubic", "cubic", False, "upsample_bicubic2d", "upsample_bicubic2d_backward"),
         ("bicubic aa", "cubic", True, "_upsample_bicubic2d_aa", "_upsample_bicubic2d_aa_backward")]


def sync():
    if GPU:
        cnnkit.cuda.synchronize()
        if torch is not None:
            torch.cuda.synchronize()


def t(fn):
    return median_time(fn, ARGS.repeats, sync=sync)


def ours(a):
    x = _C.from_numpy(np.ascontiguousarray(a))
    return x.to_device("cuda:0") if GPU else x


def host(x):
    return np.array(x.to_device("cpu") if GPU else x)


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    tx = ours(x)
    xt = torch.from_numpy(x).to(TORCH_DEV) if torch is not None else None
    print(f"# {cpu_model()}, device {ARGS.device}, load average {load_average()}, float32 {N}x{C}x{H}x{W}")
    print(f"{'case':<34} {'threads':>7} {'err':>8} {'ours ms':>9} {'torch ms':>9} {'t/o':>6}")
    threads = [1] if GPU else ARGS.threads
    for nt in threads:
        _C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for (name, kmode, aa, fwd, bwd), (OH, OW) in [(m, s) for m in MODES for s in SIZES]:
            g = rng.standard_normal((N, C, OH, OW)).astype(np.float32)
            tg = ours(g)
            gt = torch.from_numpy(g).to(TORCH_DEV) if torch is not None else None
            f = lambda: _C.upsample_forward(tx, [OH, OW], kmode, False, [], aa)  # noqa: E731
            b = lambda: _C.upsample_backward(tg, [N, C, H, W], [OH, OW], kmode, False, [], aa)  # noqa: E731
            if torch is not None:
                aten = torch.ops.aten
                ft = lambda: getattr(aten, fwd)(xt, [OH, OW], False, None, None)  # noqa: E731
                bt = lambda: getattr(aten, bwd)(gt, [OH, OW], [N, C, H, W], False, None, None)  # noqa: E731
            for kind, mine, ref in [("fwd", f, ft if torch else None), ("bwd", b, bt if torch else None)]:
                err = rel_err(host(mine()), ref().cpu().numpy()) if ref is not None else None
                tm = t(mine)
                tr = t(ref) if ref is not None else None
                fmt = lambda v, s: "-" if v is None else format(v, s)  # noqa: E731
                print(f"{name + ' ' + kind + f' -> {OH}x{OW}':<34} {nt:>7} {fmt(err, '.1e'):>8} {tm * 1e3:9.3f} "
                      f"{fmt(None if tr is None else tr * 1e3, '9.3f'):>9} "
                      f"{fmt(None if tr is None else tr / tm, '.2f'):>6}", flush=True)


if __name__ == "__main__":
    main()
