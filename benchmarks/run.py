"""cnnkit benchmark suite from a source checkout: the same as ``cnnkit bench --full`` (python/cnnkit/bench/);
--quick gives the short version that ``cnnkit bench`` runs by default.

    python benchmarks/run.py [--device cpu|cuda] [--quick] [--json out.json] [--markdown out.md]
                             [--compare ref.json] [--threads N] [--only GROUPS]

It benchmarks the installed cnnkit (`pip install .` first). See cnnkit/bench/__init__.py for the columns.
"""
import sys

from cnnkit.bench import main

if __name__ == "__main__":
    sys.exit(main(default_quick=False))
