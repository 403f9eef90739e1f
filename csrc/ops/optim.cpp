// Optimizer update kernels, CPU. They update param and the optimizer state IN PLACE.
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
// Adam(W), RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam: one pass per element over param, grad
// and the state arrays, each rounding placed as in torch's single-tensor path (see optim.h).
// Every update's arguments (arrays + hyperparameters rounded to scalar_t) come from ops/optim_args.h,
// shared with the CUDA twins.
// fp-contract=off for this file: a product and a sum that torch rounds separately (addcmul_,
// addcdiv_) must not be fused into an FMA by the compiler inside the target("fma") clones; the
// fused ones are explicit std::fma.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "ops/optim.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "ops/optim_args.h"
#include "ops/simd.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrain = 1 << 15;

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define CNNKIT_OPTIM_FMA_CLONES 1
bool cpu_has_fma() {
  static const bool has = __builtin_cpu_supports("fma");
  return has;
}
#endif

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
CNNKIT_ALWAYS_INLINE void sgd_range(const SgdArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* p = a.p;
  scalar_t* buf = a.buf;
  const scalar_t* g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    if (a.has_wd) d = std::fma(p[i], a.wd, d);
    if (a.has_momentum) {
      const scalar_t v = a.first_step ? d : std::fma(d, a.one_minus_damp, buf[i] * a.momentum);
      buf[i] = v;
      d = a.nesterov ? std::fma(v, a.momentum, d) : v;
    }
    p[i] = std::fma(d, a.neg_lr, p[i]);
  }
}

// Adam, NAdam and RAdam share the first half of an element's update: d = the (negated) gradient,
// weight decay (L2 into d, or decoupled into pi = the decayed param), then both moments, stored.
template <class scalar_t, class Args>
CNNKIT_ALWAYS_INLINE void adam_moments(const Args& a, int64_t i, scalar_t& pi, scalar_t& d, scalar_t& mi,
                                       scalar_t& vi) {
  d = a.maximize ? -a.g[i] : a.g[i];
  pi = a.p[i];
  if (a.has_wd) {
    if (a.decoupled) {
      pi = pi * a.decay;
    } else {
      d = std::fma(pi, a.wd, d);
    }
  }
  mi = lerp_scalar(a.m[i], d, a.w1, a.w1m1, a.w1_small);
  a.m[i] = mi;
  vi = a.v[i] * a.beta2;
  vi = vi + a.omb2 * d * d;
  a.v[i] = vi;
}


template <class scalar_t>
CNNKIT_ALWAYS_INLINE void adam_range(const AdamArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ vmax = a.vmax;
  for (int64_t i = b; i < e; ++i) {
    scalar_t pi, d, mi, vi;
    adam_moments(a, i, pi, d, mi, vi);
    if (a.amsgrad) {
      vi = std::max(vmax[i], vi);
      vmax[i] = vi;
    }
    const scalar_t denom = std::sqrt(vi) / a.bc2_sqrt + a.eps;
    p[i] = pi + a.neg_step_size * mi / denom;
  }
}


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


template <class scalar_t>
CNNKIT_ALWAYS_INLINE void adamax_range(const AdamaxArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  scalar_t* __restrict__ m = a.m;
  scalar_t* __restrict__ u = a.u;
  const scalar_t* __restrict__ g = a.g;
  for (int64_t i = b; i < e; ++i) {
    scalar_t d = a.maximize ? -g[i] : g[i];
    if (a.has_wd) d = std::fma(p[i], a.wd, d);
    const scalar_t mi = lerp_scalar(m[i], d, a.w1, a.w1m1, a.w1_small);
    m[i] = mi;
    const scalar_t ui = std::max(u[i] * a.beta2, std::abs(d) + a.eps);
    u[i] = ui;
    p[i] = p[i] + a.neg_clr * mi / ui;
  }
}


template <class scalar_t>
CNNKIT_ALWAYS_INLINE void nadam_range(const NadamArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  for (int64_t i = b; i < e; ++i) {
    scalar_t pi, d, mi, vi;
    adam_moments(a, i, pi, d, mi, vi);
    const scalar_t denom = std::sqrt(vi / a.bc2) + a.eps;
    pi = pi + a.coef_grad * d / denom;
    p[i] = pi + a.coef_avg * mi / denom;
  }
}


