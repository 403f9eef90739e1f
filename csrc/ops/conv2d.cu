// CUDA convolution as im2col + GEMM, the twin of conv2d.cpp (with its direct depthwise kernels and
// the transposed convolution built on both, below). Forward writes `out`; backward writes
// (=) dinp, dweight, dbias. No atomics: every output element is produced by one thread (GEMM, col2im
// gather, one block per bias channel), so results are deterministic.
//
// Strategy (as on the CPU). Images are processed in chunks of G images whose columns sit side by side
// in one column matrix cols (C*KH*KW, G*OH*OW), so one GEMM launch per chunk covers all of it, with
// the groups as the batch dimension of a strided batched GEMM (group g uses W's rows g*OCg.., cols'
// rows g*CgKK.., so no copies are needed):
//   forward   out_g   (OCg, G*OHW)  = W_g (OCg, CgKK) @ cols_g (CgKK, G*OHW)          (+ bias)
//   dweight   dW_g    (OCg, CgKK)  += dout_g (OCg, G*OHW) @ cols_g^T               (over chunks)
//   dinp      dcols_g (CgKK, G*OHW) = W_g^T @ dout_g, then col2im of the chunk
// On the GPU a large GEMM is what keeps all SMs busy, so G is as large as the column buffer allows
// (kMaxChunkBytes, balanced so chunks have equal size), not the CPU's cache-sized target. With
// G == 1 the GEMM reads/writes the image's own (OC, OH*OW) slab of out/dout; with G > 1 dout is
// gathered into, and out scattered out of, chunk layout by small copy kernels. 1x1, stride-1,
// unpadded convolutions with G == 1 skip im2col (the image is its own column matrix).
// Scratch buffers come from Tensor::empty on the device (the caching allocator), freed at return.
//
// Naive kernels (reference): one thread per output element (forward), per input pixel (dinp, a
// gather over the taps that read it), per weight element (dweight) and per output channel (dbias),
// all accumulating in double.
#include "core/cuda_utils.cuh"
#include "core/tensor.h"
#include "ops/conv2d_cuda.h"
#include "ops/gemm_cuda.h"
#include "ops/im2col_cuda.h"

#include <algorithm>
#include <type_traits>

namespace cnnkit {
namespace {

constexpr int64_t kMaxChunkBytes = int64_t(64) << 20;

template <class T>
DType dtype_of() {
  return std::is_same<T, float>::value ? DType::Float32 : DType::Float64;
}

// An uninitialised device buffer of n elements, owned by the returned tensor.
template <class T>
Tensor device_scratch(int64_t n, int device) {
  return Tensor::empty({std::max<int64_t>(n, 1)}, dtype_of<T>(), Device::cuda(device));
}

int64_t chunk_images(const Conv2dParams& p, int64_t elem_size) {
  const int64_t per_image = std::max<int64_t>(1, p.OH * p.OW * p.C * p.KH * p.KW * elem_size);
  const int64_t gmax = std::max<int64_t>(1, std::min(p.N, kMaxChunkBytes / per_image));
  const int64_t nchunks = (p.N + gmax - 1) / gmax;
  return std::max<int64_t>(1, (p.N + nchunks - 1) / nchunks);
}

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0;
}

Im2colGeometry geometry(const Conv2dParams& p) {
  return Im2colGeometry{p.C, p.H, p.W, p.KH, p.KW, p.SH, p.SW, p.PH, p.PW, p.DH, p.DW, p.OH, p.OW};
}

#define CNNKIT_GRID_STRIDE(idx, total)                                                \
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < (total); \
       idx += int64_t(gridDim.x) * blockDim.x)

// dst (OC, OHW) rows filled with bias[o]; one element per iteration.
template <class T>
__global__ void fill_bias_kernel(T* __restrict__ dst, const T* __restrict__ bias, int64_t OC, int64_t OHW) {
  CNNKIT_GRID_STRIDE(idx, OC * OHW) { dst[idx] = bias[idx / OHW]; }
}

// out[n0+g] (OC, OHW) = chunk (OC, gc*OHW) column block g, plus bias; one output element per iteration.
template <class T>
__global__ void scatter_chunk_kernel(T* __restrict__ out, const T* __restrict__ chunk, const T* __restrict__ bias,
                                     int64_t gc, int64_t OC, int64_t OHW) {
  const int64_t ncols = gc * OHW;
  CNNKIT_GRID_STRIDE(idx, gc * OC * OHW) {
    const int64_t i = idx % OHW, o = (idx / OHW) % OC, g = idx / (OHW * OC);
    out[idx] = chunk[o * ncols + g * OHW + i] + (bias != nullptr ? bias[o] : T(0));
  }
}

