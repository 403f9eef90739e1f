"""cnnkit benchmark suite: one table of kernels and training steps against NumPy / PyTorch.

    python benchmarks/run.py [--device cpu|cuda] [--quick] [--json out.json] [--compare ref.json] [--threads N]

For every case the result is first checked against the reference (max error relative to the
reference's max |value|), then timed: one warm-up call, then the median of R wall-clock calls (R = 5,
--quick 3, raised to up to 50 for calls shorter than ~10 ms so that each measurement spans ~50 ms).
Columns: ours (ms), the reference library and its time, ratio = reference time / our time (> 1: cnnkit
faster), our throughput (GFLOP/s for compute-bound cases, GB/s of bytes read + written for
memory-bound ones) and that throughput as a % of the machine's ceiling: the estimated float32 peak
(threads x nominal GHz x 32, AVX2 FMA) or the copy bandwidth measured with a large NumPy copy.
--compare adds "vs saved" = saved time / time now for rows present in a previous --json file.

Cases: SGEMM 512 and 1024 (vs NumPy and torch); CIFAR ResNet-18 convolutions forward and backward
(dinput + dweight + dbias, vs torch's aten kernels); max-pool 2x2 NCHW, ReLU (also vs a copy of the same
bytes), fused softmax + cross-entropy forward and backward (vs torch's aten kernels); full training
steps (zero_grad, forward, loss, backward, SGD momentum step) of LeNet-5 (batch 64, 1x28x28) and of a
CIFAR ResNet-18 WITHOUT BatchNorm (cnnkit has no BatchNorm yet; both libraries get the identical
network and the same initial weights; batch 32, --quick: batch 8 and one block per stage).
Kernel cases call the _C kernels / aten ops directly so neither side pays for autograd; the
training steps go through the public nn / autograd / optim layers of both libraries.
Without torch the reference columns of torch rows show '-'.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--quick", action="store_true", help="smaller batches, fewer layers and repeats (< ~60 s)")
    p.add_argument("--json", metavar="PATH", help="write machine info and every row as JSON")
    p.add_argument("--compare", metavar="PATH", help="add a column: saved time / time now, from a --json file")
    p.add_argument("--threads", type=int, default=None, help="threads for cnnkit, OpenBLAS and torch")
    return p.parse_args()


args = parse_args()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (copy_bandwidth_gbs, cpu_model, load_average, nominal_ghz, median_time,  # noqa: E402
                     peak_gflops, rel_err, usable_cores)

# OpenBLAS reads its thread count when NumPy is first imported (cnnkit imports NumPy), so set it first.
THREADS = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or usable_cores()
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)

import numpy as np  # noqa: E402

import cnnkit  # noqa: E402
from cnnkit import _C  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

from bench_conv import LAYERS  # noqa: E402  (the CIFAR ResNet-18 convolution shapes)

QUICK = args.quick
DEV = args.device
REPEATS = 3 if QUICK else 5
rng = np.random.default_rng(0)

if DEV == "cuda":
    if not (_C.cuda_compiled() and _C.cuda_device_count() > 0):
        why = ("cnnkit was built without CUDA (rebuild with CNNKIT_CUDA=ON on a GPU machine)"
               if not _C.cuda_compiled() else "no CUDA device is visible")
        print(f"--device cuda: {why}; nothing to benchmark, exiting.")
        sys.exit(0)
    DEV = _C.resolve_device("cuda")
    SYNC = cnnkit.cuda.synchronize
    TORCH_DEV = "cuda" if torch is not None and torch.cuda.is_available() else None
    TSYNC = torch.cuda.synchronize if TORCH_DEV else None
else:
    SYNC = None
    TORCH_DEV = "cpu" if torch is not None else None
    TSYNC = None

_C.set_num_threads(THREADS)
if torch is not None:
    torch.set_num_threads(THREADS)


def ours(a):
    """numpy array -> _C.Tensor on the benchmark device."""
    t = _C.from_numpy(np.ascontiguousarray(a))
    return t if DEV == "cpu" else t.to_device(DEV)


def host(t):
    """_C.Tensor (any device) -> numpy array."""
    return np.asarray(t if DEV == "cpu" else t.to_device("cpu"))


def ref(a):
    """numpy array -> torch tensor on the reference device."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(TORCH_DEV)


