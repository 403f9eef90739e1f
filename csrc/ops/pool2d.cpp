// 2-D max and average pooling (fixed-window and adaptive), CPU. Backward WRITES (=) dinp
// (zero-filled, then accumulated window by window inside one plane; see the adaptive section near
// the end for its own strategy).
//
// Strategy: the forward passes map one thread to a contiguous run of output rows (plane, oh);
// each output element is written once, so no synchronisation is needed. The backward passes
// scatter into the input gradient, and windows of one plane overlap, so a thread owns whole planes
// (N*C of them, plenty for training batches) and visits its outputs in row-major order: the sums
// are then the same for every thread count and in the same order as PyTorch's CPU kernels.
// Window arithmetic follows PyTorch (aten/src/ATen/native/cpu/MaxPoolKernel.cpp, AvgPoolKernel.cpp):
//   max: rows [oh*sh - ph, min(oh*sh - ph + (kh-1)*dh + 1, H)), start advanced by dh while < 0;
//   avg: rows [oh*sh - ph, min(oh*sh - ph + kh, H + ph)) defines the pool size (padding counted,
//        the ceil_mode overhang beyond the right padding not), then clipped to [0, H) to sum.
//
// Fast paths (selected by pool2d_fast_2x2, kept bit-identical to the generic kernels, which stay
// as the reference and handle every other geometry): 2x2 windows, stride 2, no padding, no
// dilation -- the pooling layer of most CNNs. Windows then do not overlap, so
//  - forward reads the two input rows of one output row once, with AVX2 when available (16
//    inputs per row -> 8 outputs: even/odd columns split by shuffles, the four candidates
//    compared in PyTorch's order (row-major, a strictly greater value or a NaN replaces the
//    best));
//  - max-pool backward WRITES every input of a full window (the gradient where the stored index
//    points, 0 elsewhere) instead of zero-filling and scattering; an index outside its own
//    window (only possible with hand-made indices) sends its plane to the generic scatter;
//  - avg-pool forward/backward compute ((a + b) + c) + d and g / 4 exactly as the generic loops.
// Partial windows (odd H or W with ceil_mode) and columns past the last 8-wide block use the
// same per-element code as the generic path. Max-pool forward with any other window of column
// stride 2 (3x3/s2/p1 in ResNet) vectorises its interior outputs the same way (max_s2_row_avx2).
#include "ops/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/parallel.h"
#include "ops/simd.h"

namespace cnnkit {

namespace {
// Below this many output elements the OpenMP fork costs more than the work.
constexpr int64_t kPoolGrain = 1 << 14;

inline int64_t rows_grain(const Pool2dParams& p) { return std::max<int64_t>(1, kPoolGrain / std::max<int64_t>(p.OW, 1)); }
inline int64_t planes_grain(const Pool2dParams& p) {
  return std::max<int64_t>(1, kPoolGrain / std::max<int64_t>(p.OH * p.OW, 1));
}

// Start and end (exclusive) of one max-pool window along an axis, clipped to [0, in); the start
// stays on the dilation grid.
inline void max_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil, int64_t in, int64_t& b,
                       int64_t& e) {
  b = o * stride - pad;
  e = std::min(b + (k - 1) * dil + 1, in);
  while (b < 0) b += dil;
}

// Average-pool window along an axis: [b, e) clipped to the input, and `span`, its length counting
// padding (clipped at the padded border, as PyTorch does for the ceil_mode overhang).
inline void avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in, int64_t& b, int64_t& e,
                       int64_t& span) {
  b = o * stride - pad;
  e = std::min(b + k, in + pad);
  span = e - b;
  b = std::max<int64_t>(b, 0);
  e = std::min(e, in);
}

inline int64_t avg_divisor(int64_t hspan, int64_t wspan, int64_t h0, int64_t h1, int64_t w0, int64_t w1,
                           bool count_include_pad, int64_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  return count_include_pad ? hspan * wspan : (h1 - h0) * (w1 - w0);
}

// ---- generic per-element pieces (the reference; also the fast paths' edges) ---------------------

// Max over the window of output (oh, ow) of one plane, PyTorch's order: a strictly greater value
// or a NaN replaces the best (so the first maximum and the last NaN win).
template <class scalar_t>
inline void max_at(const scalar_t* src, const Pool2dParams& p, int64_t oh, int64_t ow, scalar_t& best,
                   int64_t& best_i) {
  int64_t h0, h1, w0, w1;
  max_window(oh, p.sh, p.ph, p.kh, p.dh, p.H, h0, h1);
  max_window(ow, p.sw, p.pw, p.kw, p.dw, p.W, w0, w1);
  best_i = h0 * p.W + w0;
  best = -std::numeric_limits<scalar_t>::infinity();
  for (int64_t h = h0; h < h1; h += p.dh) {
    const scalar_t* row = src + h * p.W;
    for (int64_t w = w0; w < w1; w += p.dw) {
      // Selects, not a branch: on random data the branch mispredicts about every other window.
      const scalar_t v = row[w];
      const bool upd = (v > best) | (v != v);
      best = upd ? v : best;
      best_i = upd ? h * p.W + w : best_i;
    }
  }
}

