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
//
// Adam / RMSprop / Adagrad / Adadelta: the same one-thread-per-element grid-stride mapping; every
// separately rounded product, sum, quotient and square root of the CPU twin is an explicit *_rn
// intrinsic (no contraction), every fused one an fma(), so both twins round alike.
#include <cmath>

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
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

// ATen's lerp: weight below 0.5 starts from self, otherwise from end (as lerp_scalar in optim.cpp).
template <class scalar_t>
__device__ __forceinline__ scalar_t lerp_rn(scalar_t self, scalar_t end, scalar_t w, scalar_t w_minus_one,
                                            bool small) {
  const scalar_t diff = end - self;
  return small ? fma(w, diff, self) : fma(w_minus_one, diff, end);
}

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

namespace {

template <class scalar_t>
struct AdamScalarsCuda {
  scalar_t wd, decay, w1, w1m1, beta2, omb2, bc2_sqrt, eps, neg_step_size;
  bool has_wd, decoupled, w1_small, amsgrad, maximize;
};

// param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (n,); vmax touched only when amsgrad.
template <class scalar_t>
__global__ void adam_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g, scalar_t* __restrict__ m,
                                 scalar_t* __restrict__ v, scalar_t* __restrict__ vmax, int64_t n,
                                 AdamScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    scalar_t pi = p[i];
    if (s.has_wd) {
      if (s.decoupled) {
        pi = mul_rn(pi, s.decay);
      } else {
        d = fma(pi, s.wd, d);
      }
    }
    const scalar_t mi = lerp_rn(m[i], d, s.w1, s.w1m1, s.w1_small);
    m[i] = mi;
    scalar_t vi = mul_rn(v[i], s.beta2);
    vi = add_rn(vi, mul_rn(mul_rn(s.omb2, d), d));
    v[i] = vi;
    if (s.amsgrad) {
      vi = vmax[i] < vi ? vi : vmax[i];
      vmax[i] = vi;
    }
    const scalar_t denom = add_rn(div_rn(sqrt_rn(vi), s.bc2_sqrt), s.eps);
    p[i] = add_rn(pi, div_rn(mul_rn(s.neg_step_size, mi), denom));
  }
}

template <class scalar_t>
struct RmspropScalarsCuda {
  scalar_t wd, alpha, oma, oma_m1, eps, momentum, neg_lr;
  bool has_wd, centered, oma_small, has_momentum, maximize;
};

// param, grad, square_avg, grad_avg (if centered), buf (if momentum > 0), all (n,).
template <class scalar_t>
__global__ void rmsprop_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                    scalar_t* __restrict__ sq, scalar_t* __restrict__ ga,
                                    scalar_t* __restrict__ buf, int64_t n, RmspropScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = fma(p[i], s.wd, d);
    scalar_t q = mul_rn(sq[i], s.alpha);
    q = add_rn(q, mul_rn(mul_rn(s.oma, d), d));
    sq[i] = q;
    scalar_t avg;
    if (s.centered) {
      const scalar_t gi = lerp_rn(ga[i], d, s.oma, s.oma_m1, s.oma_small);
      ga[i] = gi;
      avg = sqrt_rn(add_rn(q, mul_rn(-gi, gi)));
    } else {
      avg = sqrt_rn(q);
    }
    avg = add_rn(avg, s.eps);
    if (s.has_momentum) {
      const scalar_t bi = add_rn(mul_rn(buf[i], s.momentum), div_rn(d, avg));
      buf[i] = bi;
      p[i] = fma(bi, s.neg_lr, p[i]);
    } else {
      p[i] = add_rn(p[i], div_rn(mul_rn(s.neg_lr, d), avg));
    }
  }
}

template <class scalar_t>
struct AdagradScalarsCuda {
  scalar_t wd, eps, neg_clr;
  bool has_wd, maximize;
};

