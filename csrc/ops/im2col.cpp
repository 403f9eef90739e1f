// im2col, im2col_packed and im2col_packed_t write (=) their columns; col2im writes (=) the image (it zeroes each channel plane and then
// accumulates the column entries into it). Layouts in im2col.h.
//
// Both walk the output positions of one kernel tap (c, kh, kw) at a time. For a tap, the output rows
// oh whose input row lies inside the image form one interval, and likewise for ow (valid_range), so
// the inner loops run without bounds tests: padding becomes explicit zero fills (im2col) or skipped
// entries (col2im), and with stride 1 a row segment is a plain copy.
#include "ops/im2col.h"

#include <algorithm>

#include "core/parallel.h"

namespace cnnkit {
namespace {

// Output positions o in [0, O) whose input index o*S - P + off (off = k*D) lies in [0, I) form the
// interval [lo, hi); empty intervals come back as lo == hi.
inline void valid_range(int64_t I, int64_t O, int64_t S, int64_t P, int64_t off, int64_t& lo, int64_t& hi) {
  const int64_t first = P - off;  // need o*S >= first
  lo = first <= 0 ? 0 : (first + S - 1) / S;
  const int64_t last = I - 1 + P - off;  // need o*S <= last
  hi = last < 0 ? 0 : std::min(O, last / S + 1);
  lo = std::min(lo, hi);
}

// Rows (or channels) per parallel chunk: below ~32K elements of work a fork costs more than it saves.
inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_item));
}

}  // namespace

// Row r (one kernel tap (c, kh, kw)) of the column matrix: dst[oh*OW + ow] for all OH*OW outputs.
// Copies are plain loops rather than std::copy: rows of small images are segments of 10-30 elements,
// where a memmove call costs more than the copy.
template <class T>
inline void im2col_row(T* dst, const T* im, const Im2colGeometry& g, int64_t r) {
  const int64_t KK = g.KH * g.KW, OW = g.OW, OH = g.OH;
  const int64_t c = r / KK, kh = (r % KK) / g.KW, kw = r % g.KW;
  int64_t oh_lo, oh_hi, ow_lo, ow_hi;
  valid_range(g.H, OH, g.SH, g.PH, kh * g.DH, oh_lo, oh_hi);
  valid_range(g.W, OW, g.SW, g.PW, kw * g.DW, ow_lo, ow_hi);
  if (ow_lo == ow_hi) oh_hi = oh_lo;  // the tap only ever reads padding: all zeros
  std::fill(dst, dst + oh_lo * OW, T(0));
  std::fill(dst + oh_hi * OW, dst + OH * OW, T(0));
  const int64_t iw0 = ow_lo * g.SW - g.PW + kw * g.DW, len = ow_hi - ow_lo;
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    const T* src = im + (c * g.H + oh * g.SH - g.PH + kh * g.DH) * g.W + iw0;
    T* d = dst + oh * OW;
    for (int64_t ow = 0; ow < ow_lo; ++ow) d[ow] = T(0);
    for (int64_t ow = ow_hi; ow < OW; ++ow) d[ow] = T(0);
    d += ow_lo;
    if (g.SW == 1) {
      for (int64_t i = 0; i < len; ++i) d[i] = src[i];
    } else {
      for (int64_t i = 0; i < len; ++i) d[i] = src[i * g.SW];
    }
  }
}

// Thread mapping: one column-matrix row (one kernel tap of one channel) per iteration; rows are
// disjoint, so every element is written by exactly one thread.
template <class T>
void im2col(T* cols, int64_t ldcols, const T* im, const Im2colGeometry& g) {
  parallel_for(0, g.rows(), grain_for(g.cols()), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) im2col_row(cols + r * ldcols, im, g, r);
  });
}

// Serial (called per image from threads that split a batch). Small images have short rows, where
// im2col's per-segment bounds logic and zero fills cost more than the copies, so the image is first
// copied once into a zero-padded one (exactly the Hp x Wp window that the taps read; negative
// padding crops). Every column-matrix row is then OH plain strided copies into a row buffer in L1,
// which is then cut into nr-wide slivers (im2col_packed) or interleaved into w-tall ones
// (im2col_packed_t).
namespace {

struct PaddedImage {
  int64_t Hp, Wp;
  explicit PaddedImage(const Im2colGeometry& g)
      : Hp((g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1), Wp((g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1) {}
};

template <class T>
void pad_image(T* pad, const T* im, const Im2colGeometry& g, const PaddedImage& pi) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t y = 0; y < pi.Hp; ++y) {
      T* d = pad + (c * pi.Hp + y) * pi.Wp;
      const int64_t iy = y - g.PH;
      if (iy < 0 || iy >= g.H) {
        std::fill(d, d + pi.Wp, T(0));
        continue;
      }
      const T* src = im + (c * g.H + iy) * g.W;
      for (int64_t x = 0; x < pi.Wp; ++x) {
        const int64_t ix = x - g.PW;
        d[x] = ix >= 0 && ix < g.W ? src[ix] : T(0);
      }
    }
}

// Row r of the column matrix from the padded image.
template <class T>
void padded_row(T* row, const T* pad, const Im2colGeometry& g, const PaddedImage& pi, int64_t r) {
  const int64_t KK = g.KH * g.KW, OW = g.OW;
  const int64_t c = r / KK, kh = (r % KK) / g.KW, kw = r % g.KW;
  const T* base = pad + (c * pi.Hp + kh * g.DH) * pi.Wp + kw * g.DW;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const T* src = base + oh * g.SH * pi.Wp;
    T* d = row + oh * OW;
    if (g.SW == 1) {
      for (int64_t ow = 0; ow < OW; ++ow) d[ow] = src[ow];
    } else {
      for (int64_t ow = 0; ow < OW; ++ow) d[ow] = src[ow * g.SW];
    }
  }
}

}  // namespace