// Average of the window of output (oh, ow): the sum in scalar_t in row-major order, divided by
// the integer divisor, like PyTorch, so results match it to the bit.
template <class scalar_t>
inline scalar_t avg_at(const scalar_t* src, const Pool2dParams& p, int64_t oh, int64_t ow, bool count_include_pad,
                       int64_t divisor_override) {
  int64_t h0, h1, hspan, w0, w1, wspan;
  avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
  avg_window(ow, p.sw, p.pw, p.kw, p.W, w0, w1, wspan);
  if (h0 >= h1 || w0 >= w1) return scalar_t(0);
  scalar_t sum = 0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) sum += src[h * p.W + w];
  return sum / static_cast<scalar_t>(avg_divisor(hspan, wspan, h0, h1, w0, w1, count_include_pad, divisor_override));
}

// Generic max-pool backward of one plane: zero-fill, then add every output's gradient at its index
// in row-major output order.
template <class scalar_t>
inline void max_bwd_plane_scatter(scalar_t* dst, const scalar_t* g, const int64_t* idx, int64_t HW, int64_t OHW) {
  std::memset(dst, 0, sizeof(scalar_t) * HW);
  for (int64_t o = 0; o < OHW; ++o) dst[idx[o]] += g[o];
}

// ---- 2x2 / stride 2 fast paths ------------------------------------------------------------------

inline bool is_2x2_s2(const Pool2dParams& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 && p.dh == 1 && p.dw == 1;
}

// Scalar max of the full window whose top-left input is r0[0] (r1 = the row below), in PyTorch's
// order; i0 is the flat index of r0[0]. best starts at r0[0]: -inf or a NaN there keeps index i0,
// exactly as the generic loop starting from -inf does.
template <class scalar_t>
inline void max4(const scalar_t* r0, const scalar_t* r1, int64_t i0, int64_t W, scalar_t& best, int64_t& bi) {
  best = r0[0];
  bi = i0;
  if (r0[1] > best || std::isnan(r0[1])) { best = r0[1]; bi = i0 + 1; }
  if (r1[0] > best || std::isnan(r1[0])) { best = r1[0]; bi = i0 + W; }
  if (r1[1] > best || std::isnan(r1[1])) { best = r1[1]; bi = i0 + W + 1; }
}

#if CNNKIT_HAVE_AVX2
// Even and odd columns of 16 consecutive floats, in natural order after a final permute (the
// shuffles work within 128-bit lanes; callers apply permute_q to their results instead).
CNNKIT_AVX2 inline void split_even_odd(const float* r, __m256& ev, __m256& od) {
  const __m256 a = _mm256_loadu_ps(r), b = _mm256_loadu_ps(r + 8);
  ev = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
  od = _mm256_shuffle_ps(a, b, 0xDD);  // a1 a3 b1 b3 | a5 a7 b5 b7
}
CNNKIT_AVX2 inline __m256 permute_q(__m256 v) {  // 64-bit quarters 0 2 1 3: back to natural order
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8));
}
CNNKIT_AVX2 inline void store_idx(int64_t* dst, __m256i i32) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(i32)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(i32, 1)));
}
// Writes 16 floats: a0 b0 a1 b1 ... a7 b7 (each output's two inputs of one window row).
CNNKIT_AVX2 inline void store_interleaved(float* dst, __m256 a, __m256 b) {
  const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

// best, k = c, code where c > best or c is NaN (PyTorch's replacement rule).
CNNKIT_AVX2 inline void max_update(__m256& best, __m256& k, __m256 c, __m256 code) {
  const __m256 m = _mm256_or_ps(_mm256_cmp_ps(c, best, _CMP_GT_OQ), _mm256_cmp_ps(c, c, _CMP_UNORD_Q));
  best = _mm256_blendv_ps(best, c, m);
  k = _mm256_blendv_ps(k, code, m);
}
// 0 + (g where m, else 0): a -0.0 gradient becomes +0.0 as in the zero-fill-then-add reference.
CNNKIT_AVX2 inline __m256 pick(__m256 gv, __m256i m) {
  return _mm256_add_ps(_mm256_setzero_ps(), _mm256_and_ps(gv, _mm256_castsi256_ps(m)));
}

// Outputs [0, 8*floor(n/8)) of one full output row; returns how many were done. Candidate code k
// (0..3 = top-left, top-right, bottom-left, bottom-right) is tracked as a float lane and turned
// into the flat index at the end.
CNNKIT_AVX2 int64_t max2x2_row_avx2(float* dst, int64_t* idx, const float* r0, const float* r1, int64_t n,
                                    int64_t W, int64_t rowbase) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i one = _mm256_set1_epi32(1), vW = _mm256_set1_epi32(static_cast<int>(W));
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    __m256 c0, c1, c2, c3;
    split_even_odd(r0 + 2 * ow, c0, c1);
    split_even_odd(r1 + 2 * ow, c2, c3);
    __m256 best = c0, k = _mm256_setzero_ps();
    max_update(best, k, c1, _mm256_set1_ps(1.0f));
    max_update(best, k, c2, _mm256_set1_ps(2.0f));
    max_update(best, k, c3, _mm256_set1_ps(3.0f));
    const __m256i ki = _mm256_cvttps_epi32(permute_q(k));
    __m256i i32 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(rowbase + 2 * ow)), lane2);
    i32 = _mm256_add_epi32(i32, _mm256_and_si256(ki, one));
    i32 = _mm256_add_epi32(i32, _mm256_and_si256(_mm256_cmpgt_epi32(ki, one), vW));
    _mm256_storeu_ps(dst + ow, permute_q(best));
    store_idx(idx + ow, i32);
  }
  return ow;
}

