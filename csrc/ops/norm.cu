// Row normalisation (group / layer / instance norm), CUDA twin of norm.cpp (formulas and layouts
// in norm.h). Backward WRITES (=) dinp, dweight and dbias. No atomics: every sum is a fixed-order
// block reduction (nncuda::block_sum), so results are deterministic.
//
// Thread mapping:
//  - Row statistics: ONE BLOCK PER ROW (blocks grid-striding over rows beyond the grid cap).
//    Thread t visits the row's values t, t + blockDim, ...; partial sums in double. Two passes
//    (mean, then sum((x-mean)^2)), as batchnorm.cu: simple and stable, and the second read of a
//    row hits L2 for all but huge rows.
//  - Backward row sums (A = sum(dout*w), B = sum(dout*w*(x-mean))): one block per row, giving
//    the per-row coefficients of dinp.
//  - Elementwise passes (out, dinp): grid-stride loops, one thread per value; row r = i / D,
//    channel c = (r % G) * CPG + (i % D) / S.
//  - dweight / dbias: one block per channel, summing over the (R/G) rows of its group and its S
//    values (flat index t = n*S + s).
// Numerics: sums in double, coefficients rounded to the dtype as on the CPU; only the order of the
// double sums differs, so float results agree with the CPU to rounding.
#include "ops/nn_cuda_common.cuh"
#include "ops/norm_cuda.h"

namespace cnnkit {

namespace {
using nncuda::block_sum;

inline unsigned int capped_blocks(int64_t n) { return static_cast<unsigned int>(n < 65535 ? (n < 1 ? 1 : n) : 65535); }

template <class T>
__global__ void row_stats_kernel(T* __restrict__ mean, T* __restrict__ rstd, T* __restrict__ var_out,
                                 const T* __restrict__ inp, RowNormDims d, double eps) {
  __shared__ double sh_mean;
  const int64_t D = d.CPG * d.S;
  for (int64_t r = blockIdx.x; r < d.R; r += gridDim.x) {
    const T* x = inp + r * D;
    double acc = 0.0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) acc += static_cast<double>(x[j]);
    const double sum = block_sum(acc);
    if (threadIdx.x == 0) sh_mean = D > 0 ? sum / static_cast<double>(D) : 0.0;
    __syncthreads();
    const double m = sh_mean;
    acc = 0.0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double v = static_cast<double>(x[j]) - m;
      acc += v * v;
    }
    const double sq = block_sum(acc);
    if (threadIdx.x == 0) {
      const double var = D > 0 ? sq / static_cast<double>(D) : 0.0;
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(1.0 / sqrt(var + eps));
      if (var_out) var_out[r] = static_cast<T>(var);
    }
    __syncthreads();  // sh_mean is rewritten for the next row
  }
}

template <class T>
__global__ void row_normalise_kernel(T* __restrict__ out, const T* __restrict__ inp, const T* __restrict__ mean,
                                     const T* __restrict__ rstd, const T* __restrict__ weight,
                                     const T* __restrict__ bias, RowNormDims d) {
  const int64_t D = d.CPG * d.S, total = d.R * D;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t r = i / D;
    const int64_t c = (r % d.G) * d.CPG + (i - r * D) / d.S;
    // the coefficient as the CPU forms it: rstd * weight in double, rounded to T
    const T a = static_cast<T>(static_cast<double>(rstd[r]) * (weight ? static_cast<double>(weight[c]) : 1.0));
    out[i] = (inp[i] - mean[r]) * a + (bias ? bias[c] : static_cast<T>(0));
  }
}

// coef[r] = A/D, coef[R + r] = B/D * rstd^2.
template <class T>
__global__ void row_backward_sums_kernel(T* __restrict__ coef, const T* __restrict__ dout, const T* __restrict__ inp,
                                         const T* __restrict__ weight, const T* __restrict__ mean,
                                         const T* __restrict__ rstd, RowNormDims d) {
  const int64_t D = d.CPG * d.S;
  for (int64_t r = blockIdx.x; r < d.R; r += gridDim.x) {
    const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    const int64_t g = r % d.G;
    double a = 0.0, b = 0.0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double w = weight ? static_cast<double>(weight[g * d.CPG + j / d.S]) : 1.0;
      const double gv = static_cast<double>(dout[r * D + j]) * w;
      a += gv;
      b += gv * (static_cast<double>(inp[r * D + j]) - m);
    }
    const double A = block_sum(a);
    const double B = block_sum(b);
    if (threadIdx.x == 0) {
      coef[r] = D > 0 ? static_cast<T>(A / static_cast<double>(D)) : static_cast<T>(0);
      coef[d.R + r] = D > 0 ? static_cast<T>(B / static_cast<double>(D) * rs * rs) : static_cast<T>(0);
    }
  }
}

