// 2-D max and average pooling (fixed-window and adaptive), CUDA twin of pool2d.cpp.
// Backward WRITES (=) dinp. The adaptive kernels' thread mapping is described in their section below.
//
// Thread mapping (all kernels grid-stride over a flat range, consecutive threads on consecutive
// elements of the innermost dim, so loads/stores coalesce):
//  - max/avg forward: ONE THREAD PER OUTPUT ELEMENT (plane, oh, ow); the thread scans its window
//    with the CPU's window arithmetic (max_window / avg_window below are the CPU helpers verbatim),
//    so outputs, indices and divisors are identical to the CPU's: max keeps the first maximum in
//    row-major order and the last NaN; avg sums in scalar_t in row-major order and divides once.
//  - avg backward: GATHER, ONE THREAD PER INPUT ELEMENT (plane, h, w): it visits the outputs whose
//    windows contain (h, w) in row-major (oh, ow) order and adds dout/divisor, exactly the additions
//    the CPU's scatter performs for that element, in the same order: bit-identical, no atomics.
//  - max backward: SCATTER WITH ATOMICS, one thread per output element adding dout into
//    dinp[plane, indices[o]] with atomicAdd (after a cudaMemsetAsync to zero). Why atomics: the
//    binding receives only the indices and shapes (not the window geometry), and, like the CPU, must
//    honour any in-range index; a gather would need the geometry and would silently drop an index
//    outside its window. Consequence: when two outputs route to the same input element (overlapping
//    windows sharing a maximum) the float sum's order, and so its last bit, may vary from run to run;
//    elements with one contributor (always the case when stride >= kernel) are exact.
// Indices were range-checked on the device by max_pool2d_find_bad_index_cuda before the backward.
#include "ops/nn_cuda_common.cuh"
#include "ops/pool2d_cuda.h"

namespace cnnkit {

namespace {

__device__ __forceinline__ void max_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil, int64_t in,
                                           int64_t& b, int64_t& e) {
  b = o * stride - pad;
  e = b + (k - 1) * dil + 1;
  if (e > in) e = in;
  while (b < 0) b += dil;
}

__device__ __forceinline__ void avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in, int64_t& b,
                                           int64_t& e, int64_t& span) {
  b = o * stride - pad;
  e = b + k;
  if (e > in + pad) e = in + pad;
  span = e - b;
  if (b < 0) b = 0;
  if (e > in) e = in;
}

__device__ __forceinline__ int64_t avg_divisor(int64_t hspan, int64_t wspan, int64_t h0, int64_t h1, int64_t w0,
                                               int64_t w1, bool count_include_pad, int64_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  return count_include_pad ? hspan * wspan : (h1 - h0) * (w1 - w0);
}

// out, indices (planes, OH, OW); inp (planes, H, W).
template <class scalar_t>
__global__ void max_pool2d_forward_kernel(scalar_t* __restrict__ out, int64_t* __restrict__ indices,
                                          const scalar_t* __restrict__ inp, Pool2dParams p) {
  const int64_t total = p.planes * p.OH * p.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, plane = o / (p.OW * p.OH);
    const scalar_t* src = inp + plane * p.H * p.W;
    int64_t h0, h1, w0, w1;
    max_window(oh, p.sh, p.ph, p.kh, p.dh, p.H, h0, h1);
    max_window(ow, p.sw, p.pw, p.kw, p.dw, p.W, w0, w1);
    int64_t best_i = h0 * p.W + w0;
    scalar_t best = nncuda::neg_inf<scalar_t>();
    for (int64_t h = h0; h < h1; h += p.dh) {
      for (int64_t w = w0; w < w1; w += p.dw) {
        const scalar_t v = src[h * p.W + w];
        if (v > best || isnan(v)) {
          best = v;
          best_i = h * p.W + w;
        }
      }
    }
    out[o] = best;
    indices[o] = best_i;
  }
}

// dinp (planes, H, W), zero-filled; dout, indices (planes, OH, OW).
template <class scalar_t>
__global__ void max_pool2d_backward_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                           const int64_t* __restrict__ indices, Pool2dParams p) {
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W;
  const int64_t total = p.planes * OHW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t idx = indices[o];
    if (idx < 0 || idx >= HW) continue;  // cannot happen after the host check; never write out of bounds
    atomicAdd(dinp + (o / OHW) * HW + idx, dout[o]);
  }
}