// Backward of outputs [0, 8*floor(n/8)) of one full output row: writes both input rows of every
// window. Returns how many outputs were done, or -1 when an index is not in its own window.
CNNKIT_AVX2 int64_t max2x2_bwd_row_avx2(float* d0, float* d1, const float* g, const int64_t* idx, int64_t n,
                                        int64_t W, int64_t rowbase) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i low32 = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i z = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  const __m256i vW = _mm256_set1_epi32(static_cast<int>(W)), vW1 = _mm256_set1_epi32(static_cast<int>(W + 1));
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    // Indices are checked to lie in [0, H*W) < 2^31 by the binding: their low 32 bits are exact.
    const __m256i lo = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + ow)), low32);
    const __m256i hi =
        _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + ow + 4)), low32);
    const __m256i i32 = _mm256_permute2x128_si256(lo, hi, 0x20);
    const __m256i local =
        _mm256_sub_epi32(i32, _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(rowbase + 2 * ow)), lane2));
    const __m256i m0 = _mm256_cmpeq_epi32(local, z), m1 = _mm256_cmpeq_epi32(local, one);
    const __m256i m2 = _mm256_cmpeq_epi32(local, vW), m3 = _mm256_cmpeq_epi32(local, vW1);
    const __m256i any = _mm256_or_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m2, m3));
    if (_mm256_movemask_ps(_mm256_castsi256_ps(any)) != 0xFF) return -1;
    const __m256 gv = _mm256_loadu_ps(g + ow);
    store_interleaved(d0 + 2 * ow, pick(gv, m0), pick(gv, m1));
    store_interleaved(d1 + 2 * ow, pick(gv, m2), pick(gv, m3));
  }
  return ow;
}

// Average pool 2x2/s2 of one full output row: (((0 + a) + b) + c) + d, then / div, the generic
// loop's arithmetic.
CNNKIT_AVX2 int64_t avg2x2_row_avx2(float* dst, const float* r0, const float* r1, int64_t n, float div) {
  const __m256 vdiv = _mm256_set1_ps(div), zero = _mm256_setzero_ps();
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    __m256 c0, c1, c2, c3;
    split_even_odd(r0 + 2 * ow, c0, c1);
    split_even_odd(r1 + 2 * ow, c2, c3);
    const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(zero, c0), c1), c2), c3);
    _mm256_storeu_ps(dst + ow, permute_q(_mm256_div_ps(s, vdiv)));
  }
  return ow;
}

CNNKIT_AVX2 int64_t avg2x2_bwd_row_avx2(float* d0, float* d1, const float* g, int64_t n, float div) {
  const __m256 vdiv = _mm256_set1_ps(div), zero = _mm256_setzero_ps();
  int64_t ow = 0;
  for (; ow + 8 <= n; ow += 8) {
    const __m256 v = _mm256_add_ps(zero, _mm256_div_ps(_mm256_loadu_ps(g + ow), vdiv));
    store_interleaved(d0 + 2 * ow, v, v);
    store_interleaved(d1 + 2 * ow, v, v);
  }
  return ow;
}

// Any kh x kw window with column stride 2 (dilation 1), e.g. ResNet's 3x3/s2/p1: 8 outputs per
// step from ow, while their windows and the 16-float loads stay inside the row. Tap j of a window
// row is the even (j even) or odd (j odd) half of the 16 floats at column b + (j & ~1), b the
// first window column of output ow; candidates run in PyTorch's row-major order. Lanes hold
// outputs in the shuffles' order (0 1 4 5 2 3 6 7) until the final permute. Returns the first
// output not done.
CNNKIT_AVX2 int64_t max_s2_row_avx2(float* dst, int64_t* idx, const float* src, const Pool2dParams& p, int64_t h0,
                                    int64_t h1, int64_t ow) {
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 8, 10, 4, 6, 12, 14);
  const int64_t reach = ((p.kw - 1) & ~int64_t(1)) + 15;  // last column a step loads, from b
  for (; ow + 8 <= p.OW && 2 * ow - p.pw + reach < p.W; ow += 8) {
    const int64_t b = 2 * ow - p.pw;
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i bi = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(h0 * p.W + b)), lane2);
    for (int64_t h = h0; h < h1; ++h) {
      const float* row = src + h * p.W + b;
      __m256 ev = _mm256_setzero_ps(), od = ev;
      for (int64_t j = 0; j < p.kw; ++j) {
        if ((j & 1) == 0) split_even_odd(row + j, ev, od);
        const __m256 c = (j & 1) ? od : ev;
        const __m256 m = _mm256_or_ps(_mm256_cmp_ps(c, best, _CMP_GT_OQ), _mm256_cmp_ps(c, c, _CMP_UNORD_Q));
        const __m256i ci = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(h * p.W + b + j)), lane2);
        best = _mm256_blendv_ps(best, c, m);
        bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(ci), m));
      }
    }
    _mm256_storeu_ps(dst + ow, permute_q(best));
    store_idx(idx + ow, _mm256_permute4x64_epi64(bi, 0xD8));
  }
  return ow;
}
#endif

