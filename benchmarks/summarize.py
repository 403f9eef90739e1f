"""Per-row spread of the ref/ours ratio over several saved runs of the suite.

    python benchmarks/summarize.py run1.json run2.json run3.json [--markdown out.md]

On a shared machine one run's ratio for a row can land 10 % either side of where it usually is (this
VM's speed drifts, and short calls meet thread wake-up stalls). Running the suite a few times with
--json and summarising here shows, for every (case, shape, reference) row present in every run: the
median, lowest and highest ratio over the runs, and the median of ours ms. Rows without a ratio
(memory rows, a missing reference) are left out.
"""
from __future__ import annotations

import argparse
import json
import statistics


def load(path):
    with open(path) as f:
        data = json.load(f)
    return {(r["case"], r["shape"], r["ref"]): r for r in data["rows"] if r.get("ratio") is not None}


def summarize(runs):
    """[{key: row}] -> [(key, median ratio, min ratio, max ratio, median ours ms)] for keys in every run,
    in the first run's order."""
    out = []
    for key in runs[0]:
        if not all(key in r for r in runs):
            continue
        ratios = [r[key]["ratio"] for r in runs]
        ours = [r[key]["ours_ms"] for r in runs]
        out.append((key, statistics.median(ratios), min(ratios), max(ratios), statistics.median(ours)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="JSON files written by benchmarks/run.py --json")
    p.add_argument("--markdown", metavar="PATH", help="also write the summary as a Markdown table")
    args = p.parse_args(argv)
    rows = summarize([load(path) for path in args.runs])
    head = f"{'case':<36} {'shape':<22} {'ref':>8} {'ours ms':>9} {'median':>7} {'min':>6} {'max':>6}"
    print(f"ref/ours over {len(args.runs)} run(s)")
    print(head)
    print("-" * len(head))
    for (case, shape, ref), med, lo, hi, ours in rows:
        print(f"{case:<36} {shape:<22} {ref:>8} {ours:9.3f} {med:7.2f} {lo:6.2f} {hi:6.2f}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"ref/ours over {len(args.runs)} runs\n\n| case | shape | reference | ours ms (median) | "
                    "ref/ours median | min | max |\n|---|---|---|---:|---:|---:|---:|\n")
            for (case, shape, ref), med, lo, hi, ours in rows:
                f.write(f"| {case} | {shape} | {ref} | {ours:.3f} | {med:.2f} | {lo:.2f} | {hi:.2f} |\n")
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
