// Nearest / nearest-exact / (bi)linear interpolation, CPU kernels (index rules in upsample.h).
// Backward WRITES (=) dinp.
//
// Strategy:
//  - The per-dim source tables (i0, i1, l0, l1 for every output row and column) are computed once
//    per call with upsample_src, the function the CUDA twin evaluates per thread, so both devices
//    pick the same source pixels.
//  - Forward: parallel_for over (plane, output row); each output row reads at most two input rows:
//    out = (x[h0,w0]*lw0 + x[h0,w1]*lw1)*lh0 + (x[h1,w0]*lw0 + x[h1,w1]*lw1)*lh1 (PyTorch's order
//    of the separable interpolation: the inner dim first); the nearest modes copy x[h0, w0].
//  - Backward is a GATHER: parallel_for over (plane, input row); input (ih, iw) sums, over the
//    output rows [lo_h, hi_h) and columns [lo_w, hi_w) that read it (contiguous ranges, see
//    upsample.h), wh * ww * dout. Each input element is written once by one thread: no atomics,
//    no zero-fill, and the result does not depend on the thread count. Downsampling skips inputs
//    (empty ranges give 0).
#include "ops/upsample.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainElems = 1 << 14;

template <class T>
using Acc = T;  // compute type of the linear weights: float for float32, double for float64

template <class T>
std::vector<Src1d<Acc<T>>> src_table(const UpsampleParams& p, int64_t in, int64_t out, double scale) {
  std::vector<Src1d<Acc<T>>> t(out);
  for (int64_t o = 0; o < out; ++o) t[o] = upsample_src<Acc<T>>(p.mode, p.align_corners, o, in, out, scale);
  return t;
}

struct Range {
  int64_t lo, hi;
};

template <class T>
std::vector<Range> range_table(const UpsampleParams& p, int64_t in, int64_t out, double scale) {
  std::vector<Range> t(in);
  for (int64_t i = 0; i < in; ++i)
    upsample_range<Acc<T>>(p.mode, p.align_corners, i, in, out, scale, &t[i].lo, &t[i].hi);
  return t;
}
}  // namespace

template <class T>
void upsample_forward(T* out, const T* inp, const UpsampleParams& p) {
  const auto th = src_table<T>(p, p.H, p.OH, p.scale_h);
  const auto tw = src_table<T>(p, p.W, p.OW, p.scale_w);
  const bool nearest = p.mode != UpsampleMode::Linear;
  const int64_t rows = p.planes * p.OH;
  parallel_for(0, rows, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, p.OW)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t pl = r / p.OH, oh = r % p.OH;
      const auto& sh = th[oh];
      const T* x0 = inp + (pl * p.H + sh.i0) * p.W;
      const T* x1 = inp + (pl * p.H + sh.i1) * p.W;
      T* y = out + r * p.OW;
      if (nearest) {
        for (int64_t ow = 0; ow < p.OW; ++ow) y[ow] = x0[tw[ow].i0];
        continue;
      }
      const T lh0 = static_cast<T>(sh.l0), lh1 = static_cast<T>(sh.l1);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const auto& sw = tw[ow];
        const T lw0 = static_cast<T>(sw.l0), lw1 = static_cast<T>(sw.l1);
        y[ow] = (x0[sw.i0] * lw0 + x0[sw.i1] * lw1) * lh0 + (x1[sw.i0] * lw0 + x1[sw.i1] * lw1) * lh1;
      }
    }
  });
}

template <class T>
void upsample_backward(T* dinp, const T* dout, const UpsampleParams& p) {
  const auto th = src_table<T>(p, p.H, p.OH, p.scale_h);
  const auto tw = src_table<T>(p, p.W, p.OW, p.scale_w);
  const auto rh = range_table<T>(p, p.H, p.OH, p.scale_h);
  const auto rw = range_table<T>(p, p.W, p.OW, p.scale_w);
  const int64_t rows = p.planes * p.H;
  parallel_for(0, rows, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, p.W)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t pl = r / p.H, ih = r % p.H;
      T* dx = dinp + r * p.W;
      const T* g = dout + pl * p.OH * p.OW;
      for (int64_t iw = 0; iw < p.W; ++iw) {
        T acc = 0;
        for (int64_t oh = rh[ih].lo; oh < rh[ih].hi; ++oh) {
          const T wh = static_cast<T>(upsample_weight(th[oh], ih));
          const T* grow = g + oh * p.OW;
          T row = 0;
          for (int64_t ow = rw[iw].lo; ow < rw[iw].hi; ++ow)
            row += static_cast<T>(upsample_weight(tw[ow], iw)) * grow[ow];
          acc += wh * row;
        }
        dx[iw] = acc;
      }
    }
  });
}

template <class T>
void upsample_forward_naive(T* out, const T* inp, const UpsampleParams& p) {
  for (int64_t pl = 0; pl < p.planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const auto sh = upsample_src<Acc<T>>(p.mode, p.align_corners, oh, p.H, p.OH, p.scale_h);
        const auto sw = upsample_src<Acc<T>>(p.mode, p.align_corners, ow, p.W, p.OW, p.scale_w);
        const T* x = inp + pl * p.H * p.W;
        T v;
        if (p.mode != UpsampleMode::Linear) {
          v = x[sh.i0 * p.W + sw.i0];
        } else {
          v = T(sh.l0) * (T(sw.l0) * x[sh.i0 * p.W + sw.i0] + T(sw.l1) * x[sh.i0 * p.W + sw.i1]) +
              T(sh.l1) * (T(sw.l0) * x[sh.i1 * p.W + sw.i0] + T(sw.l1) * x[sh.i1 * p.W + sw.i1]);
        }
        out[(pl * p.OH + oh) * p.OW + ow] = v;
      }
}

template <class T>
void upsample_backward_naive(T* dinp, const T* dout, const UpsampleParams& p) {
  std::fill(dinp, dinp + p.planes * p.H * p.W, T(0));
  for (int64_t pl = 0; pl < p.planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const auto sh = upsample_src<Acc<T>>(p.mode, p.align_corners, oh, p.H, p.OH, p.scale_h);
        const auto sw = upsample_src<Acc<T>>(p.mode, p.align_corners, ow, p.W, p.OW, p.scale_w);
        T* dx = dinp + pl * p.H * p.W;
        const T g = dout[(pl * p.OH + oh) * p.OW + ow];
        if (p.mode != UpsampleMode::Linear) {
          dx[sh.i0 * p.W + sw.i0] += g;
          continue;
        }
        dx[sh.i0 * p.W + sw.i0] += T(sh.l0) * T(sw.l0) * g;
        dx[sh.i0 * p.W + sw.i1] += T(sh.l0) * T(sw.l1) * g;
        dx[sh.i1 * p.W + sw.i0] += T(sh.l1) * T(sw.l0) * g;
        dx[sh.i1 * p.W + sw.i1] += T(sh.l1) * T(sw.l1) * g;
      }
}

#define CNNKIT_UPSAMPLE_INSTANTIATE(T)                                              \
  template void upsample_forward<T>(T*, const T*, const UpsampleParams&);           \
  template void upsample_backward<T>(T*, const T*, const UpsampleParams&);          \
  template void upsample_forward_naive<T>(T*, const T*, const UpsampleParams&);     \
  template void upsample_backward_naive<T>(T*, const T*, const UpsampleParams&);
CNNKIT_UPSAMPLE_INSTANTIATE(float)
CNNKIT_UPSAMPLE_INSTANTIATE(double)
#undef CNNKIT_UPSAMPLE_INSTANTIATE

}  // namespace cnnkit
