// Nearest / nearest-exact / (bi)linear interpolation of (planes, H, W) contiguous data, the kernels
// of torch.nn.functional.interpolate (upsample_nearest{1,2}d, _upsample_nearest_exact{1,2}d,
// upsample_linear1d, upsample_bilinear2d). A 1-D (N, C, L) input is the case H = OH = 1.
// Bicubic (upsample_bicubic2d) and antialiased bilinear / bicubic (_upsample_{bilinear,bicubic}2d_aa)
// are the "separable" family at the end of this file (kernels in upsample_separable.{cpp,cu}).
// Backward WRITES (=) dinp: every input element is written once, gathering the gradients of the
// outputs that read it (no atomics, deterministic; see upsample.cpp).
//
// Source-index rules (PyTorch's aten/src/ATen/native/UpSample.h, re-derived here and shared by the
// CPU and CUDA twins through the CNNKIT_HD functions below). `scale` is the user's scale factor
// for that dim, or <= 0 when none was given (size given, or recompute_scale_factor=True):
//   ratio(in, out)  = 1/scale (rounded to the compute type) when a scale is given, else in/out
//   nearest:        out == in -> o; out == 2*in -> o/2; else min(floor(o * ratio_f32), in-1)
//   nearest-exact:  min(floor((o + 0.5) * ratio_f32), in-1)
//   linear:         out == in -> (o, o, 1, 0); else with A = the compute type (float for float32,
//                   double for float64), ratio = align_corners ? (out > 1 ? (in-1)/(out-1) : 0)
//                   : ratio(in, out), real = align_corners ? ratio*o : max(ratio*(o+0.5)-0.5, 0),
//                   i0 = min(int(real), in-1), i1 = i0 + (i0 < in-1), l1 = clamp(real-i0, 0, 1),
//                   l0 = 1 - l1.
// Every source index is a non-decreasing function of the output index, so the outputs reading a
// given input index form one contiguous range, found by binary search (the backward's gather).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#ifdef __CUDACC__
#define CNNKIT_HD __host__ __device__ __forceinline__
#else
#define CNNKIT_HD inline
#endif

