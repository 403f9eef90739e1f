// Batch normalisation, CUDA twin of batchnorm.cpp (formulas and layouts in batchnorm.h). Backward
// WRITES (=) dinp, dweight and dbias. No atomics: every sum is a fixed-order block reduction, so
// results are deterministic.
//
// Thread mapping:
//  - Per-channel work (batch statistics and running-stat updates; the backward's two channel
//    sums and dweight/dbias): ONE BLOCK PER CHANNEL (kThreadsPerBlock threads, blocks
//    grid-striding over channels when C exceeds the grid cap). Thread t visits the channel's
//    values i = t, t + blockDim, ... of its flat (n, s) index (value at (n*C + c)*S + s); partial
//    sums in double are combined by nncuda::block_sum (warp shuffles, then one warp over the
//    per-warp partials). The statistics are two-pass (mean, then sum((x-mean)^2)): simple and
//    stable; the GPU's bandwidth makes the extra read cheap. Thread 0 writes the channel's
//    results and the per-channel coefficients of the elementwise pass into a small scratch vector.
//  - Elementwise passes (out, dinp): grid-stride loops, one thread per element, channel
//    c = (i / S) % C, reading the per-channel coefficients.
// Numerics: the coefficients are formed in double and rounded to the tensor's dtype exactly as the
// CPU kernels do; only the order of the double sums differs (block tree vs. lanes), so float
// results agree with the CPU to rounding.
#include "ops/batchnorm_cuda.h"
#include "ops/nn_cuda_common.cuh"

namespace cnnkit {

namespace {
using nncuda::block_sum;

template <class T>
DType dtype_of() {
  return sizeof(T) == sizeof(float) ? DType::Float32 : DType::Float64;
}

// Blocks for a block-per-channel launch (channels beyond the cap are grid-strided).
inline unsigned int channel_blocks(int64_t C) { return static_cast<unsigned int>(C < 65535 ? C : 65535); }

// Sum over channel c of f(value index) for the block, valid in thread 0.
template <class F>
__device__ __forceinline__ double channel_sum(const BatchNormDims& d, int64_t c, const F& f) {
  const int64_t M = d.N * d.S;
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) {
    const int64_t n = i / d.S, s = i - n * d.S;
    acc += f((n * d.C + c) * d.S + s);
  }
  return block_sum(acc);
}

// Training statistics, one block per channel: save_mean, save_invstd, running statistics, and
// alpha[c] = invstd * weight[c] (the scale of the normalisation).
template <class T>
__global__ void bn_train_stats_kernel(T* __restrict__ save_mean, T* __restrict__ save_invstd, T* __restrict__ alpha,
                                      T* __restrict__ running_mean, T* __restrict__ running_var,
                                      const T* __restrict__ inp, const T* __restrict__ weight, BatchNormDims d,
                                      double momentum, double eps) {
  __shared__ double sh_mean;
  const int64_t M = d.N * d.S;
  for (int64_t c = blockIdx.x; c < d.C; c += gridDim.x) {
    const double sum = channel_sum(d, c, [&](int64_t k) { return static_cast<double>(inp[k]); });
    if (threadIdx.x == 0) sh_mean = M > 0 ? sum / static_cast<double>(M) : 0.0;
    __syncthreads();
    const double mean = sh_mean;
    const double sq = channel_sum(d, c, [&](int64_t k) {
      const double v = static_cast<double>(inp[k]) - mean;
      return v * v;
    });
    if (threadIdx.x == 0) {
      const double var = M > 0 ? sq / static_cast<double>(M) : 0.0;
      if (M > 0) {
        if (running_mean)
          running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
        if (running_var) {
          const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
          running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
        }
      }
      const double invstd = 1.0 / sqrt(var + eps);
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd);
      alpha[c] = static_cast<T>(invstd * (weight ? static_cast<double>(weight[c]) : 1.0));
    }
    __syncthreads();  // sh_mean is rewritten for the next channel
  }
}

// Eval coefficients, one thread per channel.
template <class T>
__global__ void bn_eval_coef_kernel(T* __restrict__ save_mean, T* __restrict__ save_invstd, T* __restrict__ alpha,
                                    const T* __restrict__ running_mean, const T* __restrict__ running_var,
                                    const T* __restrict__ weight, int64_t C, double eps) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += stride) {
    const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<T>(invstd);
    alpha[c] = static_cast<T>(invstd * (weight ? static_cast<double>(weight[c]) : 1.0));
  }
}

// out = (x - mean[c]) * alpha[c] + bias[c], one thread per element.
template <class T>
__global__ void bn_normalise_kernel(T* __restrict__ out, const T* __restrict__ inp, const T* __restrict__ mean,
                                    const T* __restrict__ alpha, const T* __restrict__ bias, BatchNormDims d) {
  const int64_t total = d.N * d.C * d.S;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t c = (i / d.S) % d.C;
    out[i] = (inp[i] - mean[c]) * alpha[c] + (bias ? bias[c] : static_cast<T>(0));
  }
}

