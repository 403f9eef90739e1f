// Padding on the CPU (ops/pad.h). Forward writes (=) out; backward writes (=) dinp.
//
// Forward: threads split the output rows (b, od, oh); a row whose d or h source is -1 (constant
// mode) is the fill value, else each element reads its source along w from a per-call table of
// w source indices (constant mode: the interior is one contiguous copy, the edges are filled).
// Backward: a gather, no atomics and no shared writes: threads split the input rows (b, d, h), and
// each input row sums, for every (od, oh) in the preimages of d and h, the dout row's entries at
// the preimages of each w (preimages from pad_preimages; in the interior that is the element
// itself, at reflect/replicate/circular edges a few more). The summation order is fixed, so the
// result does not depend on the thread count.
#include "ops/pad.h"

#include <algorithm>

#include "core/parallel.h"

namespace cnnkit {

PadPreimages pad_preimages(const PadDim& d, PadMode mode) {
  PadPreimages pre;
  const int64_t out = d.out();
  pre.offset.assign(static_cast<size_t>(d.in + 1), 0);
  std::vector<int64_t> src(static_cast<size_t>(std::max<int64_t>(out, 0)));
  for (int64_t o = 0; o < out; ++o) {
    src[o] = pad_source_index(o, d.in, d.lo, d.hi, mode);
    if (src[o] >= 0) ++pre.offset[src[o] + 1];
  }
  for (int64_t i = 0; i < d.in; ++i) pre.offset[i + 1] += pre.offset[i];
  pre.index.resize(static_cast<size_t>(std::max<int64_t>(pre.offset[d.in], 1)));
  std::vector<int64_t> fill(pre.offset.begin(), pre.offset.end() - 1);
  for (int64_t o = 0; o < out; ++o)  // ascending o within each list
    if (src[o] >= 0) pre.index[fill[src[o]]++] = o;
  return pre;
}

template <class T>
void pad_forward(T* out, const T* inp, double value, const PadParams& p) {
  const int64_t OD = p.d.out(), OH = p.h.out(), OW = p.w.out();
  const T v = static_cast<T>(value);
  std::vector<int64_t> srcw(static_cast<size_t>(OW));
  for (int64_t o = 0; o < OW; ++o) srcw[o] = pad_source_index(o, p.w.in, p.w.lo, p.w.hi, p.mode);
  // constant mode: columns [c0, c1) are the input's [c0 - lo, c1 - lo)
  const int64_t c0 = std::clamp<int64_t>(p.w.lo, 0, OW), c1 = std::clamp<int64_t>(p.w.lo + p.w.in, c0, OW);
  const int64_t rows = p.B * OD * OH;
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(OW, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t oh = r % OH, od = (r / OH) % OD, b = r / (OH * OD);
      const int64_t sd = pad_source_index(od, p.d.in, p.d.lo, p.d.hi, p.mode);
      const int64_t sh = pad_source_index(oh, p.h.in, p.h.lo, p.h.hi, p.mode);
      T* dst = out + r * OW;
      if (sd < 0 || sh < 0) {
        std::fill(dst, dst + OW, v);
        continue;
      }
      const T* src = inp + ((b * p.d.in + sd) * p.h.in + sh) * p.w.in;
      if (p.mode == PadMode::Constant) {
        std::fill(dst, dst + c0, v);
        std::copy(src + (c0 - p.w.lo), src + (c1 - p.w.lo), dst + c0);
        std::fill(dst + c1, dst + OW, v);
      } else {
        for (int64_t o = 0; o < OW; ++o) dst[o] = src[srcw[o]];
      }
    }
  });
}

template <class T>
void pad_backward(T* dinp, const T* dout, const PadParams& p, const int64_t* off_d, const int64_t* idx_d,
                  const int64_t* off_h, const int64_t* idx_h, const int64_t* off_w, const int64_t* idx_w) {
  const int64_t D = p.d.in, H = p.h.in, W = p.w.in, OD = p.d.out(), OH = p.h.out(), OW = p.w.out();
  const int64_t rows = p.B * D * H;
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t h = r % H, d = (r / H) % D, b = r / (H * D);
      T* dst = dinp + r * W;
      std::fill(dst, dst + W, T(0));
      for (int64_t jd = off_d[d]; jd < off_d[d + 1]; ++jd)
        for (int64_t jh = off_h[h]; jh < off_h[h + 1]; ++jh) {
          const T* src = dout + ((b * OD + idx_d[jd]) * OH + idx_h[jh]) * OW;
          for (int64_t w = 0; w < W; ++w) {
            T acc = dst[w];
            for (int64_t jw = off_w[w]; jw < off_w[w + 1]; ++jw) acc += src[idx_w[jw]];
            dst[w] = acc;
          }
        }
    }
  });
}

#define CNNKIT_INSTANTIATE_PAD_FWD(T) template void pad_forward<T>(T*, const T*, double, const PadParams&);
CNNKIT_INSTANTIATE_PAD_FWD(float)
CNNKIT_INSTANTIATE_PAD_FWD(double)
CNNKIT_INSTANTIATE_PAD_FWD(int64_t)
CNNKIT_INSTANTIATE_PAD_FWD(bool)
CNNKIT_INSTANTIATE_PAD_FWD(uint8_t)
CNNKIT_INSTANTIATE_PAD_FWD(int32_t)
CNNKIT_INSTANTIATE_PAD_FWD(int16_t)
CNNKIT_INSTANTIATE_PAD_FWD(int8_t)
#undef CNNKIT_INSTANTIATE_PAD_FWD
#define CNNKIT_INSTANTIATE_PAD_BWD(T)                                                                          \
  template void pad_backward<T>(T*, const T*, const PadParams&, const int64_t*, const int64_t*, const int64_t*, \
                                const int64_t*, const int64_t*, const int64_t*);
CNNKIT_INSTANTIATE_PAD_BWD(float)
CNNKIT_INSTANTIATE_PAD_BWD(double)
#undef CNNKIT_INSTANTIATE_PAD_BWD

}  // namespace cnnkit