// Vector prefixes of one full output row (float with AVX2; none otherwise): how many outputs done.
inline int64_t max2x2_row_vec(float* dst, int64_t* idx, const float* r0, const float* r1, int64_t n, int64_t W,
                              int64_t rowbase) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return max2x2_row_avx2(dst, idx, r0, r1, n, W, rowbase);
#endif
  return 0;
}
inline int64_t max2x2_row_vec(double*, int64_t*, const double*, const double*, int64_t, int64_t, int64_t) { return 0; }
inline int64_t max_s2_row_vec(float* dst, int64_t* idx, const float* src, const Pool2dParams& p, int64_t h0,
                              int64_t h1, int64_t ow) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return max_s2_row_avx2(dst, idx, src, p, h0, h1, ow);
#endif
  return ow;
}
inline int64_t max_s2_row_vec(double*, int64_t*, const double*, const Pool2dParams&, int64_t, int64_t, int64_t ow) {
  return ow;
}
inline int64_t max2x2_bwd_row_vec(float* d0, float* d1, const float* g, const int64_t* idx, int64_t n, int64_t W,
                                  int64_t rowbase) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return max2x2_bwd_row_avx2(d0, d1, g, idx, n, W, rowbase);
#endif
  return 0;
}
inline int64_t max2x2_bwd_row_vec(double*, double*, const double*, const int64_t*, int64_t, int64_t, int64_t) {
  return 0;
}
inline int64_t avg2x2_row_vec(float* dst, const float* r0, const float* r1, int64_t n, float div) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return avg2x2_row_avx2(dst, r0, r1, n, div);
#endif
  return 0;
}
inline int64_t avg2x2_row_vec(double*, const double*, const double*, int64_t, double) { return 0; }
inline int64_t avg2x2_bwd_row_vec(float* d0, float* d1, const float* g, int64_t n, float div) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2()) return avg2x2_bwd_row_avx2(d0, d1, g, n, div);
#endif
  return 0;
}
inline int64_t avg2x2_bwd_row_vec(double*, double*, const double*, int64_t, double) { return 0; }

// Max-pool backward of one plane by writing, assuming output (oh, ow)'s index lies in the 2x2
// block at input (2oh, 2ow) (true for 2x2/s2 pooling without padding, whatever the forward's
// exact parameters: the backward receives only shapes). Full blocks are written (gradient or 0);
// uncovered inputs are zeroed; partial blocks (odd H or W with ceil_mode) zero then add. Returns
// false, with dst partly written, as soon as an index lies outside its block; the caller then
// redoes the plane with the generic scatter. With every index in its own block each input gets at
// most one gradient, so the result is bit-identical to the scatter's 0 + g.
template <class scalar_t>
bool max2x2_bwd_plane(scalar_t* dst, const scalar_t* g, const int64_t* idx, const Pool2dParams& p) {
  const int64_t H = p.H, W = p.W, OH = p.OH, OW = p.OW;
  const int64_t OHf = std::min(OH, H / 2), OWf = std::min(OW, W / 2);  // outputs with full blocks
  for (int64_t oh = 0; oh < OHf; ++oh) {
    scalar_t* d0 = dst + 2 * oh * W;
    scalar_t* d1 = d0 + W;
    const scalar_t* gr = g + oh * OW;
    const int64_t* ir = idx + oh * OW;
    const int64_t rowbase = 2 * oh * W;
    int64_t ow = max2x2_bwd_row_vec(d0, d1, gr, ir, OWf, W, rowbase);
    if (ow < 0) return false;
    for (; ow < OWf; ++ow) {
      const int64_t local = ir[ow] - (rowbase + 2 * ow);
      if (local != 0 && local != 1 && local != W && local != W + 1) return false;
      scalar_t* q0 = d0 + 2 * ow;
      scalar_t* q1 = d1 + 2 * ow;
      q0[0] = q0[1] = q1[0] = q1[1] = scalar_t(0);
      (local < W ? q0 : q1)[local < W ? local : local - W] += gr[ow];
    }
    for (int64_t c = 2 * OWf; c < W; ++c) d0[c] = d1[c] = scalar_t(0);
    for (; ow < OW; ++ow) {  // partial block: one column (W odd, ceil_mode)
      const int64_t i = ir[ow], c = 2 * ow;
      if (i != rowbase + c && i != rowbase + W + c) return false;
      dst[i] += gr[ow];
    }
  }
  std::memset(dst + 2 * OHf * W, 0, sizeof(scalar_t) * (H - 2 * OHf) * W);
  for (int64_t oh = OHf; oh < OH; ++oh)  // partial block row (H odd, ceil_mode): only row 2oh exists
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t i = idx[oh * OW + ow], r = 2 * oh * W + 2 * ow;
      if (i != r && !(ow < OWf && i == r + 1)) return false;
      dst[i] += g[oh * OW + ow];
    }
  return true;
}