ROWS = []
FAILED = []
PEAK_GFLOPS = peak_gflops(THREADS) if DEV == "cpu" else None
COPY_GBS = copy_bandwidth_gbs(128 << 20 if QUICK else 256 << 20) if DEV == "cpu" else None


def add_row(case, shape, err, ours_s, ref_name, ref_s, work, unit, tol):
    """One table row; work = flops (unit GFLOP/s) or bytes moved (unit GB/s) per call."""
    rate = work / ours_s / 1e9
    ceiling = PEAK_GFLOPS if unit == "GFLOP/s" else COPY_GBS
    row = {"case": case, "shape": shape, "max_rel_err": err, "ours_ms": ours_s * 1e3, "ref": ref_name,
           "ref_ms": None if ref_s is None else ref_s * 1e3,
           "ratio": None if ref_s is None else ref_s / ours_s, "rate": rate, "unit": unit,
           "pct_peak": None if not ceiling else 100.0 * rate / ceiling}
    if err is not None and err > tol:
        FAILED.append(f"{case} [{shape}]: max relative error {err:.2e} > {tol:.0e}")
    ROWS.append(row)
    print_row(row)


SAVED = {}
if args.compare:
    with open(args.compare) as f:
        for r in json.load(f)["rows"]:
            SAVED[(r["case"], r["shape"], r["ref"])] = r["ours_ms"]

HEADER = (f"{'case':<32} {'shape':<24} {'max err':>8} {'ours ms':>9} {'ref':>6} {'ref ms':>9} {'ref/ours':>8} "
          f"{'throughput':>15} {'%peak':>6}" + (f" {'vs saved':>8}" if args.compare else ""))


def print_row(r):
    f = lambda v, spec, w: f"{v:{w}{spec}}" if v is not None else f"{'-':>{w}}"  # noqa: E731
    line = (f"{r['case']:<32} {r['shape']:<24} {f(r['max_rel_err'], '.1e', 8)} {r['ours_ms']:9.3f} "
            f"{r['ref']:>6} {f(r['ref_ms'], '.3f', 9)} {f(r['ratio'], '.2f', 8)} "
            f"{r['rate']:7.1f} {r['unit']:<7} {f(r['pct_peak'], '.0f', 6)}")
    if args.compare:
        saved = SAVED.get((r["case"], r["shape"], r["ref"]))
        line += f" {saved / r['ours_ms']:8.2f}" if saved else f" {'-':>8}"
    print(line, flush=True)


def t_ours(fn):
    return median_time(fn, REPEATS, SYNC)


def t_ref(fn, repeats=None):
    return median_time(fn, repeats or REPEATS, TSYNC)


# ----------------------------------------------------------------------------------------------------
def bench_gemm():
    for n in (512, 1024):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        ta, tb = ours(a), ours(b)
        err = rel_err(host(_C.gemm(ta, tb)), a.astype(np.float64) @ b.astype(np.float64))
        mine = t_ours(lambda: _C.gemm(ta, tb))
        shape = f"{n}x{n}x{n}"
        flops = 2.0 * n ** 3
        if DEV == "cpu":
            add_row(f"sgemm {n}", shape, err, mine, "numpy", median_time(lambda: a @ b, REPEATS), flops,
                    "GFLOP/s", 1e-5)
        if TORCH_DEV:
            at, bt = ref(a), ref(b)
            add_row(f"sgemm {n}", shape, err, mine, "torch", t_ref(lambda: torch.mm(at, bt)), flops, "GFLOP/s", 1e-5)
        elif DEV != "cpu":
            add_row(f"sgemm {n}", shape, err, mine, "torch", None, flops, "GFLOP/s", 1e-5)


