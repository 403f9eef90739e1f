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
// Every update is an element functor (its arguments from ops/optim_args.h: the arrays and the
// scalars rounded to scalar_t on the host, built by the same code as the CPU twin's, and a
// __device__ operator()(i) with the formula for element i), run by one grid-stride kernel
// (update_kernel) through launch_update.
#include <cmath>

#include "core/cuda_utils.cuh"
#include "ops/optim_args.h"
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

// The element functors: the update's arguments (ops/optim_args.h, the same as the CPU twin's) and
// the formula for element i.
template <class scalar_t>
struct SgdUpdate {
  SgdArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t d = a.maximize ? -a.g[i] : a.g[i];
    if (a.has_wd) d = fma(a.p[i], a.wd, d);
    if (a.has_momentum) {
      const scalar_t v = a.first_step ? d : fma(d, a.one_minus_damp, mul_rn(a.buf[i], a.momentum));
      a.buf[i] = v;
      d = a.nesterov ? fma(v, a.momentum, d) : v;
    }
    a.p[i] = fma(d, a.neg_lr, a.p[i]);
  }
};

// Adam(W), NAdam and RAdam: the weight decay and the moment update of one element, shared.
template <class scalar_t, class Args>
__device__ __forceinline__ void adam_family_moments(const Args& a, int64_t i, scalar_t& pi, scalar_t& d,
                                                    scalar_t& mi, scalar_t& vi) {
  pi = a.p[i];
  d = a.g[i];
  if (a.maximize) d = -d;
  if (a.has_wd) {
    if (a.decoupled) {
      pi = mul_rn(pi, a.decay);
    } else {
      d = fma(pi, a.wd, d);
    }
  }
  mi = lerp_rn(a.m[i], d, a.w1, a.w1m1, a.w1_small);
  a.m[i] = mi;
  vi = add_rn(mul_rn(a.v[i], a.beta2), mul_rn(mul_rn(a.omb2, d), d));
  a.v[i] = vi;
}

template <class scalar_t>
struct AdamUpdate {
  AdamArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t pi, d, mi, vi;
    adam_family_moments(a, i, pi, d, mi, vi);
    if (a.amsgrad) {
      vi = a.vmax[i] < vi ? vi : a.vmax[i];
      a.vmax[i] = vi;
    }
    const scalar_t denom = add_rn(div_rn(sqrt_rn(vi), a.bc2_sqrt), a.eps);
    a.p[i] = add_rn(pi, div_rn(mul_rn(a.neg_step_size, mi), denom));
  }
};

template <class scalar_t>
struct RmspropUpdate {
  RmspropArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t d = a.maximize ? -a.g[i] : a.g[i];
    if (a.has_wd) d = fma(a.p[i], a.wd, d);
    scalar_t q = mul_rn(a.sq[i], a.alpha);
    q = add_rn(q, mul_rn(mul_rn(a.oma, d), d));
    a.sq[i] = q;
    scalar_t avg;
    if (a.centered) {
      const scalar_t gi = lerp_rn(a.ga[i], d, a.oma, a.oma_m1, a.oma_small);
      a.ga[i] = gi;
      avg = sqrt_rn(add_rn(q, mul_rn(-gi, gi)));
    } else {
      avg = sqrt_rn(q);
    }
    avg = add_rn(avg, a.eps);
    if (a.has_momentum) {
      const scalar_t bi = add_rn(mul_rn(a.buf[i], a.momentum), div_rn(d, avg));
      a.buf[i] = bi;
      a.p[i] = fma(bi, a.neg_lr, a.p[i]);
    } else {
      a.p[i] = add_rn(a.p[i], div_rn(mul_rn(a.neg_lr, d), avg));
    }
  }
};

template <class scalar_t>
struct AdagradUpdate {
  AdagradArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t d = a.maximize ? -a.g[i] : a.g[i];
    if (a.has_wd) d = fma(a.p[i], a.wd, d);
    const scalar_t q = add_rn(a.sum[i], mul_rn(d, d));
    a.sum[i] = q;
    const scalar_t std_ = add_rn(sqrt_rn(q), a.eps);
    a.p[i] = add_rn(a.p[i], div_rn(mul_rn(a.neg_clr, d), std_));
  }
};

