// Convolution as im2col + GEMM, a direct depthwise kernel (groups == C, below), and the transposed
// convolution built on both. Forward writes `out`; backward writes (=) dinp, dweight, dbias.
//
// The GEMMs (per group g: _g is group g's block of rows; im2col orders rows by channel, so a group's
// channels are one contiguous block of column-matrix rows and a group's output channels one block of
// W's rows -- no copies needed):
//   forward   out_g  (OCg, OHW)  = W_g (OCg, CgKK) @ cols_g (CgKK, OHW)                   (+ bias)
//   dweight   dW_g   (OCg, CgKK) = sum over images of dout_g (OCg, OHW) @ cols_g^T
//   dinp      dcols_g (CgKK, OHW) = W_g^T @ dout_g, then col2im (scatter-add) per image; or, stride 1
//             in the batch schedule ("flip"), as a stride-1 correlation of dout with the weights
//             rotated by 180 degrees and transposed in (o, c):
//             dinp_g (Cg, HW) = Wf_g (Cg, OCg*KK) @ tcols_g (OCg*KK, HW),
//             tcols = im2col of dout (OC, OH, OW) with padding (K-1)*D - P (negative = cropping) and
//             output size H x W: one GEMM with K = OCg*KK and no scatter-add. Used when tcols is not
//             much larger than cols (OC*H*W <= 1.25 * C*OH*OW; LeNet's 6 -> 16 layer uses col2im).
//             In the chunk schedule the flip measured no faster than col2im (slower at 8x8 and 4x4).
// 1x1 stride-1 unpadded convolutions with one image at a time skip im2col: the image is its own
// column matrix, and dinp its own dcols matrix.
//
// Two schedules, chosen from the shapes alone (never from the thread count):
//   batch  small per-image work (below kBatchMacs multiply-adds, at least kBatchMinOutputs outputs:
//          LeNet, the ResNet stem; small images, few channels):
//          threads split the batch, one image at a time per thread, and every kernel inside runs
//          serially on its thread -- GEMMs like 6 x 784 x 25 are far too small to split, and each
//          fork costs microseconds. With M = 6 or 16 a general GEMM spends as long packing B as
//          multiplying, so the forward, the flip and (few output channels) dweight run on pre-packed
//          operands: im2col_packed / im2col_packed_t write the columns straight into the micro-
//          kernel's packed slivers from a zero-padded copy of the image, and packed_gemm runs the
//          micro-kernel of ops/gemm.h on them (weights packed once per call, shared by the threads).
//          dweight is summed per slot: the batch is cut into S = min(N, kSlots) fixed ranges of
//          images, each range sums its images in order into its own partial buffer, and the S
//          partials are added in slot order.
//   chunk  large per-image work: images go in chunks of G side by side in one column matrix (OHW*G
//          about kTargetCols columns, so 4x4 and 8x8 late layers still give wide GEMMs), and the
//          threads work inside each GEMM (and im2col / col2im / gather / scatter); dweight
//          accumulates chunk after chunk (beta = 1). With G > 1 dout is gathered into, and out
//          scattered from, the chunk layout.
// Since the schedule, S and G depend only on the shapes (and the micro-kernel's tile shape), and
// every kernel's result is independent of how it is split among threads, every result is
// independent of the number of threads.
#include "ops/conv2d.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "ops/gemm.h"
#include "ops/im2col.h"
#include "ops/simd.h"

namespace cnnkit {
namespace {

constexpr int64_t kTargetCols = 1024;
constexpr int64_t kMaxChunkBytes = int64_t(16) << 20;
constexpr int64_t kBatchMacs = int64_t(1) << 22;     // per-image multiply-adds below which threads split the batch
// ... and at least this many outputs per image: dweight then sums one GEMM per image with K = OH*OW,
// and with 8x8 or 4x4 outputs (ResNet shortcuts) that measured 1.3-1.9x slower than the chunk schedule.
constexpr int64_t kBatchMinOutputs = 96;
constexpr int64_t kSlots = 16;                       // dweight partial sums in the batch schedule
constexpr int64_t kMaxSlotBytes = int64_t(8) << 20;  // ... as long as they fit in this

struct Plan {
  bool batch;      // batch schedule (else chunk schedule)
  int64_t G;       // images per chunk (1 in the batch schedule)
  bool pointwise;  // 1x1, stride 1, no padding, G == 1: no im2col
  bool flip;       // stride 1: dinp by the flipped-weight correlation
  int64_t slots;   // batch schedule: dweight partial sums
};

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0;
}

int64_t chunk_images(const Conv2dParams& p, int64_t elem_size) {
  const int64_t ohw = p.OH * p.OW, ckk = p.C * p.KH * p.KW;
  int64_t g = std::max<int64_t>(1, (kTargetCols + ohw - 1) / ohw);
  const int64_t per_image = std::max<int64_t>(1, ohw * ckk * elem_size);
  g = std::min(g, std::max<int64_t>(1, kMaxChunkBytes / per_image));
  return std::max<int64_t>(1, std::min(g, p.N));
}

Plan make_plan(const Conv2dParams& p, int64_t elem_size) {
  const int64_t CgKK = p.C / p.groups * p.KH * p.KW;
  const int64_t macs = p.OC * p.OH * p.OW * CgKK;
  Plan pl{};
  pl.slots = std::min(p.N, kSlots);
  pl.batch = p.N >= 2 && macs <= kBatchMacs && p.OH * p.OW >= kBatchMinOutputs &&
             pl.slots * p.OC * CgKK * elem_size <= kMaxSlotBytes;
  pl.G = pl.batch ? 1 : chunk_images(p, elem_size);
  pl.pointwise = is_pointwise(p) && pl.G == 1;
  // The flipped correlation's column matrix has OC*KK*H*W entries per image, col2im's C*KK*OH*OW:
  // the flip saves the scatter-add but not when its matrix is much larger (LeNet's 6 -> 16 layer).
  pl.flip = pl.batch && p.SH == 1 && p.SW == 1 && !pl.pointwise && 4 * p.OC * p.H * p.W <= 5 * p.C * p.OH * p.OW;
  return pl;
}

Im2colGeometry geometry(const Conv2dParams& p) {
  return Im2colGeometry{p.C, p.H, p.W, p.KH, p.KW, p.SH, p.SW, p.PH, p.PW, p.DH, p.DW, p.OH, p.OW};
}

// im2col of dout (OC, OH, OW) for the flipped-weight correlation (stride 1 only): tap (kh, kw) of
// output pixel (ih, iw) reads dout[ih - ((KH-1)*DH - PH) + kh*DH, ...]. Paired with flip_weight.
Im2colGeometry flip_geometry(const Conv2dParams& p) {
  return Im2colGeometry{p.OC, p.OH, p.OW, p.KH, p.KW, 1, 1, (p.KH - 1) * p.DH - p.PH, (p.KW - 1) * p.DW - p.PW,
                        p.DH, p.DW, p.H, p.W};
}

// Wf[g*Cg + c, (o*KH + kh)*KW + kw] = W[g*OCg + o, c, KH-1-kh, KW-1-kw]: for each group a (Cg, OCg*KK)
// matrix, rows ordered like flip_geometry's im2col rows.
template <class T>
void flip_weight(T* wf, const T* w, const Conv2dParams& p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, KK = p.KH * p.KW;
  for (int64_t gi = 0; gi < p.groups; ++gi)
    for (int64_t c = 0; c < Cg; ++c) {
      T* dst = wf + (gi * Cg + c) * OCg * KK;
      for (int64_t o = 0; o < OCg; ++o) {
        const T* src = w + ((gi * OCg + o) * Cg + c) * KK;
        for (int64_t k = 0; k < KK; ++k) dst[o * KK + k] = src[KK - 1 - k];
      }
    }
}

int64_t grain_rows(int64_t row_len) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_len)); }