// out (planes, OH, OW); inp (planes, H, W).
template <class scalar_t>
__global__ void avg_pool2d_forward_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ inp, Pool2dParams p,
                                          bool count_include_pad, int64_t divisor_override) {
  const int64_t total = p.planes * p.OH * p.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, plane = o / (p.OW * p.OH);
    const scalar_t* src = inp + plane * p.H * p.W;
    int64_t h0, h1, hspan, w0, w1, wspan;
    avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
    avg_window(ow, p.sw, p.pw, p.kw, p.W, w0, w1, wspan);
    if (h0 >= h1 || w0 >= w1) {
      out[o] = scalar_t(0);
      continue;
    }
    scalar_t sum = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += src[h * p.W + w];
    const int64_t div = avg_divisor(hspan, wspan, h0, h1, w0, w1, count_include_pad, divisor_override);
    out[o] = sum / static_cast<scalar_t>(div);
  }
}

// First output index o along one axis whose average window [o*s - pad, o*s - pad + k) can contain
// position x (o*s > x + pad - k), clamped at 0; floor division for negative numerators.
__device__ __forceinline__ int64_t first_window_containing(int64_t x, int64_t s, int64_t pad, int64_t k) {
  const int64_t a = x + pad - k;
  const int64_t fl = a >= 0 ? a / s : -((-a + s - 1) / s);
  const int64_t o = fl + 1;
  return o < 0 ? 0 : o;
}

// dinp (planes, H, W); dout (planes, OH, OW). Gather: dinp[h, w] = sum over the windows containing
// (h, w), in row-major (oh, ow) order, of dout / divisor.
template <class scalar_t>
__global__ void avg_pool2d_backward_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                           Pool2dParams p, bool count_include_pad, int64_t divisor_override) {
  const int64_t total = p.planes * p.H * p.W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t w = i % p.W, h = (i / p.W) % p.H, plane = i / (p.W * p.H);
    const scalar_t* g = dout + plane * p.OH * p.OW;
    int64_t oh_end = (h + p.ph) / p.sh + 1;  // windows starting after h cannot contain it
    if (oh_end > p.OH) oh_end = p.OH;
    int64_t ow_end = (w + p.pw) / p.sw + 1;
    if (ow_end > p.OW) ow_end = p.OW;
    scalar_t acc = 0;
    for (int64_t oh = first_window_containing(h, p.sh, p.ph, p.kh); oh < oh_end; ++oh) {
      int64_t h0, h1, hspan;
      avg_window(oh, p.sh, p.ph, p.kh, p.H, h0, h1, hspan);
      if (h < h0 || h >= h1) continue;
      for (int64_t ow = first_window_containing(w, p.sw, p.pw, p.kw); ow < ow_end; ++ow) {
        int64_t w0, w1, wspan;
        avg_window(ow, p.sw, p.pw, p.kw, p.W, w0, w1, wspan);
        if (w < w0 || w >= w1) continue;
        const int64_t div = avg_divisor(hspan, wspan, h0, h1, w0, w1, count_include_pad, divisor_override);
        acc += g[oh * p.OW + ow] / static_cast<scalar_t>(div);
      }
    }
    dinp[i] = acc;
  }
}

}  // namespace

template <class scalar_t>
void max_pool2d_forward_cuda(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p, int device) {
  const int64_t n = p.planes * p.OH * p.OW;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  max_pool2d_forward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, indices, inp, p);
  CNNKIT_CUDA_KERNEL_CHECK("max_pool2d");
}

template <class scalar_t>
void max_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p,
                              int device) {
  const int64_t nin = p.planes * p.H * p.W, nout = p.planes * p.OH * p.OW;
  if (nin <= 0) return;
  CudaDeviceGuard guard(device);
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(dinp, 0, sizeof(scalar_t) * static_cast<size_t>(nin)), "max_pool2d_backward");
  if (nout <= 0) return;
  max_pool2d_backward_kernel<scalar_t><<<blocks_for(nout), kThreadsPerBlock>>>(dinp, dout, indices, p);
  CNNKIT_CUDA_KERNEL_CHECK("max_pool2d_backward");
}

template <class scalar_t>
void avg_pool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, bool count_include_pad,
                             int64_t divisor_override, int device) {
  const int64_t n = p.planes * p.OH * p.OW;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  avg_pool2d_forward_kernel<scalar_t>
      <<<blocks_for(n), kThreadsPerBlock>>>(out, inp, p, count_include_pad, divisor_override);
  CNNKIT_CUDA_KERNEL_CHECK("avg_pool2d");
}

