"""cnnkit: a convolutional-neural-network library whose kernels are its own C++ (and CUDA) code,
with PyTorch's Python API for the subset a CNN course uses::

    import cnnkit as torch
    import cnnkit.nn as nn
"""
from . import _C
from ._dtype import bool_ as bool  # noqa: A001  (torch.bool)
from ._dtype import (
    bfloat16,
    device,
    dtype,
    finfo,
    float16,
    iinfo,
    int8,
    int16,
    int32,
    float32,
    float64,
    get_default_dtype,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from .tensor import (
    Size,
    Tensor,
    arange,
    as_tensor,
    can_cast,
    cat,
    concat,
    concatenate,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    is_floating_point,
    linspace,
    ones,
    ones_like,
    result_type,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from ._ops import *  # noqa: F401,F403  (torch.* functional forms: add, exp, sum, max, matmul, ...)
from . import autograd, cpu, cuda, nn, optim, testing, utils, vision  # noqa: E402
from . import accelerator, backends  # noqa: E402
from .serialization import load, save  # noqa: E402
from . import hub  # noqa: E402
from ._torch_format import load_torch, save_torch_state_dict  # noqa: E402  (torch .pth without torch)

__version__ = _C.__version__

float = float32  # noqa: A001
double = float64
long = int64
half = float16
int = int32  # noqa: A001  (torch.int)
short = int16
FloatTensor = DoubleTensor = LongTensor = Tensor


def get_num_threads():
    """Number of OpenMP threads the CPU kernels use."""
    return _C.get_num_threads()


def set_num_threads(n):
    """Sets the number of OpenMP threads for the CPU kernels (results do not depend on it)."""
    import builtins

    _C.set_num_threads(builtins.int(n))  # cnnkit.int is the dtype


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(t):
    return t.numel()


def _cache_line():
    """The data-cache sizes the CPU kernels' blocking is computed from, as show_config prints them."""
    c = _C.cpu_cache_sizes()

    def size(n):
        return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"

    shared = f" shared by {c['L3_shared_by']} CPUs" if c["L3_shared_by"] > 1 else ""
    return f"L1d {size(c['L1d'])}, L2 {size(c['L2'])}, L3 {size(c['L3'])}{shared} (read from {c['source']})"


def show_config(file=None):
    """Prints what this build of cnnkit is and can use: the answer to "is it really on the GPU?"."""
    import platform
    import sys

    lines = [
        f"cnnkit {__version__}",
        f"  python:          {sys.version.split()[0]} ({platform.machine()})",
        f"  compiler:        {_C.compiler}",
        f"  SIMD level:      {_C.simd_level()}; best this CPU supports: {_C.cpu_simd_level()}",
        f"  CPU caches:      {_cache_line()}",
        f"  CPU GEMM:        {_C.gemm_kernel_name()}; {_C.gemm_blocking()}",
        f"  OpenMP:          {'yes' if _C.openmp else 'no'}, {get_num_threads()} threads",
    ]
    if _C.cuda_compiled():
        rt = _C.cuda_runtime_version()
        drv = _C.cuda_driver_version()
        n = _C.cuda_device_count()
        lines.append(f"  CUDA compiled:   yes (runtime {rt // 1000}.{rt % 1000 // 10}, architectures {_C.cuda_architectures()})")
        lines.append(f"  CUDA driver:     {f'{drv // 1000}.{drv % 1000 // 10}' if drv else 'none found'}")
        devs = ", ".join(f"cuda:{i} {_C.cuda_device_name(i)}" for i in range(n)) or "none"
        err = _C.cuda_device_count_error()
        if err:  # "no driver" and "driver older than the runtime" both read as 0 devices: say which
            devs += f" (cudaGetDeviceCount failed: {err})"
        lines.append(f"  CUDA devices:    {devs}")
        usable = cuda.is_available()
        lines.append(f"  CUDA usable:     {'yes' if usable else 'no'}")
        if usable:
            lines.append(f"  device in use:   cuda:{cuda.current_device()} {cuda.get_device_name()}")
    else:
        lines.append("  CUDA compiled:   no (CPU-only build)")
    print("\n".join(lines), file=file)