// A chunk's (R, gc*L) matrix and the gc images' (R, L) slabs (image stride R*L): gather copies the
// slabs in, scatter copies them out (adding add[r] to row r when add is given).
template <class T>
void gather_chunk(T* chunk, const T* images, int64_t gc, int64_t R, int64_t L) {
  parallel_for(0, gc * R, grain_rows(L), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = i / R, r = i % R;
      std::copy(images + (g * R + r) * L, images + (g * R + r + 1) * L, chunk + r * gc * L + g * L);
    }
  });
}

template <class T>
void scatter_chunk(T* images, const T* chunk, int64_t gc, int64_t R, int64_t L, const T* add) {
  parallel_for(0, gc * R, grain_rows(L), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = i / R, r = i % R;
      const T* s = chunk + r * gc * L + g * L;
      T* d = images + (g * R + r) * L;
      const T b = add != nullptr ? add[r] : T(0);
      for (int64_t j = 0; j < L; ++j) d[j] = s[j] + b;
    }
  });
}

// ---- Batch schedule: GEMMs on pre-packed operands ----------------------------------------------
// With M = OCg (6 or 16 in LeNet) a general GEMM spends as long packing its B panel as computing,
// since each packed B element serves a single MR-row sliver. Here B is produced already packed
// (im2col_packed writes the columns straight into the micro-kernel's nr-wide slivers) and A (the
// weights) is packed once per call and shared read-only by the threads; the micro-kernel of
// ops/gemm.h (gemm_micro_kernel) then runs over the tiles. Serial; one image per call.

template <class T>
int64_t packed_a_size(int64_t M, int64_t K, int64_t mr) {  // of gemm_pack_rows(M rows, K, mr)
  return (M + mr - 1) / mr * mr * K;
}

// C (M, N), row stride ldc, = ap @ bp + beta * C for ap from gemm_pack_rows and bp from im2col_packed.
// K is cut into equal blocks of at most uk.kc (later blocks accumulate); within a block, each B
// sliver (L1) meets every A sliver (L2). Edge tiles are computed in place by the micro-kernel (it
// touches only the first ni rows and nj columns of its tile).
template <class T>
void packed_gemm(const GemmMicroKernel<T>& uk, int64_t M, int64_t N, int64_t K, const T* ap, const T* bp, T beta,
                 T* C, int64_t ldc) {
  const int64_t mr = uk.mr, nr = uk.nr;
  if (K <= 0) {  // zero input channels: the product is empty
    if (beta == T(0))
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    return;
  }
  const int64_t kblocks = (K + uk.kc - 1) / uk.kc, kc = (K + kblocks - 1) / kblocks;
  for (int64_t pc = 0; pc < K; pc += kc) {
    const int64_t kb = std::min(kc, K - pc);
    const T bk = pc == 0 ? beta : T(1);
    for (int64_t j0 = 0; j0 < N; j0 += nr) {
      const T* b = bp + j0 * K + pc * nr;  // sliver j0/nr starts at (j0/nr)*K*nr = j0*K; row stride nr
      const int nj = static_cast<int>(std::min(nr, N - j0));
      for (int64_t i0 = 0; i0 < M; i0 += mr) {
        const T* a = ap + i0 * K + pc * mr;
        const int ni = static_cast<int>(std::min(mr, M - i0));
        uk.fn(kb, a, b, nr, C + i0 * ldc + j0, ldc, T(1), bk, ni, nj);
      }
    }
  }
}

// Scratch space of one thread (batch schedule) or of the whole call (chunk schedule).
template <class T>
struct Work {
  ScratchBuffer<T> cols, chunk, row;
};

// The batch schedule's weights, packed once per call for packed_gemm and shared by the threads:
// per group, W_g (OCg, CgKK) for the forward and Wf_g (Cg, OCg*KK) for the stride-1 input gradient.
// dw_packed: dweight by dweight_image_packed (when OCg or CgKK fits in one nr-wide sliver: few output
// channels, LeNet; measured slower than the library GEMM for the 3 -> 64 ResNet stem), else by the
// general gemm per image; dw_t: the packed dweight GEMM runs transposed.
template <class T>
struct PackedWeights {
  const GemmMicroKernel<T>& uk = gemm_micro_kernel<T>();
  ScratchBuffer<T> w, wf;
  int64_t wstride = 0, wfstride = 0;
  bool dw_packed = false, dw_t = false;
};

Im2colGeometry group_geometry(const Conv2dParams& p) {
  Im2colGeometry g = geometry(p);
  g.C = p.C / p.groups;
  return g;
}

Im2colGeometry group_flip_geometry(const Conv2dParams& p) {
  Im2colGeometry g = flip_geometry(p);
  g.C = p.OC / p.groups;
  return g;
}

// Buffers for one image's packed columns of geometry g.
template <class T>
void reserve_packed(Work<T>& wk, const Im2colGeometry& g, int64_t mr, int64_t nr) {
  const int64_t n = (g.cols() + nr - 1) / nr * nr;
  wk.cols.reset(static_cast<size_t>(n * g.rows()));
  wk.row.reset(static_cast<size_t>(im2col_packed_scratch(g, nr)));
}

// Forward of image n in the batch schedule (serial).
template <class T>
void forward_image_packed(T* out, const T* inp, const T* bias, const Conv2dParams& p, const PackedWeights<T>& pw,
                          int64_t n, Work<T>& wk) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, Cg = p.C / p.groups, OCg = p.OC / p.groups;
  const Im2colGeometry geo = group_geometry(p);
  reserve_packed(wk, geo, pw.uk.mr, pw.uk.nr);
  T* dst = out + n * p.OC * OHW;
  if (bias != nullptr)
    for (int64_t o = 0; o < p.OC; ++o) std::fill(dst + o * OHW, dst + (o + 1) * OHW, bias[o]);
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    im2col_packed(wk.cols.data(), pw.uk.nr, inp + (n * p.C + gi * Cg) * HW, geo, wk.row.data());
    packed_gemm(pw.uk, OCg, OHW, geo.rows(), pw.w.data() + gi * pw.wstride, wk.cols.data(),
                bias != nullptr ? T(1) : T(0), dst + gi * OCg * OHW, OHW);
  }
}

// Input gradient of image n in the batch schedule, stride 1 (serial): the flipped correlation.
template <class T>
void dinp_image_packed(T* dinp, const T* dout, const Conv2dParams& p, const PackedWeights<T>& pw, int64_t n,
                       Work<T>& wk) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, Cg = p.C / p.groups, OCg = p.OC / p.groups;
  const Im2colGeometry tgeo = group_flip_geometry(p);
  reserve_packed(wk, tgeo, pw.uk.mr, pw.uk.nr);
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    im2col_packed(wk.cols.data(), pw.uk.nr, dout + (n * p.OC + gi * OCg) * OHW, tgeo, wk.row.data());
    packed_gemm(pw.uk, Cg, HW, tgeo.rows(), pw.wf.data() + gi * pw.wfstride, wk.cols.data(), T(0),
                dinp + (n * p.C + gi * Cg) * HW, HW);
  }
}

// dweight contribution of image n in the batch schedule (serial): per group dw = beta * dw +
// dout_g (OCg, OHW) @ cols_g^T, both operands packed straight from dout and the image. The tile
// grid pads M to the micro-kernel's mr and N to its nr, so the orientation with less padding is
// used: dW_g (OCg, CgKK) = dout_g @ cols_g^T, or (pw.dw_t) dW_g^T (CgKK, OCg) = cols_g @ dout_g^T
// (LeNet's 6 -> 16 layer: 150 x 16 tiles exactly, against 18 x 160 the other way round); dw then
// holds (CgKK, OCg) blocks, transposed when the slots are added up.
template <class T>
void dweight_image_packed(T* dw, T beta, const T* dout, const T* inp, const Conv2dParams& p,
                          const PackedWeights<T>& pw, int64_t n, Work<T>& wk) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, Cg = p.C / p.groups, OCg = p.OC / p.groups;
  const Im2colGeometry geo = group_geometry(p);
  const int64_t CgKK = geo.rows(), mr = pw.uk.mr, nr = pw.uk.nr;
  const int64_t wc = pw.dw_t ? mr : nr, wd = pw.dw_t ? nr : mr;  // sliver widths of cols and dout
  wk.cols.reset(static_cast<size_t>((CgKK + wc - 1) / wc * wc * OHW));
  wk.chunk.reset(static_cast<size_t>(packed_a_size<T>(OCg, OHW, wd)));
  wk.row.reset(static_cast<size_t>(im2col_packed_scratch(geo, wc)));
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    im2col_packed_t(wk.cols.data(), wc, inp + (n * p.C + gi * Cg) * HW, geo, wk.row.data());
    gemm_pack_rows(wk.chunk.data(), dout + (n * p.OC + gi * OCg) * OHW, OHW, OCg, OHW, static_cast<int>(wd));
    T* d = dw + gi * OCg * CgKK;
    if (pw.dw_t)
      packed_gemm(pw.uk, CgKK, OCg, OHW, wk.cols.data(), wk.chunk.data(), beta, d, OCg);
    else
      packed_gemm(pw.uk, OCg, CgKK, OHW, wk.chunk.data(), wk.cols.data(), beta, d, CgKK);
  }
}

