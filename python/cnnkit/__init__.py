"""cnnkit: a convolutional-neural-network library with its own C++/CUDA kernels."""
from . import _C

__version__ = _C.__version__
