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
// Adam(W) / RMSprop / Adagrad / Adadelta / Adamax / NAdam / RAdam: the same one-thread-per-element
// grid-stride mapping; every separately rounded product, sum, quotient and square root of the CPU
// twin is an explicit *_rn intrinsic (no contraction), every fused one an fma(), so both twins round alike.
//
// Every update is an element functor (its pointers and the scalars rounded to scalar_t on the host,
// and a __device__ operator()(i) with the formula for element i), run by one grid-stride kernel
// (update_kernel) through launch_update.
#include <cmath>

#include "core/cuda_utils.cuh"
#include "ops/optim_cuda.h"

namespace cnnkit {

namespace {

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

// The one kernel of this file: element i of the update for every i < n, grid-stride.
template <class Update>
__global__ void update_kernel(int64_t n, Update update) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) update(i);
}

template <class Update>
void launch_update(const char* op, int64_t n, int device, const Update& update) {
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  update_kernel<<<blocks_for(n), kThreadsPerBlock>>>(n, update);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

// param, grad, buf (n,); buf is read/written only when has_momentum.
template <class scalar_t>
struct SgdUpdate {
  scalar_t *p, *buf;
  const scalar_t* g;
  scalar_t neg_lr, momentum, one_minus_damp, wd;
  bool has_wd, has_momentum, nesterov, maximize, first_step;

  __device__ void operator()(int64_t i) const {
    scalar_t d = maximize ? -g[i] : g[i];
    if (has_wd) d = fma(p[i], wd, d);
    if (has_momentum) {
      const scalar_t v = first_step ? d : fma(d, one_minus_damp, mul_rn(buf[i], momentum));
      buf[i] = v;
      d = nesterov ? fma(v, momentum, d) : v;
    }
    p[i] = fma(d, neg_lr, p[i]);
  }
};

// Adam(W), NAdam and RAdam: the weight decay and the moment update of one element, shared.
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

// param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq (n,); vmax touched only when amsgrad.
template <class scalar_t>
struct AdamUpdate {
  scalar_t *p, *m, *v, *vmax;
  const scalar_t* g;
  AdamFamilyCuda<scalar_t> s;
  scalar_t bc2_sqrt, neg_step_size;
  bool amsgrad;

  __device__ void operator()(int64_t i) const {
    scalar_t pi = p[i], d = g[i], mi, vi;
    adam_family_moments(pi, d, mi, vi, m, v, i, s);
    if (amsgrad) {
      vi = vmax[i] < vi ? vi : vmax[i];
      vmax[i] = vi;
    }
    const scalar_t denom = add_rn(div_rn(sqrt_rn(vi), bc2_sqrt), s.eps);
    p[i] = add_rn(pi, div_rn(mul_rn(neg_step_size, mi), denom));
  }
};

// param, grad, square_avg, grad_avg (if centered), buf (if has_momentum), all (n,).
template <class scalar_t>
struct RmspropUpdate {
  scalar_t *p, *sq, *ga, *buf;
  const scalar_t* g;
  scalar_t wd, alpha, oma, oma_m1, eps, momentum, neg_lr;
  bool has_wd, centered, oma_small, has_momentum, maximize;

  __device__ void operator()(int64_t i) const {
    scalar_t d = maximize ? -g[i] : g[i];
    if (has_wd) d = fma(p[i], wd, d);
    scalar_t q = mul_rn(sq[i], alpha);
    q = add_rn(q, mul_rn(mul_rn(oma, d), d));
    sq[i] = q;
    scalar_t avg;
    if (centered) {
      const scalar_t gi = lerp_rn(ga[i], d, oma, oma_m1, oma_small);
      ga[i] = gi;
      avg = sqrt_rn(add_rn(q, mul_rn(-gi, gi)));
    } else {
      avg = sqrt_rn(q);
    }
    avg = add_rn(avg, eps);
    if (has_momentum) {
      const scalar_t bi = add_rn(mul_rn(buf[i], momentum), div_rn(d, avg));
      buf[i] = bi;
      p[i] = fma(bi, neg_lr, p[i]);
    } else {
      p[i] = add_rn(p[i], div_rn(mul_rn(neg_lr, d), avg));
    }
  }
};

template <class scalar_t>
struct AdagradUpdate {
  scalar_t *p, *sum;
  const scalar_t* g;
  scalar_t wd, eps, neg_clr;
  bool has_wd, maximize;

  __device__ void operator()(int64_t i) const {
    scalar_t d = maximize ? -g[i] : g[i];
    if (has_wd) d = fma(p[i], wd, d);
    const scalar_t q = add_rn(sum[i], mul_rn(d, d));
    sum[i] = q;
    const scalar_t std_ = add_rn(sqrt_rn(q), eps);
    p[i] = add_rn(p[i], div_rn(mul_rn(neg_clr, d), std_));
  }
};

template <class scalar_t>
struct AdadeltaUpdate {
  scalar_t *p, *sq, *acc;
  const scalar_t* g;
  scalar_t wd, rho, omr, eps, neg_lr;
  bool has_wd, maximize;

  __device__ void operator()(int64_t i) const {
    scalar_t d = maximize ? -g[i] : g[i];
    if (has_wd) d = fma(p[i], wd, d);
    scalar_t q = mul_rn(sq[i], rho);
    q = add_rn(q, mul_rn(mul_rn(omr, d), d));
    sq[i] = q;
    const scalar_t std_ = sqrt_rn(add_rn(q, eps));
    scalar_t delta = sqrt_rn(add_rn(acc[i], eps));
    delta = mul_rn(div_rn(delta, std_), d);
    acc[i] = add_rn(mul_rn(acc[i], rho), mul_rn(mul_rn(omr, delta), delta));
    p[i] = fma(delta, neg_lr, p[i]);
  }
};

template <class scalar_t>
struct AdamaxUpdate {
  scalar_t *p, *m, *u;
  const scalar_t* g;
  scalar_t wd, w1, w1m1, beta2, eps, neg_clr;
  bool has_wd, w1_small, maximize;

  __device__ void operator()(int64_t i) const {
    scalar_t d = maximize ? -g[i] : g[i];
    if (has_wd) d = fma(p[i], wd, d);
    const scalar_t mi = lerp_rn(m[i], d, w1, w1m1, w1_small);
    m[i] = mi;
    const scalar_t a = mul_rn(u[i], beta2);
    const scalar_t b = add_rn(fabs(d), eps);
    const scalar_t ui = a < b ? b : a;
    u[i] = ui;
    p[i] = add_rn(p[i], div_rn(mul_rn(neg_clr, mi), ui));
  }
};

template <class scalar_t>
struct NadamUpdate {
  scalar_t *p, *m, *v;
  const scalar_t* g;
  AdamFamilyCuda<scalar_t> s;
  scalar_t bc2, coef_grad, coef_avg;

  __device__ void operator()(int64_t i) const {
    scalar_t pi = p[i], d = g[i], mi, vi;
    adam_family_moments(pi, d, mi, vi, m, v, i, s);
    const scalar_t denom = add_rn(sqrt_rn(div_rn(vi, bc2)), s.eps);
    pi = add_rn(pi, div_rn(mul_rn(coef_grad, d), denom));
    p[i] = add_rn(pi, div_rn(mul_rn(coef_avg, mi), denom));
  }
};

template <class scalar_t>
struct RadamUpdate {
  scalar_t *p, *m, *v;
  const scalar_t* g;
  AdamFamilyCuda<scalar_t> s;
  scalar_t bc1, bc2_sqrt, lr, rect;
  bool rectified;

  __device__ void operator()(int64_t i) const {
    scalar_t pi = p[i], d = g[i], mi, vi;
    adam_family_moments(pi, d, mi, vi, m, v, i, s);
    scalar_t upd = mul_rn(div_rn(mi, bc1), lr);
    if (rectified) {
      const scalar_t adaptive = mul_rn(div_rn(scalar_t(1), add_rn(sqrt_rn(vi), s.eps)), bc2_sqrt);
      upd = mul_rn(mul_rn(upd, adaptive), rect);
    }
    p[i] = add_rn(pi, -upd);
  }
};

}  // namespace