// Forward of images [n0, n0 + gc).
template <class T>
void forward_chunk(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p, const Plan& pl,
                   int64_t n0, int64_t gc, Work<T>& wk) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W;
  const int64_t OCg = p.OC / p.groups, CgKK = p.C / p.groups * p.KH * p.KW, ncols = gc * OHW;
  const Im2colGeometry geo = geometry(p);
  const T* cols = inp + n0 * p.C * HW;
  if (!pl.pointwise) {
    wk.cols.reset(static_cast<size_t>(geo.rows() * ncols));
    for (int64_t g = 0; g < gc; ++g) im2col(wk.cols.data() + g * OHW, ncols, inp + (n0 + g) * p.C * HW, geo);
    cols = wk.cols.data();
  }
  // One image: the GEMM accumulates onto the image's output slab pre-filled with the bias (beta = 1).
  T* dst = out + n0 * p.OC * OHW;
  if (gc > 1) {
    wk.chunk.reset(static_cast<size_t>(p.OC * ncols));
    dst = wk.chunk.data();
  } else if (bias != nullptr) {
    parallel_for(0, p.OC, grain_rows(OHW), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) std::fill(dst + o * OHW, dst + (o + 1) * OHW, bias[o]);
    });
  }
  const T beta = (gc == 1 && bias != nullptr) ? T(1) : T(0);
  for (int64_t gi = 0; gi < p.groups; ++gi)
    gemm<T>(false, false, OCg, ncols, CgKK, T(1), weight + gi * OCg * CgKK, CgKK, cols + gi * CgKK * ncols, ncols,
            beta, dst + gi * OCg * ncols, ncols);
  if (gc > 1) scatter_chunk(out + n0 * p.OC * OHW, dst, gc, p.OC, OHW, bias);
}

// Backward of images [n0, n0 + gc): dinp of those images (if dinp), and dw = dw_beta * dw + their
// dweight contribution (if dw).
template <class T>
void backward_chunk(T* dinp, T* dw, T dw_beta, const T* dout, const T* inp, const T* weight, const Conv2dParams& p,
                    const Plan& pl, int64_t n0, int64_t gc, Work<T>& wk) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, KK = p.KH * p.KW;
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, CgKK = Cg * KK, ncols = gc * OHW;
  const Im2colGeometry geo = geometry(p);
  // dout of the chunk as one (OC, gc*OHW) matrix: the image's own slab when gc == 1, else gathered.
  const T* dch = dout + n0 * p.OC * OHW;
  if (gc > 1) {
    wk.chunk.reset(static_cast<size_t>(p.OC * ncols));
    gather_chunk(wk.chunk.data(), dch, gc, p.OC, OHW);
    dch = wk.chunk.data();
  }
  if (dw != nullptr) {
    const T* cols = inp + n0 * p.C * HW;
    if (!pl.pointwise) {
      wk.cols.reset(static_cast<size_t>(geo.rows() * ncols));
      for (int64_t g = 0; g < gc; ++g) im2col(wk.cols.data() + g * OHW, ncols, inp + (n0 + g) * p.C * HW, geo);
      cols = wk.cols.data();
    }
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm<T>(false, true, OCg, CgKK, ncols, T(1), dch + gi * OCg * ncols, ncols, cols + gi * CgKK * ncols, ncols,
              dw_beta, dw + gi * OCg * CgKK, CgKK);
  }
  if (dinp == nullptr) return;
  T* dimg = dinp + n0 * p.C * HW;
  if (pl.pointwise) {
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm<T>(true, false, Cg, OHW, OCg, T(1), weight + gi * OCg * Cg, Cg, dch + gi * OCg * OHW, OHW, T(0),
              dimg + gi * Cg * OHW, OHW);
  } else {
    wk.cols.reset(static_cast<size_t>(geo.rows() * ncols));
    T* dcols = wk.cols.data();
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm<T>(true, false, CgKK, ncols, OCg, T(1), weight + gi * OCg * CgKK, CgKK, dch + gi * OCg * ncols, ncols,
              T(0), dcols + gi * CgKK * ncols, ncols);
    for (int64_t g = 0; g < gc; ++g) col2im(dimg + g * p.C * HW, dcols + g * OHW, ncols, geo);
  }
}

// dbias[o] = sum over images and positions of dout[n, o] (dout (N, OC, OHW)); one channel per
// iteration, accumulated in double in 8 lanes (float32 sums over N*OH*OW terms otherwise lose digits).
template <class T>
void channel_sums(T* dbias, const T* dout, int64_t N, int64_t OC, int64_t OHW) {
  parallel_for(0, OC, grain_rows(N * OHW), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // position i of every plane adds to lane i % 8: independent
      for (int64_t n = 0; n < N; ++n) {          // chains the compiler vectorises, in a fixed order
        const T* s = dout + (n * OC + o) * OHW;
        int64_t i = 0;
        for (; i + 8 <= OHW; i += 8)
          for (int j = 0; j < 8; ++j) lane[j] += static_cast<double>(s[i + j]);
        for (int j = 0; i + j < OHW; ++j) lane[j] += static_cast<double>(s[i + j]);
      }
      const double s04 = lane[0] + lane[4], s15 = lane[1] + lane[5], s26 = lane[2] + lane[6], s37 = lane[3] + lane[7];
      dbias[o] = static_cast<T>((s04 + s15) + (s26 + s37));
    }
  });
}

}  // namespace

template <class T>
void conv2d_forward_im2col(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const Plan pl = make_plan(p, sizeof(T));
  if (pl.batch) {
    PackedWeights<T> pw;
    const int64_t OCg = p.OC / p.groups, CgKK = p.C / p.groups * p.KH * p.KW;
    pw.wstride = packed_a_size<T>(OCg, CgKK, pw.uk.mr);
    pw.w.reset(static_cast<size_t>(p.groups * pw.wstride));
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm_pack_rows(pw.w.data() + gi * pw.wstride, weight + gi * OCg * CgKK, CgKK, OCg, CgKK, pw.uk.mr);
    parallel_for(0, p.N, 1, [&](int64_t n0, int64_t n1) {
      Work<T> wk;
      for (int64_t n = n0; n < n1; ++n) forward_image_packed(out, inp, bias, p, pw, n, wk);
    });
    return;
  }
  Work<T> wk;
  for (int64_t n0 = 0; n0 < p.N; n0 += pl.G) forward_chunk(out, inp, weight, bias, p, pl, n0, std::min(pl.G, p.N - n0), wk);
}

