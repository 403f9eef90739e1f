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
#include "ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "ops/activation.h"  // vexp

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
      for (int64_t o = b; o < e; ++o) softmax_row(out + o * D, inp + o * D, D, log);
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
      for (int64_t o = b; o < e; ++o) softmax_backward_row(dinp + o * D, dout + o * D, out + o * D, D, log);
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
