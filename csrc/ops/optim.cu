// Optimizer update kernels, CUDA twin of optim.cpp. Updates param (and the momentum buffer) IN PLACE.
//
// Thread mapping: one fused elementwise kernel, grid-stride over the n elements (each element read
// and written by one thread; param, grad and buf each make one coalesced pass through memory).
// Bit-exactness: every element performs the CPU twin's roundings in the same order, with the same
// hyperparameters rounded to scalar_t on the host:
//   d = maximize ? -g : g;  d = fma(p, wd, d);  v = first ? d : fma(d, 1 - dampening, buf * momentum);
//   d = nesterov ? fma(v, momentum, d) : v;  p = fma(d, -lr, p)
// CUDA's fma() is the correctly rounded fused multiply-add, like std::fma on the CPU, and every
// product that torch rounds separately (buf * momentum) is an explicit __fmul_rn/__dmul_rn, so
// nvcc's default contraction (--fmad=true) cannot fuse it: results equal the CPU's to the last bit.
#include "core/cuda_utils.cuh"
#include "ops/optim_cuda.h"

namespace cnnkit {

namespace {

template <class scalar_t>
struct SgdScalarsCuda {
  scalar_t neg_lr, momentum, one_minus_damp, wd;
  bool has_wd, has_momentum, nesterov, maximize, first_step;
};

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// param, grad, buf (n,); buf is read/written only when s.has_momentum.
template <class scalar_t>
__global__ void sgd_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g, scalar_t* __restrict__ buf,
                                int64_t n, SgdScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = fma(p[i], s.wd, d);
    if (s.has_momentum) {
      const scalar_t v = s.first_step ? d : fma(d, s.one_minus_damp, mul_rn(buf[i], s.momentum));
      buf[i] = v;
      d = s.nesterov ? fma(v, s.momentum, d) : v;
    }
    p[i] = fma(d, s.neg_lr, p[i]);
  }
}

}  // namespace

template <class scalar_t>
void sgd_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h, int device) {
  if (n <= 0) return;
  SgdScalarsCuda<scalar_t> s;
  s.neg_lr = static_cast<scalar_t>(-h.lr);
  s.momentum = static_cast<scalar_t>(h.momentum);
  s.one_minus_damp = static_cast<scalar_t>(1.0 - h.dampening);
  s.wd = static_cast<scalar_t>(h.weight_decay);
  s.has_wd = h.weight_decay != 0.0;
  s.has_momentum = h.momentum != 0.0 && buf != nullptr;
  s.nesterov = h.nesterov;
  s.maximize = h.maximize;
  s.first_step = h.first_step;
  CudaDeviceGuard guard(device);
  sgd_step_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, buf, n, s);
  CNNKIT_CUDA_KERNEL_CHECK("sgd_step_");
}

template void sgd_step_cuda<float>(float*, const float*, float*, int64_t, const SgdParams&, int);
template void sgd_step_cuda<double>(double*, const double*, double*, int64_t, const SgdParams&, int);

}  // namespace cnnkit