template <class T>
void conv2d_backward_im2col(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                            const Conv2dParams& p) {
  const int64_t OHW = p.OH * p.OW;
  const int64_t CgKK = p.C / p.groups * p.KH * p.KW, wsize = p.OC * CgKK;

  if (dbias != nullptr) channel_sums(dbias, dout, p.N, p.OC, OHW);
  if (dinp == nullptr && dweight == nullptr) return;
  if (p.N == 0) {
    if (dweight != nullptr) std::fill(dweight, dweight + wsize, T(0));
    return;
  }

  const Plan pl = make_plan(p, sizeof(T));
  if (!pl.batch) {
    Work<T> wk;
    for (int64_t n0 = 0; n0 < p.N; n0 += pl.G)
      backward_chunk(dinp, dweight, n0 == 0 ? T(0) : T(1), dout, inp, weight, p, pl, n0, std::min(pl.G, p.N - n0),
                     wk);
    return;
  }
  // Batch schedule: slot s owns images [s*N/S, (s+1)*N/S) and sums their dweight in image order.
  // Stride-1 input gradients use packed_gemm on the flipped weights; strided ones col2im.
  const bool packed_dinp = dinp != nullptr && (pl.flip || pl.pointwise);
  PackedWeights<T> pw;
  if (packed_dinp) {
    const int64_t Cg = p.C / p.groups, TK = p.OC / p.groups * p.KH * p.KW;
    ScratchBuffer<T> wflip(static_cast<size_t>(wsize));
    flip_weight(wflip.data(), weight, p);
    pw.wfstride = packed_a_size<T>(Cg, TK, pw.uk.mr);
    pw.wf.reset(static_cast<size_t>(p.groups * pw.wfstride));
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm_pack_rows(pw.wf.data() + gi * pw.wfstride, wflip.data() + gi * Cg * TK, TK, Cg, TK, pw.uk.mr);
  }
  {
    const int64_t OCg = p.OC / p.groups, mr = pw.uk.mr, nr = pw.uk.nr;
    auto up = [](int64_t a, int64_t b) { return (a + b - 1) / b * b; };
    pw.dw_packed = std::min(OCg, CgKK) <= nr;
    pw.dw_t = pw.dw_packed && up(CgKK, mr) * up(OCg, nr) < up(OCg, mr) * up(CgKK, nr);
  }
  const int64_t S = pl.slots;
  ScratchBuffer<T> partial;
  if (dweight != nullptr) partial.reset(static_cast<size_t>(S * wsize));
  parallel_for(0, S, 1, [&](int64_t s0, int64_t s1) {
    Work<T> wk;
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t b = s * p.N / S, e = (s + 1) * p.N / S;
      T* dw = dweight != nullptr ? partial.data() + s * wsize : nullptr;
      for (int64_t n = b; n < e; ++n) {
        const T beta = n == b ? T(0) : T(1);
        if (dw != nullptr && pw.dw_packed)
          dweight_image_packed(dw, beta, dout, inp, p, pw, n, wk);
        else if (dw != nullptr)
          backward_chunk(static_cast<T*>(nullptr), dw, beta, dout, inp, weight, p, pl, n, 1, wk);
        if (packed_dinp)
          dinp_image_packed(dinp, dout, p, pw, n, wk);
        else if (dinp != nullptr)
          backward_chunk(dinp, static_cast<T*>(nullptr), T(0), dout, inp, weight, p, pl, n, 1, wk);
      }
    }
  });
  // dweight[i] = partial 0 + partial 1 + ... in slot order; element i of dweight (group gi, output
  // channel o, column r) sits at index gi*OCg*CgKK + r*OCg + o of a transposed partial.
  if (dweight != nullptr) {
    const int64_t OCg = p.OC / p.groups;
    const T* part = partial.data();
    const bool tr = pw.dw_t;
    parallel_for(0, wsize, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t j = i;
        if (tr) {
          const int64_t gi = i / (OCg * CgKK), o = (i / CgKK) % OCg, r = i % CgKK;
          j = gi * OCg * CgKK + r * OCg + o;
        }
        T acc = part[j];
        for (int64_t s = 1; s < S; ++s) acc += part[s * wsize + j];
        dweight[i] = acc;
      }
    });
  }
}

// ---- Depthwise convolution: direct loops over planes ---------------------------------------------
// groups == C: output channel o reads only input channel c = o / M (M = OC / C, the channel
// multiplier), with a KH x KW filter. im2col + GEMM would run C GEMMs with K = KH*KW (9), far too
// thin for the micro-kernel; direct loops do the same multiply-adds without the column matrix.
// Column layout ("split plane"): an input plane is copied once, row by row, into a zero-padded,
// phase-split buffer: padded column i = ix + PW of a row goes to phase i % SW, slot i / SW. Output
// column x of tap kw then reads phase (kw*DW) % SW at slot x + (kw*DW) / SW: contiguous at every
// stride (stride 2: the even and odd columns deinterleaved once instead of strided loads per tap),
// and no per-tap column range (out-of-image columns read the zero padding). Rows outside the image
// are skipped per tap row (y ranges, computed once per call). The x loops run over OWr = OW rounded
// up to kDwV (fixed-width chunks the compiler turns into whole vectors); the extra columns are
// scratch, never reaching a result. Where a weight (or, for dweight, a gradient row) is not finite,
// the loops fall back to each tap's valid columns, so no inf * 0 from the padding turns into NaN.
// The per-plane functions are compiled twice, for baseline x86-64 and (CNNKIT_AVX2, chosen at run
// time by simd_avx2()) for AVX2+FMA, from one always-inlined body.
//   forward   threads split the (n, o) output planes; an output row is computed in blocks of one or
//             two chunks held in registers across its KH*KW taps (bias, then taps in (kh, kw) order).
//   dinp      per input plane (n, c), serial within the plane (no other thread writes it: no atomics).
//             Stride 1: a gather, input row by input row, in register blocks over the M gradient
//             planes (zero-padded copies), the tap rows reaching the row and the taps (m, kh, kw
//             order); else a scatter of the M planes' taps into a split-layout accumulator (y, kh,
//             kw order), interleaved back at the end.
//   dweight   tap (kh, kw) keeps a row of OW partial sums (vectorised multiply-adds over x),
//             accumulated over images and rows, then summed in double. With dinp it runs fused: threads
//             split the input channels c, and image by image a channel's filters' partial sums and its
//             dinp plane are computed while the image's gradient planes are in cache (dinp alone:
//             threads split the (n, c) planes).
// The order of every sum is fixed, so results do not depend on the thread count.

