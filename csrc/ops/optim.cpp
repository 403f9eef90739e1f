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
#include "ops/optim.h"

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

template void sgd_step<float>(float*, const float*, float*, int64_t, const SgdParams&);
template void sgd_step<double>(double*, const double*, double*, int64_t, const SgdParams&);

}  // namespace cnnkit
