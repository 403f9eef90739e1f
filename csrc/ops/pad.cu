// CUDA padding, the twin of pad.cpp. Forward writes (=) out; backward writes (=) dinp.
// Thread mapping: grid-stride loops, one output element per iteration (forward: its source index
// from pad_source_index, the rule shared with the CPU) and one input element per iteration
// (backward: a gather over its per-dim preimage lists, in the CPU's order). No atomics: every
// element is written by one thread, so results are deterministic and equal to the CPU's.
#include "core/cuda_utils.cuh"
#include "ops/pad_cuda.h"

namespace cnnkit {
namespace {

#define CNNKIT_PAD_GRID_STRIDE(idx, total)                                            \
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < (total); \
       idx += int64_t(gridDim.x) * blockDim.x)

// out (B, OD, OH, OW) from inp (B, D, H, W).
template <class T>
__global__ void pad_forward_kernel(T* __restrict__ out, const T* __restrict__ inp, T value, PadParams p) {
  const int64_t OD = p.d.out(), OH = p.h.out(), OW = p.w.out();
  CNNKIT_PAD_GRID_STRIDE(idx, p.B * OD * OH * OW) {
    const int64_t ow = idx % OW, oh = (idx / OW) % OH, od = (idx / (OW * OH)) % OD, b = idx / (OW * OH * OD);
    const int64_t sd = pad_source_index(od, p.d.in, p.d.lo, p.d.hi, p.mode);
    const int64_t sh = pad_source_index(oh, p.h.in, p.h.lo, p.h.hi, p.mode);
    const int64_t sw = pad_source_index(ow, p.w.in, p.w.lo, p.w.hi, p.mode);
    out[idx] = (sd < 0 || sh < 0 || sw < 0) ? value : inp[((b * p.d.in + sd) * p.h.in + sh) * p.w.in + sw];
  }
}

// dinp (B, D, H, W): each element sums dout over the product of its three preimage lists.
template <class T>
__global__ void pad_backward_kernel(T* __restrict__ dinp, const T* __restrict__ dout, PadParams p,
                                    const int64_t* __restrict__ off_d, const int64_t* __restrict__ idx_d,
                                    const int64_t* __restrict__ off_h, const int64_t* __restrict__ idx_h,
                                    const int64_t* __restrict__ off_w, const int64_t* __restrict__ idx_w) {
  const int64_t D = p.d.in, H = p.h.in, W = p.w.in, OD = p.d.out(), OH = p.h.out(), OW = p.w.out();
  CNNKIT_PAD_GRID_STRIDE(idx, p.B * D * H * W) {
    const int64_t w = idx % W, h = (idx / W) % H, d = (idx / (W * H)) % D, b = idx / (W * H * D);
    T acc = T(0);
    for (int64_t jd = off_d[d]; jd < off_d[d + 1]; ++jd)
      for (int64_t jh = off_h[h]; jh < off_h[h + 1]; ++jh) {
        const T* src = dout + ((b * OD + idx_d[jd]) * OH + idx_h[jh]) * OW;
        for (int64_t jw = off_w[w]; jw < off_w[w + 1]; ++jw) acc += src[idx_w[jw]];
      }
    dinp[idx] = acc;
  }
}

}  // namespace

template <class T>
void pad_forward_cuda(int device, T* out, const T* inp, double value, const PadParams& p) {
  const int64_t total = p.B * p.d.out() * p.h.out() * p.w.out();
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  pad_forward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, static_cast<T>(value), p);
  CNNKIT_CUDA_KERNEL_CHECK("pad");
}

template <class T>
void pad_backward_cuda(int device, T* dinp, const T* dout, const PadParams& p, const int64_t* off_d,
                       const int64_t* idx_d, const int64_t* off_h, const int64_t* idx_h, const int64_t* off_w,
                       const int64_t* idx_w) {
  const int64_t total = p.B * p.d.in * p.h.in * p.w.in;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  pad_backward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dinp, dout, p, off_d, idx_d, off_h, idx_h, off_w,
                                                                  idx_w);
  CNNKIT_CUDA_KERNEL_CHECK("pad_backward");
}

#define CNNKIT_INSTANTIATE_PAD_FWD_CUDA(T) \
  template void pad_forward_cuda<T>(int, T*, const T*, double, const PadParams&);
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(float)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(double)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(int64_t)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(bool)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(uint8_t)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(int32_t)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(int16_t)
CNNKIT_INSTANTIATE_PAD_FWD_CUDA(int8_t)
#undef CNNKIT_INSTANTIATE_PAD_FWD_CUDA
#define CNNKIT_INSTANTIATE_PAD_BWD_CUDA(T)                                                                   \
  template void pad_backward_cuda<T>(int, T*, const T*, const PadParams&, const int64_t*, const int64_t*,    \
                                     const int64_t*, const int64_t*, const int64_t*, const int64_t*);
CNNKIT_INSTANTIATE_PAD_BWD_CUDA(float)
CNNKIT_INSTANTIATE_PAD_BWD_CUDA(double)
#undef CNNKIT_INSTANTIATE_PAD_BWD_CUDA

}  // namespace cnnkit
