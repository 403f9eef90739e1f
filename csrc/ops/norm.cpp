// Row normalisation (group / layer / instance norm), CPU kernels; formulas and layouts in norm.h.
// Backward WRITES (=) dinp, dweight and dbias.
//
// Strategy (batchnorm.cpp's, with rows in place of channels):
//  - Statistics: parallel_for over rows; a row is D contiguous values reduced by one thread as
//    shifted moments s1 = sum(x-K), s2 = sum((x-K)^2) with K = the row's first value, in double:
//    var = (s2 - s1^2/D)/D. Double because a row can hold millions of values (GroupNorm on a large
//    feature map): float partial sums would lose ~D*eps of relative accuracy, and the one-pass
//    variance cancels catastrophically when |mean| >> std; shifting by a sample bounds that
//    cancellation ((mean-K)^2 <= D*var), and double leaves ample margin. One thread per row and
//    a fixed summation order make the results independent of the thread count.
//  - Elementwise passes (out, dinp) run per row in memory order with the per-channel coefficient
//    formed once (in double, rounded to the dtype) and the inner loop in the dtype, vectorisable:
//    out = (x - mean) * a[c] + bias[c], subtracting the mean first (no cancellation of
//    x*a + (bias - mean*a)).
//  - dweight / dbias: parallel_for over channel chunks; each thread walks the rows in order and,
//    within a row, its chunk's contiguous channel segments, accumulating in double per channel.
//    Every channel is summed by one thread in the same order (rows, then values): no atomics, no
//    dependence on the thread count, and each row's chunk is read contiguously (LayerNorm's
//    per-element weights included).
#include "ops/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "ops/moments.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainElems = 1 << 15;

int64_t row_grain(const RowNormDims& d) { return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, d.D())); }
}  // namespace

template <class T>
void row_norm_forward(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                      const RowNormDims& d, double eps) {
  const int64_t D = d.D();
  parallel_for(0, d.R, row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = inp + r * D;
      T* y = out + r * D;
      double m = 0.0, var = 0.0;
      if (D > 0) {
        const double K = static_cast<double>(x[0]);
        double s1 = 0.0, s2 = 0.0;
        shifted_moments(x, D, K, s1, s2);
        const double dm = s1 / static_cast<double>(D);
        m = K + dm;
        var = (s2 - s1 * dm) / static_cast<double>(D);
        if (var < 0.0) var = 0.0;  // rounding; NaN stays NaN
      }
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      if (var_out) var_out[r] = static_cast<T>(var);
      const T mt = mean[r];
      const int64_t g = r % d.G;
      if (d.S == 1) {  // one coefficient per value (layer norm, or groups of 1-value channels)
        const T* w = weight ? weight + g * d.CPG : nullptr;
        const T* b = bias ? bias + g * d.CPG : nullptr;
        const T rt = static_cast<T>(rs);
        if (w && b) {
          for (int64_t j = 0; j < D; ++j) y[j] = (x[j] - mt) * (rt * w[j]) + b[j];
        } else if (w) {
          for (int64_t j = 0; j < D; ++j) y[j] = (x[j] - mt) * (rt * w[j]);
        } else if (b) {
          for (int64_t j = 0; j < D; ++j) y[j] = (x[j] - mt) * rt + b[j];
        } else {
          for (int64_t j = 0; j < D; ++j) y[j] = (x[j] - mt) * rt;
        }
        continue;
      }
      for (int64_t cc = 0; cc < d.CPG; ++cc) {
        const int64_t c = g * d.CPG + cc;
        const T a = static_cast<T>(rs * (weight ? static_cast<double>(weight[c]) : 1.0));
        const T b = bias ? bias[c] : static_cast<T>(0);
        const T* xs = x + cc * d.S;
        T* ys = y + cc * d.S;
        for (int64_t s = 0; s < d.S; ++s) ys[s] = (xs[s] - mt) * a + b;
      }
    }
  });
}

