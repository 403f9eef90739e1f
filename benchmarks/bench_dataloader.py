"""Images/s of loading + augmenting CIFAR-sized data with cnnkit's DataLoader against torch's.

    python benchmarks/bench_dataloader.py [--n 10000] [--batch 128] [--workers 0 2] [--epochs 3]

The dataset is synthetic and in memory: n uint8 images 32x32x3 (HWC) with int labels. __getitem__
does CIFAR training augmentation in NumPy (the same code for both libraries): RandomCrop(32,
padding=4) with zero fill, RandomHorizontalFlip, ToTensor (CHW float32 / 255), Normalize(CIFAR mean,
std). It returns a NumPy array and an int, so each library's default_collate builds its own tensors
and its workers send them back to the main process. Correctness first: with a fixed sampler order and
augmentation switched off, every batch of ours equals torch's. Then per configuration the best of
`--epochs` full epochs (each a new iterator: worker start-up included, as in a training loop without
persistent workers) is reported as images/s, with the median epoch beside it. Ratio = ours / torch
(above 1: ours faster). Also reported: the time to move one collated batch through a
multiprocessing queue (pickle + pipe + unpickle), the transfer cost a worker adds per batch.
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_model, load_average, usable_cores  # noqa: E402

import cnnkit  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32).reshape(3, 1, 1)


class CifarLike:
    """n random uint8 images (HWC) and labels; the augmentation runs in __getitem__ (NumPy)."""

    def __init__(self, n, augment=True, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size=n).tolist()
        self.augment = augment

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = self.images[i]
        if self.augment:
            padded = np.zeros((40, 40, 3), dtype=np.uint8)
            padded[4:36, 4:36] = img
            top, left = np.random.randint(0, 9, size=2)
            img = padded[top:top + 32, left:left + 32]
            if np.random.rand() < 0.5:
                img = img[:, ::-1]
        x = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0
        return (x - MEAN) / STD, self.labels[i]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--epochs", type=int, default=3)
    return p.parse_args()


def check(torch, n, batch):
    order = np.random.default_rng(1).permutation(n).tolist()
    ds = CifarLike(n, augment=False)
    ours = cnnkit.utils.data.DataLoader(ds, batch_size=batch, sampler=order, num_workers=2, timeout=60)
    ref = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=order, num_workers=2, timeout=60)
    count = 0
    for (x, y), (rx, ry) in zip(ours, ref):
        assert np.array_equal(np.asarray(x.numpy()), rx.numpy()) and np.array_equal(np.asarray(y.numpy()), ry.numpy())
        count += 1
    assert count == -(-n // batch)
    return count


def epoch_rate(make_loader, n, epochs):
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        seen = 0
        for x, _ in make_loader():
            seen += x.shape[0]
        rates.append(seen / (time.perf_counter() - start))
        assert seen == n
    return max(rates), statistics.median(rates)


def queue_transfer_ms(make_batch, share=False, reps=20):
    """Milliseconds from asking a forked child for one batch (built there, as a worker does) to having
    it in this process, minus the time the child needs to build it."""
    ctx = multiprocessing.get_context("fork")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_producer, args=(q_in, q_out, make_batch, share), daemon=True)
    p.start()
    q_in.put(True)
    q_out.get(timeout=30)
    start = time.perf_counter()
    for _ in range(reps):
        q_in.put(True)
        q_out.get(timeout=30)
    total = (time.perf_counter() - start) / reps
    q_in.put(None)
    p.join(10)
    start = time.perf_counter()
    for _ in range(reps):
        make_batch()
    return (total - (time.perf_counter() - start) / reps) * 1e3


def _producer(q_in, q_out, make_batch, share):
    cnnkit.set_num_threads(1)  # as in a DataLoader worker: libgomp's threads do not survive fork
    if share:
        from cnnkit.utils.data import _shared

        _shared.install()
    while q_in.get() is not None:
        q_out.put(make_batch())


def main():
    args = parse_args()
    import torch

    cnnkit.set_num_threads(usable_cores())
    torch.set_num_threads(usable_cores())
    print(f"CPU: {cpu_model()}, {usable_cores()} usable cores, load average {load_average()}")
    print(f"dataset: {args.n} x 32x32x3 uint8, batch {args.batch}, crop(pad 4)+flip+ToTensor+Normalize in NumPy")
    print(f"check: {check(torch, min(args.n, 1000), args.batch)} batches of ours == torch's (2 workers, fixed order)")
    ds = CifarLike(args.n)
    print(f"\n{'workers':>7} {'cnnkit img/s':>13} {'(median)':>9} {'torch img/s':>12} {'(median)':>9} {'ratio':>6}")
    rows = []
    for w in args.workers:
        kw = dict(batch_size=args.batch, shuffle=True, num_workers=w)
        if w:
            kw["timeout"] = 120
        ours = epoch_rate(lambda: cnnkit.utils.data.DataLoader(ds, **kw), args.n, args.epochs)
        ref = epoch_rate(lambda: torch.utils.data.DataLoader(ds, **kw), args.n, args.epochs)
        rows.append((w, ours, ref))
        print(f"{w:>7} {ours[0]:>13.0f} {ours[1]:>9.0f} {ref[0]:>12.0f} {ref[1]:>9.0f} {ours[0] / ref[0]:>6.2f}")
    shape = (args.batch, 3, 32, 32)
    mb = np.prod(shape) * 4 / 2**20
    pickled = queue_transfer_ms(lambda: cnnkit.ones(*shape))
    shared = queue_transfer_ms(lambda: cnnkit.ones(*shape), share=True)
    torch_ms = queue_transfer_ms(lambda: torch.ones(*shape))
    print(f"\none {mb:.1f} MiB float32 batch from a worker through a multiprocessing queue: cnnkit {shared:.2f} ms "
          f"(memfd + descriptor, as the DataLoader's workers send it), {pickled:.2f} ms pickled by value; "
          f"torch {torch_ms:.2f} ms (its shared-memory descriptors)")


if __name__ == "__main__":
    main()
