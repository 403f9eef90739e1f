// Optimizer update kernels, CPU. Updates param (and the momentum buffer) IN PLACE.
//
// Bit-exactness with PyTorch: torch.optim.SGD runs a sequence of tensor ops, each rounding to
// scalar_t once, with its Python-float hyperparameters converted to scalar_t:
//   neg = -grad;  add(a, b, alpha) = fma(b, alpha, a)  (ATen's vectorised add is vec::fmadd,
//   and its scalar tail is contracted to an FMA too on AVX2 builds);  mul_(m) = buf * m.
// Each element here performs the same roundings in the same order with std::fma, so the result
// is identical to the last bit (checked against torch in tests/test_sgd_kernel.py).
//
// std::fma is a library call unless the compiler may emit the FMA instruction; the wheel is
// built for baseline x86-64, so the loop is compiled twice, once with target("fma"), and the
// FMA clone is chosen at run time when the CPU has it. Both clones compute the same (correctly
// rounded) values; the clone only makes it fast.
// Threads: parallel_for over contiguous element ranges; every element is independent.
//
// Adam, RMSprop, Adagrad, Adadelta: one pass per element over param, grad and the state arrays,
// each rounding placed as in torch's single-tensor path (see optim.h). std::sqrt must not set errno
// for the loops to vectorise (sqrt of a negative can only come from a NaN/negative state anyway),
// hence no-math-errno for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "fp-contract=off")
#endif
#include "ops/optim.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrain = 1 << 15;

// Hyperparameters rounded to scalar_t, as PyTorch's kernels see them.
template <class scalar_t>
struct SgdScalars {
  scalar_t neg_lr, momentum, one_minus_damp, wd;
  bool has_wd, has_momentum, nesterov, maximize, first_step;
};

template <class scalar_t>
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void sgd_range(scalar_t* p, const scalar_t* g, scalar_t* buf, int64_t b, int64_t e,
                      const SgdScalars<scalar_t>& s) {
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = s.maximize ? -g[i] : g[i];
    if (s.has_wd) d = std::fma(p[i], s.wd, d);
    if (s.has_momentum) {
      const scalar_t v = s.first_step ? d : std::fma(d, s.one_minus_damp, buf[i] * s.momentum);
      buf[i] = v;
      d = s.nesterov ? std::fma(v, s.momentum, d) : v;
    }
    p[i] = std::fma(d, s.neg_lr, p[i]);
  }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define CNNKIT_SGD_FMA_CLONE 1
__attribute__((target("fma"))) void sgd_range_fma(float* p, const float* g, float* buf, int64_t b, int64_t e,
                                                  const SgdScalars<float>& s) {
  sgd_range(p, g, buf, b, e, s);
}
__attribute__((target("fma"))) void sgd_range_fma(double* p, const double* g, double* buf, int64_t b, int64_t e,
                                                  const SgdScalars<double>& s) {
  sgd_range(p, g, buf, b, e, s);
}
bool cpu_has_fma() {
  static const bool has = __builtin_cpu_supports("fma");
  return has;
}
#endif
}  // namespace

template <class scalar_t>
void sgd_step(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h) {
  SgdScalars<scalar_t> s;
  s.neg_lr = static_cast<scalar_t>(-h.lr);
  s.momentum = static_cast<scalar_t>(h.momentum);
  s.one_minus_damp = static_cast<scalar_t>(1.0 - h.dampening);
  s.wd = static_cast<scalar_t>(h.weight_decay);
  s.has_wd = h.weight_decay != 0.0;
  s.has_momentum = h.momentum != 0.0;
  s.nesterov = h.nesterov;
  s.maximize = h.maximize;
  s.first_step = h.first_step;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
#ifdef CNNKIT_SGD_FMA_CLONE
    if (cpu_has_fma()) {
      sgd_range_fma(param, grad, buf, b, e, s);
      return;
    }
#endif
    sgd_range(param, grad, buf, b, e, s);
  });
}

