// Softmax / log-softmax over one dimension, CPU. Backward WRITES (=) dinp.
//
// Layout (outer, D, inner), contiguous; the reduction runs over D.
// Strategy:
//  - inner == 1 (the usual last-dim case): one row of D contiguous values per work item; three
//    passes over the row (max, exp-and-sum, normalise), parallel over rows.
//  - inner > 1: a work item is one outer index and a block of up to kBlock consecutive inner
//    positions. The passes walk D with a unit-stride inner loop over the block, so loads are
//    contiguous and vectorisable and the per-position max/sum live in small stack arrays,
//    instead of striding through memory by `inner` for each position.
// Every output element belongs to exactly one work item, so results do not depend on the thread
// count. Numerical stability: the maximum is subtracted before exp (a NaN in a slice makes the
// whole slice NaN, as in PyTorch); sums accumulate in double; float exp runs in float (vexp, which
// vectorises); contiguous rows reduce with kLanes partial results so those loops vectorise too.
// float rows (inner == 1) take AVX2 kernels when the CPU has them (simd_avx2()): max in one pass,
// exp(x - max) with the vector exp of simd.h summed in double in a second (log_softmax stores
// nothing there), then one pass that writes the result; every pass works on a row already in L1.
#include "ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "ops/activation.h"  // vexp
#include "ops/simd.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrain = 1 << 14;  // elements per thread below which we stay serial
constexpr int64_t kBlock = 128;      // inner positions per work item in the strided path
constexpr int kLanes = 8;            // independent partial results in the contiguous reductions

// Running max that never selects NaN: a NaN still turns its whole slice into NaN, through
// exp(NaN - max) in the sum. The plain select (no isnan test) keeps the loops vectorisable.
template <class scalar_t>
inline scalar_t max_sel(scalar_t a, scalar_t b) {
  return b > a ? b : a;
}

// Max of a contiguous row, with kLanes independent running maxima so the compiler can vectorise
// (one running max is a serial chain it may not reorder).
template <class scalar_t>
scalar_t row_max(const scalar_t* x, int64_t D) {
  scalar_t m[kLanes];
  for (int j = 0; j < kLanes; ++j) m[j] = -std::numeric_limits<scalar_t>::infinity();
  int64_t d = 0;
  for (; d + kLanes <= D; d += kLanes)
    for (int j = 0; j < kLanes; ++j) m[j] = max_sel(m[j], x[d + j]);
  scalar_t r = -std::numeric_limits<scalar_t>::infinity();
  for (; d < D; ++d) r = max_sel(r, x[d]);
  for (int j = 0; j < kLanes; ++j) r = max_sel(r, m[j]);
  return r;
}