// chunk (OC, gc*OHW) column block g = dout[n0+g] (OC, OHW); one chunk element per iteration.
template <class T>
__global__ void gather_chunk_kernel(T* __restrict__ chunk, const T* __restrict__ dout, int64_t gc, int64_t OC,
                                    int64_t OHW) {
  const int64_t ncols = gc * OHW;
  CNNKIT_GRID_STRIDE(idx, OC * ncols) {
    const int64_t o = idx / ncols, j = idx % ncols, g = j / OHW, i = j % OHW;
    chunk[idx] = dout[(g * OC + o) * OHW + i];
  }
}

// dbias[o] = sum over n and positions of dout[n, o]: one block per output channel; each thread sums
// a strided share in double, then a fixed-shape tree reduction in shared memory (deterministic).
constexpr int kBiasThreads = 256;
template <class T>
__global__ void bias_grad_kernel(T* __restrict__ dbias, const T* __restrict__ dout, int64_t N, int64_t OC,
                                 int64_t OHW) {
  __shared__ double partial[kBiasThreads];
  const int64_t o = blockIdx.x;
  double acc = 0;
  for (int64_t j = threadIdx.x; j < N * OHW; j += kBiasThreads) {
    const int64_t n = j / OHW, i = j % OHW;
    acc += double(dout[(n * OC + o) * OHW + i]);
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kBiasThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) dbias[o] = static_cast<T>(partial[0]);
}

// ---- naive (reference) kernels ----

template <class T>
__global__ void conv2d_naive_forward_kernel(T* __restrict__ out, const T* __restrict__ inp,
                                            const T* __restrict__ weight, const T* __restrict__ bias,
                                            Conv2dParams p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups;
  CNNKIT_GRID_STRIDE(idx, p.N * p.OC * p.OH * p.OW) {
    const int64_t x = idx % p.OW, y = (idx / p.OW) % p.OH, o = (idx / (p.OW * p.OH)) % p.OC,
                  n = idx / (p.OW * p.OH * p.OC);
    const int64_t g = o / OCg;
    double acc = bias != nullptr ? double(bias[o]) : 0.0;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t kh = 0; kh < p.KH; ++kh)
        for (int64_t kw = 0; kw < p.KW; ++kw) {
          const int64_t ih = y * p.SH - p.PH + kh * p.DH, iw = x * p.SW - p.PW + kw * p.DW;
          if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
          acc += double(inp[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw]) *
                 double(weight[((o * Cg + c) * p.KH + kh) * p.KW + kw]);
        }
    out[idx] = static_cast<T>(acc);
  }
}

// dinp[n, ci, ih, iw]: gather over the output channels of ci's group and the taps whose window
// covers the pixel (ih = y*SH - PH + kh*DH inverted exactly, as in col2im).
template <class T>
__global__ void conv2d_naive_dinp_kernel(T* __restrict__ dinp, const T* __restrict__ dout,
                                         const T* __restrict__ weight, Conv2dParams p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups;
  CNNKIT_GRID_STRIDE(idx, p.N * p.C * p.H * p.W) {
    const int64_t iw = idx % p.W, ih = (idx / p.W) % p.H, ci = (idx / (p.W * p.H)) % p.C, n = idx / (p.W * p.H * p.C);
    const int64_t g = ci / Cg, c = ci % Cg;
    double acc = 0;
    for (int64_t o = g * OCg; o < (g + 1) * OCg; ++o)
      for (int64_t kh = 0; kh < p.KH; ++kh) {
        const int64_t hs = ih + p.PH - kh * p.DH;
        if (hs < 0 || hs % p.SH != 0 || hs / p.SH >= p.OH) continue;
        const int64_t y = hs / p.SH;
        for (int64_t kw = 0; kw < p.KW; ++kw) {
          const int64_t ws = iw + p.PW - kw * p.DW;
          if (ws < 0 || ws % p.SW != 0 || ws / p.SW >= p.OW) continue;
          const int64_t x = ws / p.SW;
          acc += double(dout[((n * p.OC + o) * p.OH + y) * p.OW + x]) *
                 double(weight[((o * Cg + c) * p.KH + kh) * p.KW + kw]);
        }
      }
    dinp[idx] = static_cast<T>(acc);
  }
}