// Backward channel sums, one block per channel: dweight, dbias, and the coefficients of dinp
// coef[c] = scale, coef[C + c] = sum_g / M, coef[2C + c] = sum_gx / M * invstd^2.
template <class T>
__global__ void bn_backward_sums_kernel(T* __restrict__ dweight, T* __restrict__ dbias, T* __restrict__ coef,
                                        const T* __restrict__ dout, const T* __restrict__ inp,
                                        const T* __restrict__ weight, const T* __restrict__ save_mean,
                                        const T* __restrict__ save_invstd, BatchNormDims d, bool need_sums,
                                        bool training) {
  const int64_t M = d.N * d.S;
  for (int64_t c = blockIdx.x; c < d.C; c += gridDim.x) {
    const double mean = static_cast<double>(save_mean[c]);
    const double invstd = static_cast<double>(save_invstd[c]);
    double sg = 0.0, sgx = 0.0;
    if (need_sums) {  // uniform across the block
      sg = channel_sum(d, c, [&](int64_t k) { return static_cast<double>(dout[k]); });
      sgx = channel_sum(d, c, [&](int64_t k) {
        return static_cast<double>(dout[k]) * (static_cast<double>(inp[k]) - mean);
      });
    }
    if (threadIdx.x == 0) {
      if (dweight) dweight[c] = static_cast<T>(sgx * invstd);
      if (dbias) dbias[c] = static_cast<T>(sg);
      if (coef) {
        coef[c] = static_cast<T>(invstd * (weight ? static_cast<double>(weight[c]) : 1.0));
        const bool full = training && M > 0;
        coef[d.C + c] = full ? static_cast<T>(sg / static_cast<double>(M)) : static_cast<T>(0);
        coef[2 * d.C + c] = full ? static_cast<T>(sgx / static_cast<double>(M) * invstd * invstd) : static_cast<T>(0);
      }
    }
  }
}

// dinp, one thread per element: training (g - gmean - (x - mean) * k) * scale, eval g * scale.
template <class T>
__global__ void bn_backward_input_kernel(T* __restrict__ dinp, const T* __restrict__ dout, const T* __restrict__ inp,
                                         const T* __restrict__ save_mean, const T* __restrict__ coef, BatchNormDims d,
                                         bool training) {
  const int64_t total = d.N * d.C * d.S;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t c = (i / d.S) % d.C;
    const T scale = coef[c];
    dinp[i] = training ? (dout[i] - coef[d.C + c] - (inp[i] - save_mean[c]) * coef[2 * d.C + c]) * scale
                       : dout[i] * scale;
  }
}

template <class T>
void normalise(T* out, const T* inp, const T* mean, const T* alpha, const T* bias, const BatchNormDims& d,
               const char* op) {
  const int64_t total = d.N * d.C * d.S;
  if (total == 0) return;
  bn_normalise_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, mean, alpha, bias, d);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}
}  // namespace

template <class T>
void batch_norm_forward_train_cuda(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                   const T* inp, const T* weight, const T* bias, const BatchNormDims& d,
                                   double momentum, double eps, int device) {
  const char* op = "batch_norm";
  if (d.C == 0) return;
  CudaDeviceGuard guard(device);
  Tensor alpha = Tensor::empty({d.C}, dtype_of<T>(), Device::cuda(device));
  bn_train_stats_kernel<T><<<channel_blocks(d.C), kThreadsPerBlock>>>(
      save_mean, save_invstd, alpha.data<T>(), running_mean, running_var, inp, weight, d, momentum, eps);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  normalise(out, inp, save_mean, alpha.data<T>(), bias, d, op);
}

template <class T>
void batch_norm_forward_eval_cuda(T* out, T* save_mean, T* save_invstd, const T* inp, const T* running_mean,
                                  const T* running_var, const T* weight, const T* bias, const BatchNormDims& d,
                                  double eps, int device) {
  const char* op = "batch_norm";
  if (d.C == 0) return;
  CudaDeviceGuard guard(device);
  Tensor alpha = Tensor::empty({d.C}, dtype_of<T>(), Device::cuda(device));
  bn_eval_coef_kernel<T><<<blocks_for(d.C), kThreadsPerBlock>>>(save_mean, save_invstd, alpha.data<T>(),
                                                                running_mean, running_var, weight, d.C, eps);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  normalise(out, inp, save_mean, alpha.data<T>(), bias, d, op);
}

template <class T>
void batch_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                              const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training,
                              int device) {
  const char* op = "batch_norm_backward";
  if (d.C == 0 || (!dinp && !dweight && !dbias)) return;
  CudaDeviceGuard guard(device);
  const bool need_sums = dweight || dbias || (dinp && training);
  Tensor coef;
  if (dinp) coef = Tensor::empty({3 * d.C}, dtype_of<T>(), Device::cuda(device));
  T* pcoef = dinp ? coef.data<T>() : nullptr;
  bn_backward_sums_kernel<T><<<channel_blocks(d.C), kThreadsPerBlock>>>(
      dweight, dbias, pcoef, dout, inp, weight, save_mean, save_invstd, d, need_sums, training);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  const int64_t total = d.N * d.C * d.S;
  if (!dinp || total == 0) return;
  bn_backward_input_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dinp, dout, inp, save_mean, pcoef, d, training);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

#define CNNKIT_BN_CUDA_INSTANTIATE(T)                                                                              \
  template void batch_norm_forward_train_cuda<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*,                \
                                                 const BatchNormDims&, double, double, int);                       \
  template void batch_norm_forward_eval_cuda<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,     \
                                                const BatchNormDims&, double, int);                                \
  template void batch_norm_backward_cuda<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,         \
                                            const BatchNormDims&, bool, int);
CNNKIT_BN_CUDA_INSTANTIATE(float)
CNNKIT_BN_CUDA_INSTANTIATE(double)
#undef CNNKIT_BN_CUDA_INSTANTIATE

}  // namespace cnnkit