template <class scalar_t>
CNNKIT_ALWAYS_INLINE void radam_range(const RadamArgs<scalar_t>& a, int64_t b, int64_t e) {
  scalar_t* __restrict__ p = a.p;
  for (int64_t i = b; i < e; ++i) {
    scalar_t pi, d, mi, vi;
    adam_moments(a, i, pi, d, mi, vi);
    scalar_t upd = mi / a.bc1 * a.lr;
    if (a.rectified) {
      const scalar_t adaptive = scalar_t(1) / (std::sqrt(vi) + a.eps) * a.bc2_sqrt;
      upd = upd * adaptive * a.rect;
    }
    p[i] = pi - upd;
  }
}

// The AVX2 paths. The range functions above are the portable reference (they do not vectorise: a
// loop with std::sqrt keeps its errno branch without -fno-math-errno). Below, each update is written
// once as an element function over a generic type E (a scalar or a vector of 8 floats / 4 doubles)
// and compiled for AVX2+FMA; the range loop runs it on full vectors and then on the scalar tail.
// Vector add/sub/mul/div/sqrt are correctly rounded like the scalar ones and fma is fused in both, so
// the vector and scalar lanes (and the portable path) give the same bits.
#if CNNKIT_HAVE_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace vec {

struct F8 {
  __m256 v;
};
struct D4 {
  __m256d v;
};
template <class T>
struct Of;
template <>
struct Of<float> {
  using type = F8;
  static constexpr int lanes = 8;
};
template <>
struct Of<double> {
  using type = D4;
  static constexpr int lanes = 4;
};

