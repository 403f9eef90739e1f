// Convolution as im2col + GEMM. Forward writes `out`; backward writes (=) dinp, dweight, dbias.
//
// Strategy. Images are processed in chunks of G images; a chunk's columns sit side by side in one
// column matrix cols (C*KH*KW, G*OH*OW), so one GEMM per group covers the whole chunk:
//   forward   out_g   (OC/g, G*OHW)   = W_g (OC/g, CgKK) @ cols_g (CgKK, G*OHW)       (+ bias)
//   dweight   dW_g    (OC/g, CgKK)   += dout_g (OC/g, G*OHW) @ cols_g^T                (over chunks)
//   dinp      dcols_g (CgKK, G*OHW)   = W_g^T @ dout_g, then col2im per image
// where _g is group g's block of rows (im2col orders rows by channel, so a group's channels are one
// contiguous block of rows and a group's output channels one block of W's rows; no copies needed).
// G is chosen so the GEMM has about kTargetCols columns (late ResNet layers have only 4x4 or 8x8
// outputs per image; one image alone would give a skinny, slow GEMM) and the column buffer stays
// under kMaxChunkBytes. With G == 1 the GEMM reads and writes the image's own (OC, OH*OW) slab of
// out/dout directly; with G > 1 dout is gathered into / out scattered from chunk layout.
// 1x1, stride-1, unpadded convolutions with G == 1 skip im2col: the image itself is the column
// matrix (and dinp the dcols matrix).
//
// Threads: parallelism lives inside the GEMMs (thread grid over blocks of C) and inside im2col /
// col2im / gather / scatter (over rows or channels); never over the batch, so there is no nested
// parallelism. G depends only on the shapes, so the dweight summation order (chunk after chunk)
// and therefore every result is independent of the number of threads.
#include "ops/conv2d.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "ops/gemm.h"
#include "ops/im2col.h"

namespace cnnkit {
namespace {

constexpr int64_t kTargetCols = 1024;
constexpr int64_t kMaxChunkBytes = int64_t(16) << 20;

int64_t chunk_images(const Conv2dParams& p, int64_t elem_size) {
  const int64_t ohw = p.OH * p.OW, ckk = p.C * p.KH * p.KW;
  int64_t g = std::max<int64_t>(1, (kTargetCols + ohw - 1) / ohw);
  const int64_t per_image = std::max<int64_t>(1, ohw * ckk * elem_size);
  g = std::min(g, std::max<int64_t>(1, kMaxChunkBytes / per_image));
  return std::max<int64_t>(1, std::min(g, p.N));
}

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0;
}

Im2colGeometry geometry(const Conv2dParams& p) {
  return Im2colGeometry{p.C, p.H, p.W, p.KH, p.KW, p.SH, p.SW, p.PH, p.PW, p.DH, p.DW, p.OH, p.OW};
}

int64_t grain_rows(int64_t row_len) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_len)); }

}  // namespace