// dweight[o, c, kh, kw] = sum over n, y, x of dout[n, o, y, x] * inp[n, g*Cg + c, ih, iw].
template <class T>
__global__ void conv2d_naive_dweight_kernel(T* __restrict__ dweight, const T* __restrict__ dout,
                                            const T* __restrict__ inp, Conv2dParams p) {
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups;
  CNNKIT_GRID_STRIDE(idx, p.OC * Cg * p.KH * p.KW) {
    const int64_t kw = idx % p.KW, kh = (idx / p.KW) % p.KH, c = (idx / (p.KW * p.KH)) % Cg,
                  o = idx / (p.KW * p.KH * Cg);
    const int64_t g = o / OCg;
    double acc = 0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t y = 0; y < p.OH; ++y)
        for (int64_t x = 0; x < p.OW; ++x) {
          const int64_t ih = y * p.SH - p.PH + kh * p.DH, iw = x * p.SW - p.PW + kw * p.DW;
          if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
          acc += double(dout[((n * p.OC + o) * p.OH + y) * p.OW + x]) *
                 double(inp[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw]);
        }
    dweight[idx] = static_cast<T>(acc);
  }
}

// dbias[o], one thread per output channel.
template <class T>
__global__ void conv2d_naive_dbias_kernel(T* __restrict__ dbias, const T* __restrict__ dout, Conv2dParams p) {
  const int64_t OHW = p.OH * p.OW;
  CNNKIT_GRID_STRIDE(o, p.OC) {
    double acc = 0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < OHW; ++i) acc += double(dout[(n * p.OC + o) * OHW + i]);
    dbias[o] = static_cast<T>(acc);
  }
}

// ---- depthwise kernels (groups == C > 1; M = OC / C output channels per input channel) ----
// Direct, one thread per output element (forward), per input element (dinp: a gather over the M
// output channels and the taps whose window covers the pixel, so no atomics) and one block per
// weight element (dweight: each thread sums a strided share of the N*OH*OW products in double,
// then a fixed-shape tree reduction: deterministic).

template <class T>
__global__ void depthwise_forward_kernel(T* __restrict__ out, const T* __restrict__ inp, const T* __restrict__ weight,
                                         const T* __restrict__ bias, Conv2dParams p) {
  const int64_t M = p.OC / p.C;
  CNNKIT_GRID_STRIDE(idx, p.N * p.OC * p.OH * p.OW) {
    const int64_t x = idx % p.OW, y = (idx / p.OW) % p.OH, o = (idx / (p.OW * p.OH)) % p.OC,
                  n = idx / (p.OW * p.OH * p.OC);
    const T* src = inp + (n * p.C + o / M) * p.H * p.W;
    const T* w = weight + o * p.KH * p.KW;
    T acc = bias != nullptr ? bias[o] : T(0);
    for (int64_t kh = 0; kh < p.KH; ++kh) {
      const int64_t ih = y * p.SH - p.PH + kh * p.DH;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        const int64_t iw = x * p.SW - p.PW + kw * p.DW;
        if (iw < 0 || iw >= p.W) continue;
        acc += w[kh * p.KW + kw] * src[ih * p.W + iw];
      }
    }
    out[idx] = acc;
  }
}

template <class T>
__global__ void depthwise_dinp_kernel(T* __restrict__ dinp, const T* __restrict__ dout, const T* __restrict__ weight,
                                      Conv2dParams p) {
  const int64_t M = p.OC / p.C;
  CNNKIT_GRID_STRIDE(idx, p.N * p.C * p.H * p.W) {
    const int64_t iw = idx % p.W, ih = (idx / p.W) % p.H, c = (idx / (p.W * p.H)) % p.C, n = idx / (p.W * p.H * p.C);
    T acc = T(0);
    for (int64_t m = 0; m < M; ++m) {
      const int64_t o = c * M + m;
      const T* g = dout + (n * p.OC + o) * p.OH * p.OW;
      const T* w = weight + o * p.KH * p.KW;
      for (int64_t kh = 0; kh < p.KH; ++kh) {
        const int64_t hs = ih + p.PH - kh * p.DH;
        if (hs < 0 || hs % p.SH != 0 || hs / p.SH >= p.OH) continue;
        for (int64_t kw = 0; kw < p.KW; ++kw) {
          const int64_t ws = iw + p.PW - kw * p.DW;
          if (ws < 0 || ws % p.SW != 0 || ws / p.SW >= p.OW) continue;
          acc += w[kh * p.KW + kw] * g[(hs / p.SH) * p.OW + ws / p.SW];
        }
      }
    }
    dinp[idx] = acc;
  }
}