namespace {
constexpr int64_t kDwV = 8;  // x-chunk width: one AVX register of float, two of double

// Output indices j in [0, out) with 0 <= j*S + off < in form [j0, j1).
void tap_range(int64_t in, int64_t out, int64_t S, int64_t off, int64_t& j0, int64_t& j1) {
  j0 = off >= 0 ? 0 : (-off + S - 1) / S;
  j1 = in - 1 - off >= 0 ? std::min(out, (in - 1 - off) / S + 1) : 0;
  if (j1 < j0) j1 = j0;
}

// Per-call geometry: valid output rows per tap row, split-layout sizes and per-tap column offsets.
struct DwGeom {
  int64_t S, OWr, L, Wq, row, Wc, GW;  // stride, rounded OW, largest slot offset, slots per phase (a
                                       // multiple of kDwV), S*Wq, columns copied, padded gradient row
  std::vector<int64_t> y0, y1, x0, x1, col;  // valid output rows per kh, columns per kw; col[kw] = phase * Wq
                                             // + slot offset
  std::vector<int64_t> qbeg, qkw, qoff;  // taps by phase: qkw[qbeg[q] .. qbeg[q+1]), at slot offsets qoff
  explicit DwGeom(const Conv2dParams& p) : y0(p.KH), y1(p.KH), x0(p.KW), x1(p.KW), col(p.KW) {
    S = p.SW;
    OWr = (p.OW + kDwV - 1) / kDwV * kDwV;
    L = (p.KW - 1) * p.DW / S;
    Wq = (OWr + L + kDwV - 1) / kDwV * kDwV;
    GW = L + Wq;
    row = S * Wq;
    Wc = std::max<int64_t>(0, std::min(p.W, row - p.PW));  // input columns with a slot (the rest are never read)
    for (int64_t kh = 0; kh < p.KH; ++kh) tap_range(p.H, p.OH, p.SH, kh * p.DH - p.PH, y0[kh], y1[kh]);
    for (int64_t kw = 0; kw < p.KW; ++kw) {
      tap_range(p.W, p.OW, p.SW, kw * p.DW - p.PW, x0[kw], x1[kw]);
      col[kw] = (kw * p.DW) % S * Wq + (kw * p.DW) / S;
    }
    for (int64_t q = 0; q < S; ++q) {
      qbeg.push_back(static_cast<int64_t>(qkw.size()));
      for (int64_t kw = 0; kw < p.KW; ++kw)
        if ((kw * p.DW) % S == q) {
          qkw.push_back(kw);
          qoff.push_back((kw * p.DW) / S);
        }
    }
    qbeg.push_back(static_cast<int64_t>(qkw.size()));
  }
};

#if defined(__GNUC__) || defined(__clang__)
#define CNNKIT_DW_INLINE __attribute__((always_inline)) inline
#else
#define CNNKIT_DW_INLINE inline
#endif

// Copy plane src (H, W) into the split layout buf (H, S, Wq). The padding slots are never written:
// buf is zeroed once when allocated.
template <class T>
CNNKIT_DW_INLINE void dw_split_plane(T* __restrict__ buf, const T* __restrict__ src, const Conv2dParams& p,
                                     const DwGeom& g) {
  for (int64_t ih = 0; ih < p.H; ++ih) {
    const T* __restrict__ s = src + ih * p.W;
    T* __restrict__ b = buf + ih * g.row;
    if (g.S == 1) {
      for (int64_t ix = 0; ix < g.Wc; ++ix) b[p.PW + ix] = s[ix];
    } else if (g.S == 2) {
      // column ix -> padded i = ix + PW: even i to phase 0, odd i to phase 1, slot i / 2
      T* __restrict__ e = b + (p.PW % 2 == 0 ? 0 : g.Wq) + p.PW / 2;               // receives s[2t]
      T* __restrict__ f = b + (p.PW % 2 == 0 ? g.Wq : 0) + (p.PW + 1) / 2;         // receives s[2t + 1]
      const int64_t pairs = g.Wc / 2;
      for (int64_t t = 0; t < pairs; ++t) {
        e[t] = s[2 * t];
        f[t] = s[2 * t + 1];
      }
      if (g.Wc % 2) e[pairs] = s[2 * pairs];
    } else {
      for (int64_t ix = 0; ix < g.Wc; ++ix) {
        const int64_t i = ix + p.PW;
        b[i % g.S * g.Wq + i / g.S] = s[ix];
      }
    }
  }
}

// out[0, B*kDwV) = bias + sum over taps of w[kh, kw] * the split plane buf at the tap's offset, for
// output row y: B chunks held in registers across all taps (B independent FMA chains; an
// accumulator row in memory would chain every tap through a store and a load).
template <int B, class T>
CNNKIT_DW_INLINE void dw_forward_block(T* __restrict__ out, const T* __restrict__ buf, const T* w, T bias, int64_t y,
                                       const Conv2dParams& p, const DwGeom& g) {
  T v[B * kDwV];
  for (int j = 0; j < B * kDwV; ++j) v[j] = bias;
  for (int64_t kh = 0; kh < p.KH; ++kh) {
    if (y < g.y0[kh] || y >= g.y1[kh]) continue;
    const T* srow = buf + (y * p.SH + kh * p.DH - p.PH) * g.row;
    for (int64_t kw = 0; kw < p.KW; ++kw) {
      const T wv = w[kh * p.KW + kw];
      const T* __restrict__ s = srow + g.col[kw];
      for (int j = 0; j < B * kDwV; ++j) v[j] += wv * s[j];
    }
  }
  for (int j = 0; j < B * kDwV; ++j) out[j] = v[j];
}

// dst (OH, OW) = bias + sum over taps of w[kh, kw] * the split plane at the tap's offset. exact
// (a weight is not finite): each tap runs over its valid columns only, so no w * 0 (NaN for inf)
// from the padding reaches an output; otherwise the taps run over whole chunks.
template <class T>
CNNKIT_DW_INLINE void dw_forward_plane_body(T* __restrict__ dst, const T* __restrict__ buf, const T* w, T bias,
                                            T* __restrict__ acc, bool exact, const Conv2dParams& p,
                                            const DwGeom& g) {
  if (!exact) {
    for (int64_t y = 0; y < p.OH; ++y) {
      int64_t x = 0;
      for (; x + 2 * kDwV <= g.OWr; x += 2 * kDwV) dw_forward_block<2>(acc + x, buf + x, w, bias, y, p, g);
      if (x < g.OWr) dw_forward_block<1>(acc + x, buf + x, w, bias, y, p, g);
      T* __restrict__ d = dst + y * p.OW;
      for (int64_t x = 0; x < p.OW; ++x) d[x] = acc[x];
    }
    return;
  }
  for (int64_t y = 0; y < p.OH; ++y) {
    for (int64_t x = 0; x < g.OWr; ++x) acc[x] = bias;
    for (int64_t kh = 0; kh < p.KH; ++kh) {
      if (y < g.y0[kh] || y >= g.y1[kh]) continue;
      const T* srow = buf + (y * p.SH + kh * p.DH - p.PH) * g.row;
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        const T wv = w[kh * p.KW + kw];
        const T* __restrict__ s = srow + g.col[kw];
        for (int64_t x = g.x0[kw]; x < g.x1[kw]; ++x) acc[x] += wv * s[x];
      }
    }
    T* __restrict__ d = dst + y * p.OW;
    for (int64_t x = 0; x < p.OW; ++x) d[x] = acc[x];
  }
}

// acc (H, S, Wq) += sum over taps of w[kh, kw] * g (OH, OW) scattered to the tap's split positions.
// gp: one row of OWr scratch whose tail [OW, OWr) is zero. exact (a weight is not finite): each tap
// runs over its valid columns only (the tail's w * 0 would be NaN for inf).
template <class T>
CNNKIT_DW_INLINE void dw_dinp_plane_body(T* __restrict__ acc, const T* __restrict__ gplane, const T* w,
                                         T* __restrict__ gp, bool exact, const Conv2dParams& p, const DwGeom& g) {
  for (int64_t y = 0; y < p.OH; ++y) {
    for (int64_t x = 0; x < p.OW; ++x) gp[x] = gplane[y * p.OW + x];
    for (int64_t kh = 0; kh < p.KH; ++kh) {
      if (y < g.y0[kh] || y >= g.y1[kh]) continue;
      T* arow = acc + (y * p.SH + kh * p.DH - p.PH) * g.row;
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        const T wv = w[kh * p.KW + kw];
        T* __restrict__ d = arow + g.col[kw];
        if (exact) {
          for (int64_t x = g.x0[kw]; x < g.x1[kw]; ++x) d[x] += wv * gp[x];
          continue;
        }
        for (int64_t x = 0; x < g.OWr; x += kDwV)  // columns past OW add wv * 0 = 0
          for (int64_t j = 0; j < kDwV; ++j) d[x + j] += wv * gp[x + j];
      }
    }
  }
}

// Interleave the split accumulator acc (H, S, Wq) back into dst (H, W).
template <class T>
CNNKIT_DW_INLINE void dw_merge_row(T* __restrict__ d, const T* __restrict__ b, const Conv2dParams& p,
                                   const DwGeom& g) {
  {
    if (g.S == 1) {
      for (int64_t ix = 0; ix < g.Wc; ++ix) d[ix] = b[p.PW + ix];
    } else if (g.S == 2) {
      const T* __restrict__ e = b + (p.PW % 2 == 0 ? 0 : g.Wq) + p.PW / 2;
      const T* __restrict__ f = b + (p.PW % 2 == 0 ? g.Wq : 0) + (p.PW + 1) / 2;
      const int64_t pairs = g.Wc / 2;
      for (int64_t t = 0; t < pairs; ++t) {
        d[2 * t] = e[t];
        d[2 * t + 1] = f[t];
      }
      if (g.Wc % 2) d[2 * pairs] = e[pairs];
    } else {
      for (int64_t ix = 0; ix < g.Wc; ++ix) {
        const int64_t i = ix + p.PW;
        d[ix] = b[i % g.S * g.Wq + i / g.S];
      }
    }
    for (int64_t ix = g.Wc; ix < p.W; ++ix) d[ix] = T(0);  // columns no output reaches
  }
}
template <class T>
CNNKIT_DW_INLINE void dw_merge_plane(T* __restrict__ dst, const T* __restrict__ acc, const Conv2dParams& p,
                                     const DwGeom& g) {
  for (int64_t ih = 0; ih < p.H; ++ih) dw_merge_row(dst + ih * p.W, acc + ih * g.row, p, g);
}

