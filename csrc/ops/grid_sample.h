// Spatial (4-D) grid sampling, the kernel of torch.nn.functional.grid_sample (aten's
// grid_sampler_2d): out[n, c, h, w] = input[n, c] sampled at the normalised location grid[n, h, w]
// = (x, y) in [-1, 1]^2 with mode bilinear | nearest | bicubic and padding zeros | border | reflection.
// Backward WRITES (=) dinp and dgrid (both are filled completely; see grid_sample.cpp for how the
// input gradient's scatter is kept race-free and deterministic on the CPU).
//
// Coordinate rules (PyTorch's aten/src/ATen/native/GridSampler.h, re-derived here and shared by the
// CPU and CUDA twins through the CNNKIT_HD functions below):
//   unnormalise: align_corners ? (x + 1) / 2 * (W - 1)  :  ((x + 1) * W - 1) / 2
//   border:      clip to [0, W - 1]
//   reflection:  reflect about the borders (align_corners ? [0, W - 1] : [-0.5, W - 0.5]), then clip
//   the result is replaced by -100 when it is not finite or outside int range (a location that is
//   out of bounds, so zeros padding reads 0 there instead of overflowing an int conversion).
// bilinear / nearest apply the padding to the real source coordinate; nearest rounds it half to
// even (nearbyint). bicubic unnormalises only, then pads each of its 4x4 integer tap coordinates
// (cubic convolution, A = -0.75, as torch). The derivative of the coordinate map w.r.t. the grid
// value (the *_set_grad functions) is what the grid gradient is multiplied by: (W-1)/2 or W/2,
// times 0 where clipping holds the coordinate and times -1 where a reflection flips it.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define CNNKIT_HD __host__ __device__ __forceinline__
#else
#define CNNKIT_HD inline
#endif