// sum_d f(d) in double, kLanes partial sums combined in a fixed order (deterministic, and
// vectorisable where a single accumulator would not be without -ffast-math).
template <class F>
double row_sum(int64_t D, const F& f) {
  double acc[kLanes] = {};
  int64_t d = 0;
  for (; d + kLanes <= D; d += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += f(d + j);
  double tail = 0;
  for (; d < D; ++d) tail += f(d);
  double s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s + tail;
}

// One contiguous row of D values: max, exp(x - max) (kept in `out` as scratch), sum, normalise.
template <class scalar_t>
void softmax_row(scalar_t* out, const scalar_t* x, int64_t D, bool log) {
  const scalar_t m = row_max(x, D);
  for (int64_t d = 0; d < D; ++d) out[d] = x[d] - m;
  vexp_inplace(out, D);
  const double sum = row_sum(D, [&](int64_t d) { return static_cast<double>(out[d]); });
  if (log) {
    const double shift = static_cast<double>(m) + std::log(sum);
    for (int64_t d = 0; d < D; ++d) out[d] = static_cast<scalar_t>(static_cast<double>(x[d]) - shift);
  } else {
    const double inv = 1.0 / sum;
    for (int64_t d = 0; d < D; ++d) out[d] = static_cast<scalar_t>(static_cast<double>(out[d]) * inv);
  }
}

template <class scalar_t>
void softmax_backward_row(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t D, bool log) {
  if (log) {
    const double s = row_sum(D, [&](int64_t d) { return static_cast<double>(dout[d]); });
    for (int64_t d = 0; d < D; ++d) dinp[d] = out[d];
    vexp_inplace(dinp, D);  // softmax = exp(log_softmax), with dinp as scratch
    for (int64_t d = 0; d < D; ++d)
      dinp[d] = static_cast<scalar_t>(static_cast<double>(dout[d]) - static_cast<double>(dinp[d]) * s);
  } else {
    const double s = row_sum(D, [&](int64_t d) { return static_cast<double>(dout[d]) * out[d]; });
    for (int64_t d = 0; d < D; ++d)
      dinp[d] = static_cast<scalar_t>(static_cast<double>(out[d]) * (static_cast<double>(dout[d]) - s));
  }
}

#if CNNKIT_HAVE_AVX2
CNNKIT_AVX2 inline void acc_pd(__m256d& a0, __m256d& a1, __m256 v) {
  a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

// Max of a row; NaN never becomes the max (_mm256_max_ps returns its second operand, the running
// max, when an operand is NaN) but poisons the row through the sum, as in the portable path.
CNNKIT_AVX2 float row_max_avx2(const float* x, int64_t D) {
  const float ninf = -std::numeric_limits<float>::infinity();
  __m256 m0 = _mm256_set1_ps(ninf), m1 = m0;
  int64_t d = 0;
  for (; d + 16 <= D; d += 16) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + d), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + d + 8), m1);
  }
  for (; d + 8 <= D; d += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + d), m0);
  if (d < D) m1 = _mm256_max_ps(simd::load_tail(x + d, D - d, ninf), m1);
  return simd::hmax256(_mm256_max_ps(m0, m1));
}

// sum_d exp(x[d] - m) in double; also stores the exps into e when e is not null.
CNNKIT_AVX2 double row_sumexp_avx2(float* e, const float* x, int64_t D, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256d a0 = _mm256_setzero_pd(), a1 = a0;
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) {
    const __m256 v = simd::exp256(_mm256_sub_ps(_mm256_loadu_ps(x + d), vm));
    if (e) _mm256_storeu_ps(e + d, v);
    acc_pd(a0, a1, v);
  }
  if (d < D) {
    const __m256 v = _mm256_and_ps(simd::exp256(_mm256_sub_ps(simd::load_tail(x + d, D - d, 0.0f), vm)),
                                   _mm256_castsi256_ps(simd::tail_mask(D - d)));
    if (e) simd::store_tail(e + d, D - d, v);
    acc_pd(a0, a1, v);
  }
  return simd::hsum256d(_mm256_add_pd(a0, a1));
}

// sum_d a[d] (b == null) or sum_d a[d] * b[d], products in float, sums in double.
CNNKIT_AVX2 double row_dot_avx2(const float* a, const float* b, int64_t D) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0;
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) {
    __m256 v = _mm256_loadu_ps(a + d);
    if (b) v = _mm256_mul_ps(v, _mm256_loadu_ps(b + d));
    acc_pd(a0, a1, v);
  }
  if (d < D) {
    __m256 v = simd::load_tail(a + d, D - d, 0.0f);
    if (b) v = _mm256_mul_ps(v, simd::load_tail(b + d, D - d, 0.0f));
    acc_pd(a0, a1, v);
  }
  return simd::hsum256d(_mm256_add_pd(a0, a1));
}