// The gather form of dinp (finite weights): gbuf (M, OH, GW) holds the plane's M gradient planes
// with L zero columns in front and zeros past OW. Input row ih is built in the split layout, phase
// by phase: slots [xb, xb + B*kDwV) of phase q sum over m, the tap rows kh that reach row ih, and
// the taps kw of phase q, in that order, in registers (every tap adds w * a zero where it reaches no
// output); then the row is interleaved into dst.
// nr tap rows reach row ih: tap row khs[r] from gradient row ys[r]; phase q has the nq taps kws[i]
// at slot offsets offs[i].
template <int B, class T>
CNNKIT_DW_INLINE void dw_gather_block(T* __restrict__ out, const T* __restrict__ gbuf, const T* w, int64_t M,
                                      int64_t nr, const int64_t* khs, const int64_t* ys, int64_t nq,
                                      const int64_t* kws, const int64_t* offs, const Conv2dParams& p,
                                      const DwGeom& g) {
  T v[B * kDwV];
  for (int j = 0; j < B * kDwV; ++j) v[j] = T(0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t r = 0; r < nr; ++r) {
      const T* grow = gbuf + (m * p.OH + ys[r]) * g.GW + g.L;
      const T* wr = w + (m * p.KH + khs[r]) * p.KW;
      for (int64_t i = 0; i < nq; ++i) {
        const T wv = wr[kws[i]];
        const T* __restrict__ src = grow - offs[i];
        for (int j = 0; j < B * kDwV; ++j) v[j] += wv * src[j];
      }
    }
  for (int j = 0; j < B * kDwV; ++j) out[j] = v[j];
}

template <class T>
CNNKIT_DW_INLINE void dw_dinp_gather_body(T* __restrict__ dst, const T* __restrict__ gbuf, const T* w, int64_t M,
                                          T* __restrict__ acc, const Conv2dParams& p, const DwGeom& g) {
  // slots of a phase that dw_merge_row reads: (ix + PW) / S for ix < Wc
  const int64_t need = g.Wc > 0 ? (g.Wc - 1 + p.PW) / g.S + 1 : 0;
  const int64_t Wn = (need + kDwV - 1) / kDwV * kDwV;  // <= Wq
  const int64_t* kws = g.qkw.data();
  const int64_t* offs = g.qoff.data();
  for (int64_t ih = 0; ih < p.H; ++ih) {
    int64_t khs[16], ys[16], nr = 0;  // KH <= 16 here (the caller checks)
    for (int64_t kh = 0; kh < p.KH; ++kh) {
      const int64_t t = ih + p.PH - kh * p.DH;
      if (t < 0 || t % p.SH != 0 || t / p.SH >= p.OH) continue;
      khs[nr] = kh;
      ys[nr++] = t / p.SH;
    }
    for (int64_t q = 0; q < g.S; ++q) {
      T* a = acc + q * g.Wq;
      const int64_t i0 = g.qbeg[q], nq = g.qbeg[q + 1] - i0;
      int64_t x = 0;
      for (; x + 2 * kDwV <= Wn; x += 2 * kDwV)
        dw_gather_block<2>(a + x, gbuf + x, w, M, nr, khs, ys, nq, kws + i0, offs + i0, p, g);
      if (x < Wn) dw_gather_block<1>(a + x, gbuf + x, w, M, nr, khs, ys, nq, kws + i0, offs + i0, p, g);
    }
    dw_merge_row(dst + ih * p.W, acc, p, g);
  }
}

// gbuf (M, OH, GW) <- the M gradient planes gplanes (M, OH, OW) at column offset L (the rest stays zero).
template <class T>
CNNKIT_DW_INLINE void dw_pad_grad(T* __restrict__ gbuf, const T* __restrict__ gplanes, int64_t M,
                                  const Conv2dParams& p, const DwGeom& g) {
  for (int64_t r = 0; r < M * p.OH; ++r)
    for (int64_t x = 0; x < p.OW; ++x) gbuf[r * g.GW + g.L + x] = gplanes[r * p.OW + x];
}

// rows (KH*KW, OWr) += per tap, g (OH, OW) times the split plane at the tap's offset, summed over y.
// A row of g that is not finite runs each tap over its valid columns only (g * a padding 0 would
// be NaN); the test rides on the row's copy (v - v is 0 for finite v, NaN for inf and NaN).
template <class T>
CNNKIT_DW_INLINE void dw_dweight_plane_body(T* __restrict__ rows, const T* __restrict__ gplane,
                                            const T* __restrict__ buf, T* __restrict__ gp, const Conv2dParams& p,
                                            const DwGeom& g) {
  for (int64_t y = 0; y < p.OH; ++y) {
    int finite = 1;
    for (int64_t x = 0; x < p.OW; ++x) {
      const T v = gplane[y * p.OW + x];
      gp[x] = v;
      finite &= (v - v) == T(0);
    }
    const bool exact = finite == 0;
    for (int64_t kh = 0; kh < p.KH; ++kh) {
      if (y < g.y0[kh] || y >= g.y1[kh]) continue;
      const T* srow = buf + (y * p.SH + kh * p.DH - p.PH) * g.row;
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        T* __restrict__ acc = rows + (kh * p.KW + kw) * g.OWr;
        const T* __restrict__ s = srow + g.col[kw];
        if (exact) {
          for (int64_t x = g.x0[kw]; x < g.x1[kw]; ++x) acc[x] += gp[x] * s[x];
          continue;
        }
        for (int64_t x = 0; x < g.OWr; x += kDwV)  // columns past OW: scratch, never summed
          for (int64_t j = 0; j < kDwV; ++j) acc[x + j] += gp[x + j] * s[x + j];
      }
    }
  }
}

template <class T>
void dw_forward_plane(T* dst, const T* buf, const T* w, T bias, T* acc, bool exact, const Conv2dParams& p,
                      const DwGeom& g) {
  dw_forward_plane_body(dst, buf, w, bias, acc, exact, p, g);
}
template <class T>
void dw_dinp_plane(T* acc, const T* gplane, const T* w, T* gp, bool exact, const Conv2dParams& p, const DwGeom& g) {
  dw_dinp_plane_body(acc, gplane, w, gp, exact, p, g);
}
template <class T>
void dw_dweight_plane(T* rows, const T* gplane, const T* buf, T* gp, const Conv2dParams& p, const DwGeom& g) {
  dw_dweight_plane_body(rows, gplane, buf, gp, p, g);
}
template <class T>
void dw_split(T* buf, const T* src, const Conv2dParams& p, const DwGeom& g) {
  dw_split_plane(buf, src, p, g);
}
template <class T>
void dw_merge(T* dst, const T* acc, const Conv2dParams& p, const DwGeom& g) {
  dw_merge_plane(dst, acc, p, g);
}
template <class T>
void dw_dinp_gather(T* dst, T* gbuf, const T* gplanes, const T* w, int64_t M, T* acc, const Conv2dParams& p,
                    const DwGeom& g) {
  dw_pad_grad(gbuf, gplanes, M, p, g);
  dw_dinp_gather_body(dst, gbuf, w, M, acc, p, g);
}
#if CNNKIT_HAVE_AVX2
template <class T>
CNNKIT_AVX2 void dw_forward_plane_avx2(T* dst, const T* buf, const T* w, T bias, T* acc, bool exact,
                                       const Conv2dParams& p, const DwGeom& g) {
  dw_forward_plane_body(dst, buf, w, bias, acc, exact, p, g);
}
template <class T>
CNNKIT_AVX2 void dw_dinp_plane_avx2(T* acc, const T* gplane, const T* w, T* gp, bool exact,
                                    const Conv2dParams& p, const DwGeom& g) {
  dw_dinp_plane_body(acc, gplane, w, gp, exact, p, g);
}
template <class T>
CNNKIT_AVX2 void dw_dweight_plane_avx2(T* rows, const T* gplane, const T* buf, T* gp, const Conv2dParams& p,
                                       const DwGeom& g) {
  dw_dweight_plane_body(rows, gplane, buf, gp, p, g);
}
template <class T>
CNNKIT_AVX2 void dw_split_avx2(T* buf, const T* src, const Conv2dParams& p, const DwGeom& g) {
  dw_split_plane(buf, src, p, g);
}
template <class T>
CNNKIT_AVX2 void dw_merge_avx2(T* dst, const T* acc, const Conv2dParams& p, const DwGeom& g) {
  dw_merge_plane(dst, acc, p, g);
}
template <class T>
CNNKIT_AVX2 void dw_dinp_gather_avx2(T* dst, T* gbuf, const T* gplanes, const T* w, int64_t M, T* acc,
                                     const Conv2dParams& p, const DwGeom& g) {
  dw_pad_grad(gbuf, gplanes, M, p, g);
  dw_dinp_gather_body(dst, gbuf, w, M, acc, p, g);
}
#endif