template <class T>
void im2col_packed(T* packed, int64_t nr, const T* im, const Im2colGeometry& g, T* scratch) {
  const int64_t K = g.rows(), N = g.cols(), slivers = (N + nr - 1) / nr;
  const PaddedImage pi(g);
  T* pad = scratch;
  T* rowbuf = scratch + g.C * pi.Hp * pi.Wp;
  pad_image(pad, im, g, pi);
  std::fill(rowbuf + N, rowbuf + slivers * nr, T(0));
  for (int64_t r = 0; r < K; ++r) {
    padded_row(rowbuf, pad, g, pi, r);
    for (int64_t s = 0; s < slivers; ++s) {
      T* d = packed + (s * K + r) * nr;
      const T* src = rowbuf + s * nr;
      for (int64_t j = 0; j < nr; ++j) d[j] = src[j];
    }
  }
}

template <class T>
void im2col_packed_t(T* packed, int64_t w, const T* im, const Im2colGeometry& g, T* scratch) {
  const int64_t K = g.rows(), N = g.cols();
  const PaddedImage pi(g);
  T* pad = scratch;
  T* rowbuf = scratch + g.C * pi.Hp * pi.Wp;
  pad_image(pad, im, g, pi);
  for (int64_t r = 0; r < K; ++r) {
    padded_row(rowbuf, pad, g, pi, r);
    T* d = packed + (r / w) * N * w + r % w;
    for (int64_t k = 0; k < N; ++k) d[k * w] = rowbuf[k];
  }
  // Rows beyond K in the last sliver are zero.
  for (int64_t r = K; r % w != 0; ++r) {
    T* d = packed + (r / w) * N * w + r % w;
    for (int64_t k = 0; k < N; ++k) d[k * w] = T(0);
  }
}

int64_t im2col_packed_scratch(const Im2colGeometry& g, int64_t nr) {
  const PaddedImage pi(g);
  return g.C * pi.Hp * pi.Wp + (g.cols() + nr - 1) / nr * nr;
}

// Thread mapping: one input channel per iteration. A channel's pixels receive contributions only
// from that channel's KH*KW column rows, so threads write disjoint planes: no two threads ever add
// into the same pixel, hence no atomics and no per-thread copies to reduce. Within a channel the
// additions happen in a fixed order (kh, kw, oh, ow), so the result is independent of thread count.
template <class T>
void col2im(T* im, const T* cols, int64_t ldcols, const Im2colGeometry& g) {
  const int64_t OW = g.OW, HW = g.H * g.W;
  parallel_for(0, g.C, grain_for(g.KH * g.KW * g.cols()), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* plane = im + c * HW;
      std::fill(plane, plane + HW, T(0));
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const T* src = cols + ((c * g.KH + kh) * g.KW + kw) * ldcols;
          int64_t oh_lo, oh_hi, ow_lo, ow_hi;
          valid_range(g.H, g.OH, g.SH, g.PH, kh * g.DH, oh_lo, oh_hi);
          valid_range(g.W, OW, g.SW, g.PW, kw * g.DW, ow_lo, ow_hi);
          if (ow_lo == ow_hi) continue;  // the tap only ever reads padding
          const int64_t iw0 = ow_lo * g.SW - g.PW + kw * g.DW;
          for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
            T* d = plane + (oh * g.SH - g.PH + kh * g.DH) * g.W + iw0;
            const T* s = src + oh * OW;
            if (g.SW == 1) {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow - ow_lo] += s[ow];
            } else {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[(ow - ow_lo) * g.SW] += s[ow];
            }
          }
        }
      }
    }
  });
}

template void im2col<float>(float*, int64_t, const float*, const Im2colGeometry&);
template void im2col<double>(double*, int64_t, const double*, const Im2colGeometry&);
template void col2im<float>(float*, const float*, int64_t, const Im2colGeometry&);
template void col2im<double>(double*, const double*, int64_t, const Im2colGeometry&);
template void im2col_packed<float>(float*, int64_t, const float*, const Im2colGeometry&, float*);
template void im2col_packed<double>(double*, int64_t, const double*, const Im2colGeometry&, double*);
template void im2col_packed_t<float>(float*, int64_t, const float*, const Im2colGeometry&, float*);
template void im2col_packed_t<double>(double*, int64_t, const double*, const Im2colGeometry&, double*);

}  // namespace cnnkit
