// Losses, CUDA twin of loss.cpp. Backward WRITES (=) its gradients.
//
// Thread mapping:
//  - Per-sample work that runs over the C classes (cross-entropy's smoothing term and its
//    backward, probability targets): ONE WARP PER SAMPLE i = n*S + s, warps grid-striding over the
//    N*S samples; lane l handles classes l, l+32, ... (stride S in memory; contiguous for S == 1)
//    and per-sample sums over classes are combined with __shfl_xor_sync (nncuda::warp_sum).
//  - Work with one value per element (nll backward, mse, the pointwise losses): grid-stride loops,
//    one thread per element.
//  - log_softmax of the logits: softmax_forward_cuda (softmax.cu), the reduced dim being C.
//  - Reductions ('mean'/'sum'): per-sample terms are written as doubles into a scratch buffer and
//    summed by nncuda::device_sum (block sums in a fixed order, then one block over the partials):
//    deterministic, and in double like the CPU. A one-thread finalize kernel applies the same
//    formula as the CPU (mean divides by the total weight, or by N*S for probability targets).
//    Nothing is copied back to the host: the loss and nll_loss's total weight stay on the device.
// Class targets are range-checked by the binding beforehand (loss_find_bad_target_cuda), as are
// binary_cross_entropy's inputs (loss_bce_range_check_cuda); both wait for the device.
// Numerics: per-sample terms and the final formula round like the CPU; the order of the class and
// sample sums differs (warp butterflies, blocks), so float results agree to rounding.
#include <optional>

#include "ops/loss_cuda.h"
#include "ops/nn_cuda_common.cuh"
#include "ops/softmax_cuda.h"

namespace cnnkit {

namespace {
using nncuda::kWarp;

__device__ __forceinline__ int64_t base_of(const LossDims& d, int64_t i) {
  return d.S == 1 ? i * d.C : (i / d.S) * d.C * d.S + i % d.S;
}

template <class scalar_t>
__device__ __forceinline__ double class_weight(const scalar_t* weight, int64_t c) {
  return weight ? static_cast<double>(weight[c]) : 1.0;
}

// Gradient scale of sample i: dloss[i] ('none'), dloss ('sum') or dloss / denom ('mean').
template <class scalar_t>
__device__ __forceinline__ double grad_scale(const scalar_t* dloss, int64_t i, Reduction r, double denom) {
  if (r == Reduction::None) return static_cast<double>(dloss[i]);
  if (r == Reduction::Sum) return static_cast<double>(dloss[0]);
  return static_cast<double>(dloss[0]) / denom;
}

// a * x + b * y with both products rounded, as the CPU evaluates it (no fma contraction).
__device__ __forceinline__ double lin2(double a, double x, double b, double y) {
  return __dadd_rn(__dmul_rn(a, x), __dmul_rn(b, y));
}

// Class targets, one warp per sample. For sample i (t = target[i]):
//   nll = -(logp[t] * w[t]), smooth = -sum_c w[c] * logp[c], w_i = w[t]   (all 0 when ignored)
// 'none': out[i] = smoothed ? (1-ls) * nll + ls/C * smooth : nll. terms (3 arrays of n, or nullptr)
// receive nll, smooth and w_i for a reduction.
template <class scalar_t>
__global__ void class_terms_kernel(scalar_t* __restrict__ out, double* __restrict__ terms,
                                   const scalar_t* __restrict__ logp, const int64_t* __restrict__ target,
                                   const scalar_t* __restrict__ weight, LossDims d, int64_t ignore_index, bool smoothed,
                                   double a, double b) {
  const int64_t n = d.N * d.S;
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = nncuda::global_warp(); i < n; i += nncuda::warp_count()) {
    const int64_t t = target[i];
    const bool ignored = t == ignore_index;
    const scalar_t* lp = logp + base_of(d, i);
    double smooth = 0.0;
    if (smoothed && !ignored) {  // uniform across the warp: every lane takes the same branch
      for (int64_t c = lane; c < d.C; c += kWarp) smooth -= class_weight(weight, c) * static_cast<double>(lp[c * d.S]);
      smooth = nncuda::warp_sum(smooth);
    }
    if (lane != 0) continue;
    const double w = ignored ? 0.0 : class_weight(weight, t);
    const double nll = ignored ? 0.0 : -(static_cast<double>(lp[t * d.S]) * w);
    if (out) out[i] = static_cast<scalar_t>(smoothed ? lin2(a, nll, b, smooth) : nll);
    if (terms) {
      terms[i] = nll;
      terms[n + i] = smooth;
      terms[2 * n + i] = w;
    }
  }
}

// w_i = ignored ? 0 : weight[target[i]], one thread per sample (the total weight of a backward).
template <class scalar_t>
__global__ void weight_terms_kernel(double* __restrict__ terms, const int64_t* __restrict__ target,
                                    const scalar_t* __restrict__ weight, int64_t n, int64_t ignore_index) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t t = target[i];
    terms[i] = t == ignore_index ? 0.0 : class_weight(weight, t);
  }
}

