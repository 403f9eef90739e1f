// Bicubic and antialiased (bilinear / bicubic) interpolation: the weight tables and the CPU passes
// (the math and the two-pass scheme are described in upsample.h).
//
// Tables: sep_taps evaluates PyTorch's per-output formulas with its mixed float/double arithmetic
// (A = the tensor's type: float32 tensors compute weights in float, as PyTorch's opmath does);
// sep_table stacks them into CSR rows once per call and sep_transpose builds the backward's
// gather lists. Passes (both parallel over disjoint output rows, each output written once):
//  - sep_pass_w: one output row per task, each output column a short dot product of one input row
//    with its taps (contiguous for the antialias filters, clamped repeats for bicubic);
//  - sep_pass_h: one (plane, output row) per task: the row is the weighted sum of the tapped input
//    rows, accumulated column-vectorised in tap order (PyTorch's order of the H sum).
#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "ops/upsample.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainElems = 1 << 14;

// PIL's antialias filters as PyTorch evaluates them (in the tensor's type): the triangle for
// bilinear, the Keys cubic with a = -0.5 for bicubic.
template <class A>
A aa_filter(bool cubic, A x) {
  x = std::abs(x);
  if (!cubic) return x < static_cast<A>(1) ? static_cast<A>(1.0 - x) : static_cast<A>(0);
  const A a = static_cast<A>(-0.5);
  if (x < static_cast<A>(1)) return cubic_conv1<A>(x, a);
  if (x < static_cast<A>(2)) return cubic_conv2<A>(x, a);
  return static_cast<A>(0);
}

template <class A>
void cubic_taps(const UpsampleParams& p, int64_t o, int64_t in, int64_t out, double scale, std::vector<int64_t>& idx,
                std::vector<A>& w) {
  const A sc = area_scale<A>(in, out, p.align_corners, scale);
  const A real = p.align_corners ? sc * static_cast<A>(o)
                                 : sc * (static_cast<A>(o) + static_cast<A>(0.5)) - static_cast<A>(0.5);
  // floorf, also for float64, as PyTorch's guard_index_and_lambda evaluates it
  int64_t i = static_cast<int64_t>(floorf(static_cast<float>(real)));
  if (i > in - 1) i = in - 1;
  A t = real - static_cast<A>(i);
  t = std::min(std::max(t, static_cast<A>(0)), static_cast<A>(1));
  const A a = static_cast<A>(-0.75);
  const A t2 = static_cast<A>(1.0 - t);
  const A c[4] = {cubic_conv2<A>(static_cast<A>(t + 1.0), a), cubic_conv1<A>(t, a), cubic_conv1<A>(t2, a),
                  cubic_conv2<A>(static_cast<A>(t2 + 1.0), a)};
  for (int k = 0; k < 4; ++k) {
    idx.push_back(std::min(std::max<int64_t>(i - 1 + k, 0), in - 1));
    w.push_back(c[k]);
  }
}

template <class A>
void aa_taps(const UpsampleParams& p, int64_t o, int64_t in, int64_t out, double scale, std::vector<int64_t>& idx,
             std::vector<A>& w) {
  const bool cubic = p.mode == UpsampleMode::Cubic;
  const int interp = cubic ? 4 : 2;
  const A sc = area_scale<A>(in, out, p.align_corners, scale);
  const A support = sc >= static_cast<A>(1) ? static_cast<A>((interp * 0.5) * sc) : static_cast<A>(interp * 0.5);
  const int64_t max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  const A invscale = sc >= static_cast<A>(1) ? static_cast<A>(1.0 / sc) : static_cast<A>(1);
  const A center = static_cast<A>(sc * (static_cast<double>(o) + 0.5));
  const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(center - support) + 0.5), 0);
  int64_t xsize = std::min<int64_t>(static_cast<int64_t>(static_cast<double>(center + support) + 0.5), in) - xmin;
  xsize = std::min(std::max<int64_t>(xsize, 0), max_taps);  // precision can add one tap; PyTorch clips too
  const size_t first = w.size();
  A total = 0;
  for (int64_t j = 0; j < xsize; ++j) {
    const A d = static_cast<A>((static_cast<double>(static_cast<A>(j + xmin) - center) + 0.5) *
                               static_cast<double>(invscale));
    const A v = aa_filter<A>(cubic, d);
    idx.push_back(xmin + j);
    w.push_back(v);
    total += v;
  }
  if (total != static_cast<A>(0))
    for (size_t e = first; e < w.size(); ++e) w[e] /= total;
}
}  // namespace

template <class T>
void sep_taps(const UpsampleParams& p, int64_t o, int64_t in, int64_t out, double scale, std::vector<int64_t>& idx,
              std::vector<T>& w) {
  if (sep_dim_identity(p, in, out)) {
    idx.push_back(o);
    w.push_back(static_cast<T>(1));
  } else if (p.antialias) {
    aa_taps<T>(p, o, in, out, scale, idx, w);
  } else {
    cubic_taps<T>(p, o, in, out, scale, idx, w);
  }
}

template <class T>
SepTable<T> sep_table(const UpsampleParams& p, int64_t in, int64_t out, double scale) {
  SepTable<T> t;
  t.ptr.reserve(out + 1);
  t.ptr.push_back(0);
  for (int64_t o = 0; o < out; ++o) {
    sep_taps<T>(p, o, in, out, scale, t.idx, t.w);
    t.ptr.push_back(static_cast<int64_t>(t.idx.size()));
  }
  return t;
}

