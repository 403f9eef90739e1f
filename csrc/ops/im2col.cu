// CUDA im2col / col2im (layouts in im2col.h, batching in im2col_cuda.h).
// im2col writes (=) its columns; col2im writes (=) the image. No atomics anywhere.
//
// im2col thread mapping: one thread per element of the column matrix (grid-stride loop over
// rows x images x OH*OW, the column position fastest), so consecutive threads write consecutive
// addresses; each thread reads its one input pixel, or writes 0 where the window is in the padding.
//
// col2im thread mapping: one thread per *input pixel* (grid-stride over images x C x H x W), which
// gathers the column entries that read it: for each tap (kh, kw) at most one output position
// (oh, ow) covers the pixel, found by inverting ih = oh*SH - PH + kh*DH (it must divide exactly and
// fall inside [0, OH)). This is the gather formulation of Caffe's col2im_gpu kernel ("to avoid
// involving atomic operations, we will launch one kernel per bottom dimension"): every pixel is
// written by one thread, and the sum runs in tap order (kh, kw), the same order as the CPU twin, so
// the results are deterministic and equal to the CPU's.
#include "core/cuda_utils.cuh"
#include "ops/im2col_cuda.h"

namespace cnnkit {
namespace {

template <class T>
__global__ void im2col_kernel(T* __restrict__ cols, int64_t ldcols, const T* __restrict__ im, int64_t nimg,
                              Im2colGeometry g) {
  const int64_t ohw = g.OH * g.OW, KK = g.KH * g.KW;
  const int64_t total = g.C * KK * nimg * ohw;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = idx % ohw, t = idx / ohw, n = t % nimg, r = t / nimg;
    const int64_t c = r / KK, kh = (r % KK) / g.KW, kw = r % g.KW;
    const int64_t oh = p / g.OW, ow = p % g.OW;
    const int64_t ih = oh * g.SH - g.PH + kh * g.DH, iw = ow * g.SW - g.PW + kw * g.DW;
    T v = T(0);
    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) v = im[((n * g.C + c) * g.H + ih) * g.W + iw];
    cols[r * ldcols + n * ohw + p] = v;
  }
}

template <class T>
__global__ void col2im_kernel(T* __restrict__ im, const T* __restrict__ cols, int64_t ldcols, int64_t nimg,
                              Im2colGeometry g) {
  const int64_t ohw = g.OH * g.OW;
  const int64_t total = nimg * g.C * g.H * g.W;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = idx % g.W, h = (idx / g.W) % g.H, c = (idx / (g.W * g.H)) % g.C, n = idx / (g.W * g.H * g.C);
    T acc = T(0);
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t hs = h + g.PH - kh * g.DH;  // = oh * SH for the covering output row, if any
      if (hs < 0 || hs % g.SH != 0) continue;
      const int64_t oh = hs / g.SH;
      if (oh >= g.OH) continue;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t ws = w + g.PW - kw * g.DW;
        if (ws < 0 || ws % g.SW != 0) continue;
        const int64_t ow = ws / g.SW;
        if (ow >= g.OW) continue;
        acc += cols[((c * g.KH + kh) * g.KW + kw) * ldcols + n * ohw + oh * g.OW + ow];
      }
    }
    im[idx] = acc;
  }
}

}  // namespace

template <class T>
void im2col_batched_cuda(int device, T* cols, int64_t ldcols, const T* im, int64_t nimg, const Im2colGeometry& g) {
  const int64_t total = g.rows() * nimg * g.cols();
  if (total <= 0) return;
  CudaDeviceGuard guard(device);
  im2col_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(cols, ldcols, im, nimg, g);
  CNNKIT_CUDA_KERNEL_CHECK("im2col");
}

template <class T>
void col2im_batched_cuda(int device, T* im, const T* cols, int64_t ldcols, int64_t nimg, const Im2colGeometry& g) {
  const int64_t total = nimg * g.C * g.H * g.W;
  if (total <= 0) return;
  CudaDeviceGuard guard(device);
  col2im_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(im, cols, ldcols, nimg, g);
  CNNKIT_CUDA_KERNEL_CHECK("col2im");
}

template <class T>
void im2col_cuda(int device, T* cols, int64_t ldcols, const T* im, const Im2colGeometry& g) {
  im2col_batched_cuda<T>(device, cols, ldcols, im, 1, g);
}

template <class T>
void col2im_cuda(int device, T* im, const T* cols, int64_t ldcols, const Im2colGeometry& g) {
  col2im_batched_cuda<T>(device, im, cols, ldcols, 1, g);
}

#define CNNKIT_INSTANTIATE_IM2COL_CUDA(T)                                                                    \
  template void im2col_cuda<T>(int, T*, int64_t, const T*, const Im2colGeometry&);                           \
  template void col2im_cuda<T>(int, T*, const T*, int64_t, const Im2colGeometry&);                           \
  template void im2col_batched_cuda<T>(int, T*, int64_t, const T*, int64_t, const Im2colGeometry&);          \
  template void col2im_batched_cuda<T>(int, T*, const T*, int64_t, int64_t, const Im2colGeometry&);
CNNKIT_INSTANTIATE_IM2COL_CUDA(float)
CNNKIT_INSTANTIATE_IM2COL_CUDA(double)
#undef CNNKIT_INSTANTIATE_IM2COL_CUDA

}  // namespace cnnkit