// Probability targets, one warp per sample: term = -sum_c logp[c] * t'[c] * w[c],
// t' = ls > 0 ? t * (1 - ls) + ls / C : t. 'none' writes out[i]; else terms[i].
template <class scalar_t>
__global__ void prob_terms_kernel(scalar_t* __restrict__ out, double* __restrict__ terms,
                                  const scalar_t* __restrict__ logp, const scalar_t* __restrict__ target,
                                  const scalar_t* __restrict__ weight, LossDims d, double ls, double a, double b) {
  const int64_t n = d.N * d.S;
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = nncuda::global_warp(); i < n; i += nncuda::warp_count()) {
    const int64_t base = base_of(d, i);
    double s = 0.0;
    for (int64_t c = lane; c < d.C; c += kWarp) {
      const int64_t k = base + c * d.S;
      const double tc = ls > 0.0 ? __dadd_rn(__dmul_rn(static_cast<double>(target[k]), a), b)
                                 : static_cast<double>(target[k]);
      s -= __dmul_rn(static_cast<double>(logp[k]), tc) * class_weight(weight, c);
    }
    s = nncuda::warp_sum(s);
    if (lane != 0) continue;
    if (out) out[i] = static_cast<scalar_t>(s);
    if (terms) terms[i] = s;
  }
}

// How the finalize kernel turns the sums (nll or per-sample total, smooth, weight) into the loss.
enum class Final : int { Nll, Smoothed, PerSample };

// One thread. sums = {sum of terms 0, sum of terms 1, total weight}; out (one value) or nullptr;
// tw_out (one value) or nullptr; n = number of samples (the 'mean' divisor of Final::PerSample).
template <class scalar_t>
__global__ void finalize_kernel(scalar_t* out, scalar_t* tw_out, const double* sums, Final mode, Reduction r,
                                double a, double b, double n) {
  const double s0 = sums[0], s1 = sums[1], tw = sums[2];
  const bool mean = r == Reduction::Mean;
  if (out) {
    double v;
    if (mode == Final::Nll)
      v = mean ? s0 / tw : s0;
    else if (mode == Final::Smoothed)
      v = mean ? lin2(a, s0 / tw, b, s1 / tw) : lin2(a, s0, b, s1);
    else
      v = mean ? s0 / n : s0;
    out[0] = static_cast<scalar_t>(v);
  }
  if (tw_out) tw_out[0] = static_cast<scalar_t>(tw);
}

