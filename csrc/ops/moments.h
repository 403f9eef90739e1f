// Per-row / per-channel moment sums in double shared by the batch norm (batchnorm.cpp) and row
// norm (norm.cpp) CPU kernels. Each call reduces n contiguous values with `omp simd reduction`
// into local partial sums (a fixed order for a given n, so deterministic) and then adds them to
// the caller's running sums.
#pragma once

#include <cstdint>

namespace cnnkit {

// s1 += sum(x[i] - K), s2 += sum((x[i] - K)^2) over n contiguous values (shifted moments: K is a
// sample of the data, which bounds the cancellation of the one-pass variance).
template <class T>
inline void shifted_moments(const T* x, int64_t n, double K, double& s1, double& s2) {
  double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]) - K;
    a += v;
    b += v * v;
  }
  s1 += a;
  s2 += b;
}

// sg += sum(g[i]), sgx += sum(g[i] * (x[i] - mean)) over n contiguous values.
template <class T>
inline void grad_moments(const T* g, const T* x, int64_t n, double mean, double& sg, double& sgx) {
  double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double gv = static_cast<double>(g[i]);
    a += gv;
    b += gv * (static_cast<double>(x[i]) - mean);
  }
  sg += a;
  sgx += b;
}

}  // namespace cnnkit