template <class scalar_t>
void avg_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, bool count_include_pad,
                              int64_t divisor_override, int device) {
  const int64_t n = p.planes * p.H * p.W;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  avg_pool2d_backward_kernel<scalar_t>
      <<<blocks_for(n), kThreadsPerBlock>>>(dinp, dout, p, count_include_pad, divisor_override);
  CNNKIT_CUDA_KERNEL_CHECK("avg_pool2d_backward");
}

bool max_pool2d_find_bad_index_cuda(const int64_t* indices, int64_t n, int64_t HW, int device, int64_t* bad_value) {
  CudaDeviceGuard guard(device);
  return nncuda::find_out_of_range(indices, n, 0, HW, false, 0, device, bad_value, "max_pool2d_backward");
}

// ---- adaptive pooling ---------------------------------------------------------------------------
// Window of output o along an axis: [floor(o*in/out), ceil((o+1)*in/out)) (PyTorch's rule, as the CPU).
// Thread mapping:
//  - adaptive avg / max forward: ONE THREAD PER OUTPUT ELEMENT (plane, oh, ow), grid-stride; the
//    thread scans its window in row-major order: the avg is sum / kh / kw with the sum in scalar_t
//    (the CPU's generic path, bit-identical to it; the CPU's 1x1 fast path differs by rounding:
//    it sums with 8 lanes and divides by H*W), the max keeps the first maximum and the last NaN
//    (identical values and indices to the CPU's).
//  - adaptive avg backward: GATHER, ONE THREAD PER INPUT ELEMENT (plane, h, w), no atomics. The
//    outputs whose row windows contain h are oh in [floor(h*OH/H), ceil((h+1)*OH/H)) (from
//    start(oh) <= h < end(oh)), likewise for w; the thread adds dout / kh / kw over them in
//    row-major (oh, ow) order, the additions and order of the CPU's generic scatter for that
//    element: bit-identical to it (the CPU's 1x1 path writes g / (H*W): equal up to rounding).
//  - adaptive max backward: max_pool2d_backward_cuda itself (the bindings call it), a SCATTER WITH
//    ATOMICS after a zero fill, one thread per output: the indices are arbitrary in-range values
//    given by the caller, so a gather over windows could drop some. Inputs with one
//    contributor are exact; where windows overlap (OH not dividing H) and share a maximum the sum
//    order, and so its last bit, may vary between runs.
namespace {

__device__ __forceinline__ int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
__device__ __forceinline__ int64_t adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}

template <class scalar_t>
__global__ void adaptive_avg_pool2d_forward_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ inp,
                                                   Pool2dParams p) {
  const int64_t total = p.planes * p.OH * p.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, plane = o / (p.OW * p.OH);
    const scalar_t* src = inp + plane * p.H * p.W;
    const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
    const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
    scalar_t sum = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += src[h * p.W + w];
    out[o] = sum / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
  }
}

template <class scalar_t>
__global__ void adaptive_avg_pool2d_backward_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                                    Pool2dParams p) {
  const int64_t total = p.planes * p.H * p.W;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t w = i % p.W, h = (i / p.W) % p.H, plane = i / (p.W * p.H);
    const scalar_t* g = dout + plane * p.OH * p.OW;
    // Outputs whose windows contain h (resp. w): the adaptive rule with the axes' roles swapped.
    const int64_t oh0 = adaptive_start(h, p.OH, p.H), oh1 = adaptive_end(h, p.OH, p.H);
    const int64_t ow0 = adaptive_start(w, p.OW, p.W), ow1 = adaptive_end(w, p.OW, p.W);
    scalar_t acc = 0;
    for (int64_t oh = oh0; oh < oh1 && oh < p.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
      if (h < h0 || h >= h1) continue;  // never taken by the derivation; keeps the kernel safe
      for (int64_t ow = ow0; ow < ow1 && ow < p.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
        if (w < w0 || w >= w1) continue;
        acc += g[oh * p.OW + ow] / static_cast<scalar_t>(h1 - h0) / static_cast<scalar_t>(w1 - w0);
      }
    }
    dinp[i] = acc;
  }
}

template <class scalar_t>
__global__ void adaptive_max_pool2d_forward_kernel(scalar_t* __restrict__ out, int64_t* __restrict__ indices,
                                                   const scalar_t* __restrict__ inp, Pool2dParams p) {
  const int64_t total = p.planes * p.OH * p.OW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, plane = o / (p.OW * p.OH);
    const scalar_t* src = inp + plane * p.H * p.W;
    const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
    const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
    int64_t best_i = h0 * p.W + w0;
    scalar_t best = nncuda::neg_inf<scalar_t>();
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const scalar_t v = src[h * p.W + w];
        if (v > best || isnan(v)) {
          best = v;
          best_i = h * p.W + w;
        }
      }
    out[o] = best;
    indices[o] = best_i;
  }
}

}  // namespace