// The backward may take the block-writing path when every output has a block starting inside the
// plane and there are more outputs than a 1x1 plane (it costs one pass either way).
inline bool bwd_blocks_fit(const Pool2dParams& p) {
  return p.OH >= 1 && p.OW >= 1 && 2 * (p.OH - 1) < p.H && 2 * (p.OW - 1) < p.W && p.H * p.W < (int64_t(1) << 31) &&
         (p.OH == p.H / 2 || p.OH == (p.H + 1) / 2) && (p.OW == p.W / 2 || p.OW == (p.W + 1) / 2);
}
}  // namespace

// ---- kernels ------------------------------------------------------------------------------------

// out, indices (planes, OH, OW); inp (planes, H, W), contiguous.
template <class scalar_t>
void max_pool2d_forward(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p) {
  const int64_t rows = p.planes * p.OH;
  const bool fast = is_2x2_s2(p) && p.H * p.W < (int64_t(1) << 31);
  const bool s2 = !fast && p.sw == 2 && p.dw == 1 && p.dh == 1 && p.H * p.W < (int64_t(1) << 31);
  parallel_for(0, rows, rows_grain(p), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t plane = r / p.OH, oh = r % p.OH;
      const scalar_t* src = inp + plane * p.H * p.W;
      scalar_t* dst = out + r * p.OW;
      int64_t* idx = indices + r * p.OW;
      int64_t ow = 0;
      if (fast && 2 * oh + 1 < p.H) {
        const int64_t OWf = std::min(p.OW, p.W / 2), rowbase = 2 * oh * p.W;
        const scalar_t* r0 = src + rowbase;
        ow = max2x2_row_vec(dst, idx, r0, r0 + p.W, OWf, p.W, rowbase);
        for (; ow < OWf; ++ow) max4(r0 + 2 * ow, r0 + p.W + 2 * ow, rowbase + 2 * ow, p.W, dst[ow], idx[ow]);
      } else if (s2) {
        int64_t h0, h1;
        max_window(oh, p.sh, p.ph, p.kh, p.dh, p.H, h0, h1);
        for (; ow < std::min(p.OW, (p.pw + 1) / 2); ++ow) max_at(src, p, oh, ow, dst[ow], idx[ow]);  // left edge
        if (h0 < h1) ow = max_s2_row_vec(dst, idx, src, p, h0, h1, ow);
      }
      for (; ow < p.OW; ++ow) max_at(src, p, oh, ow, dst[ow], idx[ow]);
    }
  });
}

// dinp (planes, H, W); dout, indices (planes, OH, OW).
template <class scalar_t>
void max_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool blocks = bwd_blocks_fit(p);
  parallel_for(0, p.planes, planes_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      scalar_t* dst = dinp + plane * HW;
      const scalar_t* g = dout + plane * OHW;
      const int64_t* idx = indices + plane * OHW;
      if (blocks && max2x2_bwd_plane(dst, g, idx, p)) continue;
      max_bwd_plane_scatter(dst, g, idx, HW, OHW);
    }
  });
}

// out (planes, OH, OW); inp (planes, H, W).
template <class scalar_t>
void avg_pool2d_forward(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, bool count_include_pad,
                        int64_t divisor_override) {
  const int64_t rows = p.planes * p.OH;
  const bool fast = is_2x2_s2(p);
  const scalar_t div4 = static_cast<scalar_t>(divisor_override != 0 ? divisor_override : 4);
  parallel_for(0, rows, rows_grain(p), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t plane = r / p.OH, oh = r % p.OH;
      const scalar_t* src = inp + plane * p.H * p.W;
      scalar_t* dst = out + r * p.OW;
      int64_t ow = 0;
      if (fast && 2 * oh + 1 < p.H) {
        const int64_t OWf = std::min(p.OW, p.W / 2);
        const scalar_t* r0 = src + 2 * oh * p.W;
        const scalar_t* r1 = r0 + p.W;
        ow = avg2x2_row_vec(dst, r0, r1, OWf, div4);
        for (; ow < OWf; ++ow) {
          const int64_t c = 2 * ow;
          dst[ow] = (((scalar_t(0) + r0[c]) + r0[c + 1]) + r1[c]) + r1[c + 1];
          dst[ow] /= div4;
        }
      }
      for (; ow < p.OW; ++ow) dst[ow] = avg_at(src, p, oh, ow, count_include_pad, divisor_override);
    }
  });
}

