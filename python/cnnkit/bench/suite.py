"""The benchmark suite behind ``cnnkit bench`` / ``python -m cnnkit.bench`` / ``benchmarks/run.py``.

Every case is first checked against its reference (max error relative to the reference's max |value|),
then timed: one warm-up call, then the median of R wall-clock calls (R = 5, --quick 3, raised to up to
50 for calls shorter than ~10 ms so that each measurement spans ~50 ms); GEMM and conv rows repeat that in
alternating rounds and report the median of the per-round ratios (Suite.t_rounds). Kernel cases call the _C
kernels / aten ops directly so neither side pays for autograd; the training steps go through the public
nn / autograd / optim layers of both libraries. See the package docstring (cnnkit/bench/__init__.py)
for the columns. No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time

from ._machine import (copy_bandwidth_gbs, cpu_model, load_average, median_time, nominal_ghz, peak_gflops,
                       rel_err, usable_cores)
from .layers import LAYERS, lenet_flops, make_lenet, make_resnet, resnet_flops

CONV_PICK_QUICK = ("conv1 3->64 32x32", "layer1 64->64 32x32", "layer3 256->256 8x8", "short3 1x1 128->256 s2")


def parse_args(argv=None, default_quick=True):
    p = argparse.ArgumentParser(prog="cnnkit bench",
                                description="cnnkit benchmark suite: one table of kernels and training steps "
                                            "against NumPy / PyTorch, measured in one run.")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", dest="quick", action="store_const", const=True, default=None,
                   help="smaller batches, fewer layers and repeats (~2 minutes); the default of cnnkit bench")
    p.add_argument("--full", dest="quick", action="store_const", const=False,
                   help="the whole suite: batch 32 ResNet-18 layers and steps, 2048 GEMMs (~10 minutes); the "
                        "default of benchmarks/run.py")
    p.add_argument("--json", metavar="PATH", help="write machine info and every row as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown (for the README)")
    p.add_argument("--compare", metavar="PATH", help="add a column: saved time / time now, from a --json file")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for cnnkit, OpenBLAS and torch (default: $OMP_NUM_THREADS or the usable cores)")
    p.add_argument("--only", metavar="NAMES", default=None,
                   help="comma-separated subset of: gemm,conv,pool,eltwise,softmax,batchnorm,train,memory")
    args = p.parse_args(argv)
    if args.quick is None:
        args.quick = default_quick
    return args


GROUPS = ("gemm", "conv", "pool", "eltwise", "softmax", "batchnorm", "train", "memory")


def wanted_threads(args):
    return args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or usable_cores()


def main(argv=None, default_quick=True):
    """Runs the suite; `cnnkit bench` / `python -m cnnkit.bench` default to --quick, benchmarks/run.py to --full."""
    args = parse_args(argv, default_quick)
    threads = wanted_threads(args)
    # OpenBLAS (NumPy's BLAS, the GEMM reference) reads its thread count once, when NumPy is first imported
    # -- and importing cnnkit imports NumPy. If the variable does not already say `threads`, run the suite
    # again in a child process that has it set from the start. The same goes for the OpenMP spin time
    # (read once by libgomp, which cnnkit and torch share): OpenBLAS's idle threads spin ~0.1 s after a
    # call, libgomp's only ~12 ms by default, so after the settle pause before each timing our threads
    # (and torch's) were asleep while OpenBLAS's were not: short multi-threaded calls then paid wake-ups
    # on this VM (16 x 1100 x 150: 0.06 ms hot, 0.09-0.12 ms in the suite). GOMP_SPINCOUNT=3000000 (~0.1
    # s here) gives every library the same warm threads a training loop has; a value already set wins.
    # Training steps timed either way did not differ beyond the noise.
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(threads) or "GOMP_SPINCOUNT" not in os.environ:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
        env.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)
        argv = list(sys.argv[1:] if argv is None else argv)
        argv.append("--quick" if args.quick else "--full")  # the child's own default may differ
        return subprocess.call([sys.executable, "-m", "cnnkit.bench", *argv], env=env)
    return Suite(args, threads).run()


GOMP_SPINCOUNT = "3000000"

# (name, M, N, K, trans_a, trans_b): the GEMMs of conv2d's im2col path for a chunk of images.
GEMM_CONV_SHAPES = (
    ("conv 256@8x8 fwd", 256, 1024, 2304, False, False),
    ("conv 256@8x8 dW", 256, 2304, 1024, False, True),
    ("conv 256@8x8 dX", 2304, 1024, 256, True, False),
    ("conv 64@32x32 fwd", 64, 1024, 576, False, False),
    ("conv 64@32x32 dW", 64, 576, 1024, False, True),
    ("conv 64@32x32 dX", 576, 1024, 64, True, False),
    ("lenet conv1 fwd", 6, 1568, 25, False, False),
    ("lenet conv2 fwd", 16, 1100, 150, False, False),
    ("lenet conv2 dW", 16, 150, 1100, False, True),
    ("lenet conv2 dX", 150, 1100, 16, True, False),
)
GEMM_CONV_QUICK = ("conv 256@8x8 fwd", "conv 256@8x8 dW", "conv 256@8x8 dX", "conv 64@32x32 fwd", "lenet conv1 fwd",
                   "lenet conv2 fwd")


class Suite:
    def __init__(self, args, threads):
        import numpy as np

        import cnnkit
        from cnnkit import _C

        self.np, self.cnnkit, self._C = np, cnnkit, _C
        try:
            import torch
        except ImportError:
            torch = None
        self.torch = torch
        self.args, self.threads = args, threads
        self.quick = args.quick
        self.repeats = 3 if self.quick else 5
        self.rng = np.random.default_rng(0)
        self.rows, self.failed, self.saved = [], [], {}
        if args.device == "cuda":
            if not (_C.cuda_compiled() and _C.cuda_device_count() > 0):
                why = ("cnnkit was built without CUDA (rebuild with CNNKIT_CUDA=ON on a GPU machine)"
                       if not _C.cuda_compiled() else "no CUDA device is visible")
                raise SystemExit(f"--device cuda: {why}; nothing to benchmark.")
            self.dev = _C.resolve_device("cuda")
            self.sync = cnnkit.cuda.synchronize
            self.torch_dev = "cuda" if torch is not None and torch.cuda.is_available() else None
            self.tsync = torch.cuda.synchronize if self.torch_dev else None
            if self.torch_dev:  # FP32 references: no TF32 in cuBLAS / cuDNN
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cudnn.benchmark = True
        else:
            self.dev = "cpu"
            self.sync = None
            self.torch_dev = "cpu" if torch is not None else None
            self.tsync = None
        _C.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        self.peak = peak_gflops(threads) if self.dev == "cpu" else None
        self.copy_gbs = copy_bandwidth_gbs(128 << 20 if self.quick else 256 << 20) if self.dev == "cpu" else None
        if args.compare:
            with open(args.compare) as f:
                for r in json.load(f)["rows"]:
                    self.saved[(r["case"], r["shape"], r["ref"])] = r["ours_ms"]

    # --- helpers ------------------------------------------------------------------------------------
    def ours(self, a):
        """numpy array -> _C.Tensor on the benchmark device."""
        t = self._C.from_numpy(self.np.ascontiguousarray(a))
        return t if self.dev == "cpu" else t.to_device(self.dev)

    def host(self, t):
        """_C.Tensor (any device) -> numpy array."""
        return self.np.asarray(t if self.dev == "cpu" else t.to_device("cpu"))

    def ref(self, a):
        """numpy array -> torch tensor on the reference device."""
        return self.torch.from_numpy(self.np.ascontiguousarray(a)).to(self.torch_dev)

    def t_ours(self, fn, repeats=None):
        return median_time(fn, repeats or self.repeats, self.sync)

    def t_ref(self, fn, repeats=None):
        return median_time(fn, repeats or self.repeats, self.tsync)

    def t_rounds(self, fns, rounds=(9, 5)):
        """{name: (fn, sync)} with an "ours" entry -> ({name: seconds}, {name: ratio}), ratio = name's time / ours.

        On the CPU, paired samples: in each of `rounds` rounds (full, quick; twice as many for calls under
        5 ms) every fn gets one median_time (3 or more calls, ~30 ms) in rotating order; the time is the
        median over rounds and the ratio the median over rounds of (its sample / ours in the same round).
        GEMM and conv rows use it: this VM's speed drifts by 10-30 % over seconds, and libraries timed at
        different moments compare the moments more than the libraries, while samples taken a fraction of
        a second apart see about the same machine. Each sample is a median of calls, not a mean: on this
        VM, waking a thread whose vCPU has gone idle sometimes takes milliseconds (both libraries, seen on
        0.1 ms calls), which a mean would charge to whichever call met it. On a GPU, one median each and
        the ratio of the medians."""
        if self.dev != "cpu":
            t = {name: median_time(fn, self.repeats, sync) for name, (fn, sync) in fns.items()}
            return t, {name: t[name] / t["ours"] for name in t}
        import statistics

        names = list(fns)
        samples = {name: [] for name in names}
        n = rounds[1] if self.quick else rounds[0]
        t0 = time.perf_counter()
        fns["ours"][0]()
        if time.perf_counter() - t0 < 5e-3:  # short calls: the noisiest ratios and the cheapest rounds
            n *= 2
        for r in range(n):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn, sync = fns[name]
                samples[name].append(median_time(fn, 3, sync, min_total=0.03))
        t = {name: statistics.median(v) for name, v in samples.items()}
        ratio = {name: statistics.median(x / y for x, y in zip(v, samples["ours"])) for name, v in samples.items()}
        return t, ratio

    def t_copy(self, x_np, tx):
        """Time of copying x's bytes once (read + write): NumPy copy on the CPU, a device clone on a GPU."""
        if self.dev == "cpu":
            dst = self.np.empty_like(x_np)
            return median_time(lambda: self.np.copyto(dst, x_np), self.repeats)
        return self.t_ours(lambda: tx.clone())

    def add_row(self, case, shape, err, ours_s, ref_name, ref_s, work, unit, tol, ratio=None):
        """One table row; work = flops (unit GFLOP/s) or bytes moved (unit GB/s) per call; ratio (ref time /
        ours) defaults to ref_s / ours_s (t_rounds gives the median of paired ratios instead)."""
        rate = work / ours_s / 1e9
        ceiling = self.peak if unit == "GFLOP/s" else self.copy_gbs
        row = {"case": case, "shape": shape, "max_rel_err": err, "ours_ms": ours_s * 1e3, "ref": ref_name,
               "ref_ms": None if ref_s is None else ref_s * 1e3,
               "ratio": ratio if ratio is not None else (None if ref_s is None else ref_s / ours_s),
               "rate": rate, "unit": unit, "pct_peak": None if not ceiling else 100.0 * rate / ceiling}
        if err is not None and err > tol:
            self.failed.append(f"{case} [{shape}]: max relative error {err:.2e} > {tol:.0e}")
        self.rows.append(row)
        self.print_row(row)

    def header(self):
        return (f"{'case':<34} {'shape':<22} {'max err':>8} {'ours ms':>9} {'ref':>8} {'ref ms':>9} {'ref/ours':>8} "
                f"{'throughput':>15} {'%peak':>6}" + (f" {'vs saved':>8}" if self.args.compare else ""))

    def print_row(self, r):
        f = lambda v, spec, w: f"{v:{w}{spec}}" if v is not None else f"{'-':>{w}}"  # noqa: E731
        line = (f"{r['case']:<34} {r['shape']:<22} {f(r['max_rel_err'], '.1e', 8)} {r['ours_ms']:9.3f} "
                f"{r['ref']:>8} {f(r['ref_ms'], '.3f', 9)} {f(r['ratio'], '.2f', 8)} "
                f"{r['rate']:7.1f} {r['unit']:<7} {f(r['pct_peak'], '.0f', 6)}")
        if self.args.compare:
            saved = self.saved.get((r["case"], r["shape"], r["ref"]))
            line += f" {saved / r['ours_ms']:8.2f}" if saved else f" {'-':>8}"
        print(line, flush=True)

    # --- cases --------------------------------------------------------------------------------------
    def bench_gemm(self):
        np, _C = self.np, self._C
        sizes = (512, 1024) if self.quick else (512, 1024, 2048)
        if self.dev != "cpu":
            sizes = (1024, 4096) if self.quick else (1024, 4096, 8192)
        for n in sizes:
            a = self.rng.standard_normal((n, n)).astype(np.float32)
            b = self.rng.standard_normal((n, n)).astype(np.float32)
            ta, tb = self.ours(a), self.ours(b)
            err = rel_err(self.host(_C.gemm(ta, tb)), a.astype(np.float64) @ b.astype(np.float64))
            fns = {"ours": ((lambda: _C.gemm(ta, tb)), self.sync)}
            if self.dev == "cpu":
                fns["numpy"] = ((lambda: a @ b), None)
            if self.torch_dev:
                at, bt = self.ref(a), self.ref(b)
                fns["torch"] = ((lambda: self.torch.mm(at, bt)), self.tsync)
            t, ratio = self.t_rounds(fns)
            shape, flops = f"{n}x{n}x{n}", 2.0 * n ** 3
            for ref in ("numpy", "torch"):
                if ref in t:
                    self.add_row(f"sgemm {n}", shape, err, t["ours"], ref, t[ref], flops, "GFLOP/s", 1e-5,
                                 ratio=ratio[ref])
        if self.dev == "cpu":
            self.bench_gemm_conv_shapes()

    def bench_gemm_conv_shapes(self):
        """The GEMMs conv2d runs (per chunk of images, see csrc/ops/conv2d.cpp): forward W @ cols,
        dweight dout @ cols^T (trans_b), dcols W^T @ dout (trans_a), for a CIFAR ResNet-18 layer3
        convolution (256 channels, 8x8, a chunk of 16 images) and LeNet-5's convolutions (batch 64)."""
        np, _C = self.np, self._C
        for name, M, N, K, ta, tb in (c for c in GEMM_CONV_SHAPES if not self.quick or c[0] in GEMM_CONV_QUICK):
            a = self.rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
            b = self.rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
            ta_, tb_ = self.ours(a), self.ours(b)
            opa, opb = (a.T if ta else a), (b.T if tb else b)
            ref = opa.astype(np.float64) @ opb.astype(np.float64)
            err = rel_err(self.host(_C.gemm(ta_, tb_, ta, tb)), ref)
            t, ratio = self.t_rounds({"ours": ((lambda: _C.gemm(ta_, tb_, ta, tb)), None),
                                      "numpy": ((lambda: opa @ opb), None)})
            self.add_row(f"sgemm {name}", f"{M}x{N}x{K}" + (" A^T" if ta else "") + (" B^T" if tb else ""), err,
                         t["ours"], "numpy", t["numpy"], 2.0 * M * N * K, "GFLOP/s", 1e-5, ratio=ratio["numpy"])

    def bench_conv(self):
        """CIFAR ResNet-18 convolutions: forward + backward (dinput, dweight, dbias) as one measure, against
        torch's default CPU path (oneDNN) and, on the CPU, against torch with oneDNN off (its own im2col +
        GEMM path, 'th-nodnn'); on a GPU against cuDNN (benchmark=True, TF32 off)."""
        np, _C, torch = self.np, self._C, self.torch
        N = 8 if self.quick else (128 if self.dev != "cpu" else 32)
        for name, C, H, OC, k, s in (l for l in LAYERS if not self.quick or l[0] in CONV_PICK_QUICK):
            p = 1 if k == 3 else 0
            x = self.rng.standard_normal((N, C, H, H)).astype(np.float32)
            w = (self.rng.standard_normal((OC, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
            b = self.rng.standard_normal(OC).astype(np.float32)
            tx, tw, tb = self.ours(x), self.ours(w), self.ours(b)
            out = _C.conv2d_forward(tx, tw, tb, s, p, 1, 1)
            dout = self.rng.standard_normal(tuple(out.shape)).astype(np.float32)
            td = self.ours(dout)
            grads = _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True))

            def step_ours():
                _C.conv2d_forward(tx, tw, tb, s, p, 1, 1)
                _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True))

            OH = (H + 2 * p - k) // s + 1
            flops = 3 * 2.0 * N * OC * OH * OH * C * k * k  # forward + dinput + dweight
            shape = f"N{N} {C}x{H}x{H} k{k}s{s}"
            if not self.torch_dev:  # no torch: check against cnnkit's direct-loop kernels on the first image
                mine = self.t_ours(step_ours)
                one = lambda a: self.ours(a[:1])  # noqa: E731
                err = rel_err(self.host(out)[:1], self.host(_C.conv2d_naive(one(x), tw, tb, s, p, 1, 1)))
                naive = _C.conv2d_backward_naive(one(dout), one(x), tw, s, p, 1, 1, (True, False, False))
                err = max(err, rel_err(self.host(grads[0])[:1], self.host(naive[0])))
                self.add_row(f"conv {name} fwd+bwd", shape, err, mine, "torch", None, flops, "GFLOP/s", 1e-4)
                continue
            xt, wt, bt, dt = (self.ref(a) for a in (x, w, b, dout))

            def step_ref():
                torch.ops.aten.convolution(xt, wt, bt, [s, s], [p, p], [1, 1], False, [0, 0], 1)
                return torch.ops.aten.convolution_backward(dt, xt, wt, [OC], [s, s], [p, p], [1, 1], False, [0, 0],
                                                           1, [True, True, True])

            refs = [torch.ops.aten.convolution(xt, wt, bt, [s, s], [p, p], [1, 1], False, [0, 0], 1)] + \
                list(step_ref())
            err = max(rel_err(self.host(o), r.cpu().numpy()) for o, r in zip([out, *grads], refs))

            def step_nodnn():  # torch's own im2col + GEMM path
                enabled = torch.backends.mkldnn.enabled
                torch.backends.mkldnn.enabled = False
                try:
                    return step_ref()
                finally:
                    torch.backends.mkldnn.enabled = enabled

            fns = {"ours": (step_ours, self.sync), "torch": (step_ref, self.tsync)}
            if self.dev == "cpu":
                fns["th-nodnn"] = (step_nodnn, None)
            t, ratio = self.t_rounds(fns, rounds=(5, 5))
            for ref in ("torch", "th-nodnn"):
                if ref in t:
                    self.add_row(f"conv {name} fwd+bwd", shape, err, t["ours"], ref, t[ref], flops, "GFLOP/s", 1e-4,
                                 ratio=ratio[ref])

    def bench_maxpool(self):
        np, _C, torch = self.np, self._C, self.torch
        N, C, H = (8, 64, 32) if self.quick else (32, 64, 32)
        x = self.rng.standard_normal((N, C, H, H)).astype(np.float32)
        k = [2, 2]
        tx = self.ours(x)
        out, idx = _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False)
        g = self.rng.standard_normal(tuple(out.shape)).astype(np.float32)
        tg = self.ours(g)
        dx = _C.max_pool2d_backward(tg, idx, [N, C, H, H])
        n = x.size
        fwd_bytes = 4 * n + (4 + 8) * n // 4  # read input, write output + int64 indices
        bwd_bytes = (4 + 8) * n // 4 + 4 * n  # read grad + indices, write dinput
        shape = f"{N}x{C}x{H}x{H}"
        fe = be = fr = br = fbr = None
        if self.torch_dev:
            xt, gt = self.ref(x), self.ref(g)
            fwd_t = lambda: torch.ops.aten.max_pool2d_with_indices(xt, k, k, [0, 0], [1, 1], False)  # noqa: E731
            ot, it = fwd_t()
            bwd_t = lambda: torch.ops.aten.max_pool2d_with_indices_backward(  # noqa: E731
                gt, xt, k, k, [0, 0], [1, 1], False, it)

            def both_t():
                o, i = fwd_t()
                return torch.ops.aten.max_pool2d_with_indices_backward(gt, xt, k, k, [0, 0], [1, 1], False, i)

            fe = rel_err(self.host(out), ot.cpu().numpy())
            be = rel_err(self.host(dx), bwd_t().cpu().numpy())
            fr, br, fbr = self.t_ref(fwd_t), self.t_ref(bwd_t), self.t_ref(both_t)
        else:  # no torch: NumPy reference (ties are measure-zero with random normal data)
            win = x.reshape(N, C, H // 2, 2, H // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, H // 2, 4)
            fe = rel_err(self.host(out), win.max(-1))
            mask = (win == win.max(-1, keepdims=True)) * g[..., None]
            be = rel_err(self.host(dx), mask.reshape(N, C, H // 2, H // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
                         .reshape(x.shape))
        fwd = lambda: _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False)  # noqa: E731

        def both():
            o, i = fwd()
            return _C.max_pool2d_backward(tg, i, [N, C, H, H])

        self.add_row("maxpool 2x2 fwd", shape, fe, self.t_ours(fwd), "torch", fr, fwd_bytes, "GB/s", 1e-6)
        self.add_row("maxpool 2x2 bwd", shape, be, self.t_ours(lambda: _C.max_pool2d_backward(tg, idx, [N, C, H, H])),
                     "torch", br, bwd_bytes, "GB/s", 1e-6)
        self.add_row("maxpool 2x2 fwd+bwd", shape, max(fe, be), self.t_ours(both), "torch", fbr,
                     fwd_bytes + bwd_bytes, "GB/s", 1e-6)

    def bench_eltwise(self):
        """ReLU and a broadcast bias-add + mul, forward and backward, against torch and against copying the
        same number of bytes ('copy': the floor an out-of-place elementwise kernel can reach)."""
        np, _C, torch = self.np, self._C, self.torch
        N, C, H = (8, 64, 32) if self.quick else (32, 64, 32)
        x = self.rng.standard_normal((N, C, H, H)).astype(np.float32)
        g = self.rng.standard_normal(x.shape).astype(np.float32)
        tx, tg = self.ours(x), self.ours(g)
        n = x.size
        shape = f"{N}x{C}x{H}x{H}"
        copy_s = self.t_copy(x, tx)  # moves 8n bytes
        out = _C.relu_forward(tx)
        err = max(rel_err(self.host(out), np.maximum(x, 0)),
                  rel_err(self.host(_C.relu_backward(tg, out)), g * (x > 0)))

        def relu_both():
            o = _C.relu_forward(tx)
            return _C.relu_backward(tg, o)

        rb = None
        if self.torch_dev:
            xt, gt = self.ref(x), self.ref(g)
            rb = self.t_ref(lambda: torch.ops.aten.threshold_backward(gt, torch.relu(xt), 0))
        mine = self.t_ours(relu_both)
        nbytes = 8 * n + 12 * n  # fwd: read x, write y; bwd: read g and y, write dx
        self.add_row("relu fwd+bwd", shape, err, mine, "torch", rb, nbytes, "GB/s", 0)
        self.add_row("relu fwd+bwd", shape, err, mine, "copy", copy_s * nbytes / (8 * n), nbytes, "GB/s", 0)

        # y = x + b (b broadcast over (C, 1, 1)), and its backward: dx = g (a copy), db = sum of g over N, H, W.
        b = self.rng.standard_normal((C, 1, 1)).astype(np.float32)
        tb = self.ours(b)
        y = _C.binary("add", tx, tb)
        db = _C.sum(tg, [0, 2, 3], True)
        err = max(rel_err(self.host(y), x + b), rel_err(self.host(db), g.sum((0, 2, 3), keepdims=True)))

        def add_both():
            _C.binary("add", tx, tb)
            _C.sum(tg, [0, 2, 3], True)
            return _C.binary("mul", tg, tx)

        ab = None
        if self.torch_dev:
            bt = self.ref(b)
            ab = self.t_ref(lambda: (xt + bt, gt.sum((0, 2, 3), keepdim=True), gt * xt))
        nbytes = 8 * n + 4 * n + 12 * n  # add: r/w; sum: read; mul: read 2, write 1
        mine = self.t_ours(add_both)
        self.add_row("add-bias + sum + mul", shape, err, mine, "torch", ab, nbytes, "GB/s", 1e-5)
        self.add_row("add-bias + sum + mul", shape, err, mine, "copy", copy_s * nbytes / (8 * n), nbytes, "GB/s",
                     1e-5)

    def bench_cross_entropy(self):
        np, _C, torch = self.np, self._C, self.torch
        N, K = (256, 1000) if self.quick else (1024, 1000)
        x = self.rng.standard_normal((N, K)).astype(np.float32)
        y = self.rng.integers(0, K, N).astype(np.int64)
        tx, ty = self.ours(x), self.ours(y)
        one = self.ours(np.array(1.0, np.float32))
        loss, logp = _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0)
        dx = _C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0)
        shape = f"{N}x{K}"
        fe = be = fr = br = None
        if self.torch_dev:
            xt, yt = self.ref(x), self.ref(y)
            onet = torch.ones((), device=self.torch_dev)

            def fwd_t():
                lp = torch.ops.aten._log_softmax(xt, 1, False)
                return torch.ops.aten.nll_loss_forward(lp, yt, None, 1, -100), lp

            (lt, tw), lpt = fwd_t()

            def bwd_t():
                g = torch.ops.aten.nll_loss_backward(onet, lpt, yt, None, 1, -100, tw)
                return torch.ops.aten._log_softmax_backward_data(g, lpt, 1, torch.float32)

            fe = max(rel_err(self.host(loss), lt.cpu().numpy()), rel_err(self.host(logp), lpt.cpu().numpy()))
            be = rel_err(self.host(dx), bwd_t().cpu().numpy())
            fr, br = self.t_ref(fwd_t), self.t_ref(bwd_t)
        else:  # no torch: NumPy reference in float64
            x64 = x.astype(np.float64)
            lp = x64 - x64.max(1, keepdims=True)
            lp -= np.log(np.exp(lp).sum(1, keepdims=True))
            fe = max(rel_err(self.host(loss), -lp[np.arange(N), y].mean()), rel_err(self.host(logp), lp))
            d = np.exp(lp)
            d[np.arange(N), y] -= 1
            be = rel_err(self.host(dx), d / N)
        self.add_row("softmax+xent fwd", shape, fe,
                     self.t_ours(lambda: _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0)), "torch", fr,
                     8.0 * N * K, "GB/s", 1e-5)  # read logits, write log-probabilities
        self.add_row("softmax+xent bwd", shape, be,
                     self.t_ours(lambda: _C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0)),
                     "torch", br, 8.0 * N * K, "GB/s", 1e-5)  # read log-probabilities, write dlogits

    def bench_batchnorm(self):
        """BatchNorm2d in training mode through the public functional API (autograd included on both sides)."""
        np, cnnkit, torch = self.np, self.cnnkit, self.torch
        F = cnnkit.nn.functional
        if not hasattr(F, "batch_norm"):
            print("(batchnorm: cnnkit.nn.functional.batch_norm not available in this build)")
            return
        N, C, H = (8, 64, 32) if self.quick else (32, 64, 32)
        x = self.rng.standard_normal((N, C, H, H)).astype(np.float32)
        g = self.rng.standard_normal(x.shape).astype(np.float32)
        w = self.rng.standard_normal(C).astype(np.float32)
        b = self.rng.standard_normal(C).astype(np.float32)
        dev = self.dev
        xo = cnnkit.from_numpy(x).to(dev).requires_grad_()
        go = cnnkit.from_numpy(g).to(dev)
        wo = cnnkit.from_numpy(w).to(dev).requires_grad_()
        bo = cnnkit.from_numpy(b).to(dev).requires_grad_()
        rm, rv = cnnkit.zeros(C, device=dev), cnnkit.ones(C, device=dev)

        def step_ours():
            xo.grad = wo.grad = bo.grad = None
            y = F.batch_norm(xo, rm, rv, wo, bo, training=True)
            y.backward(go)
            return y

        n = x.size
        nbytes = 4 * (3 * n) + 4 * (4 * n)  # fwd: 2 reads + 1 write; bwd: ~3 reads + 1 write
        shape = f"{N}x{C}x{H}x{H}"
        err = ref_s = None
        if self.torch_dev:
            xt = self.ref(x).requires_grad_()
            gt, wt, bt = self.ref(g), self.ref(w).requires_grad_(), self.ref(b).requires_grad_()
            rmt, rvt = torch.zeros(C, device=self.torch_dev), torch.ones(C, device=self.torch_dev)

            def step_ref():
                xt.grad = wt.grad = bt.grad = None
                y = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=True)
                y.backward(gt)
                return y

            yo, yt = step_ours(), step_ref()
            err = max(rel_err(yo.detach().cpu().numpy(), yt.detach().cpu().numpy()),
                      rel_err(xo.grad.cpu().numpy(), xt.grad.cpu().numpy()),
                      rel_err(wo.grad.cpu().numpy(), wt.grad.cpu().numpy()),
                      rel_err(bo.grad.cpu().numpy(), bt.grad.cpu().numpy()))
            ref_s = self.t_ref(step_ref)
        mine = self.t_ours(step_ours)
        self.add_row("batchnorm2d train fwd+bwd", shape, err, mine, "torch", ref_s, nbytes, "GB/s", 1e-4)
        self.add_row("batchnorm2d train fwd+bwd", shape, err, mine, "copy",
                     self.t_copy(x, self.ours(x)) * nbytes / (8 * n), nbytes, "GB/s", 1e-4)

    @staticmethod
    def sgd_step(lib, model, x, y):
        """One training step of `model` on (x, y) with SGD(lr 0.01, momentum 0.9), in library `lib` (cnnkit or
        torch): zero_grad, forward, cross-entropy, backward, update; returns the loss."""
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    def train_pair(self, build, in_shape):
        """cnnkit and torch copies of one network with identical weights and one SGD step function each;
        returns (step_ours, step_ref or None, err, ref_err): the errors of one step from the identical
        weights against torch's step in float64, ours and torch's float32 one (None without torch)."""
        np, cnnkit, torch = self.np, self.cnnkit, self.torch
        x = self.rng.standard_normal(in_shape).astype(np.float32)
        y = self.rng.integers(0, 10, in_shape[0]).astype(np.int64)
        model = build(cnnkit.nn, cnnkit.nn.functional)
        if self.dev != "cpu":
            model = model.to(self.dev)
        step_ours = self.sgd_step(cnnkit, model, cnnkit.from_numpy(x).to(self.dev), cnnkit.from_numpy(y).to(self.dev))
        if not self.torch_dev:
            return step_ours, None, None, None
        torch.manual_seed(0)
        tmodel = build(torch.nn, torch.nn.functional).to(self.torch_dev)
        with cnnkit.no_grad():
            for p, q in zip(model.parameters(), tmodel.parameters()):
                p.copy_(cnnkit.from_numpy(q.detach().cpu().numpy().copy()).to(self.dev))
        t64 = copy.deepcopy(tmodel).double()
        yt = self.ref(y)
        step_ref = self.sgd_step(torch, tmodel, self.ref(x), yt)

        # Correctness: one step from identical weights on the same batch -- the loss and every updated
        # parameter, against torch's step computed in float64. (Not against torch's float32 step: with
        # batch norm, float32 gradients are ill-conditioned enough that PyTorch CPU's own float32 result
        # differs from float64 by up to ~3e-2 relative in early layers of ResNet-18.) Torch's float32 step
        # is measured the same way (ref_err), which also puts its copy on the trajectory of ours.
        loss64 = self.sgd_step(torch, t64, self.ref(x.astype(np.float64)), yt)().item()

        def step_err(step, net):
            err = rel_err(step().item(), loss64)
            for p, q in zip(net.parameters(), t64.parameters()):
                err = max(err, rel_err(p.detach().cpu().numpy(), q.detach().cpu().numpy()))
            return err

        return step_ours, step_ref, step_err(step_ours, model), step_err(step_ref, tmodel)

    def bench_train(self, name, build, in_shape, flops_fwd, repeats, tol):
        step_ours, step_ref, err, ref_err = self.train_pair(build, in_shape)
        if ref_err is not None:  # a row passes within its own tolerance or 3x torch's own float32 error
            tol = max(tol, 3.0 * ref_err)
        ref_s = self.t_ref(step_ref, repeats) if step_ref else None
        mine = median_time(step_ours, repeats, self.sync)
        self.add_row(name, "x".join(map(str, in_shape)), err, mine, "torch", ref_s, 3.0 * flops_fwd, "GFLOP/s", tol)

    def has_batchnorm(self):
        return hasattr(self.cnnkit.nn, "BatchNorm2d")

    def resnet_case(self):
        blocks = (1, 1, 1, 1) if self.quick else (2, 2, 2, 2)
        nb = 8 if self.quick else (128 if self.dev != "cpu" else 32)
        bn = self.has_batchnorm()
        label = ("ResNet-10" if self.quick else "ResNet-18") + ("" if bn else " (no BN)")
        return (f"train step {label}", lambda nn, F: make_resnet(nn, F, blocks, batch_norm=bn), (nb, 3, 32, 32),
                resnet_flops(nb, blocks))

    def bench_training(self):
        nl = 128 if self.dev != "cpu" else 64
        self.bench_train("train step LeNet-5 SGD-m", lambda nn, F: make_lenet(nn), (nl, 1, 28, 28), lenet_flops(nl),
                         5 if self.quick else 10, 1e-4)
        name, build, shape, flops = self.resnet_case()
        self.bench_train(name, build, shape, flops, 2 if self.quick else 3, 1e-3)

    def bench_memory(self):
        """Steady state: after warm-up steps, how many new blocks the allocator asked the OS (CPU) or the CUDA
        driver for during further training steps. The target is none."""
        cnnkit = self.cnnkit
        mod = cnnkit.cuda if self.dev != "cpu" else getattr(cnnkit, "cpu", None)
        if mod is None or not hasattr(mod, "memory_stats"):
            print("(memory: this build has no cnnkit.cpu.memory_stats)")
            return
        name, build, shape, _ = self.resnet_case()
        for label, b, s in (("LeNet-5", lambda nn, F: make_lenet(nn), (64, 1, 28, 28)),
                            (name.replace("train step ", ""), build, shape)):
            step = self.train_pair(b, s)[0]
            for _ in range(3):
                step()
            before = mod.memory_stats()
            steps = 5
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            if self.sync:
                self.sync()
            dt = (time.perf_counter() - t0) / steps
            after = mod.memory_stats()
            # CPU: blocks taken from the OS; CUDA: cudaMalloc calls of the caching allocator.
            sys_key = next(k for k in ("num_system_allocs", "num_mallocs") if k in after)
            new = after[sys_key] - before[sys_key]
            row = {"case": f"memory: {label} steady state", "shape": "x".join(map(str, s)), "steps": steps,
                   "new_system_allocations": new, "memory_allocated": mod.memory_allocated(),
                   "memory_reserved": mod.memory_reserved(), "step_ms": dt * 1e3}
            self.rows.append(dict(row, ref="-", ours_ms=dt * 1e3, ratio=None, max_rel_err=None, rate=None,
                                  unit="allocs", pct_peak=None, ref_ms=None))
            print(f"{row['case']:<34} {row['shape']:<22} new system allocations in {steps} steps: {new} "
                  f"(reserved {row['memory_reserved'] / 2**20:.1f} MiB)", flush=True)
            if new:
                self.failed.append(f"{row['case']}: {new} new system allocations in steady state")

    # --- driver -------------------------------------------------------------------------------------
    def machine_info(self):
        np, cnnkit, _C, torch = self.np, self.cnnkit, self._C, self.torch
        info = {"device": self.dev, "load_average_1min": load_average(), "cpu": cpu_model(), "cores": usable_cores(),
                "threads": self.threads, "nominal_ghz": nominal_ghz(), "peak_gflops_estimate": self.peak,
                "copy_gbs_measured": self.copy_gbs, "python": platform.python_version(), "cnnkit": cnnkit.__version__,
                "numpy": np.__version__, "torch": torch.__version__ if torch is not None else None,
                "gemm_kernel": _C.gemm_kernel_name(), "simd_level": _C.simd_level(), "quick": self.quick,
                "cpu_simd_level": _C.cpu_simd_level(), "cpu_cache_sizes": _C.cpu_cache_sizes(),
                "gemm_blocking": _C.gemm_blocking(),
                "repeats": self.repeats, "gomp_spincount": os.environ.get("GOMP_SPINCOUNT")}
        if self.dev != "cpu":
            info["gpu"] = _C.cuda_device_name(_C.cuda_current_device())
        return info

    def print_intro(self, info):
        print(f"cnnkit {info['cnnkit']} ({info['gemm_kernel']}), numpy {info['numpy']}, torch {info['torch'] or '-'}; "
              f"device {self.dev}{' (' + info['gpu'] + ')' if 'gpu' in info else ''}")
        print(f"CPU: {info['cpu']}, {info['cores']} usable core(s), {self.threads} thread(s) for every library")
        load = info["load_average_1min"]
        if load is not None and load > 0.5 * info["cores"]:
            print(f"WARNING: 1-minute load average {load:.2f} on {info['cores']} core(s): the machine was busy over "
                  f"the last minute, timings will be noisy (times quantized to scheduler ticks of 4-8 ms are the "
                  f"symptom)")
        if self.dev == "cpu":
            print(f"peak (estimate): {self.threads} thread(s) x {info['nominal_ghz']:.2f} GHz x 32 flop/cycle "
                  f"(AVX2 FMA, float32) = {self.peak:.0f} GFLOP/s" if self.peak else "peak: clock unknown")
            print(f"copy bandwidth (measured, large NumPy copy, read+write): {self.copy_gbs:.1f} GB/s")
            print(f"OpenMP idle spin (cnnkit, torch): GOMP_SPINCOUNT={info['gomp_spincount'] or 'default'}; "
                  f"OpenBLAS threads spin ~0.1 s by default")
        else:
            print("%peak: not estimated on a GPU ('-')")
        print(f"median of >= {self.repeats} calls (more for short ones) after one warm-up "
              f"({'quick' if self.quick else 'full'} run); ratio = ref ms / ours ms (> 1: cnnkit faster); "
              f"%peak of the GFLOP/s or GB/s ceiling above")

    def run(self):
        info = self.machine_info()
        self.print_intro(info)
        print(self.header())
        print("-" * len(self.header()))
        only = set(self.args.only.split(",")) if self.args.only else set(GROUPS)
        unknown = only - set(GROUPS)
        if unknown:
            raise SystemExit(f"--only: unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
        cases = {"gemm": self.bench_gemm, "conv": self.bench_conv, "pool": self.bench_maxpool,
                 "eltwise": self.bench_eltwise, "softmax": self.bench_cross_entropy,
                 "batchnorm": self.bench_batchnorm, "train": self.bench_training, "memory": self.bench_memory}
        for g in GROUPS:
            if g in only:
                cases[g]()
        print("training steps: zero_grad + forward + cross-entropy + backward + SGD(momentum 0.9); GFLOP/s counts "
              "3x the forward conv/linear FLOPs.")
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump({"machine": info, "rows": self.rows}, f, indent=2)
            print(f"wrote {self.args.json}")
        if self.args.markdown:
            with open(self.args.markdown, "w") as f:
                f.write(markdown_table(info, self.rows))
            print(f"wrote {self.args.markdown}")
        if self.failed:
            print("FAILURES:\n  " + "\n  ".join(self.failed), file=sys.stderr)
            return 1
        return 0


def markdown_table(info, rows):
    """The rows as a Markdown table (what the README shows)."""
    out = [f"cnnkit {info['cnnkit']} ({info['gemm_kernel']}) vs numpy {info['numpy']} / torch {info['torch']}; "
           f"{info.get('gpu') or info['cpu']}, {info['threads']} thread(s)"
           f"{', quick run' if info['quick'] else ''}.", "",
           "| case | shape | ours ms | reference | ref ms | ref/ours | throughput |",
           "|---|---|---:|---|---:|---:|---:|"]
    for r in rows:
        if r["unit"] == "allocs":
            out.append(f"| {r['case']} | {r['shape']} | {r['ours_ms']:.2f} | new system allocations | "
                       f"{r['new_system_allocations']} | | |")
            continue
        ref_ms = f"{r['ref_ms']:.3f}" if r["ref_ms"] is not None else "-"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        out.append(f"| {r['case']} | {r['shape']} | {r['ours_ms']:.3f} | {r['ref']} | {ref_ms} | {ratio} | "
                   f"{r['rate']:.1f} {r['unit']} |")
    return "\n".join(out) + "\n"
