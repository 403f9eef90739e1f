"""``python -m cnnkit`` / ``cnnkit``: command-line entry points (see cnnkit.cli).

    cnnkit info | config   print the build configuration (compiler, SIMD, OpenMP, CUDA)
    cnnkit bench ...       the benchmark suite (``cnnkit bench --help``; the same as python -m cnnkit.bench)
    cnnkit train ...       train a zoo model on a dataset (``cnnkit train --help``)
    cnnkit eval ...        evaluate a checkpoint written by ``cnnkit train``
    cnnkit summary ...     per-layer table of a zoo model
"""
import sys

from cnnkit.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