template <class scalar_t>
struct AdadeltaUpdate {
  AdadeltaArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t d = a.maximize ? -a.g[i] : a.g[i];
    if (a.has_wd) d = fma(a.p[i], a.wd, d);
    scalar_t q = mul_rn(a.sq[i], a.rho);
    q = add_rn(q, mul_rn(mul_rn(a.omr, d), d));
    a.sq[i] = q;
    const scalar_t std_ = sqrt_rn(add_rn(q, a.eps));
    scalar_t delta = sqrt_rn(add_rn(a.acc[i], a.eps));
    delta = mul_rn(div_rn(delta, std_), d);
    a.acc[i] = add_rn(mul_rn(a.acc[i], a.rho), mul_rn(mul_rn(a.omr, delta), delta));
    a.p[i] = fma(delta, a.neg_lr, a.p[i]);
  }
};

template <class scalar_t>
struct AdamaxUpdate {
  AdamaxArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t d = a.maximize ? -a.g[i] : a.g[i];
    if (a.has_wd) d = fma(a.p[i], a.wd, d);
    const scalar_t mi = lerp_rn(a.m[i], d, a.w1, a.w1m1, a.w1_small);
    a.m[i] = mi;
    const scalar_t decayed = mul_rn(a.u[i], a.beta2);
    const scalar_t bound = add_rn(fabs(d), a.eps);
    const scalar_t ui = decayed < bound ? bound : decayed;
    a.u[i] = ui;
    a.p[i] = add_rn(a.p[i], div_rn(mul_rn(a.neg_clr, mi), ui));
  }
};

template <class scalar_t>
struct NadamUpdate {
  NadamArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t pi, d, mi, vi;
    adam_family_moments(a, i, pi, d, mi, vi);
    const scalar_t denom = add_rn(sqrt_rn(div_rn(vi, a.bc2)), a.eps);
    pi = add_rn(pi, div_rn(mul_rn(a.coef_grad, d), denom));
    a.p[i] = add_rn(pi, div_rn(mul_rn(a.coef_avg, mi), denom));
  }
};

template <class scalar_t>
struct RadamUpdate {
  RadamArgs<scalar_t> a;
  __device__ void operator()(int64_t i) const {
    scalar_t pi, d, mi, vi;
    adam_family_moments(a, i, pi, d, mi, vi);
    scalar_t upd = mul_rn(div_rn(mi, a.bc1), a.lr);
    if (a.rectified) {
      const scalar_t adaptive = mul_rn(div_rn(scalar_t(1), add_rn(sqrt_rn(vi), a.eps)), a.bc2_sqrt);
      upd = mul_rn(mul_rn(upd, adaptive), a.rect);
    }
    a.p[i] = add_rn(pi, -upd);
  }
};

}  // namespace

template <class scalar_t>
void sgd_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h, int device) {
  launch_update("sgd_step_", n, device, SgdUpdate<scalar_t>{sgd_args(param, grad, buf, h)});
}

template <class scalar_t>
void adam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                    scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h, int device) {
  launch_update("adam_step_", n, device,
                AdamUpdate<scalar_t>{adam_args(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, h)});
}

template <class scalar_t>
void rmsprop_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                       scalar_t* momentum_buffer, int64_t n, const RmspropParams& h, int device) {
  launch_update("rmsprop_step_", n, device,
                RmspropUpdate<scalar_t>{rmsprop_args(param, grad, square_avg, grad_avg, momentum_buffer, h)});
}

template <class scalar_t>
void adagrad_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h,
                       int device) {
  launch_update("adagrad_step_", n, device, AdagradUpdate<scalar_t>{adagrad_args(param, grad, sum, h)});
}

template <class scalar_t>
void adadelta_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                        const AdadeltaParams& h, int device) {
  launch_update("adadelta_step_", n, device,
                AdadeltaUpdate<scalar_t>{adadelta_args(param, grad, square_avg, acc_delta, h)});
}

template <class scalar_t>
void adamax_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                      const AdamaxParams& h, int device) {
  launch_update("adamax_step_", n, device, AdamaxUpdate<scalar_t>{adamax_args(param, grad, exp_avg, exp_inf, h)});
}

template <class scalar_t>
void nadam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const NadamParams& h, int device) {
  launch_update("nadam_step_", n, device, NadamUpdate<scalar_t>{nadam_args(param, grad, exp_avg, exp_avg_sq, h)});
}

template <class scalar_t>
void radam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const RadamParams& h, int device) {
  launch_update("radam_step_", n, device, RadamUpdate<scalar_t>{radam_args(param, grad, exp_avg, exp_avg_sq, h)});
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
