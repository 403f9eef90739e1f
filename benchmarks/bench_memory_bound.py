"""Memory-bound CPU kernels of cnnkit against torch's aten kernels and a NumPy copy of the same bytes.

    python benchmarks/bench_memory_bound.py [--threads 1 2] [--quick] [--only maxpool relu ...]

Cases (float32): max/avg pool 2x2 NCHW forward+backward; relu, leaky_relu, sigmoid, tanh forward and
backward; add/mul contiguous same-shape and with a (C,1,1) bias-like operand; softmax / log_softmax
over the last dim and over dim 1 of an NCHW tensor, forward and backward; fused softmax +
cross-entropy forward and backward. Each row: correctness first (max error relative to torch's max
|value|), then the median of repeated wall-clock calls (one warm-up; short calls repeated until ~50
ms are covered), for cnnkit, torch (aten op, no autograd) and `copy`: np.copyto of an array as large
as the op's output, repeated as many times as the op streams (bytes read + written) / (2 x output
bytes), i.e. the time the same traffic takes at copy bandwidth. Columns: ours ms, torch ms,
torch/ours, GB/s (bytes read + written / our time), copy-equivalent ms and copy/ours (1.0 = at
copy bandwidth). Every case runs with each thread count given (cnnkit and torch set alike).
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import load_average, median_time, rel_err  # noqa: E402

import cnnkit  # noqa: E402,F401
from cnnkit import _C  # noqa: E402

try:
    import torch
except ImportError:  # the torch columns show '-'
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--quick", action="store_true", help="quarter-size tensors")
    p.add_argument("--only", nargs="+", default=None, help="case-name prefixes to run")
    p.add_argument("--repeats", type=int, default=7)
    return p.parse_args()


ARGS = parse_args()
rng = np.random.default_rng(0)
N, C, H = (8, 64, 32) if ARGS.quick else (32, 64, 32)
ROWS, K = (256, 1000) if ARGS.quick else (1024, 1000)


def t(fn):
    return median_time(fn, ARGS.repeats)


def ours(a):
    return _C.from_numpy(np.ascontiguousarray(a))


def copy_time(nbytes, out_bytes):
    """Time for `nbytes` of traffic at copy bandwidth: a copy of out_bytes (read + write), scaled."""
    src = np.ones(out_bytes // 4, np.float32)
    dst = np.empty_like(src)
    return t(lambda: np.copyto(dst, src)) * nbytes / (2.0 * out_bytes)


RESULTS = []


def row(name, err, ours_fn, torch_fn, nbytes, out_bytes):
    mine = t(ours_fn)
    ref = t(torch_fn) if torch_fn is not None else None
    cp = copy_time(nbytes, out_bytes)
    RESULTS.append((name, err, mine, ref, nbytes, cp))
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    print(f"{name:<30} {f(err, '.1e'):>8} {mine * 1e3:8.3f} {f(None if ref is None else ref * 1e3, '8.3f'):>8} "
          f"{f(None if ref is None else ref / mine, '.2f'):>6} {nbytes / mine / 1e9:6.1f} {cp * 1e3:8.3f} "
          f"{cp / mine:6.2f}", flush=True)


def tt(a):
    return torch.from_numpy(np.ascontiguousarray(a)) if torch is not None else None


def err_vs(mine, ref_fn):
    if torch is None:
        return None
    return rel_err(np.asarray(mine), ref_fn().numpy())


def bench_pool():
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    n = x.size
    tx, xt = ours(x), tt(x)
    k = [2, 2]
    out, idx = _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False)
    g = rng.standard_normal(tuple(out.shape)).astype(np.float32)
    tg, gt = ours(g), tt(g)
    aten = torch.ops.aten if torch is not None else None
    fwd_t = (lambda: aten.max_pool2d_with_indices(xt, k, k, [0, 0], [1, 1], False)) if aten else None
    io = fwd_t()[1] if aten else None
    bwd_t = (lambda: aten.max_pool2d_with_indices_backward(gt, xt, k, k, [0, 0], [1, 1], False, io)) if aten else None
    shape = f"{N}x{C}x{H}x{H}"
    fb = 4 * n + 12 * n // 4
    row(f"maxpool2x2 fwd {shape}", err_vs(out, lambda: fwd_t()[0]),
        lambda: _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False), fwd_t, fb, 4 * n // 4)
    row(f"maxpool2x2 bwd {shape}", err_vs(_C.max_pool2d_backward(tg, idx, list(x.shape)), bwd_t),
        lambda: _C.max_pool2d_backward(tg, idx, list(x.shape)), bwd_t, fb, 4 * n)
    avg = lambda: _C.avg_pool2d_forward(tx, k, k, [0, 0], False, True, None)  # noqa: E731
    avg_t = (lambda: aten.avg_pool2d(xt, k, k, [0, 0], False, True, None)) if aten else None
    avgb = lambda: _C.avg_pool2d_backward(tg, list(x.shape), k, k, [0, 0], False, True, None)  # noqa: E731
    avgb_t = (lambda: aten.avg_pool2d_backward(gt, xt, k, k, [0, 0], False, True, None)) if aten else None
    row(f"avgpool2x2 fwd {shape}", err_vs(avg(), avg_t), avg, avg_t, 5 * n, n)
    row(f"avgpool2x2 bwd {shape}", err_vs(avgb(), avgb_t), avgb, avgb_t, 5 * n, 4 * n)


def bench_act():
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    n = x.size
    tx, tg, xt, gt = ours(x), ours(g), tt(x), tt(g)
    shape = f"{N}x{C}x{H}x{H}"
    th = torch is not None
    aten = torch.ops.aten if th else None
    cases = [
        ("relu", lambda: _C.relu_forward(tx), (lambda: torch.relu(xt)) if th else None,
         lambda o: _C.relu_backward(tg, o), (lambda o: aten.threshold_backward(gt, o, 0)) if th else None),
        ("leaky_relu", lambda: _C.leaky_relu_forward(tx, 0.01),
         (lambda: aten.leaky_relu(xt, 0.01)) if th else None,
         lambda o: _C.leaky_relu_backward(tg, tx, 0.01),
         (lambda o: aten.leaky_relu_backward(gt, xt, 0.01, False)) if th else None),
        ("sigmoid", lambda: _C.sigmoid_forward(tx), (lambda: torch.sigmoid(xt)) if th else None,
         lambda o: _C.sigmoid_backward(tg, o), (lambda o: aten.sigmoid_backward(gt, o)) if th else None),
        ("tanh", lambda: _C.tanh_forward(tx), (lambda: torch.tanh(xt)) if th else None,
         lambda o: _C.tanh_backward(tg, o), (lambda o: aten.tanh_backward(gt, o)) if th else None),
    ]
    for name, f, ft, b, bt in cases:
        o = f()
        ot = ft() if th else None
        row(f"{name} fwd {shape}", err_vs(o, ft), f, ft, 8 * n, 4 * n)
        row(f"{name} bwd {shape}", err_vs(b(o), (lambda: bt(ot)) if th else None), lambda: b(o),
            (lambda: bt(ot)) if th else None, 12 * n, 4 * n)


def bench_binary():
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    y = rng.standard_normal(x.shape).astype(np.float32)
    bias = rng.standard_normal((C, 1, 1)).astype(np.float32)
    n = x.size
    tx, ty, tb = ours(x), ours(y), ours(bias)
    xt, yt, bt = tt(x), tt(y), tt(bias)
    shape = f"{N}x{C}x{H}x{H}"
    for op in ("add", "mul"):
        tf = getattr(torch, op) if torch is not None else None
        f = lambda: _C.binary(op, tx, ty)  # noqa: E731
        ft = (lambda: tf(xt, yt)) if tf else None
        row(f"{op} same-shape {shape}", err_vs(f(), ft), f, ft, 12 * n, 4 * n)
        fb = lambda: _C.binary(op, tx, tb)  # noqa: E731
        fbt = (lambda: tf(xt, bt)) if tf else None
        row(f"{op} (C,1,1) bias {shape}", err_vs(fb(), fbt), fb, fbt, 8 * n, 4 * n)


def bench_softmax():
    x = rng.standard_normal((ROWS, K)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    x4 = rng.standard_normal((N // 2, 10, H, H)).astype(np.float32)
    g4 = rng.standard_normal(x4.shape).astype(np.float32)
    th = torch is not None
    aten = torch.ops.aten if th else None
    for arr, garr, dim, label in ((x, g, 1, f"{ROWS}x{K} dim=-1"), (x4, g4, 1, "x".join(map(str, x4.shape)) + " dim=1")):
        n = arr.size
        tx, tg, xt, gt = ours(arr), ours(garr), tt(arr), tt(garr)
        for log in (False, True):
            nm = "log_softmax" if log else "softmax"
            f = (lambda: _C.log_softmax_forward(tx, dim)) if log else (lambda: _C.softmax_forward(tx, dim))
            ft = ((lambda: aten._log_softmax(xt, dim, False)) if log else (lambda: aten._softmax(xt, dim, False))) \
                if th else None
            o = f()
            ot = ft() if th else None
            row(f"{nm} fwd {label}", err_vs(o, ft), f, ft, 8 * n, 4 * n)
            b = (lambda: _C.log_softmax_backward(tg, o, dim)) if log else (lambda: _C.softmax_backward(tg, o, dim))
            bt = ((lambda: aten._log_softmax_backward_data(gt, ot, dim, torch.float32)) if log
                  else (lambda: aten._softmax_backward_data(gt, ot, dim, torch.float32))) if th else None
            row(f"{nm} bwd {label}", err_vs(b(), bt), b, bt, 12 * n, 4 * n)
    # fused softmax + cross-entropy, mean reduction (as benchmarks/run.py)
    y = rng.integers(0, K, ROWS).astype(np.int64)
    tx, ty = ours(x), ours(y)
    one = ours(np.array(1.0, np.float32))
    loss, logp = _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0)
    fe = be = fwd_t = bwd_t = None
    if th:
        xt, yt, onet = tt(x), tt(y), torch.ones(())

        def fwd_t():
            lp = aten._log_softmax(xt, 1, False)
            return aten.nll_loss_forward(lp, yt, None, 1, -100), lp

        (lt, tw), lpt = fwd_t()

        def bwd_t():
            gg = aten.nll_loss_backward(onet, lpt, yt, None, 1, -100, tw)
            return aten._log_softmax_backward_data(gg, lpt, 1, torch.float32)

        fe = max(rel_err(np.asarray(loss), lt.numpy()), rel_err(np.asarray(logp), lpt.numpy()))
        be = rel_err(np.asarray(_C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0)), bwd_t().numpy())
    n = x.size
    row(f"softmax+xent fwd {ROWS}x{K}", fe, lambda: _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0),
        fwd_t, 8 * n, 4 * n)
    row(f"softmax+xent bwd {ROWS}x{K}", be, lambda: _C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0),
        bwd_t, 8 * n, 4 * n)


CASES = {"pool": bench_pool, "act": bench_act, "binary": bench_binary, "softmax": bench_softmax}


def main():
    la = load_average()
    print(f"load average (1 min): {la}; float32; ratio = torch ms / ours ms; copy/ours = copy-equivalent "
          f"time of the same bytes / ours (1.0 = copy bandwidth)")
    for nt in ARGS.threads:
        _C.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        print(f"\n== {nt} thread(s) ==")
        print(f"{'case':<30} {'err':>8} {'ours ms':>8} {'torch ms':>8} {'ratio':>6} {'GB/s':>6} {'copy ms':>8} "
              f"{'copy/us':>6}")
        for name, fn in CASES.items():
            if ARGS.only is None or any(name.startswith(o) for o in ARGS.only):
                fn()


if __name__ == "__main__":
    main()