CNNKIT_AVX2 void softmax_row_avx2(float* out, const float* x, int64_t D, bool log) {
  const float m = row_max_avx2(x, D);
  const double sum = row_sumexp_avx2(log ? nullptr : out, x, D, m);
  int64_t d = 0;
  if (log) {
    // (x - max) - log(sum), PyTorch's order: x - max is exact near the max, so large logits keep
    // their small log-probabilities accurate (m + log(sum) rounded to float would not).
    const __m256 vm = _mm256_set1_ps(m), ls = _mm256_set1_ps(static_cast<float>(std::log(sum)));
    for (; d + 8 <= D; d += 8)
      _mm256_storeu_ps(out + d, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + d), vm), ls));
    if (d < D)
      simd::store_tail(out + d, D - d, _mm256_sub_ps(_mm256_sub_ps(simd::load_tail(x + d, D - d, 0.0f), vm), ls));
  } else {
    const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / sum));
    for (; d + 8 <= D; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), inv));
    if (d < D) simd::store_tail(out + d, D - d, _mm256_mul_ps(simd::load_tail(out + d, D - d, 0.0f), inv));
  }
}

// softmax: dinp = y * (g - sum(g * y)); log_softmax: dinp = g - exp(y) * sum(g).
CNNKIT_AVX2 void softmax_backward_row_avx2(float* dinp, const float* dout, const float* out, int64_t D, bool log) {
  const __m256 s = _mm256_set1_ps(static_cast<float>(row_dot_avx2(dout, log ? nullptr : out, D)));
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) {
    const __m256 g = _mm256_loadu_ps(dout + d), y = _mm256_loadu_ps(out + d);
    _mm256_storeu_ps(dinp + d, log ? _mm256_fnmadd_ps(simd::exp256(y), s, g) : _mm256_mul_ps(y, _mm256_sub_ps(g, s)));
  }
  if (d < D) {
    const __m256 g = simd::load_tail(dout + d, D - d, 0.0f), y = simd::load_tail(out + d, D - d, 0.0f);
    simd::store_tail(dinp + d, D - d, log ? _mm256_fnmadd_ps(simd::exp256(y), s, g) : _mm256_mul_ps(y, _mm256_sub_ps(g, s)));
  }
}
#endif

// Row kernels: AVX2 for float when available, the portable loops otherwise.
inline void softmax_row_fast(float* out, const float* x, int64_t D, bool log) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return softmax_row_avx2(out, x, D, log);
#endif
  softmax_row(out, x, D, log);
}
inline void softmax_row_fast(double* out, const double* x, int64_t D, bool log) { softmax_row(out, x, D, log); }
inline void softmax_backward_row_fast(float* dinp, const float* dout, const float* out, int64_t D, bool log) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return softmax_backward_row_avx2(dinp, dout, out, D, log);
#endif
  softmax_backward_row(dinp, dout, out, D, log);
}
inline void softmax_backward_row_fast(double* dinp, const double* dout, const double* out, int64_t D, bool log) {
  softmax_backward_row(dinp, dout, out, D, log);
}

// A block of L <= kBlock consecutive inner positions of one outer slice; x, out point at
// (o, 0, i0) and consecutive d are `inner` apart.
template <class scalar_t>
void softmax_block(scalar_t* out, const scalar_t* x, int64_t D, int64_t inner, int64_t L, bool log) {
  scalar_t m[kBlock];
  double sum[kBlock];
  for (int64_t i = 0; i < L; ++i) {
    m[i] = -std::numeric_limits<scalar_t>::infinity();
    sum[i] = 0;
  }
  for (int64_t d = 0; d < D; ++d) {
    const scalar_t* r = x + d * inner;
    for (int64_t i = 0; i < L; ++i) m[i] = max_sel(m[i], r[i]);
  }
  for (int64_t d = 0; d < D; ++d) {
    const scalar_t* r = x + d * inner;
    scalar_t* o = out + d * inner;
    for (int64_t i = 0; i < L; ++i) o[i] = r[i] - m[i];
    vexp_inplace(o, L);  // o is scratch for log_softmax, overwritten below
    for (int64_t i = 0; i < L; ++i) sum[i] += o[i];
  }
  if (log) {
    for (int64_t i = 0; i < L; ++i) sum[i] = static_cast<double>(m[i]) + std::log(sum[i]);  // the shift
    for (int64_t d = 0; d < D; ++d) {
      const scalar_t* r = x + d * inner;
      scalar_t* o = out + d * inner;
      for (int64_t i = 0; i < L; ++i) o[i] = static_cast<scalar_t>(static_cast<double>(r[i]) - sum[i]);
    }
  } else {
    for (int64_t i = 0; i < L; ++i) sum[i] = 1.0 / sum[i];  // the scale
    for (int64_t d = 0; d < D; ++d) {
      scalar_t* o = out + d * inner;
      for (int64_t i = 0; i < L; ++i) o[i] = static_cast<scalar_t>(static_cast<double>(o[i]) * sum[i]);
    }
  }
}