template <class scalar_t>
void sgd_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h, int device) {
  SgdUpdate<scalar_t> u;
  u.p = param;
  u.g = grad;
  u.buf = buf;
  u.neg_lr = static_cast<scalar_t>(-h.lr);
  u.momentum = static_cast<scalar_t>(h.momentum);
  u.one_minus_damp = static_cast<scalar_t>(1.0 - h.dampening);
  u.wd = static_cast<scalar_t>(h.weight_decay);
  u.has_wd = h.weight_decay != 0.0;
  u.has_momentum = h.momentum != 0.0 && buf != nullptr;
  u.nesterov = h.nesterov;
  u.maximize = h.maximize;
  u.first_step = h.first_step;
  launch_update("sgd_step_", n, device, u);
}

template <class scalar_t>
void adam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                    scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h, int device) {
  using T = scalar_t;
  AdamUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.m = exp_avg;
  u.v = exp_avg_sq;
  u.vmax = max_exp_avg_sq;
  u.s = adam_family_scalars<T>(h);
  const double bc1 = 1.0 - std::pow(h.beta1, h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, h.step);
  u.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  u.neg_step_size = static_cast<T>(-(h.lr / bc1));
  u.amsgrad = h.amsgrad && max_exp_avg_sq != nullptr;
  launch_update("adam_step_", n, device, u);
}