template <class scalar_t>
__global__ void adagrad_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                    scalar_t* __restrict__ sum, int64_t n, AdagradScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = fma(p[i], s.wd, d);
    const scalar_t q = add_rn(sum[i], mul_rn(d, d));
    sum[i] = q;
    const scalar_t std_ = add_rn(sqrt_rn(q), s.eps);
    p[i] = add_rn(p[i], div_rn(mul_rn(s.neg_clr, d), std_));
  }
}

template <class scalar_t>
struct AdadeltaScalarsCuda {
  scalar_t wd, rho, omr, eps, neg_lr;
  bool has_wd, maximize;
};

template <class scalar_t>
__global__ void adadelta_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                     scalar_t* __restrict__ sq, scalar_t* __restrict__ acc, int64_t n,
                                     AdadeltaScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = fma(p[i], s.wd, d);
    scalar_t q = mul_rn(sq[i], s.rho);
    q = add_rn(q, mul_rn(mul_rn(s.omr, d), d));
    sq[i] = q;
    const scalar_t std_ = sqrt_rn(add_rn(q, s.eps));
    scalar_t delta = sqrt_rn(add_rn(acc[i], s.eps));
    delta = mul_rn(div_rn(delta, std_), d);
    acc[i] = add_rn(mul_rn(acc[i], s.rho), mul_rn(mul_rn(s.omr, delta), delta));
    p[i] = fma(delta, s.neg_lr, p[i]);
  }
}

template <class scalar_t>
struct AdamaxScalarsCuda {
  scalar_t wd, w1, w1m1, beta2, eps, neg_clr;
  bool has_wd, w1_small, maximize;
};

template <class scalar_t>
__global__ void adamax_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                   scalar_t* __restrict__ m, scalar_t* __restrict__ u, int64_t n,
                                   AdamaxScalarsCuda<scalar_t> s) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = fma(p[i], s.wd, d);
    const scalar_t mi = lerp_rn(m[i], d, s.w1, s.w1m1, s.w1_small);
    m[i] = mi;
    const scalar_t a = mul_rn(u[i], s.beta2);
    const scalar_t b = add_rn(fabs(d), s.eps);
    const scalar_t ui = a < b ? b : a;
    u[i] = ui;
    p[i] = add_rn(p[i], div_rn(mul_rn(s.neg_clr, mi), ui));
  }
}

// NAdam and RAdam: the shared moment update (and weight decay) of one element.
template <class scalar_t>
struct AdamFamilyCuda {
  scalar_t wd, decay, w1, w1m1, beta2, omb2, eps;
  bool has_wd, decoupled, w1_small, maximize;
};

template <class scalar_t>
__device__ __forceinline__ void adam_family_moments(scalar_t& pi, scalar_t& d, scalar_t& mi, scalar_t& vi,
                                                    scalar_t* m, scalar_t* v, int64_t i,
                                                    const AdamFamilyCuda<scalar_t>& s) {
  if (s.maximize) d = -d;
  if (s.has_wd) {
    if (s.decoupled) {
      pi = mul_rn(pi, s.decay);
    } else {
      d = fma(pi, s.wd, d);
    }
  }
  mi = lerp_rn(m[i], d, s.w1, s.w1m1, s.w1_small);
  m[i] = mi;
  vi = add_rn(mul_rn(v[i], s.beta2), mul_rn(mul_rn(s.omb2, d), d));
  v[i] = vi;
}

template <class scalar_t>
__global__ void nadam_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                  scalar_t* __restrict__ m, scalar_t* __restrict__ v, int64_t n,
                                  AdamFamilyCuda<scalar_t> s, scalar_t bc2, scalar_t coef_grad, scalar_t coef_avg) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t pi = p[i], d = g[i], mi, vi;
    adam_family_moments(pi, d, mi, vi, m, v, i, s);
    const scalar_t denom = add_rn(sqrt_rn(div_rn(vi, bc2)), s.eps);
    pi = add_rn(pi, div_rn(mul_rn(coef_grad, d), denom));
    p[i] = add_rn(pi, div_rn(mul_rn(coef_avg, mi), denom));
  }
}