template <class T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, KK = p.KH * p.KW;
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, CgKK = Cg * KK;
  const int64_t G = chunk_images(p, sizeof(T));
  const bool direct = is_pointwise(p) && G == 1;
  const Im2colGeometry geo = geometry(p);
  ScratchBuffer<T> colbuf, outbuf;
  if (!direct) colbuf.reset(static_cast<size_t>(geo.rows() * G * OHW));
  if (G > 1) outbuf.reset(static_cast<size_t>(p.OC * G * OHW));

  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    const T* cols = inp + n0 * p.C * HW;  // direct: the image is its own column matrix
    if (!direct) {
      for (int64_t g = 0; g < gc; ++g) im2col(colbuf.data() + g * OHW, ncols, inp + (n0 + g) * p.C * HW, geo);
      cols = colbuf.data();
    }
    // G == 1: the GEMM writes the image's output slab, pre-filled with the bias (beta = 1).
    T* dst = G == 1 ? out + n0 * p.OC * OHW : outbuf.data();
    if (G == 1 && bias != nullptr) {
      parallel_for(0, p.OC, grain_rows(OHW), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) std::fill(dst + o * OHW, dst + (o + 1) * OHW, bias[o]);
      });
    }
    const T beta = (G == 1 && bias != nullptr) ? T(1) : T(0);
    for (int64_t gi = 0; gi < p.groups; ++gi) {
      gemm<T>(false, false, OCg, ncols, CgKK, T(1), weight + gi * OCg * CgKK, CgKK, cols + gi * CgKK * ncols, ncols,
              beta, dst + gi * OCg * ncols, ncols);
    }
    if (G > 1) {
      // Scatter the chunk (OC, gc*OHW) into out[n0 + g] (OC, OHW), adding the bias.
      parallel_for(0, gc * p.OC, grain_rows(OHW), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t g = r / p.OC, o = r % p.OC;
          const T* s = outbuf.data() + o * ncols + g * OHW;
          T* d = out + ((n0 + g) * p.OC + o) * OHW;
          const T b = bias != nullptr ? bias[o] : T(0);
          for (int64_t i = 0; i < OHW; ++i) d[i] = s[i] + b;
        }
      });
    }
  }
}

template <class T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dParams& p) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, KK = p.KH * p.KW;
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, CgKK = Cg * KK;

  // dbias[o] = sum over images and positions of dout[n, o]; one output channel per iteration,
  // accumulated in double (float32 sums over N*OH*OW terms otherwise lose digits).
  if (dbias != nullptr) {
    parallel_for(0, p.OC, grain_rows(p.N * OHW), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0;
        for (int64_t n = 0; n < p.N; ++n) {
          const T* s = dout + (n * p.OC + o) * OHW;
          for (int64_t i = 0; i < OHW; ++i) acc += s[i];
        }
        dbias[o] = static_cast<T>(acc);
      }
    });
  }
  if (dinp == nullptr && dweight == nullptr) return;
  if (p.N == 0) {
    if (dweight != nullptr) std::fill(dweight, dweight + p.OC * CgKK, T(0));
    return;
  }

  const int64_t G = chunk_images(p, sizeof(T));
  const bool direct = is_pointwise(p) && G == 1;
  const Im2colGeometry geo = geometry(p);
  ScratchBuffer<T> colbuf, dcolbuf, doutbuf;
  if (dweight != nullptr && !direct) colbuf.reset(static_cast<size_t>(geo.rows() * G * OHW));
  if (dinp != nullptr && !direct) dcolbuf.reset(static_cast<size_t>(geo.rows() * G * OHW));
  if (G > 1) doutbuf.reset(static_cast<size_t>(p.OC * G * OHW));

  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    // dout of the chunk as one (OC, gc*OHW) matrix: the image's own slab when G == 1, else gathered.
    const T* dch = dout + n0 * p.OC * OHW;
    if (G > 1) {
      parallel_for(0, gc * p.OC, grain_rows(OHW), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t g = r / p.OC, o = r % p.OC;
          std::copy(dout + ((n0 + g) * p.OC + o) * OHW, dout + ((n0 + g) * p.OC + o + 1) * OHW,
                    doutbuf.data() + o * ncols + g * OHW);
        }
      });
      dch = doutbuf.data();
    }
    if (dweight != nullptr) {
      const T* cols = inp + n0 * p.C * HW;
      if (!direct) {
        for (int64_t g = 0; g < gc; ++g) im2col(colbuf.data() + g * OHW, ncols, inp + (n0 + g) * p.C * HW, geo);
        cols = colbuf.data();
      }
      const T beta = n0 == 0 ? T(0) : T(1);  // the first chunk writes, later chunks accumulate
      for (int64_t gi = 0; gi < p.groups; ++gi) {
        gemm<T>(false, true, OCg, CgKK, ncols, T(1), dch + gi * OCg * ncols, ncols, cols + gi * CgKK * ncols, ncols,
                beta, dweight + gi * OCg * CgKK, CgKK);
      }
    }
    if (dinp != nullptr) {
      T* dcols = direct ? dinp + n0 * p.C * HW : dcolbuf.data();
      for (int64_t gi = 0; gi < p.groups; ++gi) {
        gemm<T>(true, false, CgKK, ncols, OCg, T(1), weight + gi * OCg * CgKK, CgKK, dch + gi * OCg * ncols, ncols,
                T(0), dcols + gi * CgKK * ncols, ncols);
      }
      if (!direct) {
        for (int64_t g = 0; g < gc; ++g) col2im(dinp + (n0 + g) * p.C * HW, dcols + g * OHW, ncols, geo);
      }
    }
  }
}