// Per-sample log_softmax chain rule, one warp per sample, with dlogp(c) given by a functor:
//   dlogits[c] = dlogp(c) - exp(logp[c]) * sum_c dlogp(c).
// Class targets: dlogp(c) = (c == t ? -g*(1-ls)*w[t] : 0) - g*ls/C*w[c]; ignored samples get 0.
// total_weight (device, one double) is read only for 'mean' (nullptr otherwise).
template <class scalar_t>
__global__ void class_backward_kernel(scalar_t* __restrict__ dlogits, const scalar_t* __restrict__ dloss,
                                      const scalar_t* __restrict__ logp, const int64_t* __restrict__ target,
                                      const scalar_t* __restrict__ weight, LossDims d, int64_t ignore_index,
                                      Reduction r, const double* __restrict__ total_weight, double a, double b) {
  const int64_t n = d.N * d.S;
  const int lane = threadIdx.x % kWarp;
  const double tw = r == Reduction::Mean ? total_weight[0] : 1.0;
  for (int64_t i = nncuda::global_warp(); i < n; i += nncuda::warp_count()) {
    const int64_t base = base_of(d, i);
    const int64_t t = target[i];
    if (t == ignore_index) {
      for (int64_t c = lane; c < d.C; c += kWarp) dlogits[base + c * d.S] = scalar_t(0);
      continue;
    }
    const double g = grad_scale(dloss, i, r, tw);
    const double gt = -g * a * class_weight(weight, t);
    const double gs = -g * b;
    double total = 0.0;
    for (int64_t c = lane; c < d.C; c += kWarp) total += (c == t ? gt : 0.0) + gs * class_weight(weight, c);
    total = nncuda::warp_sum(total);
    for (int64_t c = lane; c < d.C; c += kWarp) {
      const int64_t k = base + c * d.S;
      const double dl = (c == t ? gt : 0.0) + gs * class_weight(weight, c);
      dlogits[k] = static_cast<scalar_t>(dl - static_cast<double>(exp(logp[k])) * total);
    }
  }
}

// Probability targets: dlogp(c) = -g * t'[c] * w[c], g = grad_scale(dloss, i, r, N*S).
template <class scalar_t>
__global__ void prob_backward_kernel(scalar_t* __restrict__ dlogits, const scalar_t* __restrict__ dloss,
                                     const scalar_t* __restrict__ logp, const scalar_t* __restrict__ target,
                                     const scalar_t* __restrict__ weight, LossDims d, Reduction r, double ls,
                                     double a, double b) {
  const int64_t n = d.N * d.S;
  const int lane = threadIdx.x % kWarp;
  for (int64_t i = nncuda::global_warp(); i < n; i += nncuda::warp_count()) {
    const int64_t base = base_of(d, i);
    const double g = grad_scale(dloss, i, r, static_cast<double>(n));
    double total = 0.0;
    for (int64_t c = lane; c < d.C; c += kWarp) {
      const int64_t k = base + c * d.S;
      const double tc = ls > 0.0 ? __dadd_rn(__dmul_rn(static_cast<double>(target[k]), a), b)
                                 : static_cast<double>(target[k]);
      total += -g * tc * class_weight(weight, c);
    }
    total = nncuda::warp_sum(total);
    for (int64_t c = lane; c < d.C; c += kWarp) {
      const int64_t k = base + c * d.S;
      const double tc = ls > 0.0 ? __dadd_rn(__dmul_rn(static_cast<double>(target[k]), a), b)
                                 : static_cast<double>(target[k]);
      const double dl = -g * tc * class_weight(weight, c);
      dlogits[k] = static_cast<scalar_t>(dl - static_cast<double>(exp(logp[k])) * total);
    }
  }
}

// dlogp (N, C, S), one thread per element: -scale * w[t] at the target class, 0 elsewhere.
template <class scalar_t>
__global__ void nll_backward_kernel(scalar_t* __restrict__ dlogp, const scalar_t* __restrict__ dloss,
                                    const int64_t* __restrict__ target, const scalar_t* __restrict__ weight, LossDims d,
                                    int64_t ignore_index, Reduction r, const scalar_t* __restrict__ total_weight) {
  const int64_t total = d.N * d.C * d.S;
  const double tw = r == Reduction::Mean ? static_cast<double>(total_weight[0]) : 1.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const int64_t s = k % d.S, c = (k / d.S) % d.C, nn = k / (d.S * d.C);
    const int64_t i = nn * d.S + s;
    const int64_t t = target[i];
    dlogp[k] = (t != ignore_index && c == t)
                   ? static_cast<scalar_t>(-grad_scale(dloss, i, r, tw) * class_weight(weight, t))
                   : scalar_t(0);
  }
}

// 'none': out[i] = (input - target)^2; else terms[i] = that value in double.
template <class scalar_t>
__global__ void mse_terms_kernel(scalar_t* __restrict__ out, double* __restrict__ terms,
                                 const scalar_t* __restrict__ input, const scalar_t* __restrict__ target, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t diff = input[i] - target[i];
    const scalar_t sq = diff * diff;
    if (out) out[i] = sq;
    if (terms) terms[i] = static_cast<double>(sq);
  }
}