template <class scalar_t>
__global__ void radam_step_kernel(scalar_t* __restrict__ p, const scalar_t* __restrict__ g,
                                  scalar_t* __restrict__ m, scalar_t* __restrict__ v, int64_t n,
                                  AdamFamilyCuda<scalar_t> s, scalar_t bc1, scalar_t bc2_sqrt, scalar_t lr,
                                  scalar_t rect, bool rectified) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    scalar_t pi = p[i], d = g[i], mi, vi;
    adam_family_moments(pi, d, mi, vi, m, v, i, s);
    scalar_t upd = mul_rn(div_rn(mi, bc1), lr);
    if (rectified) {
      const scalar_t adaptive = mul_rn(div_rn(scalar_t(1), add_rn(sqrt_rn(vi), s.eps)), bc2_sqrt);
      upd = mul_rn(mul_rn(upd, adaptive), rect);
    }
    p[i] = add_rn(pi, -upd);
  }
}

template <class scalar_t, class Params>
AdamFamilyCuda<scalar_t> adam_family_scalars(const Params& h) {
  using T = scalar_t;
  AdamFamilyCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.decoupled = h.decoupled_weight_decay;
  s.wd = static_cast<T>(h.weight_decay);
  s.decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
  s.w1 = static_cast<T>(1.0 - h.beta1);
  s.w1m1 = s.w1 - T(1);
  s.w1_small = std::abs(s.w1) < T(0.5);
  s.beta2 = static_cast<T>(h.beta2);
  s.omb2 = static_cast<T>(1.0 - h.beta2);
  s.eps = static_cast<T>(h.eps);
  s.maximize = h.maximize;
  return s;
}

}  // namespace

template <class scalar_t>
void adamax_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                      const AdamaxParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  AdamaxScalarsCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.wd = static_cast<T>(h.weight_decay);
  s.w1 = static_cast<T>(1.0 - h.beta1);
  s.w1m1 = s.w1 - T(1);
  s.w1_small = std::abs(s.w1) < T(0.5);
  s.beta2 = static_cast<T>(h.beta2);
  s.eps = static_cast<T>(h.eps);
  s.neg_clr = static_cast<T>(-(h.lr / (1.0 - std::pow(h.beta1, h.step))));
  s.maximize = h.maximize;
  CudaDeviceGuard guard(device);
  adamax_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, exp_avg, exp_inf, n, s);
  CNNKIT_CUDA_KERNEL_CHECK("adamax_step_");
}

template <class scalar_t>
void nadam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const NadamParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  const AdamFamilyCuda<T> s = adam_family_scalars<T>(h);
  CudaDeviceGuard guard(device);
  nadam_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, exp_avg, exp_avg_sq, n, s,
                                                           static_cast<T>(h.bias_correction2),
                                                           static_cast<T>(h.coef_grad), static_cast<T>(h.coef_avg));
  CNNKIT_CUDA_KERNEL_CHECK("nadam_step_");
}

template <class scalar_t>
void radam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const RadamParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  const AdamFamilyCuda<T> s = adam_family_scalars<T>(h);
  CudaDeviceGuard guard(device);
  radam_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(
      param, grad, exp_avg, exp_avg_sq, n, s, static_cast<T>(h.bias_correction1), static_cast<T>(h.bc2_sqrt),
      static_cast<T>(h.lr), static_cast<T>(h.rect), h.rectified);
  CNNKIT_CUDA_KERNEL_CHECK("radam_step_");
}

template <class scalar_t>
void adam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                    scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  AdamScalarsCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.decoupled = h.decoupled_weight_decay;
  s.wd = static_cast<T>(h.weight_decay);
  s.decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
  s.w1 = static_cast<T>(1.0 - h.beta1);
  s.w1m1 = s.w1 - T(1);
  s.w1_small = std::abs(s.w1) < T(0.5);
  s.beta2 = static_cast<T>(h.beta2);
  s.omb2 = static_cast<T>(1.0 - h.beta2);
  const double bc1 = 1.0 - std::pow(h.beta1, h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, h.step);
  s.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  s.neg_step_size = static_cast<T>(-(h.lr / bc1));
  s.eps = static_cast<T>(h.eps);
  s.amsgrad = h.amsgrad && max_exp_avg_sq != nullptr;
  s.maximize = h.maximize;
  CudaDeviceGuard guard(device);
  adam_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, s);
  CNNKIT_CUDA_KERNEL_CHECK("adam_step_");
}

