// Dropout masks and the fused dropout kernels, CUDA twin of dropout.cpp (the Philox stream and the
// formulas are dropout.h's, evaluated by the same inline functions, so masks equal the CPU's bit
// for bit and outputs match exactly: one multiply (and one add) per element, no contraction
// possible). Backward WRITES (=) dinp.
//
// Thread mapping:
// - inner == 1 (elementwise dropout): fused_kernel, a grid-stride loop over Philox blocks; thread
//   t computes block j's four words and writes mask[4j..4j+3] and the four outputs.
// - inner > 1 (whole channels): mask_kernel (one thread per Philox block) writes the m mask
//   entries, then apply_kernel, a grid-stride loop over the m * inner elements, reads
//   mask[i / inner] (coalesced over i; the mask is tiny and cached).
// The backward is apply_kernel without the shift. No atomics; every element written once.
#include "core/cuda_utils.cuh"
#include "ops/dropout_cuda.h"

namespace cnnkit {

namespace {

// Products that nvcc may not contract with the following add into an fma (the CPU build has no
// FMA in these loops: no -march), so alpha dropout rounds as on the CPU.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

template <class scalar_t, bool kAffine>
__global__ void fused_kernel(scalar_t* __restrict__ out, bool* __restrict__ mask, const scalar_t* __restrict__ inp,
                             int64_t m, uint64_t seed, uint64_t offset, uint64_t threshold, scalar_t scale,
                             scalar_t bk, scalar_t bd) {
  const int64_t blocks = (m + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < blocks; j += stride) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(j));
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const int64_t k = 4 * j + w;
      if (k < m) {
        const bool keep = static_cast<uint64_t>(r.v[w]) < threshold;
        mask[k] = keep;
        const scalar_t prod = mul_rn(inp[k], keep ? scale : scalar_t(0));
        out[k] = kAffine ? prod + (keep ? bk : bd) : prod;
      }
    }
  }
}

__global__ void mask_kernel(bool* __restrict__ mask, int64_t m, uint64_t seed, uint64_t offset, uint64_t threshold) {
  const int64_t blocks = (m + 3) / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < blocks; j += stride) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(j));
#pragma unroll
    for (int w = 0; w < 4; ++w)
      if (4 * j + w < m) mask[4 * j + w] = static_cast<uint64_t>(r.v[w]) < threshold;
  }
}

// out[i] = inp[i] * (mask[i / inner] ? scale : 0) (+ the alpha-dropout shift)
template <class scalar_t, bool kAffine>
__global__ void apply_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ inp,
                             const bool* __restrict__ mask, int64_t n, int64_t inner, scalar_t scale, scalar_t bk,
                             scalar_t bd) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const bool keep = mask[i / inner];
    const scalar_t prod = mul_rn(inp[i], keep ? scale : scalar_t(0));
    out[i] = kAffine ? prod + (keep ? bk : bd) : prod;
  }
}

template <class scalar_t, bool kAffine>
void forward_impl(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                  uint64_t offset, const DropoutCoef& c) {
  const scalar_t scale = static_cast<scalar_t>(c.scale);
  const scalar_t bk = static_cast<scalar_t>(c.bias_keep), bd = static_cast<scalar_t>(c.bias_drop);
  const int64_t blocks = (m + 3) / 4;
  if (inner == 1) {
    fused_kernel<scalar_t, kAffine><<<blocks_for(blocks), kThreadsPerBlock>>>(out, mask, inp, m, seed, offset,
                                                                               c.threshold, scale, bk, bd);
    CNNKIT_CUDA_KERNEL_CHECK("dropout_forward");
    return;
  }
  mask_kernel<<<blocks_for(blocks), kThreadsPerBlock>>>(mask, m, seed, offset, c.threshold);
  CNNKIT_CUDA_KERNEL_CHECK("dropout_forward");
  const int64_t n = m * inner;
  apply_kernel<scalar_t, kAffine><<<blocks_for(n), kThreadsPerBlock>>>(out, inp, mask, n, inner, scale, bk, bd);
  CNNKIT_CUDA_KERNEL_CHECK("dropout_forward");
}

}  // namespace

template <class scalar_t>
void dropout_forward_cuda(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                          uint64_t offset, const DropoutCoef& coef, int device) {
  if (m <= 0 || inner <= 0) return;
  CudaDeviceGuard guard(device);
  if (coef.affine)
    forward_impl<scalar_t, true>(out, mask, inp, m, inner, seed, offset, coef);
  else
    forward_impl<scalar_t, false>(out, mask, inp, m, inner, seed, offset, coef);
}

template <class scalar_t>
void dropout_backward_cuda(scalar_t* dinp, const scalar_t* dout, const bool* mask, int64_t m, int64_t inner,
                           double scale, int device) {
  const int64_t n = m * inner;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  apply_kernel<scalar_t, false><<<blocks_for(n), kThreadsPerBlock>>>(dinp, dout, mask, n, inner,
                                                                     static_cast<scalar_t>(scale), scalar_t(0),
                                                                     scalar_t(0));
  CNNKIT_CUDA_KERNEL_CHECK("dropout_backward");
}

#define CNNKIT_INSTANTIATE_DROPOUT_CUDA(T)                                                                  \
  template void dropout_forward_cuda<T>(T*, bool*, const T*, int64_t, int64_t, uint64_t, uint64_t,         \
                                        const DropoutCoef&, int);                                           \
  template void dropout_backward_cuda<T>(T*, const T*, const bool*, int64_t, int64_t, double, int);
CNNKIT_INSTANTIATE_DROPOUT_CUDA(float)
CNNKIT_INSTANTIATE_DROPOUT_CUDA(double)
#undef CNNKIT_INSTANTIATE_DROPOUT_CUDA

}  // namespace cnnkit