namespace {

#if defined(__GNUC__)
#define CNNKIT_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define CNNKIT_ALWAYS_INLINE inline
#endif

// ATen's lerp (LerpKernel.cpp): weight below 0.5 starts from self, otherwise from end.
template <class scalar_t>
CNNKIT_ALWAYS_INLINE scalar_t lerp_scalar(scalar_t self, scalar_t end, scalar_t w, scalar_t w_minus_one,
                                          bool small) {
  const scalar_t diff = end - self;
  return small ? std::fma(w, diff, self) : std::fma(w_minus_one, diff, end);
}

template <class scalar_t>
struct AdamArgs {
  scalar_t *p, *m, *v, *vmax;
  const scalar_t* g;
  scalar_t wd, decay, w1, w1m1, beta2, omb2, bc2_sqrt, eps, neg_step_size;
  bool has_wd, decoupled, w1_small, amsgrad, maximize;
};

template <class scalar_t>
CNNKIT_ALWAYS_INLINE void adam_range(const AdamArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ m = a.m;
  scalar_t* __restrict__ v = a.v;
  scalar_t* __restrict__ vmax = a.vmax;
  const scalar_t* __restrict__ g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    scalar_t pi = p[i];
    if (a.has_wd) {
      if (a.decoupled) {
        pi = pi * a.decay;
      } else {
        d = std::fma(pi, a.wd, d);
      }
    }
    const scalar_t mi = lerp_scalar(m[i], d, a.w1, a.w1m1, a.w1_small);
    m[i] = mi;
    scalar_t vi = v[i] * a.beta2;
    vi = vi + a.omb2 * d * d;
    v[i] = vi;
    if (a.amsgrad) {
      vi = std::max(vmax[i], vi);
      vmax[i] = vi;
    }
    const scalar_t denom = std::sqrt(vi) / a.bc2_sqrt + a.eps;
    p[i] = pi + a.neg_step_size * mi / denom;
  }
}

template <class scalar_t>
struct RmspropArgs {
  scalar_t *p, *sq, *ga, *buf;
  const scalar_t* g;
  scalar_t wd, alpha, oma, oma_m1, eps, momentum, neg_lr;
  bool has_wd, centered, oma_small, has_momentum, maximize;
};

template <class scalar_t>
CNNKIT_ALWAYS_INLINE void rmsprop_range(const RmspropArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ sq = a.sq;
  scalar_t* __restrict__ ga = a.ga;
  scalar_t* __restrict__ buf = a.buf;
  const scalar_t* __restrict__ g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    if (a.has_wd) d = std::fma(p[i], a.wd, d);
    scalar_t s = sq[i] * a.alpha;
    s = s + a.oma * d * d;
    sq[i] = s;
    scalar_t avg;
    if (a.centered) {
      const scalar_t gi = lerp_scalar(ga[i], d, a.oma, a.oma_m1, a.oma_small);
      ga[i] = gi;
      avg = std::sqrt(s + scalar_t(-1) * gi * gi);
    } else {
      avg = std::sqrt(s);
    }
    avg = avg + a.eps;
    if (a.has_momentum) {
      scalar_t bi = buf[i] * a.momentum;
      bi = bi + d / avg;
      buf[i] = bi;
      p[i] = std::fma(bi, a.neg_lr, p[i]);
    } else {
      p[i] = p[i] + a.neg_lr * d / avg;
    }
  }
}

template <class scalar_t>
struct AdagradArgs {
  scalar_t *p, *sum;
  const scalar_t* g;
  scalar_t wd, eps, neg_clr;
  bool has_wd, maximize;
};

template <class scalar_t>
CNNKIT_ALWAYS_INLINE void adagrad_range(const AdagradArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ sum = a.sum;
  const scalar_t* __restrict__ g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    if (a.has_wd) d = std::fma(p[i], a.wd, d);
    const scalar_t s = sum[i] + d * d;
    sum[i] = s;
    const scalar_t std_ = std::sqrt(s) + a.eps;
    p[i] = p[i] + a.neg_clr * d / std_;
  }
}

template <class scalar_t>
struct AdadeltaArgs {
  scalar_t *p, *sq, *acc;
  const scalar_t* g;
  scalar_t wd, rho, omr, eps, neg_lr;
  bool has_wd, maximize;
};

template <class scalar_t>
CNNKIT_ALWAYS_INLINE void adadelta_range(const AdadeltaArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ sq = a.sq;
  scalar_t* __restrict__ acc = a.acc;
  const scalar_t* __restrict__ g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    if (a.has_wd) d = std::fma(p[i], a.wd, d);
    scalar_t s = sq[i] * a.rho;
    s = s + a.omr * d * d;
    sq[i] = s;
    const scalar_t std_ = std::sqrt(s + a.eps);
    scalar_t delta = std::sqrt(acc[i] + a.eps);
    delta = delta / std_;
    delta = delta * d;
    scalar_t ac = acc[i] * a.rho;
    ac = ac + a.omr * delta * delta;
    acc[i] = ac;
    p[i] = std::fma(delta, a.neg_lr, p[i]);
  }
}

// One FMA clone per (kernel, dtype), chosen at run time like sgd_range_fma above.
#ifdef CNNKIT_SGD_FMA_CLONE
#define CNNKIT_OPTIM_FMA_CLONE(NAME, ARGS)                                                            \
  __attribute__((target("fma"))) void NAME##_fma(const ARGS<float>& a, int64_t b, int64_t e) {   \
    NAME(a, b, e);                                                                                \
  }                                                                                               \
  __attribute__((target("fma"))) void NAME##_fma(const ARGS<double>& a, int64_t b, int64_t e) {  \
    NAME(a, b, e);                                                                                \
  }