template <class scalar_t>
void rmsprop_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                       scalar_t* momentum_buffer, int64_t n, const RmspropParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  RmspropScalarsCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.wd = static_cast<T>(h.weight_decay);
  s.alpha = static_cast<T>(h.alpha);
  s.oma = static_cast<T>(1.0 - h.alpha);
  s.oma_m1 = s.oma - T(1);
  s.oma_small = std::abs(s.oma) < T(0.5);
  s.eps = static_cast<T>(h.eps);
  s.momentum = static_cast<T>(h.momentum);
  s.neg_lr = static_cast<T>(-h.lr);
  s.centered = h.centered && grad_avg != nullptr;
  s.has_momentum = h.momentum > 0.0 && momentum_buffer != nullptr;
  s.maximize = h.maximize;
  CudaDeviceGuard guard(device);
  rmsprop_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, square_avg, grad_avg, momentum_buffer, n,
                                                             s);
  CNNKIT_CUDA_KERNEL_CHECK("rmsprop_step_");
}

template <class scalar_t>
void adagrad_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h,
                       int device) {
  if (n <= 0) return;
  using T = scalar_t;
  AdagradScalarsCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.wd = static_cast<T>(h.weight_decay);
  s.eps = static_cast<T>(h.eps);
  s.neg_clr = static_cast<T>(-h.clr);
  s.maximize = h.maximize;
  CudaDeviceGuard guard(device);
  adagrad_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, sum, n, s);
  CNNKIT_CUDA_KERNEL_CHECK("adagrad_step_");
}

template <class scalar_t>
void adadelta_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                        const AdadeltaParams& h, int device) {
  if (n <= 0) return;
  using T = scalar_t;
  AdadeltaScalarsCuda<T> s;
  s.has_wd = h.weight_decay != 0.0;
  s.wd = static_cast<T>(h.weight_decay);
  s.rho = static_cast<T>(h.rho);
  s.omr = static_cast<T>(1.0 - h.rho);
  s.eps = static_cast<T>(h.eps);
  s.neg_lr = static_cast<T>(-h.lr);
  s.maximize = h.maximize;
  CudaDeviceGuard guard(device);
  adadelta_step_kernel<T><<<blocks_for(n), kThreadsPerBlock>>>(param, grad, square_avg, acc_delta, n, s);
  CNNKIT_CUDA_KERNEL_CHECK("adadelta_step_");
}

#define CNNKIT_OPTIM_CUDA_INSTANTIATE(T)                                                                   \
  template void adam_step_cuda<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams&, int);             \
  template void rmsprop_step_cuda<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropParams&, int);       \
  template void adagrad_step_cuda<T>(T*, const T*, T*, int64_t, const AdagradParams&, int);               \
  template void adadelta_step_cuda<T>(T*, const T*, T*, T*, int64_t, const AdadeltaParams&, int);        \
  template void adamax_step_cuda<T>(T*, const T*, T*, T*, int64_t, const AdamaxParams&, int);            \
  template void nadam_step_cuda<T>(T*, const T*, T*, T*, int64_t, const NadamParams&, int);              \
  template void radam_step_cuda<T>(T*, const T*, T*, T*, int64_t, const RadamParams&, int);
CNNKIT_OPTIM_CUDA_INSTANTIATE(float)
CNNKIT_OPTIM_CUDA_INSTANTIATE(double)
#undef CNNKIT_OPTIM_CUDA_INSTANTIATE

template void sgd_step_cuda<float>(float*, const float*, float*, int64_t, const SgdParams&, int);
template void sgd_step_cuda<double>(double*, const double*, double*, int64_t, const SgdParams&, int);

}  // namespace cnnkit