template <class scalar_t>
void adaptive_avg_pool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, int device) {
  const int64_t n = p.planes * p.OH * p.OW;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  adaptive_avg_pool2d_forward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, inp, p);
  CNNKIT_CUDA_KERNEL_CHECK("adaptive_avg_pool2d");
}

template <class scalar_t>
void adaptive_avg_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, int device) {
  const int64_t n = p.planes * p.H * p.W;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  adaptive_avg_pool2d_backward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(dinp, dout, p);
  CNNKIT_CUDA_KERNEL_CHECK("adaptive_avg_pool2d_backward");
}

template <class scalar_t>
void adaptive_max_pool2d_forward_cuda(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p,
                                      int device) {
  const int64_t n = p.planes * p.OH * p.OW;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  adaptive_max_pool2d_forward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, indices, inp, p);
  CNNKIT_CUDA_KERNEL_CHECK("adaptive_max_pool2d");
}

#define CNNKIT_INSTANTIATE_POOL_CUDA(T)                                                                       \
  template void max_pool2d_forward_cuda<T>(T*, int64_t*, const T*, const Pool2dParams&, int);                \
  template void max_pool2d_backward_cuda<T>(T*, const T*, const int64_t*, const Pool2dParams&, int);         \
  template void avg_pool2d_forward_cuda<T>(T*, const T*, const Pool2dParams&, bool, int64_t, int);           \
  template void avg_pool2d_backward_cuda<T>(T*, const T*, const Pool2dParams&, bool, int64_t, int);          \
  template void adaptive_avg_pool2d_forward_cuda<T>(T*, const T*, const Pool2dParams&, int);                 \
  template void adaptive_avg_pool2d_backward_cuda<T>(T*, const T*, const Pool2dParams&, int);                \
  template void adaptive_max_pool2d_forward_cuda<T>(T*, int64_t*, const T*, const Pool2dParams&, int);
CNNKIT_INSTANTIATE_POOL_CUDA(float)
CNNKIT_INSTANTIATE_POOL_CUDA(double)
#undef CNNKIT_INSTANTIATE_POOL_CUDA

// ---- max unpooling: zero-fill + one thread per input value (scatter); gather backward ----------

namespace {
template <class scalar_t>
__global__ void max_unpool2d_forward_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ inp,
                                            const int64_t* __restrict__ indices, Pool2dParams p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW, n = p.planes * HW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[(i / HW) * OHW + indices[i]] = inp[i];
}

template <class scalar_t>
__global__ void max_unpool2d_backward_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                             const int64_t* __restrict__ indices, Pool2dParams p) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW, n = p.planes * HW;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dinp[i] = dout[(i / HW) * OHW + indices[i]];
}
}  // namespace

template <class scalar_t>
void max_unpool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const int64_t* indices, const Pool2dParams& p,
                               int device) {
  const int64_t total = p.planes * p.OH * p.OW, n = p.planes * p.H * p.W;
  if (total <= 0) return;
  CudaDeviceGuard guard(device);
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<size_t>(total) * sizeof(scalar_t)), "max_unpool2d");
  if (n <= 0) return;
  max_unpool2d_forward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, inp, indices, p);
  CNNKIT_CUDA_KERNEL_CHECK("max_unpool2d");
}

template <class scalar_t>
void max_unpool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p,
                                int device) {
  const int64_t n = p.planes * p.H * p.W;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  max_unpool2d_backward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(dinp, dout, indices, p);
  CNNKIT_CUDA_KERNEL_CHECK("max_unpool2d_backward");
}

#define CNNKIT_INSTANTIATE_UNPOOL_CUDA(T)                                                                  \
  template void max_unpool2d_forward_cuda<T>(T*, const T*, const int64_t*, const Pool2dParams&, int);     \
  template void max_unpool2d_backward_cuda<T>(T*, const T*, const int64_t*, const Pool2dParams&, int);
CNNKIT_INSTANTIATE_UNPOOL_CUDA(float)
CNNKIT_INSTANTIATE_UNPOOL_CUDA(double)
#undef CNNKIT_INSTANTIATE_UNPOOL_CUDA

}  // namespace cnnkit