// dinp (planes, H, W); dout (planes, OH, OW). Each output spreads dout/divisor over its window;
// the 2x2/s2 path writes each input of a full window once (0 + dout/divisor).
template <class scalar_t>
void avg_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, bool count_include_pad,
                         int64_t divisor_override) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2_s2(p);
  const scalar_t div4 = static_cast<scalar_t>(divisor_override != 0 ? divisor_override : 4);
  parallel_for(0, p.planes, planes_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      scalar_t* dst = dinp + plane * HW;
      const scalar_t* g = dout + plane * OHW;
      int64_t OHf = 0, OWf = 0;  // outputs (oh < OHf, ow < OWf) written by the fast path
      if (fast) {
        OHf = std::min(p.OH, p.H / 2);
        OWf = std::min(p.OW, p.W / 2);
        for (int64_t oh = 0; oh < OHf; ++oh) {
          scalar_t* d0 = dst + 2 * oh * p.W;
          scalar_t* d1 = d0 + p.W;
          const scalar_t* gr = g + oh * p.OW;
          int64_t ow = avg2x2_bwd_row_vec(d0, d1, gr, OWf, div4);
          for (; ow < OWf; ++ow) {
            const scalar_t v = scalar_t(0) + gr[ow] / div4;
            d0[2 * ow] = d0[2 * ow + 1] = d1[2 * ow] = d1[2 * ow + 1] = v;
          }
          for (int64_t c = 2 * OWf; c < p.W; ++c) d0[c] = d1[c] = scalar_t(0);
        }
        std::memset(dst + 2 * OHf * p.W, 0, sizeof(scalar_t) * (p.H - 2 * OHf) * p.W);
      } else {
        std::memset(dst, 0, sizeof(scalar_t) * HW);
      }
      // Remaining outputs (all of them on the generic path) add into their windows. On the fast
      // path these are the partial windows of ceil_mode, which touch only inputs no full window
      // covers (zeroed above).
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        int64_t h0, h1, hspan;
        avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
        for (int64_t ow = (oh < OHf ? OWf : 0); ow < p.OW; ++ow) {
          int64_t w0, w1, wspan;
          avg_window(ow, p.sw, p.pw, p.kw, p.W, w0, w1, wspan);
          if (h0 >= h1 || w0 >= w1) continue;
          const int64_t div = avg_divisor(hspan, wspan, h0, h1, w0, w1, count_include_pad, divisor_override);
          const scalar_t delta = g[oh * p.OW + ow] / static_cast<scalar_t>(div);
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) dst[h * p.W + w] += delta;
        }
      }
    }
  });
}

// ---- adaptive pooling ---------------------------------------------------------------------------
// Strategy: a thread owns whole planes (parallel_for over the N*C planes), so every output and
// every gradient element is computed by one thread in a fixed order: results do not depend on the
// thread count. Arithmetic follows PyTorch's CPU kernels (aten/src/ATen/native/cpu/
// AdaptiveAvgPoolKernel.cpp, AdaptiveMaxPoolKernel.cpp): the average is sum / kh / kw with the sum
// in scalar_t in row-major order; the max keeps the first maximum and the last NaN; the backward
// passes zero-fill the plane and scatter the outputs in row-major order.
// Fast path, output 1x1 (ResNet's global average pool): the plane is reduced with 8 independent
// accumulators (a loop GCC vectorises), then divided once by H*W as torch's mean() does (PyTorch
// itself routes adaptive_avg_pool2d(x, 1) to mean); its backward writes g / (H*W) everywhere. The
// 1x1 max keeps 8 (best, index) lanes over the elements i = j mod 8 (one AVX2 register for float)
// and merges them with the sequential rule, so its value and index equal the generic kernel's
// exactly.
namespace {

inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

inline int64_t adaptive_grain(const Pool2dParams& p) {
  return std::max<int64_t>(1, kPoolGrain / std::max<int64_t>(std::max(p.H * p.W, p.OH * p.OW), 1));
}

template <class scalar_t>
inline scalar_t adaptive_avg_at(const scalar_t* src, const Pool2dParams& p, int64_t oh, int64_t ow) {
  const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
  const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
  scalar_t sum = 0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) sum += src[h * p.W + w];
  return sum / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
}

template <class scalar_t>
inline void adaptive_max_at(const scalar_t* src, const Pool2dParams& p, int64_t oh, int64_t ow, scalar_t& best,
                            int64_t& best_i) {
  const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
  const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
  best = -std::numeric_limits<scalar_t>::infinity();
  best_i = h0 * p.W + w0;
  for (int64_t h = h0; h < h1; ++h)
    for (int64_t w = w0; w < w1; ++w) {
      const scalar_t v = src[h * p.W + w];
      const bool upd = (v > best) | (v != v);
      best = upd ? v : best;
      best_i = upd ? h * p.W + w : best_i;
    }
}

// Sum of n values with 8 interleaved accumulators (vectorisable), then pairwise.
template <class scalar_t>
inline scalar_t plane_sum(const scalar_t* x, int64_t n) {
  scalar_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Lane phase of plane_max (n >= 8): lane j scans x[j], x[j+8], ... up to the last full block of 8
// with PyTorch's rule (a strictly greater value or a NaN replaces the lane's best); returns the
// first element not scanned.
template <class scalar_t>
inline int64_t plane_max_lanes(const scalar_t* x, int64_t n, scalar_t* lb, int64_t* li) {
  for (int j = 0; j < 8; ++j) { lb[j] = x[j]; li[j] = j; }
  int64_t i = 8;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const scalar_t v = x[i + j];
      const bool upd = (v > lb[j]) | (v != v);
      lb[j] = upd ? v : lb[j];
      li[j] = upd ? i + j : li[j];
    }
  return i;
}