CONV_PICK_QUICK = ("conv1 3->64 32x32", "layer1 64->64 32x32", "layer3 256->256 8x8", "short3 1x1 128->256 s2")
CONV_PICK_FULL = CONV_PICK_QUICK + ("layer2.0 64->128 s2", "layer4 512->512 4x4")


def bench_conv():
    N = 8 if QUICK else 32
    pick = CONV_PICK_QUICK if QUICK else CONV_PICK_FULL
    for name, C, H, OC, k, s in (l for l in LAYERS if l[0] in pick):
        p = 1 if k == 3 else 0
        x = rng.standard_normal((N, C, H, H)).astype(np.float32)
        w = (rng.standard_normal((OC, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
        b = rng.standard_normal(OC).astype(np.float32)
        tx, tw, tb = ours(x), ours(w), ours(b)
        out = _C.conv2d_forward(tx, tw, tb, s, p, 1, 1)
        dout = rng.standard_normal(tuple(out.shape)).astype(np.float32)
        td = ours(dout)
        grads = _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True))
        OH = (H + 2 * p - k) // s + 1
        fflops = 2.0 * N * OC * OH * OH * C * k * k
        shape = f"N{N} {C}x{H}x{H} k{k}s{s}"
        fwd_err = bwd_err = None
        fwd_ref = bwd_ref = None
        if TORCH_DEV:
            xt, wt, bt, dt = (ref(a) for a in (x, w, b, dout))
            fwd_t = lambda: torch.ops.aten.convolution(xt, wt, bt, [s, s], [p, p], [1, 1], False, [0, 0], 1)  # noqa
            bwd_t = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
                dt, xt, wt, [OC], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])
            fwd_err = rel_err(host(out), fwd_t().cpu().numpy())
            bwd_err = max(rel_err(host(g), r.cpu().numpy()) for g, r in zip(grads, bwd_t()))
            fwd_ref, bwd_ref = t_ref(fwd_t), t_ref(bwd_t)
        else:  # no torch: check against cnnkit's direct-loop kernels on the first image
            one = lambda a: ours(a[:1])  # noqa: E731
            fwd_err = rel_err(host(out)[:1], host(_C.conv2d_naive(one(x), tw, tb, s, p, 1, 1)))
            naive = _C.conv2d_backward_naive(one(dout), one(x), tw, s, p, 1, 1, (True, False, False))
            bwd_err = rel_err(host(grads[0])[:1], host(naive[0]))
        add_row(f"conv {name} fwd", shape, fwd_err, t_ours(lambda: _C.conv2d_forward(tx, tw, tb, s, p, 1, 1)),
                "torch", fwd_ref, fflops, "GFLOP/s", 1e-4)
        add_row(f"conv {name} bwd", shape, bwd_err,
                t_ours(lambda: _C.conv2d_backward(td, tx, tw, s, p, 1, 1, (True, True, True))),
                "torch", bwd_ref, 2 * fflops, "GFLOP/s", 1e-4)