namespace cnnkit {

enum class GridSampleMode : int { Bilinear = 0, Nearest = 1, Bicubic = 2 };
enum class GridSamplePadding : int { Zeros = 0, Border = 1, Reflection = 2 };

struct GridSampleParams {
  int64_t N = 0, C = 0, H = 1, W = 1;  // input (N, C, H, W)
  int64_t OH = 0, OW = 0;              // grid (N, OH, OW, 2), output (N, C, OH, OW)
  GridSampleMode mode = GridSampleMode::Bilinear;
  GridSamplePadding padding = GridSamplePadding::Zeros;
  bool align_corners = false;
};

// float / double overloads of the C math functions (the same names on the host and in device code)
CNNKIT_HD float gs_floor(float x) { return floorf(x); }
CNNKIT_HD double gs_floor(double x) { return floor(x); }
CNNKIT_HD float gs_fmod(float x, float y) { return fmodf(x, y); }
CNNKIT_HD double gs_fmod(double x, double y) { return fmod(x, y); }
CNNKIT_HD float gs_nearbyint(float x) { return nearbyintf(x); }
CNNKIT_HD double gs_nearbyint(double x) { return nearbyint(x); }

template <class A>
CNNKIT_HD A gs_unnormalize(A coord, int64_t size, bool align_corners, A* dcoord) {
  if (align_corners) {
    *dcoord = static_cast<A>(size - 1) / 2;
    return (coord + 1) / 2 * static_cast<A>(size - 1);
  }
  *dcoord = static_cast<A>(size) / 2;
  return ((coord + 1) * static_cast<A>(size) - 1) / 2;
}

// clip to [0, size - 1]; *d = 1 inside, 0 where clipped
template <class A>
CNNKIT_HD A gs_clip(A x, int64_t size, A* d) {
  const A hi = static_cast<A>(size - 1);
  if (x <= static_cast<A>(0)) {
    *d = 0;
    return 0;
  }
  if (x >= hi) {
    *d = 0;
    return hi;
  }
  *d = 1;
  return x;
}

// reflect x into [twice_lo / 2, twice_hi / 2] (the bounds given doubled so they stay integers);
// *d = +-1 by the parity of the number of reflections
template <class A>
CNNKIT_HD A gs_reflect(A x, int64_t twice_lo, int64_t twice_hi, A* d) {
  if (twice_lo == twice_hi) {
    *d = 0;
    return 0;
  }
  const A lo = static_cast<A>(twice_lo) / 2;
  const A span = static_cast<A>(twice_hi - twice_lo) / 2;
  A sign = 1;
  x -= lo;
  if (x < static_cast<A>(0)) {
    sign = -1;
    x = -x;
  }
  const A extra = gs_fmod(x, span);
  // parity of the reflection count in floating point: no int conversion to overflow for huge x
  const A flips = gs_floor(x / span);
  if (gs_fmod(flips, static_cast<A>(2)) == static_cast<A>(0)) {
    *d = sign;
    return extra + lo;
  }
  *d = -sign;
  return span - extra + lo;
}

// -100 (out of bounds for every size) for a non-finite coordinate or one beyond int range
template <class A>
CNNKIT_HD A gs_safe_int_range(A x) {
  const double v = static_cast<double>(x);
  if (!(v == v) || v > 2147483646.0 || v < -2147483648.0 || v - v != 0.0) return static_cast<A>(-100);
  return x;
}

// padding applied to an unnormalised coordinate; *d multiplied by its derivative
template <class A>
CNNKIT_HD A gs_pad(A x, int64_t size, GridSamplePadding padding, bool align_corners, A* d) {
  if (padding == GridSamplePadding::Border) {
    A dc;
    x = gs_clip(x, size, &dc);
    *d *= dc;
  } else if (padding == GridSamplePadding::Reflection) {
    A dr, dc;
    x = align_corners ? gs_reflect(x, 0, 2 * (size - 1), &dr) : gs_reflect(x, -1, 2 * size - 1, &dr);
    x = gs_clip(x, size, &dc);
    *d *= dr * dc;
  }
  return gs_safe_int_range(x);
}

// grid value -> padded source coordinate (bilinear, nearest); *d = its derivative
template <class A>
CNNKIT_HD A gs_source_index(A coord, int64_t size, GridSamplePadding padding, bool align_corners, A* d) {
  return gs_pad(gs_unnormalize(coord, size, align_corners, d), size, padding, align_corners, d);
}

CNNKIT_HD bool gs_in_bounds(int64_t y, int64_t x, int64_t H, int64_t W) {
  return y >= 0 && y < H && x >= 0 && x < W;
}

// bicubic: the padded tap coordinate t (an integer value, kept in A so that a huge one is clipped or
// rejected before any int conversion) as an index, or -1 when it falls outside [0, size)
template <class A>
CNNKIT_HD int64_t gs_cubic_tap(A t, int64_t size, GridSamplePadding padding, bool align_corners) {
  A unused = 1;
  const A c = gs_pad(t, size, padding, align_corners, &unused);
  const int64_t i = static_cast<int64_t>(c);
  return i >= 0 && i < size ? i : -1;
}

// Cubic convolution weights of the taps at offsets -1, 0, 1, 2 from floor(x), t = x - floor(x)
// (Keys' kernel with A = -0.75, PyTorch's choice), and their derivatives w.r.t. t.
template <class A>
CNNKIT_HD void gs_cubic_weights(A t, A w[4]) {
  const A a = static_cast<A>(-0.75);
  const A x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  w[0] = ((a * x0 - 5 * a) * x0 + 8 * a) * x0 - 4 * a;   // 1 < |x| < 2
  w[1] = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1;           // |x| <= 1
  w[2] = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1;
  w[3] = ((a * x3 - 5 * a) * x3 + 8 * a) * x3 - 4 * a;
}

template <class A>
CNNKIT_HD void gs_cubic_weights_dt(A t, A d[4]) {
  const A a = static_cast<A>(-0.75);
  const A x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  d[0] = (3 * a * x0 - 10 * a) * x0 + 8 * a;               // d/dx0, dx0/dt = 1
  d[1] = (3 * (a + 2) * x1 - 2 * (a + 3)) * x1;
  d[2] = -(3 * (a + 2) * x2 - 2 * (a + 3)) * x2;           // dx2/dt = -1
  d[3] = -((3 * a * x3 - 10 * a) * x3 + 8 * a);
}

// One output location's read of the input plane: up to 16 (index, weight) taps; an index < 0 is a
// tap outside the input (zeros). dwx / dwy hold d(weight)/d(unnormalised x / y) for the grid
// gradient (bilinear, bicubic), and mx / my the coordinate derivatives w.r.t. the grid values.
template <class A>
struct GridTaps {
  int n = 0;
  int64_t idx[16];
  A w[16], dwx[16], dwy[16];
  A mx, my;
};

// The taps of grid point (gx, gy). Shared by the CPU loops and the CUDA threads, so both devices read
// the same pixels with the same weights.
template <class A>
CNNKIT_HD void grid_sample_taps(const GridSampleParams& p, A gx, A gy, GridTaps<A>* t) {
  const int64_t H = p.H, W = p.W;
  t->n = 0;
  if (p.mode == GridSampleMode::Bicubic) {
    const A ix = gs_unnormalize(gx, W, p.align_corners, &t->mx);
    const A iy = gs_unnormalize(gy, H, p.align_corners, &t->my);
    const A fx = gs_floor(ix), fy = gs_floor(iy);
    A wx[4], wy[4], dx[4], dy[4];
    gs_cubic_weights(ix - fx, wx);
    gs_cubic_weights(iy - fy, wy);
    gs_cubic_weights_dt(ix - fx, dx);
    gs_cubic_weights_dt(iy - fy, dy);
    int64_t cx[4], cy[4];
    for (int k = 0; k < 4; ++k) {
      cx[k] = gs_cubic_tap<A>(fx + static_cast<A>(k - 1), W, p.padding, p.align_corners);
      cy[k] = gs_cubic_tap<A>(fy + static_cast<A>(k - 1), H, p.padding, p.align_corners);
    }
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 4; ++i) {
        const int k = j * 4 + i;
        t->idx[k] = (cx[i] >= 0 && cy[j] >= 0) ? cy[j] * W + cx[i] : -1;
        t->w[k] = wx[i] * wy[j];
        t->dwx[k] = dx[i] * wy[j];
        t->dwy[k] = wx[i] * dy[j];
      }
    t->n = 16;
    return;
  }
  const A ix = gs_source_index(gx, W, p.padding, p.align_corners, &t->mx);
  const A iy = gs_source_index(gy, H, p.padding, p.align_corners, &t->my);
  if (p.mode == GridSampleMode::Nearest) {
    const int64_t x = static_cast<int64_t>(gs_nearbyint(ix)), y = static_cast<int64_t>(gs_nearbyint(iy));
    t->idx[0] = gs_in_bounds(y, x, H, W) ? y * W + x : -1;
    t->w[0] = 1;
    t->dwx[0] = t->dwy[0] = 0;
    t->n = 1;
    return;
  }
  const A fx = gs_floor(ix), fy = gs_floor(iy);
  const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
  const A e = ix - fx, n = iy - fy;  // distances to the west column and the north row
  const A we = 1 - e, sn = 1 - n;
  const int64_t xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
  // nw, ne, sw, se
  const A w[4] = {sn * we, sn * e, n * we, n * e};
  const A dwx[4] = {-sn, sn, -n, n}, dwy[4] = {-we, -e, we, e};
  for (int k = 0; k < 4; ++k) {
    t->idx[k] = gs_in_bounds(ys[k], xs[k], H, W) ? ys[k] * W + xs[k] : -1;
    t->w[k] = w[k];
    t->dwx[k] = dwx[k];
    t->dwy[k] = dwy[k];
  }
  t->n = 4;
}

// out (N, C, OH, OW); inp (N, C, H, W); grid (N, OH, OW, 2), all contiguous.
template <class T>
void grid_sample_forward(T* out, const T* inp, const T* grid, const GridSampleParams& p);

// dinp (N, C, H, W) or null; dgrid (N, OH, OW, 2) or null; dout (N, C, OH, OW); inp; grid.
template <class T>
void grid_sample_backward(T* dinp, T* dgrid, const T* dout, const T* inp, const T* grid, const GridSampleParams& p);

}  // namespace cnnkit
