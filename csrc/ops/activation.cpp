// Elementwise activations, CPU. Backward WRITES (=) dinp.
//
// Strategy: every kernel is one flat loop over contiguous memory, split into contiguous chunks by
// parallel_for (one chunk per thread, each element written once). The loop bodies are branch-free
// selects and plain arithmetic so the compiler vectorises them (relu, leaky_relu, the backwards,
// and sigmoid through the libm-free vexp of activation.h); float tanh uses simd.h's tanh256 when
// the CPU has AVX2 (libm per element otherwise and for double). Below
// kGrain elements the loop runs serially: an OpenMP fork costs more than that much work.
#include "ops/activation.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrain = 1 << 15;

// Applies f(i) for i in [0, n) in parallel chunks.
template <class F>
inline void for_each_index(int64_t n, const F& f) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

// leaky_relu forward (v == x) and backward (v == dout): out = x > 0 ? v : v * s. GCC will not
// if-convert this select (the product could raise an FP exception, so it stays under a branch
// that mispredicts on mixed signs: 25x slower than relu), hence explicit AVX2 (blend of v and
// v * s on the mask x > 0). Returns false when AVX2 is not available: the caller's loop runs.
#if CNNKIT_HAVE_AVX2
CNNKIT_AVX2 void leaky_avx2_range(float* out, const float* v, const float* x, float s, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s), z = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(v + i);
    const __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_GT_OQ);
    _mm256_storeu_ps(out + i, _mm256_blendv_ps(_mm256_mul_ps(a, vs), a, m));
  }
  for (; i < n; ++i) out[i] = x[i] > 0.0f ? v[i] : v[i] * s;
}
CNNKIT_AVX2 void leaky_avx2_range(double* out, const double* v, const double* x, double s, int64_t n) {
  const __m256d vs = _mm256_set1_pd(s), z = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d a = _mm256_loadu_pd(v + i);
    const __m256d m = _mm256_cmp_pd(_mm256_loadu_pd(x + i), z, _CMP_GT_OQ);
    _mm256_storeu_pd(out + i, _mm256_blendv_pd(_mm256_mul_pd(a, vs), a, m));
  }
  for (; i < n; ++i) out[i] = x[i] > 0.0 ? v[i] : v[i] * s;
}
// relu forward (g == null: out = max-select(x, 0)) / backward (out = y <= 0 ? 0 : g) of a float
// range with non-temporal stores: for outputs larger than the caches the store stream then skips
// the read-for-ownership of every output line (a third of the traffic of a 1-in/1-out op). The
// head up to the first 32-byte boundary and the tail go through the scalar formula.
CNNKIT_AVX2 void relu_stream_range(float* out, const float* x, const float* g, int64_t n) {
  int64_t i = 0;
  auto scalar = [](float xv, const float* gp) { return gp ? (xv <= 0.0f ? 0.0f : *gp) : (xv < 0.0f ? 0.0f : xv); };
  for (; i < n && (reinterpret_cast<uintptr_t>(out + i) & 31) != 0; ++i) out[i] = scalar(x[i], g ? g + i : nullptr);
  const __m256 z = _mm256_setzero_ps();
  if (g) {
    for (; i + 8 <= n; i += 8) {
      const __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_LE_OQ);  // y <= 0 -> 0 (NaN passes g)
      _mm256_stream_ps(out + i, _mm256_andnot_ps(m, _mm256_loadu_ps(g + i)));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      _mm256_stream_ps(out + i, _mm256_andnot_ps(_mm256_cmp_ps(v, z, _CMP_LT_OQ), v));  // x < 0 -> 0, NaN passes
    }
  }
  for (; i < n; ++i) out[i] = scalar(x[i], g ? g + i : nullptr);
  _mm_sfence();
}

// sigmoid of a float range in one pass: 1 / (1 + exp256(-x)) (exp256 overflows to inf below
// x = -88.7, giving 0 as the multi-pass path and PyTorch do).
CNNKIT_AVX2 void sigmoid_avx2_range(float* out, const float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = simd::exp256(_mm256_xor_ps(_mm256_loadu_ps(x + i), sign));
    _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  if (i < n) {
    const __m256 e = simd::exp256(_mm256_xor_ps(simd::load_tail(x + i, n - i, 0.0f), sign));
    simd::store_tail(out + i, n - i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
}
#endif
// Streams (relu_stream_range) when the output is at least this large: smaller outputs stay in
// the caches for the next op, where ordinary stores are the better choice.
constexpr int64_t kStreamBytes = int64_t(4) << 20;
inline bool relu_stream(float* out, const float* x, const float* g, int64_t n) {
#if CNNKIT_HAVE_AVX2
  if (n * 4 >= kStreamBytes && simd_avx2()) {
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { relu_stream_range(out + b, x + b, g ? g + b : nullptr, e - b); });
    return true;
  }
#endif
  return false;
}
inline bool relu_stream(double*, const double*, const double*, int64_t) { return false; }

template <class scalar_t>
bool leaky_avx2(scalar_t* out, const scalar_t* v, const scalar_t* x, scalar_t s, int64_t n) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) {
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { leaky_avx2_range(out + b, v + b, x + b, s, e - b); });
    return true;
  }
