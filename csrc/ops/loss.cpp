// Losses, CPU. Backward WRITES (=) its gradients.
//
// Strategy: per-sample terms are independent, so they are computed in parallel over samples
// (each output element written by one thread). Reductions sum per-sample terms in double over
// fixed blocks of kSumBlock samples (blocks in parallel, block sums then added in order), so the
// result is the same for any thread count. The class axis has stride S in the (N, C, S) layout;
// for the common (N, C) case S = 1 and each sample's classes are contiguous.
#include "ops/loss.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "ops/activation.h"  // vexp
#include "ops/simd.h"
#include "ops/softmax.h"

namespace cnnkit {

namespace {
constexpr int64_t kSumBlock = 4096;   // samples per partial sum
constexpr int64_t kGrain = 1 << 14;   // samples (or elements) below which loops stay serial

// Sum of f(i) for i in [0, n), in double, deterministic.
template <class F>
double blocked_sum(int64_t n, const F& f) {
  if (n <= 0) return 0.0;
  const int64_t nb = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> part(nb);
  parallel_for(0, nb, std::max<int64_t>(1, kGrain / kSumBlock), [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      double s = 0;
      const int64_t end = std::min(n, (blk + 1) * kSumBlock);
      for (int64_t i = blk * kSumBlock; i < end; ++i) s += f(i);
      part[blk] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

template <class F>
void for_each_sample(int64_t n, int64_t per_sample, const F& f) {
  parallel_for(0, n, std::max<int64_t>(1, kGrain / std::max<int64_t>(per_sample, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

// Sample i = n * S + s; class c of that sample sits at base(i) + c * S, base(i) = n * C * S + s.
inline int64_t base_of(const LossDims& d, int64_t i) { return d.S == 1 ? i * d.C : (i / d.S) * d.C * d.S + i % d.S; }
inline int64_t at(const LossDims& d, int64_t i, int64_t c) { return base_of(d, i) + c * d.S; }

template <class scalar_t>
inline double class_weight(const scalar_t* weight, int64_t c) {
  return weight ? static_cast<double>(weight[c]) : 1.0;
}

// -sum_c weight[c] * logp[c] of sample i (the label-smoothing term).
template <class scalar_t>
inline double smooth_term(const scalar_t* logp, const scalar_t* weight, const LossDims& d, int64_t i) {
  const scalar_t* lp = logp + base_of(d, i);
  double s = 0;
  for (int64_t c = 0; c < d.C; ++c) s -= class_weight(weight, c) * lp[c * d.S];
  return s;
}

template <class scalar_t>
inline double nll_term(const scalar_t* logp, const int64_t* target, const scalar_t* weight, const LossDims& d,
                       int64_t i, int64_t ignore_index) {
  const int64_t t = target[i];
  if (t == ignore_index) return 0.0;
  return -(static_cast<double>(logp[at(d, i, t)]) * class_weight(weight, t));
}

template <class scalar_t>
double total_weight_of(const int64_t* target, const scalar_t* weight, int64_t n, int64_t ignore_index) {
  return blocked_sum(n, [&](int64_t i) {
    const int64_t t = target[i];
    return t == ignore_index ? 0.0 : class_weight(weight, t);
  });
}

// Gradient scale of sample i: dloss[i] ('none'), dloss ('sum') or dloss / denom ('mean').
template <class scalar_t>
inline double grad_scale(const scalar_t* dloss, int64_t i, Reduction r, double denom) {
  switch (r) {
    case Reduction::None: return dloss[i];
    case Reduction::Sum: return dloss[0];
    case Reduction::Mean: return static_cast<double>(dloss[0]) / denom;
  }
  return 0.0;
}

// dlogits[c] = dlogp[c] - softmax[c] * sum_c dlogp[c] for one sample, dlogp given by dlogp_of(c).
// With S == 1 the sample's classes are contiguous: softmax = exp(logp) goes through dlogits as
// scratch with the vectorised vexp_inplace.
template <class scalar_t, class G>
inline void log_softmax_chain(scalar_t* dlogits, const scalar_t* logp, const LossDims& d, int64_t i,
                              const G& dlogp_of) {
  double total = 0;
  for (int64_t c = 0; c < d.C; ++c) total += dlogp_of(c);
  const int64_t b = base_of(d, i);
  if (d.S == 1) {
    scalar_t* out = dlogits + b;
    const scalar_t* lp = logp + b;
    for (int64_t c = 0; c < d.C; ++c) out[c] = lp[c];
    vexp_inplace(out, d.C);
    for (int64_t c = 0; c < d.C; ++c) out[c] = static_cast<scalar_t>(dlogp_of(c) - static_cast<double>(out[c]) * total);
    return;
  }
  for (int64_t c = 0; c < d.C; ++c) {
    const int64_t k = b + c * d.S;
    dlogits[k] = static_cast<scalar_t>(dlogp_of(c) - static_cast<double>(vexp(logp[k])) * total);
  }
}

// Cross-entropy backward (class targets) of K-dimensional input, S > 1: the class axis has stride S,
// so instead of walking one sample's C classes S apart, each task takes one n and a tile of kTileS
// contiguous spatial positions and sweeps the C rows of that tile: every row segment is contiguous
// (vectorised exp through vexp_inplace with the output as scratch). Per position the row total
// sum_c dlogp[c] is taken in closed form, gt + gs * sum_c weight[c], as the AVX2 2-D path does.
constexpr int64_t kTileS = 512;

template <class scalar_t>
void cross_entropy_backward_spatial(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                    const int64_t* target, const scalar_t* weight, const LossDims& d,
                                    int64_t ignore_index, Reduction r, double tw, double a, double b) {
  double wsum = static_cast<double>(d.C);
  if (weight) {
    wsum = 0;
    for (int64_t c = 0; c < d.C; ++c) wsum += weight[c];
  }
  const int64_t tiles_per_n = (d.S + kTileS - 1) / kTileS;
  const int64_t tasks = d.N * tiles_per_n;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(kTileS * d.C, 1));
  parallel_for(0, tasks, grain, [&](int64_t tb, int64_t te) {
    double gt[kTileS], gs[kTileS], total[kTileS];
    for (int64_t task = tb; task < te; ++task) {
      const int64_t nn = task / tiles_per_n, s0 = (task % tiles_per_n) * kTileS;
      const int64_t len = std::min(kTileS, d.S - s0);
      const int64_t* tg = target + nn * d.S + s0;
      for (int64_t j = 0; j < len; ++j) {
        if (tg[j] == ignore_index) {
          gt[j] = gs[j] = total[j] = 0.0;
          continue;
        }
        const double g = grad_scale(dloss, nn * d.S + s0 + j, r, tw);
        gt[j] = -g * a * class_weight(weight, tg[j]);
        gs[j] = -g * b;
        total[j] = gt[j] + gs[j] * wsum;
      }
      for (int64_t c = 0; c < d.C; ++c) {
        const int64_t off = (nn * d.C + c) * d.S + s0;
        scalar_t* out = dlogits + off;
        const scalar_t* lp = logp + off;
        for (int64_t j = 0; j < len; ++j) out[j] = lp[j];
        vexp_inplace(out, len);
        const double wc = class_weight(weight, c);
        for (int64_t j = 0; j < len; ++j) {
          const double dl = (tg[j] == c ? gt[j] : 0.0) + gs[j] * wc;
          out[j] = tg[j] == ignore_index ? scalar_t(0)
                                         : static_cast<scalar_t>(dl - static_cast<double>(out[j]) * total[j]);
        }
      }
    }
  });
}

#if CNNKIT_HAVE_AVX2
// Cross-entropy backward of one contiguous float row (class-index targets):
// dl[c] = gs * w[c] - exp(lp[c]) * total (w null: weight 1); the caller fixes up the target class.
CNNKIT_AVX2 void ce_row_avx2(float* dl, const float* lp, int64_t C, float total, float gs, const float* w) {
  const __m256 vt = _mm256_set1_ps(total), vg = _mm256_set1_ps(gs);
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    const __m256 a = w ? _mm256_mul_ps(vg, _mm256_loadu_ps(w + c)) : vg;
    _mm256_storeu_ps(dl + c, _mm256_fnmadd_ps(simd::exp256(_mm256_loadu_ps(lp + c)), vt, a));
  }
  if (c < C) {
    const __m256 a = w ? _mm256_mul_ps(vg, simd::load_tail(w + c, C - c, 0.0f)) : vg;
    simd::store_tail(dl + c, C - c, _mm256_fnmadd_ps(simd::exp256(simd::load_tail(lp + c, C - c, 0.0f)), vt, a));
  }
}
#endif
}  // namespace

template <class scalar_t>
double nll_loss_forward(scalar_t* out, const scalar_t* logp, const int64_t* target, const scalar_t* weight,
                        const LossDims& d, int64_t ignore_index, Reduction r) {
  const int64_t n = d.N * d.S;
  const double tw = total_weight_of(target, weight, n, ignore_index);
  if (r == Reduction::None) {
    for_each_sample(n, 1, [&](int64_t i) {
      out[i] = static_cast<scalar_t>(nll_term(logp, target, weight, d, i, ignore_index));
    });
    return tw;
  }
  const double sum = blocked_sum(n, [&](int64_t i) { return nll_term(logp, target, weight, d, i, ignore_index); });
  out[0] = static_cast<scalar_t>(r == Reduction::Mean ? sum / tw : sum);
  return tw;
}

template <class scalar_t>
void nll_loss_backward(scalar_t* dlogp, const scalar_t* dloss, const int64_t* target, const scalar_t* weight,
                       const LossDims& d, int64_t ignore_index, Reduction r, double total_weight) {
  const int64_t n = d.N * d.S;
  for_each_sample(n, d.C, [&](int64_t i) {
    const int64_t b = base_of(d, i);
    for (int64_t c = 0; c < d.C; ++c) dlogp[b + c * d.S] = scalar_t(0);
    const int64_t t = target[i];
    if (t == ignore_index) return;
    dlogp[b + t * d.S] = static_cast<scalar_t>(-grad_scale(dloss, i, r, total_weight) * class_weight(weight, t));
  });
}

template <class scalar_t>
void cross_entropy_forward(scalar_t* out, scalar_t* logp, const scalar_t* logits, const int64_t* target,
                           const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                           double label_smoothing) {
  softmax_forward(logp, logits, d.N, d.C, d.S, /*log=*/true);
  const int64_t n = d.N * d.S;
  const double ls = label_smoothing, a = 1.0 - ls, b = ls / static_cast<double>(d.C);
  if (ls == 0.0) {
    nll_loss_forward(out, logp, target, weight, d, ignore_index, r);
    return;
  }
  auto smooth = [&](int64_t i) {
    return target[i] == ignore_index ? 0.0 : smooth_term(logp, weight, d, i);
  };
  if (r == Reduction::None) {
    for_each_sample(n, d.C, [&](int64_t i) {
      out[i] = static_cast<scalar_t>(a * nll_term(logp, target, weight, d, i, ignore_index) + b * smooth(i));
    });
    return;
  }
  const double nll = blocked_sum(n, [&](int64_t i) { return nll_term(logp, target, weight, d, i, ignore_index); });
  const double sm = blocked_sum(n, smooth);
  if (r == Reduction::Sum) {
    out[0] = static_cast<scalar_t>(a * nll + b * sm);
  } else {
    const double tw = total_weight_of(target, weight, n, ignore_index);
    out[0] = static_cast<scalar_t>(a * (nll / tw) + b * (sm / tw));
  }
}

template <class scalar_t>
void cross_entropy_backward(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp, const int64_t* target,
                            const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                            double label_smoothing) {
  const int64_t n = d.N * d.S;
  const double tw = r == Reduction::Mean ? total_weight_of(target, weight, n, ignore_index) : 1.0;
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  // float rows with AVX2: one vector pass per row (ce_row_avx2), the row's total dloss/dlogp
  // taken in closed form, gt + gs * sum_c weight[c], instead of summed class by class.
  bool fast = false;
  double wsum = static_cast<double>(d.C);
  if constexpr (std::is_same<scalar_t, float>::value) {
    fast = d.S == 1 && simd_avx2();
    if (fast && weight) {
      wsum = 0;
      for (int64_t c = 0; c < d.C; ++c) wsum += weight[c];
    }
  }
  if (d.S > 1) {
    cross_entropy_backward_spatial(dlogits, dloss, logp, target, weight, d, ignore_index, r, tw, a, b);
    return;
  }
  for_each_sample(n, d.C, [&](int64_t i) {
    const int64_t t = target[i];
    if (t == ignore_index) {
      const int64_t b = base_of(d, i);
      for (int64_t c = 0; c < d.C; ++c) dlogits[b + c * d.S] = scalar_t(0);
      return;
    }
    const double g = grad_scale(dloss, i, r, tw);
    const double gt = -g * a * class_weight(weight, t);  // d loss / d logp[t] from the NLL term
    const double gs = -g * b;                            // times weight[c]: from the smoothing term
#if CNNKIT_HAVE_AVX2
    if constexpr (std::is_same<scalar_t, float>::value) {
      if (fast) {
        const double total = gt + gs * wsum;
        float* row = dlogits + i * d.C;
        const float* lp = logp + i * d.C;
        ce_row_avx2(row, lp, d.C, static_cast<float>(total), static_cast<float>(gs), weight);
        row[t] = static_cast<float>(gt + gs * class_weight(weight, t) - static_cast<double>(vexp(lp[t])) * total);
        return;
      }
    }
#endif
    log_softmax_chain(dlogits, logp, d, i, [&](int64_t c) { return (c == t ? gt : 0.0) + gs * class_weight(weight, c); });
  });
}

template <class scalar_t>
void cross_entropy_prob_forward(scalar_t* out, scalar_t* logp, const scalar_t* logits, const scalar_t* target,
                                const scalar_t* weight, const LossDims& d, Reduction r, double label_smoothing) {
  softmax_forward(logp, logits, d.N, d.C, d.S, /*log=*/true);
  const int64_t n = d.N * d.S;
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  auto term = [&](int64_t i) {
    const int64_t base = base_of(d, i);
    double s = 0;
    for (int64_t c = 0; c < d.C; ++c) {
      const int64_t k = base + c * d.S;
      const double tc = label_smoothing > 0.0 ? static_cast<double>(target[k]) * a + b : static_cast<double>(target[k]);
      s -= static_cast<double>(logp[k]) * tc * class_weight(weight, c);
    }
    return s;
  };
  if (r == Reduction::None) {
    for_each_sample(n, d.C, [&](int64_t i) { out[i] = static_cast<scalar_t>(term(i)); });
    return;
  }
  const double sum = blocked_sum(n, term);
  out[0] = static_cast<scalar_t>(r == Reduction::Mean ? sum / static_cast<double>(n) : sum);
}

template <class scalar_t>
void cross_entropy_prob_backward(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                 const scalar_t* target, const scalar_t* weight, const LossDims& d, Reduction r,
                                 double label_smoothing) {
  const int64_t n = d.N * d.S;
  const double a = 1.0 - label_smoothing, b = label_smoothing / static_cast<double>(d.C);
  for_each_sample(n, d.C, [&](int64_t i) {
    const double g = grad_scale(dloss, i, r, static_cast<double>(n));
    const scalar_t* tg = target + base_of(d, i);
    log_softmax_chain(dlogits, logp, d, i, [&](int64_t c) {
      const double tc = label_smoothing > 0.0 ? static_cast<double>(tg[c * d.S]) * a + b
                                              : static_cast<double>(tg[c * d.S]);
      return -g * tc * class_weight(weight, c);
    });
  });
}

template <class scalar_t>
void mse_loss_forward(scalar_t* out, const scalar_t* input, const scalar_t* target, int64_t n, Reduction r) {
  if (r == Reduction::None) {
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const scalar_t diff = input[i] - target[i];
        out[i] = diff * diff;
      }
    });
    return;
  }
  const double sum = blocked_sum(n, [&](int64_t i) {
    const scalar_t diff = input[i] - target[i];
    return static_cast<double>(diff * diff);
  });
  out[0] = static_cast<scalar_t>(r == Reduction::Mean ? sum / static_cast<double>(n) : sum);
}

template <class scalar_t>
void mse_loss_backward(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                       const scalar_t* target, int64_t n, Reduction r) {
  // PyTorch's order: scalar_t(norm) * (input - target) * grad.
  const scalar_t norm = static_cast<scalar_t>(r == Reduction::Mean ? 2.0 / static_cast<double>(n) : 2.0);
  const bool per_elem = r == Reduction::None;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const scalar_t g = norm * (input[i] - target[i]) * dloss[per_elem ? i : 0];
      if (dinput) dinput[i] = g;
      if (dtarget) dtarget[i] = -g;
    }
  });
}