// PyTorch's order: norm * (input - target) * grad, in scalar_t.
template <class scalar_t>
__global__ void mse_backward_kernel(scalar_t* __restrict__ dinput, scalar_t* __restrict__ dtarget,
                                    const scalar_t* __restrict__ dloss, const scalar_t* __restrict__ input,
                                    const scalar_t* __restrict__ target, int64_t n, scalar_t norm, bool per_elem) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t g = norm * (input[i] - target[i]) * dloss[per_elem ? i : 0];
    if (dinput) dinput[i] = g;
    if (dtarget) dtarget[i] = -g;
  }
}

// Device scratch for a reduction over n samples: `arrays` term arrays of n doubles, then the three
// sums, then the partials of device_sum. Freed (returned to the caching allocator) when it goes out
// of scope; the kernels using it are ordered before any later reuse on the same (default) stream.
struct Scratch {
  Tensor t;
  double* terms = nullptr;
  double* sums = nullptr;
  double* part = nullptr;
  Scratch(int64_t n, int arrays, int device) {
    const int64_t nb = nncuda::sum_blocks(n);
    t = Tensor::empty({arrays * n + 3 + nb}, DType::Float64, Device::cuda(device));
    terms = t.data<double>();
    sums = terms + arrays * n;
    part = sums + 3;
  }
};

// sums[k] = sum of terms[k*n .. (k+1)*n) for k < arrays; the remaining sums set to 0.
void sum_arrays(Scratch& s, int64_t n, int arrays, const char* op) {
  for (int k = 0; k < 3; ++k) {
    if (k < arrays) {
      nncuda::device_sum(s.sums + k, s.terms + k * n, n, s.part, op);
    } else {
      CNNKIT_CUDA_CHECK(cudaMemsetAsync(s.sums + k, 0, sizeof(double)), op);
    }
  }
}

// Class-target loss forward shared by nll_loss and cross_entropy (logp already computed).
template <class scalar_t>
void class_loss_forward(scalar_t* out, scalar_t* tw_out, const scalar_t* logp, const int64_t* target,
                        const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r, double ls,
                        int device, const char* op) {
  const int64_t n = d.N * d.S;
  const bool smoothed = ls != 0.0;
  const double a = 1.0 - ls, b = ls / static_cast<double>(d.C);
  const bool reduce = r != Reduction::None;
  if (!reduce && tw_out == nullptr) {
    if (n == 0) return;
    class_terms_kernel<scalar_t>
        <<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(out, nullptr, logp, target, weight, d, ignore_index, smoothed, a, b);
    CNNKIT_CUDA_KERNEL_CHECK(op);
    return;
  }
  Scratch s(n, 3, device);
  if (n > 0) {
    class_terms_kernel<scalar_t><<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(
        reduce ? nullptr : out, s.terms, logp, target, weight, d, ignore_index, smoothed, a, b);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  sum_arrays(s, n, 3, op);
  finalize_kernel<scalar_t><<<1, 1>>>(reduce ? out : nullptr, tw_out, s.sums, smoothed ? Final::Smoothed : Final::Nll,
                                      r, a, b, static_cast<double>(n));
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

// Pointwise losses, one thread per element (grid-stride): 'none' writes out[i], else terms[i]
// (double) for device_sum. Same element formula as the CPU (pointwise_loss_value, loss.h).
template <class scalar_t>
__global__ void pointwise_terms_kernel(scalar_t* __restrict__ out, double* __restrict__ terms,
                                       const scalar_t* __restrict__ input, const scalar_t* __restrict__ target,
                                       const scalar_t* __restrict__ weight, const scalar_t* __restrict__ pos_weight,
                                       int64_t n, PointwiseLoss op, scalar_t param) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t v = pointwise_loss_value<scalar_t>(op, input[i], target[i], weight ? weight[i] : scalar_t(1),
                                                      pos_weight ? pos_weight[i] : scalar_t(1), param);
    if (out) out[i] = v;
    if (terms) terms[i] = static_cast<double>(v);
  }
}

