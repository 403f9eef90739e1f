// Batch normalisation, CPU kernels (formulas and layouts in batchnorm.h). Backward WRITES (=)
// dinp, dweight and dbias.
//
// Strategy: each op is a per-channel reduction followed by an elementwise pass.
//  - Reductions: parallel_for over channels; a channel's values are N contiguous planes of S
//    values (stride C*S between planes); each plane is reduced with unit stride and
//    `omp simd reduction` (vector partial sums in double; a fixed order for a given S, so
//    deterministic). A channel is reduced entirely by one thread, so results do not depend on the
//    thread count.
//  - The training statistics are gathered in ONE read of the input as shifted moments
//    s1 = sum(x-K), s2 = sum((x-K)^2) with K = the channel's first value, in double:
//    var = (s2 - s1^2/M)/M. Shifting by a sample bounds the cancellation: (mean-K)^2 <= M*var, so
//    the relative error of var stays O(M * eps_double) even for data far from zero, whereas the
//    textbook sum(x^2) - M*mean^2 loses everything when |mean| >> std.
//  - Elementwise passes (out, dinp) walk the tensor in memory order, parallel over the N*C planes,
//    with per-channel coefficients computed once (in double, rounded to the dtype) and the plane
//    loop in the tensor's dtype: out = (x - mean) * alpha + beta, which vectorises; subtracting
//    the mean first avoids the cancellation of x*alpha + (beta - mean*alpha).
// Memory traffic: forward training reads the input twice and writes the output once; backward
// reads dout and the input twice (sums, then dinp) and writes dinp once.
#include "ops/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "ops/moments.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainElems = 1 << 15;  // values per thread below which work stays serial

int64_t channel_grain(const BatchNormDims& d) {
  return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, d.N * d.S));
}

int64_t plane_grain(const BatchNormDims& d) { return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, d.S)); }

// out = (x - mean[c]) * alpha[c] + beta[c] for every plane, in memory order.
template <class T>
void normalise(T* out, const T* inp, const BatchNormDims& d, const T* mean, const T* alpha, const T* beta) {
  parallel_for(0, d.N * d.C, plane_grain(d), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % d.C;
      const T m = mean[c], a = alpha[c], b = beta[c];
      const T* x = inp + p * d.S;
      T* y = out + p * d.S;
      for (int64_t s = 0; s < d.S; ++s) y[s] = (x[s] - m) * a + b;
    }
  });
}

// alpha[c] = invstd[c] * weight[c] and beta[c] = bias[c], rounded to T as the kernels use them.
template <class T>
void affine_coefs(std::vector<T>& alpha, std::vector<T>& beta, const double* invstd, const T* weight, const T* bias,
                  int64_t C) {
  alpha.resize(C);
  beta.resize(C);
  for (int64_t c = 0; c < C; ++c) {
    alpha[c] = static_cast<T>(invstd[c] * (weight ? static_cast<double>(weight[c]) : 1.0));
    beta[c] = bias ? bias[c] : static_cast<T>(0);
  }
}
}  // namespace

template <class T>
void batch_norm_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                              const T* weight, const T* bias, const BatchNormDims& d, double momentum, double eps) {
  const int64_t M = d.N * d.S;
  std::vector<double> invstd(d.C);
  parallel_for(0, d.C, channel_grain(d), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean = 0.0, var = 0.0;
      if (M > 0) {
        const double K = static_cast<double>(inp[c * d.S]);
        double s1 = 0.0, s2 = 0.0;
        for (int64_t n = 0; n < d.N; ++n) shifted_moments(inp + (n * d.C + c) * d.S, d.S, K, s1, s2);
        const double dm = s1 / static_cast<double>(M);
        mean = K + dm;
        var = (s2 - s1 * dm) / static_cast<double>(M);
        if (var < 0.0) var = 0.0;  // rounding; a NaN stays NaN (std::max would hide it)
        if (running_mean)
          running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
        if (running_var) {
          const double unbiased = var * static_cast<double>(M) / static_cast<double>(M - 1);
          running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
        }
      }
      invstd[c] = 1.0 / std::sqrt(var + eps);
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd[c]);
    }
  });
  std::vector<T> alpha, beta;
  affine_coefs(alpha, beta, invstd.data(), weight, bias, d.C);
  normalise(out, inp, d, save_mean, alpha.data(), beta.data());
}

template <class T>
void batch_norm_forward_eval(T* out, T* save_mean, T* save_invstd, const T* inp, const T* running_mean,
                             const T* running_var, const T* weight, const T* bias, const BatchNormDims& d,
                             double eps) {
  std::vector<double> invstd(d.C);
  for (int64_t c = 0; c < d.C; ++c) {
    invstd[c] = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<T>(invstd[c]);
  }
  std::vector<T> alpha, beta;
  affine_coefs(alpha, beta, invstd.data(), weight, bias, d.C);
  normalise(out, inp, d, save_mean, alpha.data(), beta.data());
}