#endif
  return false;
}
}  // namespace

// out, inp (n,)
template <class scalar_t>
void relu_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
  if (relu_stream(out, inp, static_cast<const scalar_t*>(nullptr), n)) return;
  for_each_index(n, [&](int64_t i) {
    const scalar_t x = inp[i];
    out[i] = x < scalar_t(0) ? scalar_t(0) : x;
  });
}

// dinp, dout, out (n,): the gradient passes where the output is positive (or NaN), as in
// PyTorch's threshold_backward.
// Both operands are loaded unconditionally: a load under the condition would compile to a
// branch (the compiler may not invent loads), mispredicted half the time on real activations.
template <class scalar_t>
void relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  if (relu_stream(dinp, out, dout, n)) return;
  for_each_index(n, [&](int64_t i) {
    const scalar_t g = dout[i], y = out[i];
    dinp[i] = y <= scalar_t(0) ? scalar_t(0) : g;
  });
}

template <class scalar_t>
void leaky_relu_forward(scalar_t* out, const scalar_t* inp, double slope, int64_t n) {
  const scalar_t s = static_cast<scalar_t>(slope);
  if (leaky_avx2(out, inp, inp, s, n)) return;
  for_each_index(n, [&](int64_t i) {
    const scalar_t x = inp[i], xs = x * s;
    out[i] = x > scalar_t(0) ? x : xs;
  });
}

template <class scalar_t>
void leaky_relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, double slope, int64_t n) {
  const scalar_t s = static_cast<scalar_t>(slope);
  if (leaky_avx2(dinp, dout, inp, s, n)) return;
  for_each_index(n, [&](int64_t i) {
    const scalar_t g = dout[i], x = inp[i], gs = g * s;
    dinp[i] = x > scalar_t(0) ? g : gs;
  });
}

// 1 / (1 + exp(-x)): exp(-x) overflows to inf for very negative x and the result is 0, never NaN.
// float with AVX2: one vector pass (sigmoid_avx2_range). Otherwise each thread's range is done in L1-sized pieces: out = -x, out = exp(out) (vexp_inplace's two
// passes), out = 1 / (1 + out), every pass a vectorised loop.
template <class scalar_t>
void sigmoid_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
#if CNNKIT_HAVE_AVX2
  if constexpr (std::is_same<scalar_t, float>::value) {
    if (simd_avx2()) {
      parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { sigmoid_avx2_range(out + b, inp + b, e - b); });
      return;
    }
  }
#endif
  constexpr int64_t kPiece = 1024;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t p0 = b; p0 < e; p0 += kPiece) {
      const int64_t p1 = std::min(e, p0 + kPiece);
      for (int64_t i = p0; i < p1; ++i) out[i] = -inp[i];
      vexp_inplace(out + p0, p1 - p0);
      for (int64_t i = p0; i < p1; ++i) out[i] = scalar_t(1) / (scalar_t(1) + out[i]);
    }
  });
}

template <class scalar_t>
void sigmoid_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  for_each_index(n, [&](int64_t i) { dinp[i] = dout[i] * (scalar_t(1) - out[i]) * out[i]; });
}

// float with AVX2: tanh256 of simd.h (Cephes tanhf, within 3 ulp); otherwise libm per element.
template <class scalar_t>
void tanh_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
  if constexpr (std::is_same<scalar_t, float>::value) {
    if (simd_avx2()) {
      parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { vtanh_avx2(out + b, inp + b, e - b); });
      return;
    }
  }
  for_each_index(n, [&](int64_t i) { out[i] = std::tanh(inp[i]); });
}

// 1 - out^2 rounded once, as PyTorch's AVX2 kernel computes it with an FMA: more accurate near
// saturation and the same bits as PyTorch. For float the product and difference run in double
// (exact but for a final rounding; vectorisable); for double std::fma.
inline float one_minus_sq(float y) { return static_cast<float>(1.0 - static_cast<double>(y) * y); }
inline double one_minus_sq(double y) { return std::fma(-y, y, 1.0); }

