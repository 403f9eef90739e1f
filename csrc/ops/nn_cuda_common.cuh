// Device helpers shared by the CUDA twins of pooling, softmax and the losses (include from .cu
// files only): warp-shuffle reductions, a deterministic two-stage sum in double, and the range
// check of index tensors (max-pool indices, class targets) that reports the first bad value.
// Kernels here are `static` (one copy per translation unit), so several .cu files may include it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_utils.cuh"
#include "core/tensor.h"

namespace cnnkit {
namespace nncuda {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Sum over the 32 lanes of a warp (butterfly: every lane ends with the total, combined in the
// same fixed order on every run).
__device__ __forceinline__ double warp_sum(double v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// -inf in scalar_t on the device (std::numeric_limits is host-only without --expt-relaxed-constexpr).
template <class scalar_t>
__device__ __forceinline__ scalar_t neg_inf() {
  return -static_cast<scalar_t>(INFINITY);
}

// Running max that never selects NaN (the CPU softmax's max_sel): a NaN still turns its slice
// into NaN through exp(NaN - max).
template <class scalar_t>
__device__ __forceinline__ scalar_t max_sel(scalar_t a, scalar_t b) {
  return b > a ? b : a;
}

template <class scalar_t>
__device__ __forceinline__ scalar_t warp_max(scalar_t v) {
  for (int off = kWarp / 2; off > 0; off >>= 1) v = max_sel(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}

// Blocks for "one warp per row/sample" kernels over `rows` items (kThreadsPerBlock/32 per block,
// warps grid-striding over the rest when the grid is capped).
inline unsigned int warp_blocks(int64_t rows) {
  const int64_t per = kThreadsPerBlock / kWarp;
  const int64_t b = (rows + per - 1) / per;
  return static_cast<unsigned int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Global warp index and warp count of the launch (for warp-per-item grid-stride loops).
__device__ __forceinline__ int64_t global_warp() {
  return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
}
__device__ __forceinline__ int64_t warp_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp; }

// Sum over a block of kThreadsPerBlock threads; the result is valid in thread 0. Warp sums first,
// then warp 0 sums the per-warp partials: a fixed order, so the result is deterministic.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_part[kThreadsPerBlock / kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) warp_part[warp] = v;
  __syncthreads();
  double r = 0.0;
  if (warp == 0) {
    r = lane < static_cast<int>(blockDim.x / kWarp) ? warp_part[lane] : 0.0;
    r = warp_sum(r);
  }
  __syncthreads();  // warp_part may be reused by a later call in the same kernel
  return r;
}

// Stage 1 of a deterministic sum: block b sums terms[i] for i = b*T + tid + k*gridDim*T.
// Launch with kThreadsPerBlock threads; `part` has gridDim.x entries.
static __global__ void sum_stage1_kernel(double* part, const double* terms, int64_t n) {
  double s = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) s += terms[i];
  s = block_sum(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// Stage 2: one block sums the `m` partials into *out.
static __global__ void sum_stage2_kernel(double* out, const double* part, int64_t m) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += part[i];
  s = block_sum(s);
  if (threadIdx.x == 0) *out = s;
}

// Number of stage-1 blocks for n terms: a function of n only (never of the GPU), so the
// summation order, and hence the result, is the same on every run and every device.
inline unsigned int sum_blocks(int64_t n) {
  const int64_t b = (n + kThreadsPerBlock * 8 - 1) / (kThreadsPerBlock * 8);
  return static_cast<unsigned int>(b < 1 ? 1 : (b > 1024 ? 1024 : b));
}

// *out (device) = sum of terms[0..n) (device), in double, deterministic. `scratch` must hold at
// least sum_blocks(n) doubles.
inline void device_sum(double* out, const double* terms, int64_t n, double* scratch, const char* op) {
  const unsigned int nb = sum_blocks(n);
  sum_stage1_kernel<<<nb, kThreadsPerBlock>>>(scratch, terms, n);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  sum_stage2_kernel<<<1, kThreadsPerBlock>>>(out, scratch, nb);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

// Marks in *first the smallest position i whose v[i] is outside [lo, hi) (and is not `allowed`
// when has_allowed). *first starts at UINT64_MAX; atomicMin keeps the smallest bad position, so
// the host reports the same (first) bad value as the CPU's sequential check.
static __global__ void first_out_of_range_kernel(unsigned long long* first, const int64_t* v, int64_t n, int64_t lo,
                                          int64_t hi, bool has_allowed, int64_t allowed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t x = v[i];
    const bool ok = (x >= lo && x < hi) || (has_allowed && x == allowed);
    if (!ok) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

// Host: true when some v[i] (device, n values) is out of range; *bad_value then receives the first
// such value. Synchronises with the device (two small copies back): the one place these ops wait.
inline bool find_out_of_range(const int64_t* v, int64_t n, int64_t lo, int64_t hi, bool has_allowed, int64_t allowed,
                              int device, int64_t* bad_value, const char* op) {
  if (n <= 0) return false;
  Tensor flag = Tensor::empty({1}, DType::Int64, Device::cuda(device));
  auto* first = static_cast<unsigned long long*>(flag.data_ptr());
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(first, 0xFF, sizeof(unsigned long long)), op);
  first_out_of_range_kernel<<<blocks_for(n), kThreadsPerBlock>>>(first, v, n, lo, hi, has_allowed, allowed);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  unsigned long long pos = 0;
  CNNKIT_CUDA_CHECK(cudaMemcpy(&pos, first, sizeof(pos), cudaMemcpyDeviceToHost), op);
  if (pos == ~0ull) return false;
  CNNKIT_CUDA_CHECK(cudaMemcpy(bad_value, v + pos, sizeof(int64_t), cudaMemcpyDeviceToHost), op);
  return true;
}

}  // namespace nncuda
}  // namespace cnnkit