template <class scalar_t>
void softmax_backward_block(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t D, int64_t inner,
                            int64_t L, bool log) {
  double s[kBlock];
  for (int64_t i = 0; i < L; ++i) s[i] = 0;
  for (int64_t d = 0; d < D; ++d) {
    const scalar_t* g = dout + d * inner;
    const scalar_t* y = out + d * inner;
    if (log)
      for (int64_t i = 0; i < L; ++i) s[i] += g[i];
    else
      for (int64_t i = 0; i < L; ++i) s[i] += static_cast<double>(g[i]) * y[i];
  }
  for (int64_t d = 0; d < D; ++d) {
    const scalar_t* g = dout + d * inner;
    const scalar_t* y = out + d * inner;
    scalar_t* r = dinp + d * inner;
    if (log) {
      for (int64_t i = 0; i < L; ++i) r[i] = y[i];
      vexp_inplace(r, L);  // softmax, with dinp as scratch
      for (int64_t i = 0; i < L; ++i)
        r[i] = static_cast<scalar_t>(static_cast<double>(g[i]) - static_cast<double>(r[i]) * s[i]);
    } else {
      for (int64_t i = 0; i < L; ++i)
        r[i] = static_cast<scalar_t>(static_cast<double>(y[i]) * (static_cast<double>(g[i]) - s[i]));
    }
  }
}

// Runs f(o, i0, L) over every (outer index, inner block) in parallel.
template <class F>
void for_each_block(int64_t outer, int64_t D, int64_t inner, const F& f) {
  const int64_t nblk = (inner + kBlock - 1) / kBlock;
  const int64_t items = outer * nblk;
  const int64_t per_item = std::max<int64_t>(1, D * std::min(inner, kBlock));
  parallel_for(0, items, std::max<int64_t>(1, kGrain / per_item), [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t o = it / nblk, i0 = (it % nblk) * kBlock;
      f(o, i0, std::min(kBlock, inner - i0));
    }
  });
}
}  // namespace

template <class scalar_t>
void softmax_forward(scalar_t* out, const scalar_t* inp, int64_t outer, int64_t D, int64_t inner, bool log) {
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / D), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) softmax_row_fast(out + o * D, inp + o * D, D, log);
    });
    return;
  }
  for_each_block(outer, D, inner, [&](int64_t o, int64_t i0, int64_t L) {
    const int64_t base = o * D * inner + i0;
    softmax_block(out + base, inp + base, D, inner, L, log);
  });
}

template <class scalar_t>
void softmax_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t outer, int64_t D,
                      int64_t inner, bool log) {
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1) {
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / D), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) softmax_backward_row_fast(dinp + o * D, dout + o * D, out + o * D, D, log);
    });
    return;
  }
  for_each_block(outer, D, inner, [&](int64_t o, int64_t i0, int64_t L) {
    const int64_t base = o * D * inner + i0;
    softmax_backward_block(dinp + base, dout + base, out + base, D, inner, L, log);
  });
}

template void softmax_forward<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, bool);

}  // namespace cnnkit
