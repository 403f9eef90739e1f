"""``cnnkit.backends``: the switches PyTorch code sets on ``torch.backends`` (``torch.backends.cudnn.benchmark
= True``, ``torch.backends.mps.is_available()``), so that such code runs unchanged.

cnnkit has no cuDNN, MPS, MKL-DNN or TF32 path: its convolutions are its own kernels, always
deterministic for a given thread count and device. The flags are accepted and stored (reading one back
gives what was set), and they change nothing; ``docs/differences.md`` says so. The ``is_available()``
queries answer for cnnkit: cuDNN and MPS are never used, so they report False.
"""
from __future__ import annotations

import contextlib
import types

from . import cudnn, mps  # noqa: F401

__all__ = ["cudnn", "mps", "cuda", "mkldnn", "openmp", "cpu"]


def _flag_module(name, doc, **flags):
    mod = types.ModuleType(f"{__name__}.{name}", doc)
    mod.__dict__.update(flags)
    return mod


cuda = _flag_module(
    "cuda", "torch.backends.cuda: cnnkit's CUDA GEMM is always full FP32 (no TF32, no reduced precision).",
    matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=False,
                                 allow_bf16_reduced_precision_reduction=False),
    is_built=lambda: __import__("cnnkit").cuda.is_built(),
)
mkldnn = _flag_module("mkldnn", "torch.backends.mkldnn: cnnkit never uses oneDNN/MKL-DNN.",
                      enabled=False, is_available=lambda: False)
openmp = _flag_module("openmp", "torch.backends.openmp: whether cnnkit's CPU kernels were built with OpenMP.",
                      is_available=lambda: bool(__import__("cnnkit")._C.openmp))


def _cpu_capability():
    """torch's spelling of the SIMD level in use: "AVX512", "AVX2" or "DEFAULT" (portable).

    The level cnnkit's CPU kernels run at: the CPU's best unless CNNKIT_SIMD lowers it (torch reads
    ATEN_CPU_CAPABILITY for the same purpose)."""
    level = __import__("cnnkit")._C.simd_level().split()[0]  # the rest, if any, says why it fell back
    return {"avx512": "AVX512", "avx2": "AVX2"}.get(level, "DEFAULT")


cpu = _flag_module("cpu", "torch.backends.cpu", get_cpu_capability=_cpu_capability)


@contextlib.contextmanager
def flags(**kwargs):
    """Accepted for code that wraps a block in ``torch.backends.cudnn.flags(...)``; changes nothing."""
    yield