constexpr int kDwThreads = 256;
template <class T>
__global__ void depthwise_dweight_kernel(T* __restrict__ dweight, const T* __restrict__ dout,
                                         const T* __restrict__ inp, Conv2dParams p) {
  __shared__ double partial[kDwThreads];
  const int64_t M = p.OC / p.C, OHW = p.OH * p.OW;
  const int64_t widx = blockIdx.x, kw = widx % p.KW, kh = (widx / p.KW) % p.KH, o = widx / (p.KW * p.KH);
  const int64_t c = o / M;
  double acc = 0;
  for (int64_t j = threadIdx.x; j < p.N * OHW; j += kDwThreads) {
    const int64_t n = j / OHW, y = (j % OHW) / p.OW, x = j % p.OW;
    const int64_t ih = y * p.SH - p.PH + kh * p.DH, iw = x * p.SW - p.PW + kw * p.DW;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
    acc += double(dout[(n * p.OC + o) * OHW + y * p.OW + x]) * double(inp[((n * p.C + c) * p.H + ih) * p.W + iw]);
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kDwThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) dweight[widx] = static_cast<T>(partial[0]);
}

// out (N*C planes of HW) += bias[plane % C]
template <class T>
__global__ void add_bias_kernel(T* __restrict__ out, const T* __restrict__ bias, int64_t N, int64_t C, int64_t HW) {
  CNNKIT_GRID_STRIDE(idx, N * C * HW) { out[idx] += bias[(idx / HW) % C]; }
}

}  // namespace

template <class T>
void conv2d_forward_im2col_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                const Conv2dParams& p) {
  if (p.N * p.OC * p.OH * p.OW == 0) return;
  CudaDeviceGuard guard(device);
  const char* op = "conv2d";
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, KK = p.KH * p.KW;
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, CgKK = Cg * KK;
  const int64_t G = chunk_images(p, sizeof(T));
  const bool direct = is_pointwise(p) && G == 1;
  const Im2colGeometry geo = geometry(p);
  Tensor colbuf, outbuf;
  if (!direct) colbuf = device_scratch<T>(geo.rows() * G * OHW, device);
  if (G > 1) outbuf = device_scratch<T>(p.OC * G * OHW, device);

  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    const T* cols = inp + n0 * p.C * HW;  // direct: the image is its own column matrix
    if (!direct) {
      im2col_batched_cuda<T>(device, colbuf.data<T>(), ncols, inp + n0 * p.C * HW, gc, geo);
      cols = colbuf.data<T>();
    }
    // G == 1: the GEMM writes the image's output slab, pre-filled with the bias (beta = 1).
    T* dst = G == 1 ? out + n0 * p.OC * OHW : outbuf.data<T>();
    if (G == 1 && bias != nullptr) {
      fill_bias_kernel<T><<<blocks_for(p.OC * OHW), kThreadsPerBlock>>>(dst, bias, p.OC, OHW);
      CNNKIT_CUDA_KERNEL_CHECK(op);
    }
    const T beta = (G == 1 && bias != nullptr) ? T(1) : T(0);
    gemm_strided_batched_cuda<T>(device, false, false, p.groups, OCg, ncols, CgKK, T(1), weight, CgKK, OCg * CgKK,
                                 cols, ncols, CgKK * ncols, beta, dst, ncols, OCg * ncols);
    if (G > 1) {
      scatter_chunk_kernel<T><<<blocks_for(gc * p.OC * OHW), kThreadsPerBlock>>>(out + n0 * p.OC * OHW, dst, bias,
                                                                                 gc, p.OC, OHW);
      CNNKIT_CUDA_KERNEL_CHECK(op);
    }
  }
}

