// Softmax / log-softmax over one dimension, CUDA twin of softmax.cpp. Backward WRITES (=) dinp.
//
// Layout (outer, D, inner), contiguous; the reduction runs over D.
// Thread mapping:
//  - inner == 1 (rows of D contiguous values, the usual last-dim / class-dim case): ONE WARP PER
//    ROW, kThreadsPerBlock/32 rows per block, warps grid-striding over rows. Lane l reads elements
//    l, l+32, ... of its row (coalesced); three passes (max, sum of exp, write), the max and the
//    sum combined across lanes with __shfl_xor_sync butterflies (nncuda::warp_max / warp_sum).
//  - inner > 1 (softmax over a middle dim, e.g. channels of NCHW): ONE THREAD PER COLUMN
//    (o, i), grid-striding over the outer*inner columns. The thread walks D with stride `inner`;
//    neighbouring threads hold neighbouring i, so every step of the walk is a coalesced load.
// Every output element is written by exactly one thread. Numerics as the CPU twin: the running max
// never selects NaN (a NaN still makes its slice NaN through exp(NaN - max)), exp runs in scalar_t,
// sums and the final scaling in double. Sums are combined in a different order than on the CPU,
// so float results agree to rounding (not bit for bit); the order is fixed, so results are the
// same on every run.
#include "ops/nn_cuda_common.cuh"
#include "ops/softmax_cuda.h"

namespace cnnkit {

namespace {
using nncuda::kWarp;
using nncuda::max_sel;

// out, x (rows, D): one warp per row.
template <class scalar_t>
__global__ void softmax_rows_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ x, int64_t rows,
                                    int64_t D, bool log) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = nncuda::global_warp(); r < rows; r += nncuda::warp_count()) {
    const scalar_t* xr = x + r * D;
    scalar_t* orow = out + r * D;
    scalar_t m = nncuda::neg_inf<scalar_t>();
    for (int64_t d = lane; d < D; d += kWarp) m = max_sel(m, xr[d]);
    m = nncuda::warp_max(m);
    double s = 0.0;
    for (int64_t d = lane; d < D; d += kWarp) s += static_cast<double>(exp(xr[d] - m));
    s = nncuda::warp_sum(s);
    if (log) {
      const double shift = static_cast<double>(m) + ::log(s);
      for (int64_t d = lane; d < D; d += kWarp) orow[d] = static_cast<scalar_t>(static_cast<double>(xr[d]) - shift);
    } else {
      const double inv = 1.0 / s;
      for (int64_t d = lane; d < D; d += kWarp)
        orow[d] = static_cast<scalar_t>(static_cast<double>(exp(xr[d] - m)) * inv);
    }
  }
}

// out, x (outer, D, inner): one thread per column (o, i).
template <class scalar_t>
__global__ void softmax_cols_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ x, int64_t outer,
                                    int64_t D, int64_t inner, bool log) {
  const int64_t cols = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const int64_t o = c / inner, i = c % inner;
    const scalar_t* xc = x + o * D * inner + i;
    scalar_t* oc = out + o * D * inner + i;
    scalar_t m = nncuda::neg_inf<scalar_t>();
    for (int64_t d = 0; d < D; ++d) m = max_sel(m, xc[d * inner]);
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += static_cast<double>(exp(xc[d * inner] - m));
    if (log) {
      const double shift = static_cast<double>(m) + ::log(s);
      for (int64_t d = 0; d < D; ++d)
        oc[d * inner] = static_cast<scalar_t>(static_cast<double>(xc[d * inner]) - shift);
    } else {
      const double inv = 1.0 / s;
      for (int64_t d = 0; d < D; ++d)
        oc[d * inner] = static_cast<scalar_t>(static_cast<double>(exp(xc[d * inner] - m)) * inv);
    }
  }
}

// Gradient of one element from the row sum s (see softmax_cuda.h).
template <class scalar_t>
__device__ __forceinline__ scalar_t softmax_grad(scalar_t g, scalar_t y, double s, bool log) {
  if (log) return static_cast<scalar_t>(static_cast<double>(g) - static_cast<double>(exp(y)) * s);
  return static_cast<scalar_t>(static_cast<double>(y) * (static_cast<double>(g) - s));
}

// The sum the gradient needs: sum(dout) for log_softmax, sum(dout * out) for softmax.
template <class scalar_t>
__device__ __forceinline__ double softmax_grad_term(scalar_t g, scalar_t y, bool log) {
  return log ? static_cast<double>(g) : static_cast<double>(g) * static_cast<double>(y);
}

template <class scalar_t>
__global__ void softmax_backward_rows_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                             const scalar_t* __restrict__ out, int64_t rows, int64_t D, bool log) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = nncuda::global_warp(); r < rows; r += nncuda::warp_count()) {
    const scalar_t* g = dout + r * D;
    const scalar_t* y = out + r * D;
    scalar_t* di = dinp + r * D;
    double s = 0.0;
    for (int64_t d = lane; d < D; d += kWarp) s += softmax_grad_term(g[d], y[d], log);
    s = nncuda::warp_sum(s);
    for (int64_t d = lane; d < D; d += kWarp) di[d] = softmax_grad(g[d], y[d], s, log);
  }
}

template <class scalar_t>
__global__ void softmax_backward_cols_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                             const scalar_t* __restrict__ out, int64_t outer, int64_t D,
                                             int64_t inner, bool log) {
  const int64_t cols = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const int64_t base = (c / inner) * D * inner + c % inner;
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += softmax_grad_term(dout[base + d * inner], out[base + d * inner], log);
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = base + d * inner;
      dinp[k] = softmax_grad(dout[k], out[k], s, log);
    }
  }
}
}  // namespace

template <class scalar_t>
void softmax_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t outer, int64_t D, int64_t inner, bool log,
                          int device) {
  if (outer == 0 || D == 0 || inner == 0) return;
  const char* op = log ? "log_softmax" : "softmax";
  CudaDeviceGuard guard(device);
  if (inner == 1) {
    softmax_rows_kernel<scalar_t><<<nncuda::warp_blocks(outer), kThreadsPerBlock>>>(out, inp, outer, D, log);
  } else {
    softmax_cols_kernel<scalar_t><<<blocks_for(outer * inner), kThreadsPerBlock>>>(out, inp, outer, D, inner, log);
  }
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t>
void softmax_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t outer, int64_t D,
                           int64_t inner, bool log, int device) {
  if (outer == 0 || D == 0 || inner == 0) return;
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  CudaDeviceGuard guard(device);
  if (inner == 1) {
    softmax_backward_rows_kernel<scalar_t><<<nncuda::warp_blocks(outer), kThreadsPerBlock>>>(dinp, dout, out, outer, D, log);
  } else {
    softmax_backward_cols_kernel<scalar_t>
        <<<blocks_for(outer * inner), kThreadsPerBlock>>>(dinp, dout, out, outer, D, inner, log);
  }
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template void softmax_forward_cuda<float>(float*, const float*, int64_t, int64_t, int64_t, bool, int);
template void softmax_forward_cuda<double>(double*, const double*, int64_t, int64_t, int64_t, bool, int);
template void softmax_backward_cuda<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool, int);
template void softmax_backward_cuda<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, bool,
                                            int);

}  // namespace cnnkit