template <class T>
void row_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                       const T* rstd, const RowNormDims& d) {
  const int64_t D = d.D();
  if (dinp) {
    parallel_for(0, d.R, row_grain(d), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* g = dout + r * D;
        const T* x = inp + r * D;
        T* dx = dinp + r * D;
        const int64_t grp = r % d.G;
        const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
        // A = sum(wg), B = sum(wg * (x - mean)) with wg = dout * weight[c].
        double A = 0.0, B = 0.0;
        if (d.S == 1) {  // one weight per value (layer norm): one vectorised pass over the row
          const T* w = weight ? weight + grp * d.CPG : nullptr;
          double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
          for (int64_t j = 0; j < D; ++j) {
            const double gv = static_cast<double>(g[j]) * (w ? static_cast<double>(w[j]) : 1.0);
            a += gv;
            b += gv * (static_cast<double>(x[j]) - m);
          }
          const T c1 = D > 0 ? static_cast<T>(a / static_cast<double>(D)) : static_cast<T>(0);
          const T c2 = D > 0 ? static_cast<T>(b / static_cast<double>(D) * rs * rs) : static_cast<T>(0);
          const T rt = rstd[r], mt = mean[r];
          if (w) {
            for (int64_t j = 0; j < D; ++j) dx[j] = (g[j] * w[j] - c1 - (x[j] - mt) * c2) * rt;
          } else {
            for (int64_t j = 0; j < D; ++j) dx[j] = (g[j] - c1 - (x[j] - mt) * c2) * rt;
          }
          continue;
        }
        for (int64_t cc = 0; cc < d.CPG; ++cc) {
          const double w = weight ? static_cast<double>(weight[grp * d.CPG + cc]) : 1.0;
          const T* gs = g + cc * d.S;
          const T* xs = x + cc * d.S;
          double a = 0.0, b = 0.0;
          grad_moments(gs, xs, d.S, m, a, b);
          A += a * w;
          B += b * w;
        }
        const T c1 = D > 0 ? static_cast<T>(A / static_cast<double>(D)) : static_cast<T>(0);
        const T c2 = D > 0 ? static_cast<T>(B / static_cast<double>(D) * rs * rs) : static_cast<T>(0);
        const T rt = rstd[r], mt = mean[r];
        for (int64_t cc = 0; cc < d.CPG; ++cc) {
          const T w = weight ? weight[grp * d.CPG + cc] : static_cast<T>(1);
          const T* gs = g + cc * d.S;
          const T* xs = x + cc * d.S;
          T* dxs = dx + cc * d.S;
          for (int64_t s = 0; s < d.S; ++s) dxs[s] = (gs[s] * w - c1 - (xs[s] - mt) * c2) * rt;
        }
      }
    });
  }
  if (!dweight && !dbias) return;
  const int64_t nC = d.channels();
  const int64_t per_group_rows = d.G > 0 ? d.R / d.G : 0;
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, per_group_rows * d.S));
  parallel_for(0, nC, grain, [&](int64_t c0, int64_t c1) {
    std::vector<double> sw(c1 - c0, 0.0), sb(c1 - c0, 0.0);
    if (d.G == 1 && d.S == 1) {  // layer norm: the chunk is one contiguous, vectorisable stretch of each row
      double* psw = sw.data();
      double* psb = sb.data();
      for (int64_t n = 0; n < per_group_rows; ++n) {
        const double m = static_cast<double>(mean[n]), rs = static_cast<double>(rstd[n]);
        const T* gs = dout + n * D;
        const T* xs = inp + n * D;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          const double gv = static_cast<double>(gs[c]);
          psb[c - c0] += gv;
          psw[c - c0] += gv * (static_cast<double>(xs[c]) - m) * rs;
        }
      }
    }
    for (int64_t n = 0; n < (d.G == 1 && d.S == 1 ? 0 : per_group_rows); ++n) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t grp = c / d.CPG, cc = c % d.CPG;
        const int64_t r = n * d.G + grp;
        const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
        const int64_t off = r * D + cc * d.S;
        const T* gs = dout + off;
        const T* xs = inp + off;
        double a = 0.0, b = 0.0;
        grad_moments(gs, xs, d.S, m, a, b);
        sb[c - c0] += a;
        sw[c - c0] += b * rs;
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      if (dweight) dweight[c] = static_cast<T>(sw[c - c0]);
      if (dbias) dbias[c] = static_cast<T>(sb[c - c0]);
    }
  });
}

// ---- references: serial, two-pass, long double, straight from the formulas in norm.h ----

template <class T>
void row_norm_forward_naive(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                            const RowNormDims& d, double eps) {
  using L = long double;
  const int64_t D = d.D();
  for (int64_t r = 0; r < d.R; ++r) {
    L m = 0, v = 0;
    for (int64_t j = 0; j < D; ++j) m += inp[r * D + j];
    if (D > 0) m /= D;
    for (int64_t j = 0; j < D; ++j) v += (inp[r * D + j] - m) * (inp[r * D + j] - m);
    if (D > 0) v /= D;
    const L rs = 1 / std::sqrt(v + eps);
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(rs);
    if (var_out) var_out[r] = static_cast<T>(v);
    for (int64_t j = 0; j < D; ++j) {
      const int64_t c = (r % d.G) * d.CPG + j / d.S;
      const L w = weight ? L(weight[c]) : 1, b = bias ? L(bias[c]) : 0;
      out[r * D + j] = static_cast<T>((inp[r * D + j] - m) * rs * w + b);
    }
  }
}

template <class T>
void row_norm_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                             const T* mean, const T* rstd, const RowNormDims& d) {
  using L = long double;
  const int64_t D = d.D(), nC = d.channels();
  std::vector<L> sw(nC, 0), sb(nC, 0);
  for (int64_t r = 0; r < d.R; ++r) {
    const L m = mean[r], rs = rstd[r];
    L A = 0, B = 0;  // sum(dxhat), sum(dxhat * xhat)
    for (int64_t j = 0; j < D; ++j) {
      const int64_t i = r * D + j, c = (r % d.G) * d.CPG + j / d.S;
      const L w = weight ? L(weight[c]) : 1, xhat = (inp[i] - m) * rs;
      A += dout[i] * w;
      B += dout[i] * w * xhat;
      sw[c] += dout[i] * xhat;
      sb[c] += dout[i];
    }
    if (!dinp) continue;
    for (int64_t j = 0; j < D; ++j) {
      const int64_t i = r * D + j, c = (r % d.G) * d.CPG + j / d.S;
      const L w = weight ? L(weight[c]) : 1, xhat = (inp[i] - m) * rs;
      dinp[i] = static_cast<T>(rs * (dout[i] * w - A / D - xhat * B / D));
    }
  }
  for (int64_t c = 0; c < nC; ++c) {
    if (dweight) dweight[c] = static_cast<T>(sw[c]);
    if (dbias) dbias[c] = static_cast<T>(sb[c]);
  }
}

#define CNNKIT_NORM_INSTANTIATE(T)                                                                                  \
  template void row_norm_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const RowNormDims&, double);      \
  template void row_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,                 \
                                     const RowNormDims&);                                                           \
  template void row_norm_forward_naive<T>(T*, T*, T*, T*, const T*, const T*, const T*, const RowNormDims&, double); \
  template void row_norm_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,           \
                                           const RowNormDims&);
CNNKIT_NORM_INSTANTIATE(float)
CNNKIT_NORM_INSTANTIATE(double)
#undef CNNKIT_NORM_INSTANTIATE

}  // namespace cnnkit