template <class T>
__global__ void row_backward_input_kernel(T* __restrict__ dinp, const T* __restrict__ dout, const T* __restrict__ inp,
                                          const T* __restrict__ weight, const T* __restrict__ mean,
                                          const T* __restrict__ rstd, const T* __restrict__ coef, RowNormDims d) {
  const int64_t D = d.CPG * d.S, total = d.R * D;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t r = i / D;
    const int64_t c = (r % d.G) * d.CPG + (i - r * D) / d.S;
    const T w = weight ? weight[c] : static_cast<T>(1);
    dinp[i] = (dout[i] * w - coef[r] - (inp[i] - mean[r]) * coef[d.R + r]) * rstd[r];
  }
}

template <class T>
__global__ void row_backward_affine_kernel(T* __restrict__ dweight, T* __restrict__ dbias, const T* __restrict__ dout,
                                           const T* __restrict__ inp, const T* __restrict__ mean,
                                           const T* __restrict__ rstd, RowNormDims d) {
  const int64_t D = d.CPG * d.S, nC = d.G * d.CPG, rows = d.R / d.G, M = rows * d.S;
  for (int64_t c = blockIdx.x; c < nC; c += gridDim.x) {
    const int64_t g = c / d.CPG, cc = c % d.CPG;
    double a = 0.0, b = 0.0;
    for (int64_t t = threadIdx.x; t < M; t += blockDim.x) {
      const int64_t n = t / d.S, s = t - n * d.S;
      const int64_t r = n * d.G + g;
      const int64_t k = r * D + cc * d.S + s;
      const double gv = static_cast<double>(dout[k]);
      a += gv;
      b += gv * (static_cast<double>(inp[k]) - static_cast<double>(mean[r])) * static_cast<double>(rstd[r]);
    }
    const double sb = block_sum(a);
    const double sw = block_sum(b);
    if (threadIdx.x == 0) {
      if (dweight) dweight[c] = static_cast<T>(sw);
      if (dbias) dbias[c] = static_cast<T>(sb);
    }
  }
}

template <class T>
DType dtype_of() {
  return sizeof(T) == sizeof(float) ? DType::Float32 : DType::Float64;
}
}  // namespace

template <class T>
void row_norm_forward_cuda(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                           const RowNormDims& d, double eps, int device) {
  const char* op = "row_norm";
  if (d.R == 0) return;
  CudaDeviceGuard guard(device);
  row_stats_kernel<T><<<capped_blocks(d.R), kThreadsPerBlock>>>(mean, rstd, var_out, inp, d, eps);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  const int64_t total = d.R * d.D();
  if (total == 0) return;
  row_normalise_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, mean, rstd, weight, bias, d);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class T>
void row_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                            const T* mean, const T* rstd, const RowNormDims& d, int device) {
  const char* op = "row_norm_backward";
  CudaDeviceGuard guard(device);
  const int64_t total = d.R * d.D();
  if (dinp && total > 0) {
    Tensor coef = Tensor::empty({2 * d.R}, dtype_of<T>(), Device::cuda(device));
    row_backward_sums_kernel<T><<<capped_blocks(d.R), kThreadsPerBlock>>>(coef.data<T>(), dout, inp, weight, mean,
                                                                          rstd, d);
    CNNKIT_CUDA_KERNEL_CHECK(op);
    row_backward_input_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dinp, dout, inp, weight, mean, rstd,
                                                                          coef.data<T>(), d);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  const int64_t nC = d.channels();
  if ((dweight || dbias) && nC > 0) {
    row_backward_affine_kernel<T><<<capped_blocks(nC), kThreadsPerBlock>>>(dweight, dbias, dout, inp, mean, rstd, d);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
}

#define CNNKIT_NORM_CUDA_INSTANTIATE(T)                                                                          \
  template void row_norm_forward_cuda<T>(T*, T*, T*, T*, const T*, const T*, const T*, const RowNormDims&, double, \
                                         int);                                                                   \
  template void row_norm_backward_cuda<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,          \
                                          const RowNormDims&, int);
CNNKIT_NORM_CUDA_INSTANTIATE(float)
CNNKIT_NORM_CUDA_INSTANTIATE(double)
#undef CNNKIT_NORM_CUDA_INSTANTIATE

}  // namespace cnnkit