template <class scalar_t>
void tanh_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  for_each_index(n, [&](int64_t i) { dinp[i] = dout[i] * one_minus_sq(out[i]); });
}

// The parametrised family: one loop per direction, the op's functor (activation_functors.h)
// selected once per call by visit_act. The bodies are selects and libm calls; they vectorise
// where the compiler can (the threshold/shrink/hard* ops) and run libm per element otherwise.
template <class scalar_t>
void pointwise_act_forward(scalar_t* out, const scalar_t* inp, int64_t n, PointwiseAct act, const ActParams& params) {
  visit_act<scalar_t>(act, params, [&](const auto op) { for_each_index(n, [&](int64_t i) { out[i] = op.fwd(inp[i]); }); });
}

template <class scalar_t>
void pointwise_act_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, int64_t n, PointwiseAct act,
                            const ActParams& params) {
  visit_act<scalar_t>(act, params, [&](const auto op) {
    for_each_index(n, [&](int64_t i) { dinp[i] = op.bwd(dout[i], inp[i]); });
  });
}

// inp, out (outer, C, inner); weight (C,)
template <class scalar_t>
void prelu_forward(scalar_t* out, const scalar_t* inp, const scalar_t* weight, int64_t outer, int64_t C, int64_t inner) {
  const int64_t n = outer * C * inner;
  for_each_index(n, [&](int64_t i) {
    const scalar_t x = inp[i], w = weight[(i / inner) % C];
    out[i] = x > scalar_t(0) ? x : w * x;
  });
}

// dinp, dout, inp (outer, C, inner); dweight, weight (C,). The weight gradient: rows (o, c) of
// `inner` elements are cut into pieces of kPrePiece; each piece's sum is one task (parallel), then
// dweight[c] adds its pieces in (o, piece) order.
template <class scalar_t>
void prelu_backward(scalar_t* dinp, scalar_t* dweight, const scalar_t* dout, const scalar_t* inp,
                    const scalar_t* weight, int64_t outer, int64_t C, int64_t inner) {
  const int64_t n = outer * C * inner;
  if (dinp) {
    for_each_index(n, [&](int64_t i) {
      const scalar_t x = inp[i], g = dout[i], w = weight[(i / inner) % C];
      dinp[i] = x > scalar_t(0) ? g : w * g;
    });
  }
  if (!dweight) return;
  constexpr int64_t kPrePiece = 4096;
  const int64_t pieces = inner == 0 ? 0 : (inner + kPrePiece - 1) / kPrePiece;
  const int64_t tasks = outer * C * pieces;
  std::vector<double> part(static_cast<size_t>(tasks));
  parallel_for(0, tasks, 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t row = t / pieces, pc = t % pieces;
      const int64_t i0 = row * inner + pc * kPrePiece, i1 = row * inner + std::min(inner, (pc + 1) * kPrePiece);
      double s = 0.0;
      for (int64_t i = i0; i < i1; ++i) {
        const scalar_t x = inp[i];
        s += x > scalar_t(0) ? 0.0 : static_cast<double>(x * dout[i]);
      }
      part[static_cast<size_t>(t)] = s;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t pc = 0; pc < pieces; ++pc) s += part[static_cast<size_t>((o * C + c) * pieces + pc)];
    dweight[c] = static_cast<scalar_t>(s);
  }
}

#define CNNKIT_INSTANTIATE_ACT(T)                                                     \
  template void relu_forward<T>(T*, const T*, int64_t);                              \
  template void relu_backward<T>(T*, const T*, const T*, int64_t);                   \
  template void leaky_relu_forward<T>(T*, const T*, double, int64_t);                \
  template void leaky_relu_backward<T>(T*, const T*, const T*, double, int64_t);     \
  template void sigmoid_forward<T>(T*, const T*, int64_t);                           \
  template void sigmoid_backward<T>(T*, const T*, const T*, int64_t);                \
  template void tanh_forward<T>(T*, const T*, int64_t);                              \
  template void tanh_backward<T>(T*, const T*, const T*, int64_t);                   \
  template void pointwise_act_forward<T>(T*, const T*, int64_t, PointwiseAct, const ActParams&);            \
  template void pointwise_act_backward<T>(T*, const T*, const T*, int64_t, PointwiseAct, const ActParams&); \
  template void prelu_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);                        \
  template void prelu_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);
CNNKIT_INSTANTIATE_ACT(float)
CNNKIT_INSTANTIATE_ACT(double)
#undef CNNKIT_INSTANTIATE_ACT

}  // namespace cnnkit
