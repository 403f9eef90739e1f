// Nearest / nearest-exact / (bi)linear interpolation, CUDA twin of upsample.cpp (index rules in
// upsample.h, evaluated here per thread by the same CNNKIT_HD functions). Backward WRITES (=) dinp.
//
// Thread mapping: grid-stride loops, one thread per OUTPUT element in the forward (its two source
// rows and columns computed inline: a few flops, cheaper than reading tables), one thread per
// INPUT element in the backward, which finds the output rows / columns reading it by binary
// search (upsample_range) and gathers their weighted gradients. Each input gradient is written
// once by one thread: no atomics, deterministic (PyTorch's CUDA backward uses atomicAdd).
// Numerics: the index arithmetic is the CPU's, operation for operation (upsample.h's mul_rn keeps
// nvcc from fusing the coordinate's multiply-subtract), so both devices read the same sources with
// the same weights; the interpolation sums themselves may be FMA-contracted here (float rounding).
#include "core/cuda_utils.cuh"
#include "ops/upsample_cuda.h"

namespace cnnkit {

namespace {

template <class T>
__global__ void upsample_forward_kernel(T* __restrict__ out, const T* __restrict__ inp, UpsampleParams p) {
  const int64_t total = p.planes * p.OH * p.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t ow = i % p.OW, t = i / p.OW, oh = t % p.OH, pl = t / p.OH;
    const auto sh = upsample_src<T>(p.mode, p.align_corners, oh, p.H, p.OH, p.scale_h);
    const auto sw = upsample_src<T>(p.mode, p.align_corners, ow, p.W, p.OW, p.scale_w);
    const T* x0 = inp + (pl * p.H + sh.i0) * p.W;
    if (p.mode != UpsampleMode::Linear) {
      out[i] = x0[sw.i0];
      continue;
    }
    const T* x1 = inp + (pl * p.H + sh.i1) * p.W;
    out[i] = (x0[sw.i0] * sw.l0 + x0[sw.i1] * sw.l1) * sh.l0 + (x1[sw.i0] * sw.l0 + x1[sw.i1] * sw.l1) * sh.l1;
  }
}

template <class T>
__global__ void upsample_backward_kernel(T* __restrict__ dinp, const T* __restrict__ dout, UpsampleParams p) {
  const int64_t total = p.planes * p.H * p.W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t iw = i % p.W, t = i / p.W, ih = t % p.H, pl = t / p.H;
    int64_t hlo, hhi, wlo, whi;
    upsample_range<T>(p.mode, p.align_corners, ih, p.H, p.OH, p.scale_h, &hlo, &hhi);
    upsample_range<T>(p.mode, p.align_corners, iw, p.W, p.OW, p.scale_w, &wlo, &whi);
    const T* g = dout + pl * p.OH * p.OW;
    T acc = 0;
    for (int64_t oh = hlo; oh < hhi; ++oh) {
      const T wh = upsample_weight(upsample_src<T>(p.mode, p.align_corners, oh, p.H, p.OH, p.scale_h), ih);
      T row = 0;
      for (int64_t ow = wlo; ow < whi; ++ow)
        row += upsample_weight(upsample_src<T>(p.mode, p.align_corners, ow, p.W, p.OW, p.scale_w), iw) *
               g[oh * p.OW + ow];
      acc += wh * row;
    }
    dinp[i] = acc;
  }
}

}  // namespace

template <class T>
void upsample_forward_cuda(T* out, const T* inp, const UpsampleParams& p, int device) {
  const int64_t total = p.planes * p.OH * p.OW;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  upsample_forward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, p);
  CNNKIT_CUDA_KERNEL_CHECK("upsample");
}

template <class T>
void upsample_backward_cuda(T* dinp, const T* dout, const UpsampleParams& p, int device) {
  const int64_t total = p.planes * p.H * p.W;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  upsample_backward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dinp, dout, p);
  CNNKIT_CUDA_KERNEL_CHECK("upsample_backward");
}

#define CNNKIT_UPSAMPLE_CUDA_INSTANTIATE(T)                                                   \
  template void upsample_forward_cuda<T>(T*, const T*, const UpsampleParams&, int);           \
  template void upsample_backward_cuda<T>(T*, const T*, const UpsampleParams&, int);
CNNKIT_UPSAMPLE_CUDA_INSTANTIATE(float)
CNNKIT_UPSAMPLE_CUDA_INSTANTIATE(double)
#undef CNNKIT_UPSAMPLE_CUDA_INSTANTIATE

}  // namespace cnnkit
