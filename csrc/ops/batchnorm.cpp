// Batch normalisation, CPU kernels (formulas and layouts in batchnorm.h). Backward WRITES (=)
// dinp, dweight and dbias.
//
// Strategy: parallel_for over channels; a channel's values are N contiguous planes of S values
// (stride C*S between planes), and every loop below runs over one plane with unit stride.
//  - forward training reads the input twice and writes it once (the memory-bandwidth minimum):
//    pass 1 gathers the channel's moments in ONE read, pass 2 normalises. The moments are
//    shifted sums s1 = sum(x-K), s2 = sum((x-K)^2) with K = the channel's first value, in double:
//    var = (s2 - s1^2/M)/M. Shifting by a sample bounds the cancellation: (mean-K)^2 <= M*var, so
//    the relative error of var stays O(M * eps_double) even for data far from zero, while the
//    textbook sum(x^2) - M*mean^2 loses everything when |mean| >> std.
//  - backward reads dout and the input for the two channel sums, then once more to write dinp.
//  - plane reductions keep kLanes independent double partial sums (combined in a fixed order at
//    the end of the plane), so the compiler vectorises the float->double converts and adds; a
//    single accumulator would be a serial dependency chain it may not reorder without -ffast-math.
//  - elementwise passes run in the tensor's dtype with per-channel constants hoisted
//    (out = (x - mean) * alpha + beta), which vectorises; subtracting the mean first avoids the
//    cancellation of x*alpha + (beta - mean*alpha).
// Every channel is computed entirely by one thread in a fixed order, so results do not depend on
// the thread count.
#include "ops/batchnorm.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int kLanes = 8;
constexpr int64_t kGrainElems = 1 << 15;  // values per thread below which channels stay serial

int64_t channel_grain(const BatchNormDims& d) {
  return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, d.N * d.S));
}

// s1 += sum(x[i] - K), s2 += sum((x[i] - K)^2) over n contiguous values.
template <class T>
inline void shifted_moments(const T* x, int64_t n, double K, double& s1, double& s2) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const double v = static_cast<double>(x[i + j]) - K;
      a[j] += v;
      b[j] += v * v;
    }
  }
  for (; i < n; ++i) {
    const double v = static_cast<double>(x[i]) - K;
    a[0] += v;
    b[0] += v * v;
  }
  for (int j = 0; j < kLanes; ++j) {
    s1 += a[j];
    s2 += b[j];
  }
}

// sg += sum(g[i]), sgx += sum(g[i] * (x[i] - mean)) over n contiguous values.
template <class T>
inline void grad_moments(const T* g, const T* x, int64_t n, double mean, double& sg, double& sgx) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const double gv = static_cast<double>(g[i + j]);
      a[j] += gv;
      b[j] += gv * (static_cast<double>(x[i + j]) - mean);
    }
  }
  for (; i < n; ++i) {
    const double gv = static_cast<double>(g[i]);
    a[0] += gv;
    b[0] += gv * (static_cast<double>(x[i]) - mean);
  }
  for (int j = 0; j < kLanes; ++j) {
    sg += a[j];
    sgx += b[j];
  }
}

// out = (x - mean) * alpha + beta over channel c's N planes.
template <class T>
inline void normalise_channel(T* out, const T* inp, const BatchNormDims& d, int64_t c, T mean, T alpha, T beta) {
  for (int64_t n = 0; n < d.N; ++n) {
    const int64_t base = (n * d.C + c) * d.S;
    const T* x = inp + base;
    T* y = out + base;
    for (int64_t s = 0; s < d.S; ++s) y[s] = (x[s] - mean) * alpha + beta;
  }
}
}  // namespace

template <class T>
void batch_norm_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                              const T* weight, const T* bias, const BatchNormDims& d, double momentum, double eps) {
  const int64_t M = d.N * d.S;
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
      const double invstd = 1.0 / std::sqrt(var + eps);
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      normalise_channel(out, inp, d, c, static_cast<T>(mean), static_cast<T>(invstd * w),
                        bias ? bias[c] : static_cast<T>(0));
    }
  });
}

template <class T>
void batch_norm_forward_eval(T* out, T* save_mean, T* save_invstd, const T* inp, const T* running_mean,
                             const T* running_var, const T* weight, const T* bias, const BatchNormDims& d,
                             double eps) {
  parallel_for(0, d.C, channel_grain(d), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
      save_mean[c] = running_mean[c];
      save_invstd[c] = static_cast<T>(invstd);
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      normalise_channel(out, inp, d, c, running_mean[c], static_cast<T>(invstd * w),
                        bias ? bias[c] : static_cast<T>(0));
    }
  });
}

template <class T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training) {
  const int64_t M = d.N * d.S;
  // The channel sums are needed for dweight, dbias, and for dinp in training mode only.
  const bool need_sums = dweight || dbias || (dinp && training);
  parallel_for(0, d.C, channel_grain(d), [&](int64_t c0, int64_t c1) {
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
      if (!dinp) continue;
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const T scale = static_cast<T>(invstd * w);
      if (training && M > 0) {
        const T gmean = static_cast<T>(sg / static_cast<double>(M));
        const T k = static_cast<T>(sgx / static_cast<double>(M) * invstd * invstd);
        const T m = save_mean[c];
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t base = (n * d.C + c) * d.S;
          const T* g = dout + base;
          const T* x = inp + base;
          T* dx = dinp + base;
          for (int64_t s = 0; s < d.S; ++s) dx[s] = (g[s] - gmean - (x[s] - m) * k) * scale;
        }
      } else {
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t base = (n * d.C + c) * d.S;
          const T* g = dout + base;
          T* dx = dinp + base;
          for (int64_t s = 0; s < d.S; ++s) dx[s] = g[s] * scale;
        }
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