// Direct convolution: the definition in conv2d.h, one output element at a time, summed in double.
template <class T>
void conv2d_forward_naive(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.OC; ++o) {
      const int64_t g = o / OCg;
      for (int64_t y = 0; y < p.OH; ++y)
        for (int64_t x = 0; x < p.OW; ++x) {
          double acc = bias != nullptr ? double(bias[o]) : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < p.KH; ++kh)
              for (int64_t kw = 0; kw < p.KW; ++kw) {
                const int64_t ih = y * p.SH - p.PH + kh * p.DH, iw = x * p.SW - p.PW + kw * p.DW;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                acc += double(inp[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw]) *
                       double(weight[((o * Cg + c) * p.KH + kh) * p.KW + kw]);
              }
          out[((n * p.OC + o) * p.OH + y) * p.OW + x] = static_cast<T>(acc);
        }
    }
}

// Direct backward: every (output element, tap) pair sends dout to the input pixel and weight it
// multiplied, accumulated in double buffers and rounded once at the end.
template <class T>
void conv2d_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                           const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups;
  std::vector<double> dx(static_cast<size_t>(p.N * p.C * p.H * p.W), 0.0);
  std::vector<double> dw(static_cast<size_t>(p.OC * Cg * p.KH * p.KW), 0.0);
  std::vector<double> db(static_cast<size_t>(p.OC), 0.0);
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t o = 0; o < p.OC; ++o) {
      const int64_t g = o / OCg;
      for (int64_t y = 0; y < p.OH; ++y)
        for (int64_t x = 0; x < p.OW; ++x) {
          const double d = dout[((n * p.OC + o) * p.OH + y) * p.OW + x];
          db[o] += d;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < p.KH; ++kh)
              for (int64_t kw = 0; kw < p.KW; ++kw) {
                const int64_t ih = y * p.SH - p.PH + kh * p.DH, iw = x * p.SW - p.PW + kw * p.DW;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                const int64_t xi = ((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw;
                const int64_t wi = ((o * Cg + c) * p.KH + kh) * p.KW + kw;
                dx[xi] += d * double(weight[wi]);
                dw[wi] += d * double(inp[xi]);
              }
        }
    }
  if (dinp != nullptr) std::transform(dx.begin(), dx.end(), dinp, [](double v) { return static_cast<T>(v); });
  if (dweight != nullptr) std::transform(dw.begin(), dw.end(), dweight, [](double v) { return static_cast<T>(v); });
  if (dbias != nullptr) std::transform(db.begin(), db.end(), dbias, [](double v) { return static_cast<T>(v); });
}

#define CNNKIT_INSTANTIATE_CONV2D(T)                                                                         \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dParams&);                    \
  template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);           \
  template void conv2d_forward_naive<T>(T*, const T*, const T*, const T*, const Conv2dParams&);              \
  template void conv2d_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);
CNNKIT_INSTANTIATE_CONV2D(float)
CNNKIT_INSTANTIATE_CONV2D(double)
#undef CNNKIT_INSTANTIATE_CONV2D

}  // namespace cnnkit