template <class T>
SepTable<T> sep_transpose(const SepTable<T>& t, int64_t cols) {
  // counting sort of the entries by column, stable in (row, tap) order
  SepTable<T> r;
  r.ptr.assign(cols + 1, 0);
  for (int64_t c : t.idx) ++r.ptr[c + 1];
  for (int64_t c = 0; c < cols; ++c) r.ptr[c + 1] += r.ptr[c];
  r.idx.resize(t.idx.size());
  r.w.resize(t.w.size());
  std::vector<int64_t> fill(r.ptr.begin(), r.ptr.end() - 1);
  for (int64_t o = 0; o < t.rows(); ++o)
    for (int64_t e = t.ptr[o]; e < t.ptr[o + 1]; ++e) {
      const int64_t k = fill[t.idx[e]]++;
      r.idx[k] = o;
      r.w[k] = t.w[e];
    }
  return r;
}

template <class T>
void sep_pass_w(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t rows,
                int64_t in_cols, int64_t out_cols) {
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, out_cols));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* s = src + r * in_cols;
      T* d = dst + r * out_cols;
      for (int64_t o = 0; o < out_cols; ++o) {
        const int64_t e0 = ptr[o], e1 = ptr[o + 1];
        T acc = e1 > e0 ? w[e0] * s[idx[e0]] : T(0);
        for (int64_t e = e0 + 1; e < e1; ++e) acc += w[e] * s[idx[e]];
        d[o] = acc;
      }
    }
  });
}

template <class T>
void sep_pass_h(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t planes,
                int64_t in_rows, int64_t out_rows, int64_t cols) {
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, cols));
  parallel_for(0, planes * out_rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t pl = r / out_rows, o = r % out_rows;
      const T* s = src + pl * in_rows * cols;
      T* d = dst + r * cols;
      const int64_t e0 = ptr[o], e1 = ptr[o + 1];
      if (e1 == e0) {
        std::fill(d, d + cols, T(0));
        continue;
      }
      const T w0 = w[e0];
      const T* s0 = s + idx[e0] * cols;
      for (int64_t c = 0; c < cols; ++c) d[c] = w0 * s0[c];
      for (int64_t e = e0 + 1; e < e1; ++e) {
        const T we = w[e];
        const T* se = s + idx[e] * cols;
        for (int64_t c = 0; c < cols; ++c) d[c] += we * se[c];
      }
    }
  });
}

template <class T>
void sep_forward_naive(T* out, const T* inp, const UpsampleParams& p) {
  std::vector<int64_t> ih, iw;
  std::vector<T> wh, ww;
  for (int64_t pl = 0; pl < p.planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      ih.clear();
      wh.clear();
      sep_taps<T>(p, oh, p.H, p.OH, p.scale_h, ih, wh);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        iw.clear();
        ww.clear();
        sep_taps<T>(p, ow, p.W, p.OW, p.scale_w, iw, ww);
        const T* x = inp + pl * p.H * p.W;
        T v = 0;
        for (size_t j = 0; j < ih.size(); ++j) {
          T row = 0;
          for (size_t k = 0; k < iw.size(); ++k) row += ww[k] * x[ih[j] * p.W + iw[k]];
          v += wh[j] * row;
        }
        out[(pl * p.OH + oh) * p.OW + ow] = v;
      }
    }
}

template <class T>
void sep_backward_naive(T* dinp, const T* dout, const UpsampleParams& p) {
  std::fill(dinp, dinp + p.planes * p.H * p.W, T(0));
  std::vector<int64_t> ih, iw;
  std::vector<T> wh, ww;
  for (int64_t pl = 0; pl < p.planes; ++pl)
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      ih.clear();
      wh.clear();
      sep_taps<T>(p, oh, p.H, p.OH, p.scale_h, ih, wh);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        iw.clear();
        ww.clear();
        sep_taps<T>(p, ow, p.W, p.OW, p.scale_w, iw, ww);
        T* dx = dinp + pl * p.H * p.W;
        const T g = dout[(pl * p.OH + oh) * p.OW + ow];
        for (size_t j = 0; j < ih.size(); ++j)
          for (size_t k = 0; k < iw.size(); ++k) dx[ih[j] * p.W + iw[k]] += wh[j] * ww[k] * g;
      }
    }
}

#define CNNKIT_SEP_INSTANTIATE(T)                                                                                  \
  template void sep_taps<T>(const UpsampleParams&, int64_t, int64_t, int64_t, double, std::vector<int64_t>&,      \
                            std::vector<T>&);                                                                      \
  template SepTable<T> sep_table<T>(const UpsampleParams&, int64_t, int64_t, double);                              \
  template SepTable<T> sep_transpose<T>(const SepTable<T>&, int64_t);                                              \
  template void sep_pass_w<T>(T*, const T*, const int64_t*, const int64_t*, const T*, int64_t, int64_t, int64_t); \
  template void sep_pass_h<T>(T*, const T*, const int64_t*, const int64_t*, const T*, int64_t, int64_t, int64_t,  \
                              int64_t);                                                                            \
  template void sep_forward_naive<T>(T*, const T*, const UpsampleParams&);                                         \
  template void sep_backward_naive<T>(T*, const T*, const UpsampleParams&);
CNNKIT_SEP_INSTANTIATE(float)
CNNKIT_SEP_INSTANTIATE(double)
#undef CNNKIT_SEP_INSTANTIATE

}  // namespace cnnkit