inline F8 operator+(F8 a, F8 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline F8 operator-(F8 a, F8 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline F8 operator*(F8 a, F8 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline F8 operator/(F8 a, F8 b) { return {_mm256_div_ps(a.v, b.v)}; }
inline F8 operator-(F8 a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
inline F8 vfma(F8 a, F8 b, F8 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline F8 vsqrt(F8 a) { return {_mm256_sqrt_ps(a.v)}; }
// (a < b) ? b : a, as std::max(a, b): max_ps returns its second operand when the compare is false
inline F8 vmax(F8 a, F8 b) { return {_mm256_max_ps(b.v, a.v)}; }
inline F8 vabs(F8 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline F8 loadv(F8*, const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, F8 a) { _mm256_storeu_ps(p, a.v); }
inline F8 bcast(F8*, float x) { return {_mm256_set1_ps(x)}; }

inline D4 operator+(D4 a, D4 b) { return {_mm256_add_pd(a.v, b.v)}; }
inline D4 operator-(D4 a, D4 b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline D4 operator*(D4 a, D4 b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline D4 operator/(D4 a, D4 b) { return {_mm256_div_pd(a.v, b.v)}; }
inline D4 operator-(D4 a) { return {_mm256_xor_pd(a.v, _mm256_set1_pd(-0.0))}; }
inline D4 vfma(D4 a, D4 b, D4 c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
inline D4 vsqrt(D4 a) { return {_mm256_sqrt_pd(a.v)}; }
inline D4 vmax(D4 a, D4 b) { return {_mm256_max_pd(b.v, a.v)}; }
inline D4 vabs(D4 a) { return {_mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v)}; }
inline D4 loadv(D4*, const double* p) { return {_mm256_loadu_pd(p)}; }
inline void store(double* p, D4 a) { _mm256_storeu_pd(p, a.v); }
inline D4 bcast(D4*, double x) { return {_mm256_set1_pd(x)}; }

template <class T>
inline T vfma(T a, T b, T c) {
  return std::fma(a, b, c);
}
template <class T>
inline T vsqrt(T a) {
  return std::sqrt(a);
}
template <class T>
inline T vmax(T a, T b) {
  return std::max(a, b);
}
template <class T>
inline T vabs(T a) {
  return std::abs(a);
}
inline float loadv(float*, const float* p) { return *p; }
inline double loadv(double*, const double* p) { return *p; }
template <class E, class T>
inline E ld(const T* p) {
  return loadv(static_cast<E*>(nullptr), p);
}
template <class T>
inline void store(T* p, T a) {
  *p = a;
}
inline float bcast(float*, float x) { return x; }
inline double bcast(double*, double x) { return x; }
template <class E, class T>
inline E bc(T x) {
  return bcast(static_cast<E*>(nullptr), x);
}

template <class E>
inline E lerp(E self, E end, E w, E w_minus_one, bool small) {
  const E diff = end - self;
  return small ? vfma(w, diff, self) : vfma(w_minus_one, diff, end);
}

// Element functions: the same expressions as the portable range functions above.
// The first half of Adam, NAdam and RAdam, as adam_moments above.
template <class E, class T, class Args>
inline void adam_family_moments(const Args& a, int64_t i, E& pi, E& d, E& mi, E& vi) {
  d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  pi = ld<E>(a.p + i);
  if (a.has_wd) {
    if (a.decoupled) {
      pi = pi * bc<E>(a.decay);
    } else {
      d = vfma(pi, bc<E>(a.wd), d);
    }
  }
  mi = lerp(ld<E>(a.m + i), d, bc<E>(a.w1), bc<E>(a.w1m1), a.w1_small);
  store(a.m + i, mi);
  vi = ld<E>(a.v + i) * bc<E>(a.beta2);
  vi = vi + bc<E>(a.omb2) * d * d;
  store(a.v + i, vi);
}

template <class E, class T>
inline void adam_elem(const AdamArgs<T>& a, int64_t i) {
  E pi, d, mi, vi;
  adam_family_moments<E, T>(a, i, pi, d, mi, vi);
  if (a.amsgrad) {
    vi = vmax(ld<E>(a.vmax + i), vi);
    store(a.vmax + i, vi);
  }
  const E denom = vsqrt(vi) / bc<E>(a.bc2_sqrt) + bc<E>(a.eps);
  store(a.p + i, pi + bc<E>(a.neg_step_size) * mi / denom);
}

template <class E, class T>
inline void rmsprop_elem(const RmspropArgs<T>& a, int64_t i) {
  E d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  const E pi = ld<E>(a.p + i);
  if (a.has_wd) d = vfma(pi, bc<E>(a.wd), d);
  E s = ld<E>(a.sq + i) * bc<E>(a.alpha);
  s = s + bc<E>(a.oma) * d * d;
  store(a.sq + i, s);
  E avg;
  if (a.centered) {
    const E gi = lerp(ld<E>(a.ga + i), d, bc<E>(a.oma), bc<E>(a.oma_m1), a.oma_small);
    store(a.ga + i, gi);
    avg = vsqrt(s + bc<E>(T(-1)) * gi * gi);
  } else {
    avg = vsqrt(s);
  }
  avg = avg + bc<E>(a.eps);
  if (a.has_momentum) {
    E bi = ld<E>(a.buf + i) * bc<E>(a.momentum);
    bi = bi + d / avg;
    store(a.buf + i, bi);
    store(a.p + i, vfma(bi, bc<E>(a.neg_lr), pi));
  } else {
    store(a.p + i, pi + bc<E>(a.neg_lr) * d / avg);
  }
}

template <class E, class T>
inline void adagrad_elem(const AdagradArgs<T>& a, int64_t i) {
  E d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  const E pi = ld<E>(a.p + i);
  if (a.has_wd) d = vfma(pi, bc<E>(a.wd), d);
  const E s = ld<E>(a.sum + i) + d * d;
  store(a.sum + i, s);
  const E std_ = vsqrt(s) + bc<E>(a.eps);
  store(a.p + i, pi + bc<E>(a.neg_clr) * d / std_);
}

template <class E, class T>
inline void adadelta_elem(const AdadeltaArgs<T>& a, int64_t i) {
  E d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  const E pi = ld<E>(a.p + i);
  if (a.has_wd) d = vfma(pi, bc<E>(a.wd), d);
  E s = ld<E>(a.sq + i) * bc<E>(a.rho);
  s = s + bc<E>(a.omr) * d * d;
  store(a.sq + i, s);
  const E std_ = vsqrt(s + bc<E>(a.eps));
  const E acc = ld<E>(a.acc + i);
  E delta = vsqrt(acc + bc<E>(a.eps));
  delta = delta / std_;
  delta = delta * d;
  E ac = acc * bc<E>(a.rho);
  ac = ac + bc<E>(a.omr) * delta * delta;
  store(a.acc + i, ac);
  store(a.p + i, vfma(delta, bc<E>(a.neg_lr), pi));
}

template <class E, class T>
inline void adamax_elem(const AdamaxArgs<T>& a, int64_t i) {
  E d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  const E pi = ld<E>(a.p + i);
  if (a.has_wd) d = vfma(pi, bc<E>(a.wd), d);
  const E mi = lerp(ld<E>(a.m + i), d, bc<E>(a.w1), bc<E>(a.w1m1), a.w1_small);
  store(a.m + i, mi);
  const E ui = vmax(ld<E>(a.u + i) * bc<E>(a.beta2), vabs(d) + bc<E>(a.eps));
  store(a.u + i, ui);
  store(a.p + i, pi + bc<E>(a.neg_clr) * mi / ui);
}

template <class E, class T>
inline void nadam_elem(const NadamArgs<T>& a, int64_t i) {
  E pi, d, mi, vi;
  adam_family_moments<E, T>(a, i, pi, d, mi, vi);
  const E denom = vsqrt(vi / bc<E>(a.bc2)) + bc<E>(a.eps);
  pi = pi + bc<E>(a.coef_grad) * d / denom;
  store(a.p + i, pi + bc<E>(a.coef_avg) * mi / denom);
}

template <class E, class T>
inline void radam_elem(const RadamArgs<T>& a, int64_t i) {
  E pi, d, mi, vi;
  adam_family_moments<E, T>(a, i, pi, d, mi, vi);
  E upd = mi / bc<E>(a.bc1) * bc<E>(a.lr);
  if (a.rectified) {
    const E adaptive = bc<E>(T(1)) / (vsqrt(vi) + bc<E>(a.eps)) * bc<E>(a.bc2_sqrt);
    upd = upd * adaptive * bc<E>(a.rect);
  }
  store(a.p + i, pi - upd);
}

template <class E, class T>
inline void sgd_elem(const SgdArgs<T>& a, int64_t i) {
  E d = ld<E>(a.g + i);
  if (a.maximize) d = -d;
  const E pi = ld<E>(a.p + i);
  if (a.has_wd) d = vfma(pi, bc<E>(a.wd), d);
  if (a.has_momentum) {
    const E v = a.first_step ? d : vfma(d, bc<E>(a.one_minus_damp), ld<E>(a.buf + i) * bc<E>(a.momentum));
    store(a.buf + i, v);
    d = a.nesterov ? vfma(v, bc<E>(a.momentum), d) : v;
  }
  store(a.p + i, vfma(d, bc<E>(a.neg_lr), pi));
}

#define CNNKIT_OPTIM_AVX2_RANGE(NAME, ARGS)                                \
  template <class T>                                                       \
  void NAME##_range_avx2(const ARGS<T>& a, int64_t b, int64_t e) {         \
    using V = typename Of<T>::type;                                        \
    int64_t i = b;                                                         \
    for (; i + Of<T>::lanes <= e; i += Of<T>::lanes) NAME##_elem<V, T>(a, i); \
    for (; i < e; ++i) NAME##_elem<T, T>(a, i);                            \
  }
CNNKIT_OPTIM_AVX2_RANGE(sgd, SgdArgs)
CNNKIT_OPTIM_AVX2_RANGE(adam, AdamArgs)
CNNKIT_OPTIM_AVX2_RANGE(rmsprop, RmspropArgs)
CNNKIT_OPTIM_AVX2_RANGE(adagrad, AdagradArgs)
CNNKIT_OPTIM_AVX2_RANGE(adadelta, AdadeltaArgs)
CNNKIT_OPTIM_AVX2_RANGE(adamax, AdamaxArgs)
CNNKIT_OPTIM_AVX2_RANGE(nadam, NadamArgs)
CNNKIT_OPTIM_AVX2_RANGE(radam, RadamArgs)
#undef CNNKIT_OPTIM_AVX2_RANGE

}  // namespace vec
#pragma GCC pop_options
#endif  // CNNKIT_HAVE_AVX2

// One FMA clone per (kernel, dtype), chosen at run time (see the file comment).
#ifdef CNNKIT_OPTIM_FMA_CLONES
#define CNNKIT_OPTIM_FMA_CLONE(NAME, ARGS)                                                            \
  __attribute__((target("fma"))) void NAME##_fma(const ARGS<float>& a, int64_t b, int64_t e) {   \
    NAME(a, b, e);                                                                                \
  }                                                                                               \
  __attribute__((target("fma"))) void NAME##_fma(const ARGS<double>& a, int64_t b, int64_t e) {  \
    NAME(a, b, e);                                                                                \
  }
CNNKIT_OPTIM_FMA_CLONE(sgd_range, SgdArgs)
CNNKIT_OPTIM_FMA_CLONE(adam_range, AdamArgs)
CNNKIT_OPTIM_FMA_CLONE(rmsprop_range, RmspropArgs)
CNNKIT_OPTIM_FMA_CLONE(adagrad_range, AdagradArgs)
CNNKIT_OPTIM_FMA_CLONE(adadelta_range, AdadeltaArgs)
CNNKIT_OPTIM_FMA_CLONE(adamax_range, AdamaxArgs)
CNNKIT_OPTIM_FMA_CLONE(nadam_range, NadamArgs)
CNNKIT_OPTIM_FMA_CLONE(radam_range, RadamArgs)
#undef CNNKIT_OPTIM_FMA_CLONE
#if CNNKIT_HAVE_AVX2
#define CNNKIT_OPTIM_RUN(NAME, a, n)                             \
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {         \
    if (simd_avx2()) {                                           \
      vec::NAME##_avx2(a, b, e);                                 \
    } else if (cpu_has_fma()) {                                  \
      NAME##_fma(a, b, e);                                       \
    } else {                                                     \
      NAME(a, b, e);                                             \
    }                                                            \
  })
#else
#define CNNKIT_OPTIM_RUN(NAME, a, n)                  \
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { \
    if (cpu_has_fma()) {                              \
      NAME##_fma(a, b, e);                            \
    } else {                                          \
      NAME(a, b, e);                                  \
    }                                                 \
  })
#endif
#else
#define CNNKIT_OPTIM_RUN(NAME, a, n) parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { NAME(a, b, e); })
#endif

}  // namespace

template <class scalar_t>
void sgd_step(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h) {
  const SgdArgs<scalar_t> a = sgd_args(param, grad, buf, h);
  CNNKIT_OPTIM_RUN(sgd_range, a, n);
}

template <class scalar_t>
void adam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
               scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h) {
  const AdamArgs<scalar_t> a = adam_args(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, h);
  CNNKIT_OPTIM_RUN(adam_range, a, n);
}