// v - v is 0 for a finite v, NaN for inf and NaN (a form that vectorises, unlike std::isfinite).
template <class T>
bool all_finite(const T* v, int64_t n) {
  int ok = 1;
  for (int64_t i = 0; i < n; ++i) ok &= (v[i] - v[i]) == T(0);
  return ok != 0;
}
}  // namespace

template <class T>
void conv2d_depthwise_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const int64_t M = p.OC / p.C, HW = p.H * p.W, OHW = p.OH * p.OW, KK = p.KH * p.KW;
  const DwGeom g(p);
#if CNNKIT_HAVE_AVX2
  const bool avx2 = simd_avx2();
#endif
  parallel_for(0, p.N * p.OC, 1, [&](int64_t i0, int64_t i1) {
    std::vector<T> buf(static_cast<size_t>(p.H * g.row), T(0)), acc(static_cast<size_t>(g.OWr));
    int64_t split = -1;  // the input plane now in buf
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t o = i % p.OC, n = i / p.OC, plane = n * p.C + o / M;
      const T b = bias != nullptr ? bias[o] : T(0);
      const bool exact = !all_finite(weight + o * KK, KK);
#if CNNKIT_HAVE_AVX2
      if (avx2) {
        if (plane != split) dw_split_avx2(buf.data(), inp + plane * HW, p, g);
        split = plane;
        dw_forward_plane_avx2(out + i * OHW, buf.data(), weight + o * KK, b, acc.data(), exact, p, g);
        continue;
      }
#endif
      if (plane != split) dw_split(buf.data(), inp + plane * HW, p, g);
      split = plane;
      dw_forward_plane(out + i * OHW, buf.data(), weight + o * KK, b, acc.data(), exact, p, g);
    }
  });
}

template <class T>
void conv2d_depthwise_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const Conv2dParams& p) {
  const int64_t M = p.OC / p.C, HW = p.H * p.W, OHW = p.OH * p.OW, KK = p.KH * p.KW;
  const DwGeom g(p);
#if CNNKIT_HAVE_AVX2
  const bool avx2 = simd_avx2();
#endif
  if (dbias != nullptr) channel_sums(dbias, dout, p.N, p.OC, OHW);
  // dinp of input plane i = (n, c), with per-thread scratch
  struct Scratch {
    std::vector<T> acc, gp, gbuf, arow;
  };
  auto dinp_plane = [&](int64_t i, Scratch& sc) {
    const int64_t c = i % p.C, n = i / p.C;
    const T* wc = weight + c * M * KK;  // the M filters of channel c
    const bool finite = all_finite(wc, M * KK);
    // the gather at stride 1 (9 taps per row in registers); at stride 2 a row has few taps per phase,
    // and the scatter (below) measured faster
    if (finite && p.KH <= 16 && p.SH == 1 && p.SW == 1) {
      if (sc.gbuf.empty()) {
        sc.gbuf.assign(static_cast<size_t>(M * p.OH * g.GW), T(0));
        sc.arow.resize(static_cast<size_t>(g.row));
      }
      const T* gplanes = dout + (n * p.OC + c * M) * OHW;
#if CNNKIT_HAVE_AVX2
      if (avx2) {
        dw_dinp_gather_avx2(dinp + i * HW, sc.gbuf.data(), gplanes, wc, M, sc.arow.data(), p, g);
        return;
      }
#endif
      dw_dinp_gather(dinp + i * HW, sc.gbuf.data(), gplanes, wc, M, sc.arow.data(), p, g);
      return;
    }
    // the scatter (a non-finite weight: each tap over its valid columns only)
    sc.acc.resize(static_cast<size_t>(p.H * g.row));
    std::fill(sc.acc.begin(), sc.acc.end(), T(0));
    if (sc.gp.empty()) sc.gp.assign(static_cast<size_t>(g.OWr), T(0));
    for (int64_t m = 0; m < M; ++m) {
      const int64_t o = c * M + m;
      const T* gplane = dout + (n * p.OC + o) * OHW;
#if CNNKIT_HAVE_AVX2
      if (avx2) {
        dw_dinp_plane_avx2(sc.acc.data(), gplane, weight + o * KK, sc.gp.data(), !finite, p, g);
        continue;
      }
#endif
      dw_dinp_plane(sc.acc.data(), gplane, weight + o * KK, sc.gp.data(), !finite, p, g);
    }
#if CNNKIT_HAVE_AVX2
    if (avx2) {
      dw_merge_avx2(dinp + i * HW, sc.acc.data(), p, g);
      return;
    }
#endif
    dw_merge(dinp + i * HW, sc.acc.data(), p, g);
  };
  if (dweight == nullptr) {
    if (dinp == nullptr) return;
    parallel_for(0, p.N * p.C, 1, [&](int64_t i0, int64_t i1) {
      Scratch sc;
      for (int64_t i = i0; i < i1; ++i) dinp_plane(i, sc);
    });
    return;
  }
  // dweight (and dinp, fused: each image's gradient planes are read while they are in cache): threads
  // split the input channels c; channel c owns the filters o = c*M + m and the dinp planes (n, c).
  parallel_for(0, p.C, 1, [&](int64_t c0, int64_t c1) {
    std::vector<T> rows(static_cast<size_t>(M * KK * g.OWr)), buf(static_cast<size_t>(p.H * g.row), T(0)),
        gp(static_cast<size_t>(g.OWr), T(0));
    Scratch sc;
    for (int64_t c = c0; c < c1; ++c) {
      std::fill(rows.begin(), rows.end(), T(0));
      for (int64_t n = 0; n < p.N; ++n) {
        const T* src = inp + (n * p.C + c) * HW;
#if CNNKIT_HAVE_AVX2
        if (avx2)
          dw_split_avx2(buf.data(), src, p, g);
        else
#endif
          dw_split(buf.data(), src, p, g);
        for (int64_t m = 0; m < M; ++m) {
          const T* gplane = dout + (n * p.OC + c * M + m) * OHW;
          T* r = rows.data() + m * KK * g.OWr;
#if CNNKIT_HAVE_AVX2
          if (avx2) {
            dw_dweight_plane_avx2(r, gplane, buf.data(), gp.data(), p, g);
            continue;
          }
#endif
          dw_dweight_plane(r, gplane, buf.data(), gp.data(), p, g);
        }
        if (dinp != nullptr) dinp_plane(n * p.C + c, sc);
      }
      for (int64_t k = 0; k < M * KK; ++k) {
        double sum = 0;
        for (int64_t x = 0; x < p.OW; ++x) sum += rows[k * g.OWr + x];
        dweight[c * M * KK + k] = static_cast<T>(sum);
      }
    }
  });
}

