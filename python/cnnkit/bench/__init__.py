"""cnnkit's benchmark suite, installed with the package.

    cnnkit bench [--quick|--full] [--device cpu|cuda] [--json out.json] [--markdown out.md] [--compare ref.json]
                 [--threads N] [--only gemm,conv,pool,eltwise,softmax,batchnorm,train,memory]
    python -m cnnkit.bench ...          (the same)
    python benchmarks/run.py ...        (the same from a source checkout, but --full by default)

`cnnkit bench` runs the quick suite (~2 minutes on 2 cores); --full the whole one (~10 minutes).

One table, every row measured side by side in the same run: ours against a reference library on the same
machine with the same thread count.

Columns
  case / shape   what is measured (batch N, channels x height x width, kernel k, stride s)
  max err        max |ours - reference| / max |reference|, checked BEFORE timing; a row over its tolerance
                 is listed under FAILURES at the end and the command exits with status 1
                 (training steps: the loss and every parameter after one SGD step, against torch's step in
                 float64, since torch's own float32 step differs from float64 by up to ~3e-2 with batch norm;
                 the tolerance is then the larger of the row's own and 3x torch's float32 error)
  ours ms        median wall time of one call after a warm-up (>= 5 calls, --quick 3; short calls repeated
                 until ~50 ms are covered)
  ref / ref ms   the reference and its median time: numpy (OpenBLAS), torch (PyTorch's default CPU path,
                 oneDNN for convolutions), th-nodnn (PyTorch with oneDNN off: its own im2col + GEMM),
                 copy (copying the same number of bytes: the floor of a memory-bound kernel); on a GPU
                 torch means cuBLAS / cuDNN with TF32 off
  ref/ours       > 1: cnnkit is faster. For training steps the issue's "time <= 1.0x PyTorch" is ref/ours >= 1.
                 GEMM and conv rows time the libraries in alternating rounds (GEMM 9, conv 5; twice that
                 for calls under 5 ms) and give the median of the per-round ratios, so it can differ a
                 little from ref ms / ours ms (the medians over all rounds): on a shared machine, samples
                 a fraction of a second apart compare the libraries, samples seconds apart also compare
                 the moments
  throughput     GFLOP/s (compute-bound rows) or GB/s of bytes read + written (memory-bound rows)
  %peak          of the estimated float32 peak (threads x nominal GHz x 32) or of the measured DRAM copy
                 bandwidth; over 100 for GB/s rows means the working set sat in cache

Groups: gemm (square SGEMM), conv (CIFAR ResNet-18 layers, forward + backward as one measure), pool (max-pool
2x2), eltwise (ReLU, bias add + reduction + product, forward and backward), softmax (fused softmax +
cross-entropy), batchnorm (BatchNorm2d training, through autograd), train (LeNet-5 batch 64 and CIFAR
ResNet-18 batch 32 training steps through nn / autograd / optim, from identical weights), memory (new
allocations from the OS / the CUDA driver during steady-state training steps: the target is none).
No kernel code here: backward semantics (= or +=) do not apply to this package.
"""
from .suite import main

__all__ = ["main"]
