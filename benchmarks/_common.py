"""Benchmark helpers for the scripts in benchmarks/: they live in the package, cnnkit.bench._machine, so
that the installed ``cnnkit bench`` command uses the same timing and ceilings. No kernel code here."""
from cnnkit.bench._machine import *  # noqa: F401,F403
from cnnkit.bench._machine import __all__  # noqa: F401