template <class scalar_t>
void rmsprop_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                       scalar_t* momentum_buffer, int64_t n, const RmspropParams& h, int device) {
  using T = scalar_t;
  RmspropUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.sq = square_avg;
  u.ga = grad_avg;
  u.buf = momentum_buffer;
  u.has_wd = h.weight_decay != 0.0;
  u.wd = static_cast<T>(h.weight_decay);
  u.alpha = static_cast<T>(h.alpha);
  u.oma = static_cast<T>(1.0 - h.alpha);
  u.oma_m1 = u.oma - T(1);
  u.oma_small = std::abs(u.oma) < T(0.5);
  u.eps = static_cast<T>(h.eps);
  u.momentum = static_cast<T>(h.momentum);
  u.neg_lr = static_cast<T>(-h.lr);
  u.centered = h.centered && grad_avg != nullptr;
  u.has_momentum = h.momentum > 0.0 && momentum_buffer != nullptr;
  u.maximize = h.maximize;
  launch_update("rmsprop_step_", n, device, u);
}

template <class scalar_t>
void adagrad_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h,
                       int device) {
  using T = scalar_t;
  AdagradUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.sum = sum;
  u.has_wd = h.weight_decay != 0.0;
  u.wd = static_cast<T>(h.weight_decay);
  u.eps = static_cast<T>(h.eps);
  u.neg_clr = static_cast<T>(-h.clr);
  u.maximize = h.maximize;
  launch_update("adagrad_step_", n, device, u);
}

template <class scalar_t>
void adadelta_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                        const AdadeltaParams& h, int device) {
  using T = scalar_t;
  AdadeltaUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.sq = square_avg;
  u.acc = acc_delta;
  u.has_wd = h.weight_decay != 0.0;
  u.wd = static_cast<T>(h.weight_decay);
  u.rho = static_cast<T>(h.rho);
  u.omr = static_cast<T>(1.0 - h.rho);
  u.eps = static_cast<T>(h.eps);
  u.neg_lr = static_cast<T>(-h.lr);
  u.maximize = h.maximize;
  launch_update("adadelta_step_", n, device, u);
}

template <class scalar_t>
void adamax_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                      const AdamaxParams& h, int device) {
  using T = scalar_t;
  AdamaxUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.m = exp_avg;
  u.u = exp_inf;
  u.has_wd = h.weight_decay != 0.0;
  u.wd = static_cast<T>(h.weight_decay);
  u.w1 = static_cast<T>(1.0 - h.beta1);
  u.w1m1 = u.w1 - T(1);
  u.w1_small = std::abs(u.w1) < T(0.5);
  u.beta2 = static_cast<T>(h.beta2);
  u.eps = static_cast<T>(h.eps);
  u.neg_clr = static_cast<T>(-(h.lr / (1.0 - std::pow(h.beta1, h.step))));
  u.maximize = h.maximize;
  launch_update("adamax_step_", n, device, u);
}

template <class scalar_t>
void nadam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const NadamParams& h, int device) {
  using T = scalar_t;
  NadamUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.m = exp_avg;
  u.v = exp_avg_sq;
  u.s = adam_family_scalars<T>(h);
  u.bc2 = static_cast<T>(h.bias_correction2);
  u.coef_grad = static_cast<T>(h.coef_grad);
  u.coef_avg = static_cast<T>(h.coef_avg);
  launch_update("nadam_step_", n, device, u);
}

template <class scalar_t>
void radam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const RadamParams& h, int device) {
  using T = scalar_t;
  RadamUpdate<T> u;
  u.p = param;
  u.g = grad;
  u.m = exp_avg;
  u.v = exp_avg_sq;
  u.s = adam_family_scalars<T>(h);
  u.bc1 = static_cast<T>(h.bias_correction1);
  u.bc2_sqrt = static_cast<T>(h.bc2_sqrt);
  u.lr = static_cast<T>(h.lr);
  u.rect = static_cast<T>(h.rect);
  u.rectified = h.rectified;
  launch_update("radam_step_", n, device, u);
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