namespace cnnkit {

enum class UpsampleMode : int { Nearest = 0, NearestExact = 1, Linear = 2, Cubic = 3 };

struct UpsampleParams {
  int64_t planes = 0;                 // N * C
  int64_t H = 1, W = 1, OH = 1, OW = 1;
  UpsampleMode mode = UpsampleMode::Nearest;
  bool align_corners = false;
  double scale_h = -1.0, scale_w = -1.0;  // user scale factors; <= 0: none
  bool antialias = false;             // Linear / Cubic on 4-D input only: the "aa" filters
};

// One output index's sources along one dim: value = l0 * x[i0] + l1 * x[i1] (nearest: l0 = 1,
// l1 = 0, i1 = i0).
template <class A>
struct Src1d {
  int64_t i0, i1;
  A l0, l1;
};

// a * b rounded once, never fused with a following add: nvcc contracts a*b - c into an FMA by
// default, which would move the linear source coordinate by an ulp against the CPU (built without
// FMA); the explicit round-to-nearest multiply keeps both devices on the same coordinates.
CNNKIT_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
CNNKIT_HD double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

template <class A>
CNNKIT_HD A upsample_ratio(int64_t in, int64_t out, double scale) {
  return scale > 0.0 ? static_cast<A>(1.0 / scale) : static_cast<A>(in) / static_cast<A>(out);
}

// A = float for float32 tensors, double for float64 (PyTorch's opmath type); the nearest modes
// always compute in float, as PyTorch does.
template <class A>
CNNKIT_HD Src1d<A> upsample_src(UpsampleMode mode, bool align_corners, int64_t o, int64_t in, int64_t out,
                                double scale) {
  Src1d<A> r;
  r.l0 = static_cast<A>(1);
  r.l1 = static_cast<A>(0);
  if (mode == UpsampleMode::Nearest) {
    if (out == in) {
      r.i0 = o;
    } else if (out == 2 * in) {
      r.i0 = o >> 1;
    } else {
      const float ratio = upsample_ratio<float>(in, out, scale);
      const int64_t i = static_cast<int64_t>(floorf(static_cast<float>(o) * ratio));
      r.i0 = i < in - 1 ? i : in - 1;
    }
    r.i1 = r.i0;
    return r;
  }
  if (mode == UpsampleMode::NearestExact) {
    const float ratio = upsample_ratio<float>(in, out, scale);
    // (o + 0.5) in double times the float ratio, rounded to float before the floor, as PyTorch's
    // floorf((o + 0.5) * scale) evaluates it
    const int64_t i = static_cast<int64_t>(floorf(static_cast<float>((static_cast<double>(o) + 0.5) *
                                                                     static_cast<double>(ratio))));
    r.i0 = i < in - 1 ? i : in - 1;
    r.i1 = r.i0;
    return r;
  }
  if (out == in) {
    r.i0 = r.i1 = o;
    return r;
  }
  A ratio;
  if (align_corners)
    ratio = out > 1 ? static_cast<A>(in - 1) / static_cast<A>(out - 1) : static_cast<A>(0);
  else
    ratio = upsample_ratio<A>(in, out, scale);
  A real;
  if (align_corners) {
    real = ratio * static_cast<A>(o);
  } else {
    real = mul_rn(ratio, static_cast<A>(o) + static_cast<A>(0.5)) - static_cast<A>(0.5);
    if (real < static_cast<A>(0)) real = static_cast<A>(0);
  }
  const int64_t i = static_cast<int64_t>(real);
  r.i0 = i < in - 1 ? i : in - 1;
  r.i1 = r.i0 + (r.i0 < in - 1 ? 1 : 0);
  A l1 = real - static_cast<A>(r.i0);
  l1 = l1 < static_cast<A>(0) ? static_cast<A>(0) : (l1 > static_cast<A>(1) ? static_cast<A>(1) : l1);
  r.l1 = l1;
  r.l0 = static_cast<A>(1) - l1;
  return r;
}

// The outputs [lo, hi) along one dim that read input index i (i0 == i or i1 == i): lo is the first
// output with i1 >= i, hi the first with i0 > i (both by binary search, the indices being monotone).
template <class A>
CNNKIT_HD void upsample_range(UpsampleMode mode, bool align_corners, int64_t i, int64_t in, int64_t out, double scale,
                              int64_t* lo, int64_t* hi) {
  int64_t a = 0, b = out;
  while (a < b) {
    const int64_t m = a + (b - a) / 2;
    if (upsample_src<A>(mode, align_corners, m, in, out, scale).i1 >= i) b = m; else a = m + 1;
  }
  *lo = a;
  b = out;
  while (a < b) {
    const int64_t m = a + (b - a) / 2;
    if (upsample_src<A>(mode, align_corners, m, in, out, scale).i0 > i) b = m; else a = m + 1;
  }
  *hi = a;
}

// Weight of output o's read of input index i along one dim (0 when it does not read it).
template <class A>
CNNKIT_HD A upsample_weight(const Src1d<A>& s, int64_t i) {
  return (s.i0 == i ? s.l0 : static_cast<A>(0)) + (s.i1 == i ? s.l1 : static_cast<A>(0));
}

// out (planes, OH, OW); inp (planes, H, W).
template <class T>
void upsample_forward(T* out, const T* inp, const UpsampleParams& p);

// dinp (planes, H, W); dout (planes, OH, OW).
template <class T>
void upsample_backward(T* dinp, const T* dout, const UpsampleParams& p);

// Plain-loop references (serial; the backward scatters each output's gradient as PyTorch does).
template <class T>
void upsample_forward_naive(T* out, const T* inp, const UpsampleParams& p);
template <class T>
void upsample_backward_naive(T* dinp, const T* dout, const UpsampleParams& p);

// ---------------------------------------------------------------------------------------------
// Separable family: bicubic, and antialias=True for bilinear / bicubic (4-D input).
//
// Each of these resamples H and W independently: out = Wh · X · Wwᵀ per plane, where Wh (OH x H)
// and Ww (OW x W) are sparse matrices of per-output weights. sep_table() builds one dim's matrix in
// CSR form (row o: entries [ptr[o], ptr[o+1]) of (input index, weight)), ONCE per call; the
// kernels then run two 1-D passes on a temporary buffer:
//   forward:  T = X · Wwᵀ  (planes, H, OW), the horizontal pass, then  Y = Wh · T  (vertical),
//             PyTorch's order of evaluation (inner W sum first, then the H sum, each sequential in
//             tap order), so float32 results match its CPU kernels to the rounding of the weights;
//   backward: G = Whᵀ · dY  (planes, H, OW), then  dX = G · Ww, with the TRANSPOSED tables
//             (sep_transpose: row i lists the outputs reading input i), so both passes are
//             gathers: every element is written once, no atomics, independent of thread count.
// Weights (PyTorch's formulas, aten/src/ATen/native/UpSample.h and cpu/UpSampleKernel.cpp,
// re-derived here with its mixed float/double evaluation; A = float for float32, double for
// float64):
//   bicubic (Keys, a = -0.75): scale = area scale (align_corners: (in-1)/(out-1), else 1/scale or
//     in/out), real = align_corners ? scale*o : scale*(o+0.5)-0.5 (NOT clamped at 0),
//     i = min(floor(real), in-1), t = clamp(real-i, 0, 1), taps i-1..i+2 CLAMPED to [0, in-1]
//     (border pixels repeat) with weights K(t+1), K(t), K(1-t), K(2-t).
//   antialias (PIL's filters): support = (interp/2) * scale when scale >= 1 (downsampling: the
//     filter is stretched by the scale), else interp/2 (interp = 2 bilinear, 4 bicubic);
//     center = scale*(o+0.5); taps xmin = max(int(center-support+0.5), 0) ..
//     min(int(center+support+0.5), in) - 1; weight_j = f((j - center + 0.5) / max(scale, 1)) with
//     f the triangle (bilinear) or Keys cubic with a = -0.5 (bicubic), normalised to sum 1.
//     A dim whose size does not change is copied (PyTorch skips that pass), whatever the scale.
// ---------------------------------------------------------------------------------------------

template <class A>
inline A cubic_conv1(A x, A a) {  // Keys kernel for |x| <= 1
  return ((a + 2) * x - (a + 3)) * x * x + 1;
}
template <class A>
inline A cubic_conv2(A x, A a) {  // Keys kernel for 1 < |x| < 2
  return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

// Area scale of one dim (PyTorch's area_pixel_compute_scale).
template <class A>
inline A area_scale(int64_t in, int64_t out, bool align_corners, double scale) {
  if (align_corners) return out > 1 ? static_cast<A>(in - 1) / static_cast<A>(out - 1) : static_cast<A>(0);
  return upsample_ratio<A>(in, out, scale);
}

// One dim's resampling matrix in CSR form (rows = outputs; transposed: rows = inputs).
template <class T>
struct SepTable {
  std::vector<int64_t> ptr;  // rows + 1 offsets
  std::vector<int64_t> idx;  // column (input index; transposed: output index) of each entry
  std::vector<T> w;          // weight of each entry
  int64_t rows() const { return static_cast<int64_t>(ptr.size()) - 1; }
};

// True when the separable pass along a dim is skipped (a copy): antialias and in == out.
inline bool sep_dim_identity(const UpsampleParams& p, int64_t in, int64_t out) { return p.antialias && in == out; }

// The taps of output o along one dim (mode Cubic or antialias): appends (index, weight) pairs.
template <class T>
void sep_taps(const UpsampleParams& p, int64_t o, int64_t in, int64_t out, double scale, std::vector<int64_t>& idx,
              std::vector<T>& w);

// Forward table of one dim (rows = out), and its transpose (rows = in, entries in output order).
template <class T>
SepTable<T> sep_table(const UpsampleParams& p, int64_t in, int64_t out, double scale);
template <class T>
SepTable<T> sep_transpose(const SepTable<T>& t, int64_t cols);

// Horizontal pass: dst (rows, out_cols)[r, o] = sum over row o of `tab` of w * src (rows, in_cols)[r, idx].
template <class T>
void sep_pass_w(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t rows,
                int64_t in_cols, int64_t out_cols);
// Vertical pass: dst (planes, out_rows, cols)[p, o, c] = sum over row o of w * src (planes, in_rows, cols)[p, idx, c].
template <class T>
void sep_pass_h(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t planes,
                int64_t in_rows, int64_t out_rows, int64_t cols);

// Plain-loop references of the whole resize (per output pixel: taps from sep_taps, the 2-D sum;
// the backward scatters, as PyTorch does). out (planes, OH, OW); dinp (planes, H, W).
template <class T>
void sep_forward_naive(T* out, const T* inp, const UpsampleParams& p);
template <class T>
void sep_backward_naive(T* dinp, const T* dout, const UpsampleParams& p);

}  // namespace cnnkit