// g = dloss[i] ('none'), dloss[0] ('sum') or dloss[0] / n ('mean', rounded to scalar_t as the CPU).
template <class scalar_t>
__global__ void pointwise_backward_kernel(scalar_t* __restrict__ dinput, scalar_t* __restrict__ dtarget,
                                          const scalar_t* __restrict__ dloss, const scalar_t* __restrict__ input,
                                          const scalar_t* __restrict__ target, const scalar_t* __restrict__ weight,
                                          const scalar_t* __restrict__ pos_weight, int64_t n, PointwiseLoss op,
                                          scalar_t param, Reduction r) {
  const scalar_t g0 = r == Reduction::None   ? scalar_t(0)
                      : r == Reduction::Mean ? static_cast<scalar_t>(static_cast<double>(dloss[0]) / n)
                                             : dloss[0];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t g = r == Reduction::None ? dloss[i] : g0;
    pointwise_loss_grad<scalar_t>(op, input[i], target[i], weight ? weight[i] : scalar_t(1),
                                  pos_weight ? pos_weight[i] : scalar_t(1), param, g, dinput + i,
                                  dtarget ? dtarget + i : nullptr);
  }
}

// flag |= 1 for an input outside [0, 1], |= 2 for a target outside it (NaN fails the test too).
template <class scalar_t>
__global__ void bce_range_kernel(unsigned long long* flag, const scalar_t* __restrict__ input,
                                 const scalar_t* __restrict__ target, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (!(input[i] >= scalar_t(0) && input[i] <= scalar_t(1))) atomicOr(flag, 1ull);
    if (!(target[i] >= scalar_t(0) && target[i] <= scalar_t(1))) atomicOr(flag, 2ull);
  }
}

}  // namespace

template <class scalar_t>
void pointwise_loss_forward_cuda(scalar_t* out, const scalar_t* input, const scalar_t* target,
                                 const scalar_t* weight, const scalar_t* pos_weight, int64_t n, PointwiseLoss op,
                                 double param, Reduction r, int device) {
  const char* op_name = "pointwise_loss";
  CudaDeviceGuard guard(device);
  const scalar_t p = static_cast<scalar_t>(param);
  if (r == Reduction::None) {
    if (n <= 0) return;
    pointwise_terms_kernel<scalar_t>
        <<<blocks_for(n), kThreadsPerBlock>>>(out, nullptr, input, target, weight, pos_weight, n, op, p);
    CNNKIT_CUDA_KERNEL_CHECK(op_name);
    return;
  }
  Scratch s(n, 1, device);
  if (n > 0) {
    pointwise_terms_kernel<scalar_t>
        <<<blocks_for(n), kThreadsPerBlock>>>(nullptr, s.terms, input, target, weight, pos_weight, n, op, p);
    CNNKIT_CUDA_KERNEL_CHECK(op_name);
  }
  sum_arrays(s, n, 1, op_name);
  finalize_kernel<scalar_t><<<1, 1>>>(out, nullptr, s.sums, Final::PerSample, r, 1.0, 0.0, static_cast<double>(n));
  CNNKIT_CUDA_KERNEL_CHECK(op_name);
}

template <class scalar_t>
void pointwise_loss_backward_cuda(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                                  const scalar_t* target, const scalar_t* weight, const scalar_t* pos_weight,
                                  int64_t n, PointwiseLoss op, double param, Reduction r, int device) {
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  pointwise_backward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(
      dinput, dtarget, dloss, input, target, weight, pos_weight, n, op, static_cast<scalar_t>(param), r);
  CNNKIT_CUDA_KERNEL_CHECK("pointwise_loss_backward");
}

template <class scalar_t>
int loss_bce_range_check_cuda(const scalar_t* input, const scalar_t* target, int64_t n, int device) {
  const char* op = "binary_cross_entropy";
  if (n <= 0) return 0;
  CudaDeviceGuard guard(device);
  Tensor flag = Tensor::empty({1}, DType::Int64, Device::cuda(device));
  auto* f = static_cast<unsigned long long*>(flag.data_ptr());
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(f, 0, sizeof(unsigned long long)), op);
  bce_range_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(f, input, target, n);
  CNNKIT_CUDA_KERNEL_CHECK(op);
  unsigned long long host = 0;
  CNNKIT_CUDA_CHECK(cudaMemcpy(&host, f, sizeof(host), cudaMemcpyDeviceToHost), op);
  return (host & 1) ? 1 : (host & 2) ? 2 : 0;
}

