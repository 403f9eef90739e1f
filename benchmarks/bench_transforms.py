"""Per-sample transforms in a Python loop vs the batched path (cnnkit.vision.transforms.batch).

The CIFAR-style augmentation RandomCrop(32, padding=4) + RandomHorizontalFlip + Normalize on a
256x3x32x32 float32 batch: (a) torchvision-style, one sample at a time through
cnnkit.vision.transforms (what a Dataset's ``transform`` does), then stacked; (b) one call of
cnnkit.vision.transforms.batch on the whole batch (per-sample random parameters, vectorised).
Both are checked to produce the same images for the same parameters before timing.

    PYTHONPATH=python python benchmarks/bench_transforms.py [--device cuda] [--repeats 5]
"""
import argparse
import time

import numpy as np

import cnnkit
from cnnkit.vision import transforms as T
from cnnkit.vision.transforms import batch as B
from cnnkit.vision.transforms import functional as F

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _sync(device):
    if device.startswith("cuda"):
        cnnkit.cuda.synchronize()


def _best(fn, repeats, device):
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = args.batch
    x = cnnkit.from_numpy(np.random.default_rng(0).random((n, 3, 32, 32)).astype(np.float32)).to(args.device)

    per_sample = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.Normalize(MEAN, STD)])
    batched = B.Compose([B.RandomCrop(32, padding=4), B.RandomHorizontalFlip(), B.Normalize(MEAN, STD)])

    # correctness: the batched output equals the per-sample functional ops with its parameters
    out = batched(x)
    crop, flip = batched.last_params[0], batched.last_params[1]["flip"].tolist()
    for k in range(0, n, max(1, n // 16)):
        img = F.crop(F.pad(x[k], 4), int(crop["top"][k]), int(crop["left"][k]), 32, 32)
        img = F.normalize(F.hflip(img) if flip[k] else img, MEAN, STD)
        np.testing.assert_allclose(out[k].cpu().numpy(), img.cpu().numpy(), rtol=1e-6, atol=1e-6)

    t_loop = _best(lambda: cnnkit.stack([per_sample(x[k]) for k in range(n)]), args.repeats, args.device)
    t_batch = _best(lambda: batched(x), args.repeats, args.device)
    print(f"device {args.device}, batch {n}x3x32x32 float32, best of {args.repeats}, "
          f"{cnnkit.get_num_threads()} threads")
    print(f"{'path':<34}{'ms/batch':>10}{'images/s':>12}")
    print(f"{'per-sample loop (T.Compose)':<34}{t_loop * 1e3:>10.2f}{n / t_loop:>12.0f}")
    print(f"{'batched (transforms.batch)':<34}{t_batch * 1e3:>10.2f}{n / t_batch:>12.0f}")
    print(f"speed-up {t_loop / t_batch:.1f}x")


if __name__ == "__main__":
    main()