#if CNNKIT_HAVE_AVX2
// The same 8 lanes in one AVX2 register (indices as int32: the caller checks n < 2^31).
CNNKIT_AVX2 int64_t plane_max_lanes_avx2(const float* x, int64_t n, float* lb, int64_t* li) {
  __m256 best = _mm256_loadu_ps(x);
  __m256i cur = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bi = cur;
  const __m256i eight = _mm256_set1_epi32(8);
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    cur = _mm256_add_epi32(cur, eight);
    const __m256 c = _mm256_loadu_ps(x + i);
    const __m256 m = _mm256_or_ps(_mm256_cmp_ps(c, best, _CMP_GT_OQ), _mm256_cmp_ps(c, c, _CMP_UNORD_Q));
    best = _mm256_blendv_ps(best, c, m);
    bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(bi), _mm256_castsi256_ps(cur), m));
  }
  _mm256_storeu_ps(lb, best);
  store_idx(li, bi);
  return i;
}
#endif

inline int64_t plane_max_lanes_vec(const float* x, int64_t n, float* lb, int64_t* li) {
#if CNNKIT_HAVE_AVX2
  if (simd_avx2() && n < (int64_t(1) << 31)) return plane_max_lanes_avx2(x, n, lb, li);
#endif
  return plane_max_lanes(x, n, lb, li);
}
inline int64_t plane_max_lanes_vec(const double* x, int64_t n, double* lb, int64_t* li) {
  return plane_max_lanes(x, n, lb, li);
}

// Max and first index of n values (PyTorch's rule: a strictly greater value or a NaN replaces the
// best). Within a lane the rule yields the lane's first maximum or last NaN; merging picks the
// last NaN over all lanes if any, else the largest value with the smallest index -- exactly what
// the sequential scan returns. The tail (indices above every lane's) continues the scan.
template <class scalar_t>
inline void plane_max(const scalar_t* x, int64_t n, scalar_t& best, int64_t& best_i) {
  int64_t i = 0;
  best = -std::numeric_limits<scalar_t>::infinity();
  best_i = 0;
  if (n >= 8) {
    scalar_t lb[8];
    int64_t li[8];
    i = plane_max_lanes_vec(x, n, lb, li);
    best = lb[0];
    best_i = li[0];
    for (int j = 1; j < 8; ++j) {
      const bool bnan = best != best, vnan = lb[j] != lb[j];
      bool take;
      if (vnan || bnan) take = vnan && (!bnan || li[j] > best_i);
      else take = lb[j] > best || (lb[j] == best && li[j] < best_i);
      if (take) { best = lb[j]; best_i = li[j]; }
    }
  }
  for (; i < n; ++i) {
    const scalar_t v = x[i];
    if (v > best || v != v) { best = v; best_i = i; }
  }
}

}  // namespace

template <class scalar_t>
void adaptive_avg_pool2d_forward(scalar_t* out, const scalar_t* inp, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool global = p.OH == 1 && p.OW == 1;
  parallel_for(0, p.planes, adaptive_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const scalar_t* src = inp + plane * HW;
      scalar_t* dst = out + plane * OHW;
      if (global) {
        dst[0] = plane_sum(src, HW) / static_cast<scalar_t>(HW);
        continue;
      }
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow) dst[oh * p.OW + ow] = adaptive_avg_at(src, p, oh, ow);
    }
  });
}

template <class scalar_t>
void adaptive_avg_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool global = p.OH == 1 && p.OW == 1;
  parallel_for(0, p.planes, adaptive_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      scalar_t* dst = dinp + plane * HW;
      const scalar_t* g = dout + plane * OHW;
      if (global) {
        const scalar_t v = g[0] / static_cast<scalar_t>(HW);
        for (int64_t i = 0; i < HW; ++i) dst[i] = v;
        continue;
      }
      std::memset(dst, 0, sizeof(scalar_t) * HW);
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
          const scalar_t delta = g[oh * p.OW + ow] / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) dst[h * p.W + w] += delta;
        }
      }
    }
  });
}

template <class scalar_t>
void adaptive_max_pool2d_forward(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool global = p.OH == 1 && p.OW == 1;
  parallel_for(0, p.planes, adaptive_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const scalar_t* src = inp + plane * HW;
      scalar_t* dst = out + plane * OHW;
      int64_t* idx = indices + plane * OHW;
      if (global) {
        plane_max(src, HW, dst[0], idx[0]);
        continue;
      }
      for (int64_t oh = 0; oh < p.OH; ++oh)
        for (int64_t ow = 0; ow < p.OW; ++ow) adaptive_max_at(src, p, oh, ow, dst[oh * p.OW + ow], idx[oh * p.OW + ow]);
    }
  });
}