template <class scalar_t>
void nll_loss_forward_cuda(scalar_t* out, scalar_t* total_weight_out, const scalar_t* logp, const int64_t* target,
                           const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r, int device) {
  CudaDeviceGuard guard(device);
  class_loss_forward(out, total_weight_out, logp, target, weight, d, ignore_index, r, 0.0, device, "nll_loss");
}

template <class scalar_t>
void nll_loss_backward_cuda(scalar_t* dlogp, const scalar_t* dloss, const int64_t* target, const scalar_t* weight,
                            const LossDims& d, int64_t ignore_index, Reduction r, const scalar_t* total_weight,
                            int device) {
  const int64_t total = d.N * d.C * d.S;
  if (total <= 0) return;
  CudaDeviceGuard guard(device);
  nll_backward_kernel<scalar_t>
      <<<blocks_for(total), kThreadsPerBlock>>>(dlogp, dloss, target, weight, d, ignore_index, r, total_weight);
  CNNKIT_CUDA_KERNEL_CHECK("nll_loss_backward");
}

template <class scalar_t>
void cross_entropy_forward_cuda(scalar_t* out, scalar_t* logp, const scalar_t* logits, const int64_t* target,
                                const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                                double label_smoothing, int device) {
  CudaDeviceGuard guard(device);
  softmax_forward_cuda(logp, logits, d.N, d.C, d.S, /*log=*/true, device);
  class_loss_forward(out, static_cast<scalar_t*>(nullptr), logp, target, weight, d, ignore_index, r, label_smoothing,
                     device, "cross_entropy");
}

