"""``python -m cnnkit.bench``: the benchmark suite (see cnnkit/bench/__init__.py)."""
import sys

from . import main

sys.exit(main())