CNNKIT_OPTIM_FMA_CLONE(adam_range, AdamArgs)
CNNKIT_OPTIM_FMA_CLONE(rmsprop_range, RmspropArgs)
CNNKIT_OPTIM_FMA_CLONE(adagrad_range, AdagradArgs)
CNNKIT_OPTIM_FMA_CLONE(adadelta_range, AdadeltaArgs)
#undef CNNKIT_OPTIM_FMA_CLONE
#define CNNKIT_OPTIM_RUN(NAME, a, n)                  \
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { \
    if (cpu_has_fma()) {                              \
      NAME##_fma(a, b, e);                            \
    } else {                                          \
      NAME(a, b, e);                                  \
    }                                                 \
  })
#else
#define CNNKIT_OPTIM_RUN(NAME, a, n) parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { NAME(a, b, e); })
#endif

}  // namespace

template <class scalar_t>
void adam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
               scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h) {
  using T = scalar_t;
  AdamArgs<T> a;
  a.p = param;
  a.g = grad;
  a.m = exp_avg;
  a.v = exp_avg_sq;
  a.vmax = max_exp_avg_sq;
  a.has_wd = h.weight_decay != 0.0;
  a.decoupled = h.decoupled_weight_decay;
  a.wd = static_cast<T>(h.weight_decay);
  a.decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
  a.w1 = static_cast<T>(1.0 - h.beta1);
  a.w1m1 = a.w1 - T(1);
  a.w1_small = std::abs(a.w1) < T(0.5);
  a.beta2 = static_cast<T>(h.beta2);
  a.omb2 = static_cast<T>(1.0 - h.beta2);
  // torch: bias corrections, step size and sqrt(bias_correction2) are Python floats (double).
  const double bc1 = 1.0 - std::pow(h.beta1, h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, h.step);
  a.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  a.neg_step_size = static_cast<T>(-(h.lr / bc1));
  a.eps = static_cast<T>(h.eps);
  a.amsgrad = h.amsgrad;
  a.maximize = h.maximize;
  CNNKIT_OPTIM_RUN(adam_range, a, n);
}

template <class scalar_t>
void rmsprop_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                  scalar_t* momentum_buffer, int64_t n, const RmspropParams& h) {
  using T = scalar_t;
  RmspropArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sq = square_avg;
  a.ga = grad_avg;
  a.buf = momentum_buffer;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.alpha = static_cast<T>(h.alpha);
  a.oma = static_cast<T>(1.0 - h.alpha);
  a.oma_m1 = a.oma - T(1);
  a.oma_small = std::abs(a.oma) < T(0.5);
  a.eps = static_cast<T>(h.eps);
  a.momentum = static_cast<T>(h.momentum);
  a.neg_lr = static_cast<T>(-h.lr);
  a.centered = h.centered;
  a.has_momentum = h.momentum > 0.0;
  a.maximize = h.maximize;
  CNNKIT_OPTIM_RUN(rmsprop_range, a, n);
}

template <class scalar_t>
void adagrad_step(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h) {
  using T = scalar_t;
  AdagradArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sum = sum;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.eps = static_cast<T>(h.eps);
  a.neg_clr = static_cast<T>(-h.clr);
  a.maximize = h.maximize;
  CNNKIT_OPTIM_RUN(adagrad_range, a, n);
}

template <class scalar_t>
void adadelta_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                   const AdadeltaParams& h) {
  using T = scalar_t;
  AdadeltaArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sq = square_avg;
  a.acc = acc_delta;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.rho = static_cast<T>(h.rho);
  a.omr = static_cast<T>(1.0 - h.rho);
  a.eps = static_cast<T>(h.eps);
  a.neg_lr = static_cast<T>(-h.lr);
  a.maximize = h.maximize;
  CNNKIT_OPTIM_RUN(adadelta_range, a, n);
}
#undef CNNKIT_OPTIM_RUN

#define CNNKIT_OPTIM_INSTANTIATE(T)                                                                 \
  template void adam_step<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams&);                \
  template void rmsprop_step<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropParams&);          \
  template void adagrad_step<T>(T*, const T*, T*, int64_t, const AdagradParams&);                  \
  template void adadelta_step<T>(T*, const T*, T*, T*, int64_t, const AdadeltaParams&);
CNNKIT_OPTIM_INSTANTIATE(float)
CNNKIT_OPTIM_INSTANTIATE(double)
#undef CNNKIT_OPTIM_INSTANTIATE

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdParams&);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdParams&);

}  // namespace cnnkit
