// Bicubic and antialiased interpolation, CUDA twin of the passes in upsample_separable.cpp (the
// scheme is in upsample.h). The weight tables are built on the host (the CPU's code) and copied to
// the device by the bindings. Thread mapping: grid-stride loops, one thread per OUTPUT element of
// a pass: the horizontal pass's neighbours in a warp read neighbouring taps of one input row, the
// vertical pass's read the same taps of neighbouring columns (coalesced). The backward runs the
// same kernels with the transposed tables: a gather, each input gradient written once by one
// thread, no atomics, deterministic (PyTorch's CUDA backward uses atomicAdd).
// Numerics: products are rounded by mul_rn (upsample.h) before the add, so nvcc does not contract
// the sums into FMAs and every element equals the CPU's result exactly.
#include "core/cuda_utils.cuh"
#include "ops/upsample_cuda.h"

namespace cnnkit {

namespace {

template <class T>
__global__ void sep_pass_w_kernel(T* __restrict__ dst, const T* __restrict__ src, const int64_t* __restrict__ ptr,
                                  const int64_t* __restrict__ idx, const T* __restrict__ w, int64_t rows,
                                  int64_t in_cols, int64_t out_cols) {
  const int64_t total = rows * out_cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t o = i % out_cols, r = i / out_cols;
    const T* s = src + r * in_cols;
    const int64_t e0 = ptr[o], e1 = ptr[o + 1];
    T acc = e1 > e0 ? mul_rn(w[e0], s[idx[e0]]) : T(0);
    for (int64_t e = e0 + 1; e < e1; ++e) acc = acc + mul_rn(w[e], s[idx[e]]);
    dst[i] = acc;
  }
}

template <class T>
__global__ void sep_pass_h_kernel(T* __restrict__ dst, const T* __restrict__ src, const int64_t* __restrict__ ptr,
                                  const int64_t* __restrict__ idx, const T* __restrict__ w, int64_t planes,
                                  int64_t in_rows, int64_t out_rows, int64_t cols) {
  const int64_t total = planes * out_rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % cols, t = i / cols, o = t % out_rows, pl = t / out_rows;
    const T* s = src + pl * in_rows * cols + c;
    const int64_t e0 = ptr[o], e1 = ptr[o + 1];
    T acc = e1 > e0 ? mul_rn(w[e0], s[idx[e0] * cols]) : T(0);
    for (int64_t e = e0 + 1; e < e1; ++e) acc = acc + mul_rn(w[e], s[idx[e] * cols]);
    dst[i] = acc;
  }
}

}  // namespace

template <class T>
void sep_pass_w_cuda(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t rows,
                     int64_t in_cols, int64_t out_cols, int device) {
  const int64_t total = rows * out_cols;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  sep_pass_w_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dst, src, ptr, idx, w, rows, in_cols, out_cols);
  CNNKIT_CUDA_KERNEL_CHECK("upsample (separable pass)");
}

template <class T>
void sep_pass_h_cuda(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t planes,
                     int64_t in_rows, int64_t out_rows, int64_t cols, int device) {
  const int64_t total = planes * out_rows * cols;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  sep_pass_h_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dst, src, ptr, idx, w, planes, in_rows, out_rows,
                                                               cols);
  CNNKIT_CUDA_KERNEL_CHECK("upsample (separable pass)");
}

#define CNNKIT_SEP_CUDA_INSTANTIATE(T)                                                                          \
  template void sep_pass_w_cuda<T>(T*, const T*, const int64_t*, const int64_t*, const T*, int64_t, int64_t,    \
                                   int64_t, int);                                                               \
  template void sep_pass_h_cuda<T>(T*, const T*, const int64_t*, const int64_t*, const T*, int64_t, int64_t,    \
                                   int64_t, int64_t, int);
CNNKIT_SEP_CUDA_INSTANTIATE(float)
CNNKIT_SEP_CUDA_INSTANTIATE(double)
#undef CNNKIT_SEP_CUDA_INSTANTIATE

}  // namespace cnnkit
