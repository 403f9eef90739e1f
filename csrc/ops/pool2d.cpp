// 2-D max and average pooling, CPU. Backward WRITES (=) dinp (zero-filled, then accumulated
// window by window inside one plane).
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
#include "ops/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/parallel.h"

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
}  // namespace

// out, indices (planes, OH, OW); inp (planes, H, W), contiguous.
template <class scalar_t>
void max_pool2d_forward(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p) {
  const int64_t rows = p.planes * p.OH;
  parallel_for(0, rows, rows_grain(p), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t plane = r / p.OH, oh = r % p.OH;
      const scalar_t* src = inp + plane * p.H * p.W;
      scalar_t* dst = out + r * p.OW;
      int64_t* idx = indices + r * p.OW;
      int64_t h0, h1;
      max_window(oh, p.sh, p.ph, p.kh, p.dh, p.H, h0, h1);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        int64_t w0, w1;
        max_window(ow, p.sw, p.pw, p.kw, p.dw, p.W, w0, w1);
        int64_t best_i = h0 * p.W + w0;
        scalar_t best = -std::numeric_limits<scalar_t>::infinity();
        for (int64_t h = h0; h < h1; h += p.dh) {
          const scalar_t* row = src + h * p.W;
          for (int64_t w = w0; w < w1; w += p.dw) {
            const scalar_t v = row[w];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = h * p.W + w;
            }
          }
        }
        dst[ow] = best;
        idx[ow] = best_i;
      }
    }
  });
}

// dinp (planes, H, W); dout, indices (planes, OH, OW).
template <class scalar_t>
void max_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  parallel_for(0, p.planes, planes_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      scalar_t* dst = dinp + plane * HW;
      std::memset(dst, 0, sizeof(scalar_t) * HW);
      const scalar_t* g = dout + plane * OHW;
      const int64_t* idx = indices + plane * OHW;
      for (int64_t o = 0; o < OHW; ++o) dst[idx[o]] += g[o];
    }
  });
}

// out (planes, OH, OW); inp (planes, H, W). The window sum accumulates in scalar_t in row-major
// order and is divided by the integer divisor, like PyTorch, so results match it to the bit.
template <class scalar_t>
void avg_pool2d_forward(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, bool count_include_pad,
                        int64_t divisor_override) {
  const int64_t rows = p.planes * p.OH;
  parallel_for(0, rows, rows_grain(p), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const int64_t plane = r / p.OH, oh = r % p.OH;
      const scalar_t* src = inp + plane * p.H * p.W;
      scalar_t* dst = out + r * p.OW;
      int64_t h0, h1, hspan;
      avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        int64_t w0, w1, wspan;
        avg_window(ow, p.sw, p.pw, p.kw, p.W, w0, w1, wspan);
        if (h0 >= h1 || w0 >= w1) {
          dst[ow] = scalar_t(0);
          continue;
        }
        scalar_t sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += src[h * p.W + w];
        const int64_t div = avg_divisor(hspan, wspan, h0, h1, w0, w1, count_include_pad, divisor_override);
        dst[ow] = sum / static_cast<scalar_t>(div);
      }
    }
  });
}

// dinp (planes, H, W); dout (planes, OH, OW). Each output spreads dout/divisor over its window.
template <class scalar_t>
void avg_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, bool count_include_pad,
                         int64_t divisor_override) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  parallel_for(0, p.planes, planes_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      scalar_t* dst = dinp + plane * HW;
      std::memset(dst, 0, sizeof(scalar_t) * HW);
      const scalar_t* g = dout + plane * OHW;
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        int64_t h0, h1, hspan;
        avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
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

#define CNNKIT_INSTANTIATE_POOL(T)                                                                    \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const Pool2dParams&);                 \
  template void max_pool2d_backward<T>(T*, const T*, const int64_t*, const Pool2dParams&);          \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2dParams&, bool, int64_t);            \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2dParams&, bool, int64_t);
CNNKIT_INSTANTIATE_POOL(float)
CNNKIT_INSTANTIATE_POOL(double)
#undef CNNKIT_INSTANTIATE_POOL

}  // namespace cnnkit