template <class scalar_t>
void cross_entropy_backward_cuda(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                 const int64_t* target, const scalar_t* weight, const LossDims& d,
                                 int64_t ignore_index, Reduction r, double label_smoothing, int device) {
  const char* op = "cross_entropy_backward";
  const int64_t n = d.N * d.S;
  if (n <= 0 || d.C <= 0) return;
  CudaDeviceGuard guard(device);
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  // 'mean' needs the total weight: summed on the device into scratch, read by the kernel there.
  std::optional<Scratch> s;
  const double* total_weight = nullptr;
  if (r == Reduction::Mean) {
    s.emplace(n, 1, device);
    weight_terms_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(s->terms, target, weight, n, ignore_index);
    CNNKIT_CUDA_KERNEL_CHECK(op);
    nncuda::device_sum(s->sums, s->terms, n, s->part, op);
    total_weight = s->sums;
  }
  class_backward_kernel<scalar_t><<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(
      dlogits, dloss, logp, target, weight, d, ignore_index, r, total_weight, a, b);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t>
void cross_entropy_prob_forward_cuda(scalar_t* out, scalar_t* logp, const scalar_t* logits, const scalar_t* target,
                                     const scalar_t* weight, const LossDims& d, Reduction r, double label_smoothing,
                                     int device) {
  const char* op = "cross_entropy";
  CudaDeviceGuard guard(device);
  softmax_forward_cuda(logp, logits, d.N, d.C, d.S, /*log=*/true, device);
  const int64_t n = d.N * d.S;
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  if (r == Reduction::None) {
    if (n == 0) return;
    prob_terms_kernel<scalar_t>
        <<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(out, nullptr, logp, target, weight, d, label_smoothing, a, b);
    CNNKIT_CUDA_KERNEL_CHECK(op);
    return;
  }
  Scratch s(n, 1, device);
  if (n > 0) {
    prob_terms_kernel<scalar_t>
        <<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(nullptr, s.terms, logp, target, weight, d, label_smoothing, a, b);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  sum_arrays(s, n, 1, op);
  finalize_kernel<scalar_t><<<1, 1>>>(out, nullptr, s.sums, Final::PerSample, r, a, b, static_cast<double>(n));
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t>
void cross_entropy_prob_backward_cuda(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                      const scalar_t* target, const scalar_t* weight, const LossDims& d, Reduction r,
                                      double label_smoothing, int device) {
  const int64_t n = d.N * d.S;
  if (n <= 0 || d.C <= 0) return;
  CudaDeviceGuard guard(device);
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  prob_backward_kernel<scalar_t><<<nncuda::warp_blocks(n), kThreadsPerBlock>>>(dlogits, dloss, logp, target, weight,
                                                                               d, r, label_smoothing, a, b);
  CNNKIT_CUDA_KERNEL_CHECK("cross_entropy_backward");
}

template <class scalar_t>
void mse_loss_forward_cuda(scalar_t* out, const scalar_t* input, const scalar_t* target, int64_t n, Reduction r,
                           int device) {
  const char* op = "mse_loss";
  CudaDeviceGuard guard(device);
  if (r == Reduction::None) {
    if (n <= 0) return;
    mse_terms_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, nullptr, input, target, n);
    CNNKIT_CUDA_KERNEL_CHECK(op);
    return;
  }
  Scratch s(n, 1, device);
  if (n > 0) {
    mse_terms_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(nullptr, s.terms, input, target, n);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  sum_arrays(s, n, 1, op);
  finalize_kernel<scalar_t><<<1, 1>>>(out, nullptr, s.sums, Final::PerSample, r, 1.0, 0.0, static_cast<double>(n));
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t>
void mse_loss_backward_cuda(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                            const scalar_t* target, int64_t n, Reduction r, int device) {
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  const scalar_t norm = static_cast<scalar_t>(r == Reduction::Mean ? 2.0 / static_cast<double>(n) : 2.0);
  mse_backward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(dinput, dtarget, dloss, input, target, n, norm,
                                                                     r == Reduction::None);
  CNNKIT_CUDA_KERNEL_CHECK("mse_loss_backward");
}

bool loss_find_bad_target_cuda(const int64_t* target, int64_t n, int64_t C, int64_t ignore_index, int device,
                               int64_t* bad_value) {
  CudaDeviceGuard guard(device);
  return nncuda::find_out_of_range(target, n, 0, C, true, ignore_index, device, bad_value, "cross_entropy/nll_loss");
}

#define CNNKIT_INSTANTIATE_LOSS_CUDA(T)                                                                          \
  template void nll_loss_forward_cuda<T>(T*, T*, const T*, const int64_t*, const T*, const LossDims&, int64_t,   \
                                         Reduction, int);                                                       \
  template void nll_loss_backward_cuda<T>(T*, const T*, const int64_t*, const T*, const LossDims&, int64_t,      \
                                          Reduction, const T*, int);                                            \
  template void cross_entropy_forward_cuda<T>(T*, T*, const T*, const int64_t*, const T*, const LossDims&,      \
                                              int64_t, Reduction, double, int);                                 \
  template void cross_entropy_backward_cuda<T>(T*, const T*, const T*, const int64_t*, const T*, const LossDims&, \
                                               int64_t, Reduction, double, int);                                \
  template void cross_entropy_prob_forward_cuda<T>(T*, T*, const T*, const T*, const T*, const LossDims&,       \
                                                   Reduction, double, int);                                     \
  template void cross_entropy_prob_backward_cuda<T>(T*, const T*, const T*, const T*, const T*, const LossDims&, \
                                                    Reduction, double, int);                                    \
  template void mse_loss_forward_cuda<T>(T*, const T*, const T*, int64_t, Reduction, int);                       \
  template void mse_loss_backward_cuda<T>(T*, T*, const T*, const T*, const T*, int64_t, Reduction, int);      \
  template void pointwise_loss_forward_cuda<T>(T*, const T*, const T*, const T*, const T*, int64_t,             \
                                               PointwiseLoss, double, Reduction, int);                          \
  template void pointwise_loss_backward_cuda<T>(T*, T*, const T*, const T*, const T*, const T*, const T*,        \
                                                int64_t, PointwiseLoss, double, Reduction, int);                \
  template int loss_bce_range_check_cuda<T>(const T*, const T*, int64_t, int);
CNNKIT_INSTANTIATE_LOSS_CUDA(float)
CNNKIT_INSTANTIATE_LOSS_CUDA(double)
#undef CNNKIT_INSTANTIATE_LOSS_CUDA

}  // namespace cnnkit