template <class T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  if (conv2d_is_depthwise(p))
    conv2d_depthwise_forward(out, inp, weight, bias, p);
  else
    conv2d_forward_im2col(out, inp, weight, bias, p);
}

template <class T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dParams& p) {
  if (conv2d_is_depthwise(p))
    conv2d_depthwise_backward(dinp, dweight, dbias, dout, inp, weight, p);
  else
    conv2d_backward_im2col(dinp, dweight, dbias, dout, inp, weight, p);
}

// ---- Transposed convolution: the conv2d kernels with the roles of input and output exchanged -----
// p describes the conv2d whose input gradient is the transposed convolution: its input (N, C, H, W)
// is the tconv output, its output (N, OC, OH, OW) the tconv input.
//
// Small tconv inputs (OH*OW <= kTconvMaxInputs, N >= 2, not depthwise, shapes that conv2d runs in
// its chunk schedule; every other shape keeps the conv2d paths): the batch goes through whole-
// batch GEMMs, G images side by side (G = N unless the column matrix would pass kTconvMaxColsBytes):
//   forward   dcols (CKK, G*OHW) = W^T @ x_chunk (OC, G*OHW), then col2im of each image
//   backward  cols (CKK, G*OHW) = im2col of dout, each image once, shared by
//             dinp_chunk (OC, G*OHW) = W @ cols, scattered to (N, OC, OH, OW), and
//             dweight (OC, CKK) += x_chunk (OC, G*OHW) @ cols^T (chunk after chunk, beta = 1).
// im2col / col2im run one image per iteration, threads splitting the images (one image's 64-column
// rows fall under im2col's fork threshold, so the conv2d paths ran them on one thread), and the
// conv2d-based backward computed the same im2col twice (once for dinp, once for dweight). Measured
// (benchmarks/bench_conv_extra.py, batch 32, 2 threads, AVX2), 64 -> 32 k4 s2 at 8x8: forward
// 2.1-2.6 -> 1.9 ms, backward 7.2-9.6 -> 3.7-3.9 ms; at 16x16 backward 18-22 -> 14-15 ms.
// G depends only on the shapes and each kernel's result is independent of its split among threads,
// so the results are independent of the number of threads.
namespace {

constexpr int64_t kTconvMaxInputs = 256;
constexpr int64_t kTconvMaxColsBytes = int64_t(32) << 20;

template <class T>
int64_t tconv_batch_images(const Conv2dParams& p) {  // 0: use the conv2d paths
  const int64_t OHW = p.OH * p.OW, CKK = p.C * p.KH * p.KW;
  if (p.N < 2 || OHW > kTconvMaxInputs || conv2d_is_depthwise(p) || make_plan(p, sizeof(T)).batch) return 0;
  const int64_t per_image = std::max<int64_t>(1, CKK * OHW * static_cast<int64_t>(sizeof(T)));
  return std::max<int64_t>(1, std::min(p.N, kTconvMaxColsBytes / per_image));
}

template <class T>
void tconv_forward_batched(T* out, const T* inp, const T* weight, const Conv2dParams& p, int64_t G) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W;
  const int64_t OCg = p.OC / p.groups, CgKK = p.C / p.groups * p.KH * p.KW;
  const Im2colGeometry geo = geometry(p);
  ScratchBuffer<T> xch(static_cast<size_t>(p.OC * G * OHW)), dcols(static_cast<size_t>(geo.rows() * G * OHW));
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    gather_chunk(xch.data(), inp + n0 * p.OC * OHW, gc, p.OC, OHW);
    for (int64_t gi = 0; gi < p.groups; ++gi)
      gemm<T>(true, false, CgKK, ncols, OCg, T(1), weight + gi * OCg * CgKK, CgKK, xch.data() + gi * OCg * ncols,
              ncols, T(0), dcols.data() + gi * CgKK * ncols, ncols);
    parallel_for(0, gc, 1, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) col2im(out + (n0 + g) * p.C * HW, dcols.data() + g * OHW, ncols, geo);
    });
  }
}

template <class T>
void tconv_backward_batched(T* dinp, T* dweight, const T* dout, const T* inp, const T* weight, const Conv2dParams& p,
                            int64_t G) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W;
  const int64_t OCg = p.OC / p.groups, CgKK = p.C / p.groups * p.KH * p.KW;
  const Im2colGeometry geo = geometry(p);
  ScratchBuffer<T> cols(static_cast<size_t>(geo.rows() * G * OHW)), ch(static_cast<size_t>(p.OC * G * OHW));
  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    parallel_for(0, gc, 1, [&](int64_t g0, int64_t g1) {
      for (int64_t g = g0; g < g1; ++g) im2col(cols.data() + g * OHW, ncols, dout + (n0 + g) * p.C * HW, geo);
    });
    if (dinp != nullptr) {
      for (int64_t gi = 0; gi < p.groups; ++gi)
        gemm<T>(false, false, OCg, ncols, CgKK, T(1), weight + gi * OCg * CgKK, CgKK, cols.data() + gi * CgKK * ncols,
                ncols, T(0), ch.data() + gi * OCg * ncols, ncols);
      scatter_chunk(dinp + n0 * p.OC * OHW, ch.data(), gc, p.OC, OHW, static_cast<const T*>(nullptr));
    }
    if (dweight != nullptr) {
      gather_chunk(ch.data(), inp + n0 * p.OC * OHW, gc, p.OC, OHW);
      for (int64_t gi = 0; gi < p.groups; ++gi)
        gemm<T>(false, true, OCg, CgKK, ncols, T(1), ch.data() + gi * OCg * ncols, ncols,
                cols.data() + gi * CgKK * ncols, ncols, n0 == 0 ? T(0) : T(1), dweight + gi * OCg * CgKK, CgKK);
    }
  }
}

}  // namespace

template <class T>
void conv_transpose2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const int64_t HW = p.H * p.W;
  if (const int64_t G = tconv_batch_images<T>(p); G > 0)
    tconv_forward_batched(out, inp, weight, p, G);
  else
    conv2d_backward(out, static_cast<T*>(nullptr), static_cast<T*>(nullptr), inp, static_cast<const T*>(nullptr),
                    weight, p);
  if (bias == nullptr) return;
  parallel_for(0, p.N * p.C, grain_rows(HW), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T b = bias[i % p.C];
      T* d = out + i * HW;
      for (int64_t j = 0; j < HW; ++j) d[j] += b;
    }
  });
}

template <class T>
void conv_transpose2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const Conv2dParams& p) {
  if (dbias != nullptr) channel_sums(dbias, dout, p.N, p.C, p.H * p.W);
  if (dinp == nullptr && dweight == nullptr) return;
  if (const int64_t G = tconv_batch_images<T>(p); G > 0) {
    tconv_backward_batched(dinp, dweight, dout, inp, weight, p, G);
    return;
  }
  if (dinp != nullptr) conv2d_forward(dinp, dout, weight, static_cast<const T*>(nullptr), p);
  if (dweight != nullptr)
    conv2d_backward(static_cast<T*>(nullptr), dweight, static_cast<T*>(nullptr), inp, dout, weight, p);
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
  template void conv2d_forward_im2col<T>(T*, const T*, const T*, const T*, const Conv2dParams&);             \
  template void conv2d_backward_im2col<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);    \
  template void conv2d_depthwise_forward<T>(T*, const T*, const T*, const T*, const Conv2dParams&);          \
  template void conv2d_depthwise_backward<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&); \
  template void conv_transpose2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dParams&);          \
  template void conv_transpose2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&); \
  template void conv2d_forward_naive<T>(T*, const T*, const T*, const T*, const Conv2dParams&);              \
  template void conv2d_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);
CNNKIT_INSTANTIATE_CONV2D(float)
CNNKIT_INSTANTIATE_CONV2D(double)
#undef CNNKIT_INSTANTIATE_CONV2D

}  // namespace cnnkit