template <class T>
void conv2d_backward_im2col_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                 const T* weight, const Conv2dParams& p) {
  CudaDeviceGuard guard(device);
  const char* op = "conv2d_backward";
  const int64_t OHW = p.OH * p.OW, HW = p.H * p.W, KK = p.KH * p.KW;
  const int64_t Cg = p.C / p.groups, OCg = p.OC / p.groups, CgKK = Cg * KK;

  if (dbias != nullptr && p.OC > 0) {
    bias_grad_kernel<T><<<static_cast<unsigned>(p.OC), kBiasThreads>>>(dbias, dout, p.N, p.OC, OHW);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  if (dinp == nullptr && dweight == nullptr) return;
  if (p.N == 0 || OHW == 0) {
    // No output positions: dweight is an empty sum; dinp receives nothing.
    if (dweight != nullptr)
      CNNKIT_CUDA_CHECK(cudaMemsetAsync(dweight, 0, sizeof(T) * p.OC * CgKK), op);
    if (dinp != nullptr) CNNKIT_CUDA_CHECK(cudaMemsetAsync(dinp, 0, sizeof(T) * p.N * p.C * HW), op);
    return;
  }

  const int64_t G = chunk_images(p, sizeof(T));
  const bool direct = is_pointwise(p) && G == 1;
  const Im2colGeometry geo = geometry(p);
  Tensor colbuf, dcolbuf, doutbuf;
  if (dweight != nullptr && !direct) colbuf = device_scratch<T>(geo.rows() * G * OHW, device);
  if (dinp != nullptr && !direct) dcolbuf = device_scratch<T>(geo.rows() * G * OHW, device);
  if (G > 1) doutbuf = device_scratch<T>(p.OC * G * OHW, device);

  for (int64_t n0 = 0; n0 < p.N; n0 += G) {
    const int64_t gc = std::min(G, p.N - n0), ncols = gc * OHW;
    // dout of the chunk as one (OC, gc*OHW) matrix: the image's own slab when G == 1, else gathered.
    const T* dch = dout + n0 * p.OC * OHW;
    if (G > 1) {
      gather_chunk_kernel<T><<<blocks_for(p.OC * ncols), kThreadsPerBlock>>>(doutbuf.data<T>(), dch, gc, p.OC, OHW);
      CNNKIT_CUDA_KERNEL_CHECK(op);
      dch = doutbuf.data<T>();
    }
    if (dweight != nullptr) {
      const T* cols = inp + n0 * p.C * HW;
      if (!direct) {
        im2col_batched_cuda<T>(device, colbuf.data<T>(), ncols, inp + n0 * p.C * HW, gc, geo);
        cols = colbuf.data<T>();
      }
      const T beta = n0 == 0 ? T(0) : T(1);  // the first chunk writes, later chunks accumulate
      gemm_strided_batched_cuda<T>(device, false, true, p.groups, OCg, CgKK, ncols, T(1), dch, ncols, OCg * ncols,
                                   cols, ncols, CgKK * ncols, beta, dweight, CgKK, OCg * CgKK);
    }
    if (dinp != nullptr) {
      T* dcols = direct ? dinp + n0 * p.C * HW : dcolbuf.data<T>();
      gemm_strided_batched_cuda<T>(device, true, false, p.groups, CgKK, ncols, OCg, T(1), weight, CgKK, OCg * CgKK,
                                   dch, ncols, OCg * ncols, T(0), dcols, ncols, CgKK * ncols);
      if (!direct) col2im_batched_cuda<T>(device, dinp + n0 * p.C * HW, dcols, ncols, gc, geo);
    }
  }
}

template <class T>
void conv2d_depthwise_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                   const Conv2dParams& p) {
  const int64_t total = p.N * p.OC * p.OH * p.OW;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  depthwise_forward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, weight, bias, p);
  CNNKIT_CUDA_KERNEL_CHECK("conv2d");
}

template <class T>
void conv2d_depthwise_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                    const T* weight, const Conv2dParams& p) {
  CudaDeviceGuard guard(device);
  const char* op = "conv2d_backward";
  const int64_t OHW = p.OH * p.OW, wnumel = p.OC * p.KH * p.KW;
  if (dbias != nullptr && p.OC > 0) {
    bias_grad_kernel<T><<<static_cast<unsigned>(p.OC), kBiasThreads>>>(dbias, dout, p.N, p.OC, OHW);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  if (dinp != nullptr && p.N * p.C * p.H * p.W > 0) {
    depthwise_dinp_kernel<T><<<blocks_for(p.N * p.C * p.H * p.W), kThreadsPerBlock>>>(dinp, dout, weight, p);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  if (dweight != nullptr && wnumel > 0) {
    depthwise_dweight_kernel<T><<<static_cast<unsigned>(wnumel), kDwThreads>>>(dweight, dout, inp, p);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
}

template <class T>
void conv2d_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  if (conv2d_is_depthwise(p))
    conv2d_depthwise_forward_cuda(device, out, inp, weight, bias, p);
  else
    conv2d_forward_im2col_cuda(device, out, inp, weight, bias, p);
}

template <class T>
void conv2d_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                          const Conv2dParams& p) {
  if (conv2d_is_depthwise(p))
    conv2d_depthwise_backward_cuda(device, dinp, dweight, dbias, dout, inp, weight, p);
  else
    conv2d_backward_im2col_cuda(device, dinp, dweight, dbias, dout, inp, weight, p);
}

// Transposed convolution: the conv2d kernels with input and output exchanged (ops/conv2d.h).
template <class T>
void conv_transpose2d_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                   const Conv2dParams& p) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  conv2d_backward_cuda<T>(device, out, nullptr, nullptr, inp, nullptr, weight, p);
  if (bias == nullptr) return;
  CudaDeviceGuard guard(device);
  add_bias_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, bias, p.N, p.C, p.H * p.W);
  CNNKIT_CUDA_KERNEL_CHECK("conv_transpose2d");
}