template <class T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training) {
  const int64_t M = d.N * d.S;
  // The channel sums are needed for dweight, dbias, and for dinp in training mode only.
  const bool need_sums = dweight || dbias || (dinp && training);
  const bool full = training && M > 0;  // dinp by the batch-statistics formula
  // Per-channel coefficients of dinp = (g - gmean - (x - mean) * k) * scale (training) or
  // g * scale (eval).
  std::vector<T> scale(d.C), gmean(d.C), k(d.C);
  parallel_for(0, d.C, need_sums ? channel_grain(d) : d.C, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = static_cast<double>(save_mean[c]);
      const double invstd = static_cast<double>(save_invstd[c]);
      double sg = 0.0, sgx = 0.0;
      if (need_sums)
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t base = (n * d.C + c) * d.S;
          grad_moments(dout + base, inp + base, d.S, mean, sg, sgx);
        }
      if (dweight) dweight[c] = static_cast<T>(sgx * invstd);
      if (dbias) dbias[c] = static_cast<T>(sg);
      scale[c] = static_cast<T>(invstd * (weight ? static_cast<double>(weight[c]) : 1.0));
      gmean[c] = full ? static_cast<T>(sg / static_cast<double>(M)) : static_cast<T>(0);
      k[c] = full ? static_cast<T>(sgx / static_cast<double>(M) * invstd * invstd) : static_cast<T>(0);
    }
  });
  if (!dinp) return;
  parallel_for(0, d.N * d.C, plane_grain(d), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % d.C;
      const T* g = dout + p * d.S;
      T* dx = dinp + p * d.S;
      const T sc = scale[c];
      if (full) {
        const T* x = inp + p * d.S;
        const T m = save_mean[c], gm = gmean[c], kc = k[c];
        for (int64_t s = 0; s < d.S; ++s) dx[s] = (g[s] - gm - (x[s] - m) * kc) * sc;
      } else {
        for (int64_t s = 0; s < d.S; ++s) dx[s] = g[s] * sc;
      }
    }
  });
}

// ---- references: serial, two-pass, long double, straight from the formulas in batchnorm.h ----

template <class T>
void batch_norm_forward_naive(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                              const T* weight, const T* bias, const BatchNormDims& d, bool training, double momentum,
                              double eps) {
  using L = long double;
  const int64_t M = d.N * d.S;
  for (int64_t c = 0; c < d.C; ++c) {
    L mean = 0, var = 0;
    if (training) {
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t s = 0; s < d.S; ++s) mean += inp[(n * d.C + c) * d.S + s];
      if (M > 0) mean /= M;
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t s = 0; s < d.S; ++s) {
          const L v = inp[(n * d.C + c) * d.S + s] - mean;
          var += v * v;
        }
      if (M > 0) {
        if (running_mean) running_mean[c] = static_cast<T>((1 - momentum) * L(running_mean[c]) + momentum * mean);
        if (running_var) running_var[c] = static_cast<T>((1 - momentum) * L(running_var[c]) + momentum * var / (M - 1));
        var /= M;
      }
    } else {
      mean = running_mean[c];
      var = running_var[c];
    }
    const L invstd = 1 / std::sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    const L w = weight ? L(weight[c]) : 1, b = bias ? L(bias[c]) : 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t i = (n * d.C + c) * d.S + s;
        out[i] = static_cast<T>((inp[i] - mean) * invstd * w + b);
      }
  }
}

template <class T>
void batch_norm_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training) {
  using L = long double;
  const int64_t M = d.N * d.S;
  for (int64_t c = 0; c < d.C; ++c) {
    const L mean = save_mean[c], invstd = save_invstd[c], w = weight ? L(weight[c]) : 1;
    L sg = 0, sgxhat = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t i = (n * d.C + c) * d.S + s;
        sg += dout[i];
        sgxhat += dout[i] * (inp[i] - mean) * invstd;
      }
    if (dweight) dweight[c] = static_cast<T>(sgxhat);
    if (dbias) dbias[c] = static_cast<T>(sg);
    if (!dinp) continue;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t i = (n * d.C + c) * d.S + s;
        if (training) {
          // d/dx of w * xhat + b with xhat depending on x through mean and var (the standard
          // batch-norm gradient): invstd * w * (g - mean(g) - xhat * mean(g * xhat)).
          const L xhat = (inp[i] - mean) * invstd;
          dinp[i] = static_cast<T>(invstd * w * (dout[i] - sg / M - xhat * sgxhat / M));
        } else {
          dinp[i] = static_cast<T>(dout[i] * invstd * w);
        }
      }
  }
}

#define CNNKIT_BN_INSTANTIATE(T)                                                                                   \
  template void batch_norm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const BatchNormDims&, \
                                            double, double);                                                       \
  template void batch_norm_forward_eval<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,           \
                                           const BatchNormDims&, double);                                          \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,               \
                                       const BatchNormDims&, bool);                                                \
  template void batch_norm_forward_naive<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const BatchNormDims&, \
                                            bool, double, double);                                                 \
  template void batch_norm_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,         \
                                             const BatchNormDims&, bool);
CNNKIT_BN_INSTANTIATE(float)
CNNKIT_BN_INSTANTIATE(double)
#undef CNNKIT_BN_INSTANTIATE

}  // namespace cnnkit