// Pointwise losses: elements independent, so parallel over elements; the reduction is
// blocked_sum (double, deterministic). The element formula is pointwise_loss_value (loss.h),
// evaluated in scalar_t as PyTorch does.
template <class scalar_t>
void pointwise_loss_forward(scalar_t* out, const scalar_t* input, const scalar_t* target, const scalar_t* weight,
                            const scalar_t* pos_weight, int64_t n, PointwiseLoss op, double param, Reduction r) {
  const scalar_t p = static_cast<scalar_t>(param);
  auto value = [&](int64_t i) {
    return pointwise_loss_value<scalar_t>(op, input[i], target[i], weight ? weight[i] : scalar_t(1),
                                          pos_weight ? pos_weight[i] : scalar_t(1), p);
  };
  if (r == Reduction::None) {
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = value(i);
    });
    return;
  }
  const double sum = blocked_sum(n, [&](int64_t i) { return static_cast<double>(value(i)); });
  out[0] = static_cast<scalar_t>(r == Reduction::Mean ? sum / static_cast<double>(n) : sum);
}

template <class scalar_t>
void pointwise_loss_backward(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                             const scalar_t* target, const scalar_t* weight, const scalar_t* pos_weight, int64_t n,
                             PointwiseLoss op, double param, Reduction r) {
  const scalar_t p = static_cast<scalar_t>(param);
  // 'mean': the incoming gradient divided by n first (PyTorch's grad / numel), in scalar_t.
  const scalar_t g0 = r == Reduction::None   ? scalar_t(0)
                      : r == Reduction::Mean ? static_cast<scalar_t>(static_cast<double>(dloss[0]) / n)
                                             : dloss[0];
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const scalar_t g = r == Reduction::None ? dloss[i] : g0;
      pointwise_loss_grad<scalar_t>(op, input[i], target[i], weight ? weight[i] : scalar_t(1),
                                    pos_weight ? pos_weight[i] : scalar_t(1), p, g, dinput + i,
                                    dtarget ? dtarget + i : nullptr);
    }
  });
}