template <class T>
void conv_transpose2d_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                    const T* weight, const Conv2dParams& p) {
  if (dbias != nullptr && p.C > 0) {
    CudaDeviceGuard guard(device);
    bias_grad_kernel<T><<<static_cast<unsigned>(p.C), kBiasThreads>>>(dbias, dout, p.N, p.C, p.H * p.W);
    CNNKIT_CUDA_KERNEL_CHECK("conv_transpose2d_backward");
  }
  if (dinp != nullptr) conv2d_forward_cuda<T>(device, dinp, dout, weight, nullptr, p);
  if (dweight != nullptr) conv2d_backward_cuda<T>(device, nullptr, dweight, nullptr, inp, dout, weight, p);
}

template <class T>
void conv2d_forward_naive_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                               const Conv2dParams& p) {
  const int64_t total = p.N * p.OC * p.OH * p.OW;
  if (total == 0) return;
  CudaDeviceGuard guard(device);
  conv2d_naive_forward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, weight, bias, p);
  CNNKIT_CUDA_KERNEL_CHECK("conv2d");
}

template <class T>
void conv2d_backward_naive_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                const T* weight, const Conv2dParams& p) {
  CudaDeviceGuard guard(device);
  const char* op = "conv2d_backward";
  if (dinp != nullptr && p.N * p.C * p.H * p.W > 0) {
    conv2d_naive_dinp_kernel<T><<<blocks_for(p.N * p.C * p.H * p.W), kThreadsPerBlock>>>(dinp, dout, weight, p);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  const int64_t wnumel = p.OC * (p.C / p.groups) * p.KH * p.KW;
  if (dweight != nullptr && wnumel > 0) {
    conv2d_naive_dweight_kernel<T><<<blocks_for(wnumel), kThreadsPerBlock>>>(dweight, dout, inp, p);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
  if (dbias != nullptr && p.OC > 0) {
    conv2d_naive_dbias_kernel<T><<<blocks_for(p.OC), kThreadsPerBlock>>>(dbias, dout, p);
    CNNKIT_CUDA_KERNEL_CHECK(op);
  }
}

#define CNNKIT_INSTANTIATE_CONV2D_CUDA(T)                                                                         \
  template void conv2d_forward_cuda<T>(int, T*, const T*, const T*, const T*, const Conv2dParams&);               \
  template void conv2d_backward_cuda<T>(int, T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);      \
  template void conv2d_forward_im2col_cuda<T>(int, T*, const T*, const T*, const T*, const Conv2dParams&);        \
  template void conv2d_backward_im2col_cuda<T>(int, T*, T*, T*, const T*, const T*, const T*,                     \
                                               const Conv2dParams&);                                              \
  template void conv2d_depthwise_forward_cuda<T>(int, T*, const T*, const T*, const T*, const Conv2dParams&);     \
  template void conv2d_depthwise_backward_cuda<T>(int, T*, T*, T*, const T*, const T*, const T*,                  \
                                                  const Conv2dParams&);                                           \
  template void conv_transpose2d_forward_cuda<T>(int, T*, const T*, const T*, const T*, const Conv2dParams&);     \
  template void conv_transpose2d_backward_cuda<T>(int, T*, T*, T*, const T*, const T*, const T*,                  \
                                                  const Conv2dParams&);                                           \
  template void conv2d_forward_naive_cuda<T>(int, T*, const T*, const T*, const T*, const Conv2dParams&);         \
  template void conv2d_backward_naive_cuda<T>(int, T*, T*, T*, const T*, const T*, const T*, const Conv2dParams&);
CNNKIT_INSTANTIATE_CONV2D_CUDA(float)
CNNKIT_INSTANTIATE_CONV2D_CUDA(double)
#undef CNNKIT_INSTANTIATE_CONV2D_CUDA

}  // namespace cnnkit