// ---- naive references: four nested loops, PyTorch's formulas, no fast path, one thread ----------

template <class scalar_t>
void adaptive_avg_pool2d_forward_naive(scalar_t* out, const scalar_t* inp, const Pool2dParams& p) {
  for (int64_t c = 0; c < p.planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t h0 = (oh * p.H) / p.OH, h1 = ((oh + 1) * p.H + p.OH - 1) / p.OH;
        const int64_t w0 = (ow * p.W) / p.OW, w1 = ((ow + 1) * p.W + p.OW - 1) / p.OW;
        scalar_t sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += inp[(c * p.H + h) * p.W + w];
        out[(c * p.OH + oh) * p.OW + ow] = sum / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
      }
}

template <class scalar_t>
void adaptive_avg_pool2d_backward_naive(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p) {
  for (int64_t i = 0; i < p.planes * p.H * p.W; ++i) dinp[i] = scalar_t(0);
  for (int64_t c = 0; c < p.planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t h0 = (oh * p.H) / p.OH, h1 = ((oh + 1) * p.H + p.OH - 1) / p.OH;
        const int64_t w0 = (ow * p.W) / p.OW, w1 = ((ow + 1) * p.W + p.OW - 1) / p.OW;
        const scalar_t d =
            dout[(c * p.OH + oh) * p.OW + ow] / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dinp[(c * p.H + h) * p.W + w] += d;
      }
}

template <class scalar_t>
void adaptive_max_pool2d_forward_naive(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p) {
  for (int64_t c = 0; c < p.planes; ++c)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t h0 = (oh * p.H) / p.OH, h1 = ((oh + 1) * p.H + p.OH - 1) / p.OH;
        const int64_t w0 = (ow * p.W) / p.OW, w1 = ((ow + 1) * p.W + p.OW - 1) / p.OW;
        scalar_t best = -std::numeric_limits<scalar_t>::infinity();
        int64_t bi = h0 * p.W + w0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const scalar_t v = inp[(c * p.H + h) * p.W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              bi = h * p.W + w;
            }
          }
        out[(c * p.OH + oh) * p.OW + ow] = best;
        indices[(c * p.OH + oh) * p.OW + ow] = bi;
      }
}

template <class scalar_t>
void adaptive_max_pool2d_backward_naive(scalar_t* dinp, const scalar_t* dout, const int64_t* indices,
                                        const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  for (int64_t i = 0; i < p.planes * HW; ++i) dinp[i] = scalar_t(0);
  for (int64_t c = 0; c < p.planes; ++c)
    for (int64_t o = 0; o < OHW; ++o) dinp[c * HW + indices[c * OHW + o]] += dout[c * OHW + o];
}

#define CNNKIT_INSTANTIATE_POOL(T)                                                                    \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dParams&);                 \
  template void max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dParams&);          \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dParams&, bool, int64_t);            \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dParams&, bool, int64_t);            \
  template void adaptive_avg_pool2d_forward<T>(T*, const T*, const Pool2dParams&);                  \
  template void adaptive_avg_pool2d_backward<T>(T*, const T*, const Pool2dParams&);                 \
  template void adaptive_max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dParams&);        \
  template void adaptive_avg_pool2d_forward_naive<T>(T*, const T*, const Pool2dParams&);            \
  template void adaptive_avg_pool2d_backward_naive<T>(T*, const T*, const Pool2dParams&);           \
  template void adaptive_max_pool2d_forward_naive<T>(T*, int64_t*, const T*, const Pool2dParams&);  \
  template void adaptive_max_pool2d_backward_naive<T>(T*, const T*, const int64_t*, const Pool2dParams&);
CNNKIT_INSTANTIATE_POOL(float)
CNNKIT_INSTANTIATE_POOL(double)
#undef CNNKIT_INSTANTIATE_POOL

// ---- max unpooling: one thread per plane for the scatter (the first of equal indices wins: the
// plane is walked backwards so earlier values overwrite later ones), elementwise gather backward.

template <class scalar_t>
void max_unpool2d_forward(scalar_t* out, const scalar_t* inp, const int64_t* indices, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  parallel_for(0, p.planes, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, OHW)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      scalar_t* o = out + c * OHW;
      std::fill(o, o + OHW, scalar_t(0));
      const scalar_t* x = inp + c * HW;
      const int64_t* idx = indices + c * HW;
      for (int64_t i = HW - 1; i >= 0; --i) o[idx[i]] = x[i];
    }
  });
}

template <class scalar_t>
void max_unpool2d_backward(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  parallel_for(0, p.planes * HW, 1 << 15, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dinp[i] = dout[(i / HW) * OHW + indices[i]];
  });
}

#define CNNKIT_INSTANTIATE_UNPOOL(T)                                                              \
  template void max_unpool2d_forward<T>(T*, const T*, const int64_t*, const Pool2dParams&);      \
  template void max_unpool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dParams&);
CNNKIT_INSTANTIATE_UNPOOL(float)
CNNKIT_INSTANTIATE_UNPOOL(double)
#undef CNNKIT_INSTANTIATE_UNPOOL

}  // namespace cnnkit