def bench_maxpool():
    N, C, H = (8, 64, 32) if QUICK else (32, 64, 32)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    k = [2, 2]
    tx = ours(x)
    out, idx = _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False)
    g = rng.standard_normal(tuple(out.shape)).astype(np.float32)
    tg = ours(g)
    dx = _C.max_pool2d_backward(tg, idx, [N, C, H, H])
    n = x.size
    fwd_bytes = 4 * n + (4 + 8) * n // 4  # read input, write output + int64 indices
    bwd_bytes = (4 + 8) * n // 4 + 4 * n  # read grad + indices, write dinput
    shape = f"{N}x{C}x{H}x{H}"
    fe = be = fr = br = None
    if TORCH_DEV:
        xt, gt = ref(x), ref(g)
        fwd_t = lambda: torch.ops.aten.max_pool2d_with_indices(xt, k, k, [0, 0], [1, 1], False)  # noqa: E731
        ot, it = fwd_t()
        bwd_t = lambda: torch.ops.aten.max_pool2d_with_indices_backward(  # noqa: E731
            gt, xt, k, k, [0, 0], [1, 1], False, it)
        fe = rel_err(host(out), ot.cpu().numpy())
        be = rel_err(host(dx), bwd_t().cpu().numpy())
        fr, br = t_ref(fwd_t), t_ref(bwd_t)
    else:  # no torch: NumPy reference (ties are measure-zero with random normal data)
        win = x.reshape(N, C, H // 2, 2, H // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, H // 2, 4)
        fe = rel_err(host(out), win.max(-1))
        mask = (win == win.max(-1, keepdims=True)) * g[..., None]
        be = rel_err(host(dx), mask.reshape(N, C, H // 2, H // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
                     .reshape(x.shape))
    add_row("maxpool 2x2 fwd", shape, fe, t_ours(lambda: _C.max_pool2d_forward(tx, k, k, [0, 0], [1, 1], False)),
            "torch", fr, fwd_bytes, "GB/s", 1e-6)
    add_row("maxpool 2x2 bwd", shape, be, t_ours(lambda: _C.max_pool2d_backward(tg, idx, [N, C, H, H])),
            "torch", br, bwd_bytes, "GB/s", 1e-6)


def bench_relu():
    N, C, H = (8, 64, 32) if QUICK else (32, 64, 32)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    tx, tg = ours(x), ours(g)
    out = _C.relu_forward(tx)
    n = x.size
    shape = f"{N}x{C}x{H}x{H}"
    fwd_err = rel_err(host(out), np.maximum(x, 0))
    bwd_err = rel_err(host(_C.relu_backward(tg, out)), g * (x > 0))
    mine_f = t_ours(lambda: _C.relu_forward(tx))
    mine_b = t_ours(lambda: _C.relu_backward(tg, out))
    fr = br = None
    if TORCH_DEV:
        xt, gt = ref(x), ref(g)
        ot = torch.relu(xt)
        fr = t_ref(lambda: torch.relu(xt))
        br = t_ref(lambda: torch.ops.aten.threshold_backward(gt, ot, 0))
    add_row("relu fwd", shape, fwd_err, mine_f, "torch", fr, 8 * n, "GB/s", 0)
    if DEV == "cpu":
        # The floor for an out-of-place elementwise op: copying the same bytes (read n, write n).
        dst = np.empty_like(x)
        add_row("relu fwd", shape, fwd_err, mine_f, "copy", median_time(lambda: np.copyto(dst, x), REPEATS),
                8 * n, "GB/s", 0)
    else:  # on the GPU the same-size copy is a device-to-device clone
        add_row("relu fwd", shape, fwd_err, mine_f, "copy", t_ours(lambda: tx.clone()), 8 * n, "GB/s", 0)
    add_row("relu bwd", shape, bwd_err, mine_b, "torch", br, 12 * n, "GB/s", 0)


def bench_cross_entropy():
    N, K = (256, 1000) if QUICK else (1024, 1000)
    x = rng.standard_normal((N, K)).astype(np.float32)
    y = rng.integers(0, K, N).astype(np.int64)
    tx, ty = ours(x), ours(y)
    one = ours(np.array(1.0, np.float32))
    loss, logp = _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0)
    dx = _C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0)
    shape = f"{N}x{K}"
    fe = be = fr = br = None
    if TORCH_DEV:
        xt, yt = ref(x), ref(y)
        onet = torch.ones((), device=TORCH_DEV)

        def fwd_t():
            lp = torch.ops.aten._log_softmax(xt, 1, False)
            return torch.ops.aten.nll_loss_forward(lp, yt, None, 1, -100), lp

        (lt, tw), lpt = fwd_t()

        def bwd_t():
            g = torch.ops.aten.nll_loss_backward(onet, lpt, yt, None, 1, -100, tw)
            return torch.ops.aten._log_softmax_backward_data(g, lpt, 1, torch.float32)

        fe = max(rel_err(host(loss), lt.cpu().numpy()), rel_err(host(logp), lpt.cpu().numpy()))
        be = rel_err(host(dx), bwd_t().cpu().numpy())
        fr, br = t_ref(fwd_t), t_ref(bwd_t)
    else:  # no torch: NumPy reference in float64
        x64 = x.astype(np.float64)
        lp = x64 - x64.max(1, keepdims=True)
        lp -= np.log(np.exp(lp).sum(1, keepdims=True))
        fe = max(rel_err(host(loss), -lp[np.arange(N), y].mean()), rel_err(host(logp), lp))
        d = np.exp(lp)
        d[np.arange(N), y] -= 1
        be = rel_err(host(dx), d / N)
    add_row("softmax+xent fwd", shape, fe,
            t_ours(lambda: _C.cross_entropy_forward(tx, ty, None, -100, "mean", 0.0)), "torch", fr,
            8.0 * N * K, "GB/s", 1e-5)  # read logits, write log-probabilities
    add_row("softmax+xent bwd", shape, be,
            t_ours(lambda: _C.cross_entropy_backward(one, logp, ty, None, -100, "mean", 0.0)), "torch", br,
            8.0 * N * K, "GB/s", 1e-5)  # read log-probabilities, write dlogits


