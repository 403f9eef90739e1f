"""Corpus of damaged checkpoints for ``cnnkit.load``, run in a subprocess by
tests/test_serialization_safety.py (a crash then fails that test instead of killing pytest).

Usage: ``python serialization_corpus.py WORKDIR FLIPS SEED`` -> prints one JSON summary line.

For every source checkpoint (cnnkit files of a small CNN's state_dict, an optimizer state_dict and a
nested dict; PyTorch zip files written by torch.save and by cnnkit's writer; a legacy torch file) the
damaged variants are: truncation at every 1/64 of the file, FLIPS seeded single-bit flips, random bytes
of the same length, and the empty file. Each load must either raise ``CheckpointError`` whose message
names the file, or return an object equal to the original.

Zip files carry a CRC-32 of every entry, which ``cnnkit.load`` checks, so a flip inside tensor data of a
zip checkpoint is detected (a clean error) rather than loaded as different numbers: a successful load of
a zip file must equal the original exactly. A legacy torch file has no checksum (torch.load cannot tell
either): a flip inside its raw tensor data is a valid load of different numbers, so there a successful load
must match the original except in the one storage element the flip landed in (seen by the two tensors
that share that storage, w and its transpose t: at most 2 elements differ, same keys, types, shapes and
dtypes); a flip inside its pickles (a key's letter, a stride, a requires_grad flag) is a valid load of a
different structure, counted as "unchecked" and only required to load without another exception type.
"""
import pickletools
import io
import json
import os
import sys
from collections import OrderedDict

import numpy as np

import cnnkit as ck  # the cnnkit under test: the caller sets PYTHONPATH
from cnnkit import nn, optim
from cnnkit.serialization import CheckpointError

HERE = os.path.dirname(os.path.abspath(__file__))


def sources():
    """(label, original object, file bytes, checksummed) for each source checkpoint."""
    ck.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(ck.randn(2, 1, 5, 5)).sum().backward()
    opt.step()
    nested = {"epoch": 3, "names": ["a", "b"], "pair": (1, 2.5), "none": None,
              "deep": OrderedDict(x=[ck.arange(3), {"y": ck.ones(2, 2, dtype=ck.float64)}]),
              "empty": ck.zeros(0, 4), "scalar": ck.tensor(7), "bf16": ck.ones(3, dtype=ck.bfloat16)}
    out = []
    for label, obj in (("cnnkit-model", model.state_dict()), ("cnnkit-optimizer", opt.state_dict()),
                       ("cnnkit-nested", nested)):
        path = os.path.join(WORK, label + ".pt")
        ck.save(obj, path)
        out.append((label, obj, open(path, "rb").read(), True))
    path = os.path.join(WORK, "torch-by-cnnkit.pt")
    ck.save_torch_state_dict(model.state_dict(), path)
    out.append(("torch-zip-by-cnnkit", ck.load(path), open(path, "rb").read(), True))
    for label, fname, summed in (("torch-zip-by-torch", "torch_written.pt", True),
                                 ("torch-legacy", "torch_legacy.pt", False)):
        path = os.path.join(HERE, "data", fname)
        out.append((label, ck.load(path), open(path, "rb").read(), summed))
    return out


def pickles_end(data):
    """Where a legacy torch file's five pickles end and its raw storage data begins."""
    f = io.BytesIO(data)
    for _ in range(5):
        for _op in pickletools.genops(f):
            pass
    return f.tell()


def same(a, b, tolerate=0):
    """Deep equality of loaded objects; ``tolerate``: how many tensor elements may differ in all (a flip
    inside unchecksummed tensor data changes one element)."""
    budget = [tolerate]

    def eq(x, y):
        if type(x) is not type(y):
            return False
        if isinstance(x, ck.Tensor):
            if x.dtype is not y.dtype or x.shape != y.shape or x.requires_grad != y.requires_grad:
                return False
            xs = x.detach().float() if x.dtype is ck.bfloat16 else x.detach()
            ys = y.detach().float() if y.dtype is ck.bfloat16 else y.detach()
            xa, ya = xs.numpy(), ys.numpy()
            diff = int(np.sum(~((xa == ya) | (np.isnan(xa) & np.isnan(ya)) if xa.dtype.kind == "f" else (xa == ya))))
            budget[0] -= diff
            return budget[0] >= 0
        if isinstance(x, dict):
            return list(x) == list(y) and all(eq(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return len(x) == len(y) and all(eq(u, v) for u, v in zip(x, y))
        return x == y

    return eq(a, b)


def variants(data, rng, flips):
    n = len(data)
    for i in range(64):
        cut = n * i // 64
        yield f"truncate@{cut}", data[:cut]
    yield "empty", b""
    yield "random", bytes(rng.integers(0, 256, n, dtype=np.uint8))
    for _ in range(flips):
        pos, bit = int(rng.integers(0, n)), int(rng.integers(0, 8))
        bad = bytearray(data)
        bad[pos] ^= 1 << bit
        yield f"flip@{pos}.{bit}", bytes(bad)


def main():
    flips, seed = int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    summary = {"cases": 0, "clean_errors": 0, "loads": 0, "failures": [], "per_source": {}}
    for label, original, data, summed in sources():
        counts = {"cases": 0, "clean_errors": 0, "loads": 0}
        data_start = len(data) if summed else pickles_end(data)
        for case, blob in variants(data, rng, flips):
            # an in-memory file named like a path (writing thousands of files is slow on some disks; the
            # path branch of load differs only in how it opens the file, tested by the safety tests)
            fh = io.BytesIO(blob)
            fh.name = path = os.path.join(WORK, f"{label}-{case}.pt")
            counts["cases"] += 1
            try:
                got = ck.load(fh)
            except CheckpointError as e:
                counts["clean_errors"] += 1
                if path not in str(e):
                    summary["failures"].append([label, case, "CheckpointError without the file name", str(e)[:300]])
                continue
            except Exception as e:  # noqa: BLE001 - the point: any other type is a failure
                summary["failures"].append([label, case, type(e).__name__, str(e)[:300]])
                continue
            counts["loads"] += 1
            if summed:
                ok = same(got, original)
            elif case.startswith("flip@") and int(case[5:].split(".")[0]) < data_start:
                ok = True  # a flip in an unchecksummed pickle: a valid load of a different structure
                counts["unchecked"] = counts.get("unchecked", 0) + 1
            else:
                ok = same(got, original, tolerate=2)
            if not ok:
                summary["failures"].append([label, case, "loaded, but differs from the original", ""])
        summary["per_source"][label] = counts
        for k in ("cases", "clean_errors", "loads"):
            summary[k] += counts[k]
    print(json.dumps(summary))


if __name__ == "__main__":
    WORK = sys.argv[1]
    main()