template <class scalar_t>
void pointwise_loss_forward_naive(scalar_t* out, const scalar_t* input, const scalar_t* target,
                                  const scalar_t* weight, const scalar_t* pos_weight, int64_t n, PointwiseLoss op,
                                  double param, Reduction r) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t v = pointwise_loss_value<scalar_t>(op, input[i], target[i], weight ? weight[i] : scalar_t(1),
                                                      pos_weight ? pos_weight[i] : scalar_t(1),
                                                      static_cast<scalar_t>(param));
    if (r == Reduction::None)
      out[i] = v;
    else
      sum += static_cast<double>(v);
  }
  if (r != Reduction::None) out[0] = static_cast<scalar_t>(r == Reduction::Mean ? sum / static_cast<double>(n) : sum);
}

#define CNNKIT_INSTANTIATE_LOSS(T)                                                                             \
  template double nll_loss_forward<T>(T*, const T*, const int64_t*, const T*, const LossDims&, int64_t,          \
                                      Reduction);                                                              \
  template void nll_loss_backward<T>(T*, const T*, const int64_t*, const T*, const LossDims&, int64_t, Reduction, \
                                     double);                                                                  \
  template void cross_entropy_forward<T>(T*, T*, const T*, const int64_t*, const T*, const LossDims&, int64_t,   \
                                         Reduction, double);                                                   \
  template void cross_entropy_backward<T>(T*, const T*, const T*, const int64_t*, const T*, const LossDims&,     \
                                          int64_t, Reduction, double);                                         \
  template void cross_entropy_prob_forward<T>(T*, T*, const T*, const T*, const T*, const LossDims&, Reduction,  \
                                              double);                                                         \
  template void cross_entropy_prob_backward<T>(T*, const T*, const T*, const T*, const T*, const LossDims&,      \
                                               Reduction, double);                                             \
  template void mse_loss_forward<T>(T*, const T*, const T*, int64_t, Reduction);                                 \
  template void mse_loss_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, Reduction);               \
  template void pointwise_loss_forward<T>(T*, const T*, const T*, const T*, const T*, int64_t, PointwiseLoss,   \
                                          double, Reduction);                                                  \
  template void pointwise_loss_backward<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,   \
                                           PointwiseLoss, double, Reduction);                                  \
  template void pointwise_loss_forward_naive<T>(T*, const T*, const T*, const T*, const T*, int64_t,            \
                                                PointwiseLoss, double, Reduction);
CNNKIT_INSTANTIATE_LOSS(float)
CNNKIT_INSTANTIATE_LOSS(double)
#undef CNNKIT_INSTANTIATE_LOSS

}  // namespace cnnkit