# ----------------------------------------------------------------------------------------------------
# Training steps. The networks are written once against a library's nn / functional modules so that
# cnnkit and torch get exactly the same architecture (and parameter order, for copying the weights).
def make_lenet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def lenet_flops(N):
    return 2.0 * N * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10)


def make_resnet(nn, F, blocks):
    """CIFAR ResNet (3x3 stem, 4 stages of BasicBlocks, 1x1 stride-2 shortcuts) WITHOUT BatchNorm."""

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.short = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return F.relu(self.conv2(F.relu(self.conv1(x))) + self.short(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            layers, cin = [], 64
            for i, (cout, nb) in enumerate(zip((64, 128, 256, 512), blocks)):
                for j in range(nb):
                    layers.append(Block(cin, cout, 2 if i > 0 and j == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            x = self.layers(F.relu(self.stem(x)))
            return self.fc(F.avg_pool2d(x, 4).flatten(1))

    return ResNet()


def resnet_flops(N, blocks):
    conv = lambda c, oc, hw, k: 2.0 * N * oc * hw * hw * c * k * k  # noqa: E731 (hw = output size)
    f, cin, hw = conv(3, 64, 32, 3), 64, 32
    for i, (cout, nb) in enumerate(zip((64, 128, 256, 512), blocks)):
        for j in range(nb):
            s = 2 if i > 0 and j == 0 else 1
            hw //= s
            f += conv(cin, cout, hw, 3) + conv(cout, cout, hw, 3) + (conv(cin, cout, hw, 1) if s != 1 else 0)
            cin = cout
    return f + 2.0 * N * 512 * 10


def bench_train(name, build, in_shape, flops_fwd, repeats, tol):
    x = rng.standard_normal(in_shape).astype(np.float32)
    y = rng.integers(0, 10, in_shape[0]).astype(np.int64)
    model = build(cnnkit.nn, cnnkit.nn.functional)
    if DEV != "cpu":
        model = model.to(DEV)
    xo, yo = cnnkit.from_numpy(x).to(DEV), cnnkit.from_numpy(y).to(DEV)
    opt = cnnkit.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step_ours():
        opt.zero_grad()
        loss = cnnkit.nn.functional.cross_entropy(model(xo), yo)
        loss.backward()
        opt.step()
        return loss

    err = ref_s = None
    if TORCH_DEV:
        torch.manual_seed(0)
        tmodel = build(torch.nn, torch.nn.functional).to(TORCH_DEV)
        with cnnkit.no_grad():
            for p, q in zip(model.parameters(), tmodel.parameters()):
                p.copy_(cnnkit.from_numpy(q.detach().cpu().numpy().copy()).to(DEV))
        xt, yt = ref(x), ref(y)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)

        def step_ref():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(xt), yt)
            loss.backward()
            topt.step()
            return loss

        # Correctness: one step from identical weights on the same batch -- the loss and every
        # updated parameter must agree.
        err = rel_err(step_ours().item(), step_ref().item())
        for p, q in zip(model.parameters(), tmodel.parameters()):
            err = max(err, rel_err(p.detach().cpu().numpy(), q.detach().cpu().numpy()))
        ref_s = t_ref(step_ref, repeats)
    mine = median_time(step_ours, repeats, SYNC)
    shape = "x".join(map(str, in_shape))
    add_row(name, shape, err, mine, "torch", ref_s, 3.0 * flops_fwd, "GFLOP/s", tol)


# ----------------------------------------------------------------------------------------------------
def machine_info():
    info = {"device": DEV, "load_average_1min": load_average(), "cpu": cpu_model(), "cores": usable_cores(),
            "threads": THREADS,
            "nominal_ghz": nominal_ghz(), "peak_gflops_estimate": PEAK_GFLOPS, "copy_gbs_measured": COPY_GBS,
            "python": platform.python_version(), "cnnkit": cnnkit.__version__, "numpy": np.__version__,
            "torch": torch.__version__ if torch is not None else None, "gemm_kernel": _C.gemm_kernel_name(),
            "simd_level": _C.simd_level(), "quick": QUICK, "repeats": REPEATS}
    if DEV != "cpu":
        info["gpu"] = _C.cuda_device_name(_C.cuda_current_device())
    return info


def main():
    info = machine_info()
    print(f"cnnkit {info['cnnkit']} ({info['gemm_kernel']}), numpy {info['numpy']}, torch {info['torch'] or '-'}; "
          f"device {DEV}{' (' + info['gpu'] + ')' if 'gpu' in info else ''}")
    print(f"CPU: {info['cpu']}, {info['cores']} usable core(s), {THREADS} thread(s) for every library")
    load = info["load_average_1min"]
    if load is not None and load > 0.5 * info["cores"]:
        print(f"WARNING: 1-minute load average {load:.2f} on {info['cores']} core(s): the machine was busy over "
              f"the last minute, timings will be noisy (times quantized to scheduler ticks of 4-8 ms are the symptom)")
    if DEV == "cpu":
        ghz = info["nominal_ghz"]
        print(f"peak (estimate): {THREADS} thread(s) x {ghz:.2f} GHz x 32 flop/cycle (AVX2 FMA, float32) = "
              f"{PEAK_GFLOPS:.0f} GFLOP/s" if PEAK_GFLOPS else "peak: clock unknown")
        print(f"copy bandwidth (measured, large NumPy copy, read+write): {COPY_GBS:.1f} GB/s")
    else:
        print("%peak: not estimated on a GPU ('-')")
    print(f"median of >= {REPEATS} calls (more for short ones) after one warm-up ({'quick' if QUICK else 'full'} "
          f"run); ratio = ref ms / ours ms (> 1: cnnkit faster); %peak of the GFLOP/s or GB/s ceiling above")
    print("(%peak > 100: GFLOP/s rows -- the cores boost above the nominal clock; GB/s rows -- the working set "
          "fits in cache, the copy ceiling is DRAM)")
    print(HEADER)
    print("-" * len(HEADER))
    bench_gemm()
    bench_conv()
    bench_maxpool()
    bench_relu()
    bench_cross_entropy()
    bench_train("train step LeNet-5 SGD-m", lambda nn, F: make_lenet(nn), (64, 1, 28, 28), lenet_flops(64),
                5 if QUICK else 10, 1e-4)
    blocks = (1, 1, 1, 1) if QUICK else (2, 2, 2, 2)
    nb = 8 if QUICK else 32
    label = "ResNet-10 (no BN)" if QUICK else "ResNet-18 (no BN)"
    bench_train(f"train step {label}", lambda nn, F: make_resnet(nn, F, blocks), (nb, 3, 32, 32),
                resnet_flops(nb, blocks), 2 if QUICK else 3, 1e-3)
    print("training steps: zero_grad + forward + cross-entropy + backward + SGD(momentum 0.9); GFLOP/s counts "
          "3x the forward conv/linear FLOPs. The ResNet has NO BatchNorm (cnnkit has none yet) in both libraries.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": ROWS}, f, indent=2)
        print(f"wrote {args.json}")
    if FAILED:
        print("CORRECTNESS FAILURES:\n  " + "\n  ".join(FAILED), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