template <class scalar_t>
void rmsprop_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                  scalar_t* momentum_buffer, int64_t n, const RmspropParams& h) {
  const RmspropArgs<scalar_t> a = rmsprop_args(param, grad, square_avg, grad_avg, momentum_buffer, h);
  CNNKIT_OPTIM_RUN(rmsprop_range, a, n);
}

template <class scalar_t>
void adagrad_step(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h) {
  const AdagradArgs<scalar_t> a = adagrad_args(param, grad, sum, h);
  CNNKIT_OPTIM_RUN(adagrad_range, a, n);
}

template <class scalar_t>
void adadelta_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                   const AdadeltaParams& h) {
  const AdadeltaArgs<scalar_t> a = adadelta_args(param, grad, square_avg, acc_delta, h);
  CNNKIT_OPTIM_RUN(adadelta_range, a, n);
}

template <class scalar_t>
void adamax_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                 const AdamaxParams& h) {
  const AdamaxArgs<scalar_t> a = adamax_args(param, grad, exp_avg, exp_inf, h);
  CNNKIT_OPTIM_RUN(adamax_range, a, n);
}

template <class scalar_t>
void nadam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                const NadamParams& h) {
  const NadamArgs<scalar_t> a = nadam_args(param, grad, exp_avg, exp_avg_sq, h);
  CNNKIT_OPTIM_RUN(nadam_range, a, n);
}

template <class scalar_t>
void radam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                const RadamParams& h) {
  const RadamArgs<scalar_t> a = radam_args(param, grad, exp_avg, exp_avg_sq, h);
  CNNKIT_OPTIM_RUN(radam_range, a, n);
}
#undef CNNKIT_OPTIM_RUN

#define CNNKIT_OPTIM_INSTANTIATE(T)                                                                 \
  template void adam_step<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams&);                \
  template void rmsprop_step<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropParams&);          \
  template void adagrad_step<T>(T*, const T*, T*, int64_t, const AdagradParams&);                  \
  template void adadelta_step<T>(T*, const T*, T*, T*, int64_t, const AdadeltaParams&);                \
  template void adamax_step<T>(T*, const T*, T*, T*, int64_t, const AdamaxParams&);                    \
  template void nadam_step<T>(T*, const T*, T*, T*, int64_t, const NadamParams&);                      \
  template void radam_step<T>(T*, const T*, T*, T*, int64_t, const RadamParams&);
CNNKIT_OPTIM_INSTANTIATE(float)
CNNKIT_OPTIM_INSTANTIATE(double)
#undef CNNKIT_OPTIM_INSTANTIATE

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdParams&);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdParams&);

}  // namespace cnnkit
