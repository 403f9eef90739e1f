// Reductions on CUDA, twins of ops/reduce.cpp. Every kernel writes (=) its outputs; nothing here
// accumulates into existing memory, and no atomics are used.
//
// Layout. As on the CPU, x's dims are split into kept dims (the output's index space, in x's
// order, coalesced but not reordered: output o is the o-th kept position in row-major order) and
// reduced dims (coalesced, densest innermost). Both are DeviceIndexer<1>s passed by value.
//
// Thread mapping (sum, mean, max/min along a dim): one block per output (grid-stride over outputs
// when there are more than the grid holds). Thread t of the block walks reduced positions
// t, t + blockDim, ... into a private accumulator (double for floats, wrapping uint64 for integers;
// for max/min a (value, first index) pair); the block then combines the threads' partials with
// warp shuffles (__shfl_down_sync, a fixed tree) and one more warp over the per-warp results in
// shared memory. The block size depends on the reduced length only (32..256 threads), so the
// summation order, and therefore the float result, depends on the shapes alone: deterministic,
// though not bit-identical to the CPU's 8-accumulator order (tests compare with a tolerance).
//
// max/min combine (value, index) pairs with "NaN beats everything; otherwise the strictly larger
// (smaller) value; on equal values (or two NaNs) the smaller index": an associative, commutative
// rule whose result is exactly the sequential first-occurrence answer of the CPU twin.
//
// sum_naive: one thread per output, reduced positions added one by one in row-major order.
#include <cstdint>
#include <type_traits>

#include "core/cuda_utils.cuh"
#include "ops/elementwise_cuda.h"
#include "ops/reduce_cuda.h"

namespace cnnkit {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxBlock = 256;           // threads per output block
constexpr unsigned kMaxGrid = 65535u * 8;  // outputs beyond this are grid-strided

// A block size for a reduced length n: a multiple of 32 in [32, 256].
int reduce_block_size(int64_t n) {
  const int64_t t = ((n + 31) / 32) * 32;
  return static_cast<int>(t < 32 ? 32 : (t > kMaxBlock ? kMaxBlock : t));
}
unsigned reduce_grid(int64_t n_out) { return static_cast<unsigned>(n_out < kMaxGrid ? n_out : kMaxGrid); }

// Shuffle any of our scalar types (types narrower than 32 bits travel as int).
template <class T>
__device__ __forceinline__ T shfl_down(T v, int delta) {
  if constexpr (sizeof(T) < 4) return static_cast<T>(__shfl_down_sync(kFullMask, static_cast<int>(v), delta));
  else return __shfl_down_sync(kFullMask, v, delta);
}

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024); the result is valid in thread 0.
// Ends with a barrier so the shared buffer may be reused by the next call.
template <class A>
__device__ A block_sum(A v) {
  __shared__ A warp_part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int d = 16; d > 0; d >>= 1) v += shfl_down(v, d);
  if (lane == 0) warp_part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? warp_part[lane] : A(0);
    for (int d = 16; d > 0; d >>= 1) v += shfl_down(v, d);
  }
  __syncthreads();
  return v;
}

// out[o] = fin(sum over output o's reduced elements); A the accumulator, O the output type.
// mean_div > 0: divide the (double) sum by it (mean); else plain sum.
template <class S, class A, class O>
__global__ void sum_kernel(DeviceIndexer<1> kept, DeviceIndexer<1> red, int64_t n_out, int64_t n_red, const S* x,
                           O* out, double mean_div) {
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    int64_t base;
    kept.offsets(o, &base);
    A acc = A(0);
    for (int64_t r = threadIdx.x; r < n_red; r += blockDim.x) {
      int64_t off;
      red.offsets(r, &off);
      acc += static_cast<A>(x[base + off]);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) {
      if constexpr (std::is_floating_point<S>::value) {
        out[o] = static_cast<O>(mean_div > 0 ? static_cast<double>(acc) / mean_div : static_cast<double>(acc));
      } else {
        out[o] = static_cast<O>(acc);  // uint64 -> int64: wraps modulo 2^64
      }
    }
  }
}

// mean of an empty reduction: 0 / 0 = NaN, as on the CPU.
template <class S>
__global__ void fill_nan_kernel(S* out, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = static_cast<S>(NAN);
}

template <class S, class A, class O>
__global__ void sum_naive_kernel(DeviceIndexer<1> kept, DeviceIndexer<1> red, int64_t n_out, int64_t n_red,
                                 const S* x, O* out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out; o += step) {
    int64_t base;
    kept.offsets(o, &base);
    A acc = A(0);
    for (int64_t r = 0; r < n_red; ++r) {
      int64_t off;
      red.offsets(r, &off);
      acc += static_cast<A>(x[base + off]);
    }
    out[o] = static_cast<O>(acc);
  }
}

template <class S>
__device__ __forceinline__ bool is_nan_(S v) {
  if constexpr (std::is_floating_point<S>::value) return v != v;
  else return false;
}

// Is candidate (vb, ib) preferred over the current (va, ia)? Index -1 = no candidate yet.
template <bool IsMax, class S>
__device__ __forceinline__ bool prefer(S vb, int64_t ib, S va, int64_t ia) {
  if (ib < 0) return false;
  if (ia < 0) return true;
  const bool na = is_nan_(va), nb = is_nan_(vb);
  if (na || nb) return (na && nb) ? ib < ia : nb;
  if (IsMax ? (vb > va) : (vb < va)) return true;
  return vb == va && ib < ia;
}

// values[o], indices[o] = extreme of x[base(o) + r * st] over r in [0, n) (n > 0).
template <bool IsMax, class S>
__global__ void extreme_kernel(DeviceIndexer<1> kept, int64_t n_out, int64_t n, int64_t st, const S* x, S* values,
                               int64_t* indices) {
  __shared__ S warp_v[32];
  __shared__ int64_t warp_i[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    int64_t base;
    kept.offsets(o, &base);
    S best = S(0);
    int64_t bi = -1;
    for (int64_t r = threadIdx.x; r < n; r += blockDim.x) {
      const S v = x[base + r * st];
      if (prefer<IsMax>(v, r, best, bi)) {
        best = v;
        bi = r;
      }
    }
    for (int d = 16; d > 0; d >>= 1) {
      const S v = shfl_down(best, d);
      const int64_t i = shfl_down(bi, d);
      if (prefer<IsMax>(v, i, best, bi)) {
        best = v;
        bi = i;
      }
    }
    if (lane == 0) {
      warp_v[warp] = best;
      warp_i[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
      best = lane < nwarps ? warp_v[lane] : S(0);
      bi = lane < nwarps ? warp_i[lane] : -1;
      for (int d = 16; d > 0; d >>= 1) {
        const S v = shfl_down(best, d);
        const int64_t i = shfl_down(bi, d);
        if (prefer<IsMax>(v, i, best, bi)) {
          best = v;
          bi = i;
        }
      }
      if (lane == 0) {
        if (values) values[o] = best;
        if (indices) indices[o] = bi;
      }
    }
    __syncthreads();
  }
}

struct CudaReducePlan {
  DeviceIndexer<1> kept, red;
  int64_t n_out = 0, n_red = 0;
};

// `naive`: reduced dims neither reordered nor merged (row-major order of x's reduced dims).
CudaReducePlan make_cuda_reduce_plan(const char* op, const Tensor& x, const std::vector<bool>& reduce, bool naive) {
  Shape ks, kst, rs, rst;
  for (int64_t d = 0; d < x.dim(); ++d) {
    (reduce[d] ? rs : ks).push_back(x.shape()[d]);
    (reduce[d] ? rst : kst).push_back(x.strides()[d]);
  }
  CudaReducePlan p;
  p.kept = make_device_indexer<1>(op, make_plan<1>(ks, {kst}, false));
  p.red = naive ? make_device_indexer_raw<1>(op, rs, {rst}) : make_device_indexer<1>(op, make_plan<1>(rs, {rst}, true));
  p.n_out = shape_numel(ks);
  p.n_red = shape_numel(rs);
  return p;
}

template <class S, class A, class O>
void launch_sum(const char* op, const CudaReducePlan& p, const S* x, O* out, double mean_div) {
  if (p.n_out == 0) return;
  sum_kernel<S, A, O><<<reduce_grid(p.n_out), reduce_block_size(p.n_red)>>>(p.kept, p.red, p.n_out, p.n_red, x, out,
                                                                             mean_div);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class S, class A, class O>
void launch_sum_naive(const CudaReducePlan& p, const S* x, O* out) {
  sum_naive_kernel<S, A, O><<<blocks_for(p.n_out), kThreadsPerBlock>>>(p.kept, p.red, p.n_out, p.n_red, x, out);
  CNNKIT_CUDA_KERNEL_CHECK("sum_naive");
}

}  // namespace

void sum_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  CudaDeviceGuard guard(x.device().index);
  const CudaReducePlan p = make_cuda_reduce_plan("sum", x, reduce, false);
  CNNKIT_DISPATCH_ALL(x.dtype(), "sum", [&] {
    using S = scalar_t;
    if constexpr (std::is_floating_point<S>::value)
      launch_sum<S, double, S>("sum", p, x.data<S>(), out.data<S>(), 0.0);
    else
      launch_sum<S, unsigned long long, int64_t>("sum", p, x.data<S>(), out.data<int64_t>(), 0.0);
  });
}

void mean_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  CudaDeviceGuard guard(x.device().index);
  const CudaReducePlan p = make_cuda_reduce_plan("mean", x, reduce, false);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "mean", [&] {
    using S = scalar_t;
    if (p.n_out == 0) return;
    if (p.n_red == 0) {
      fill_nan_kernel<S><<<blocks_for(p.n_out), kThreadsPerBlock>>>(out.data<S>(), p.n_out);
      CNNKIT_CUDA_KERNEL_CHECK("mean");
      return;
    }
    launch_sum<S, double, S>("mean", p, x.data<S>(), out.data<S>(), static_cast<double>(p.n_red));
  });
}

void sum_naive_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  CudaDeviceGuard guard(x.device().index);
  const CudaReducePlan p = make_cuda_reduce_plan("sum_naive", x, reduce, true);
  if (p.n_out == 0) return;
  CNNKIT_DISPATCH_ALL(x.dtype(), "sum_naive", [&] {
    using S = scalar_t;
    if constexpr (std::is_floating_point<S>::value)
      launch_sum_naive<S, double, S>(p, x.data<S>(), out.data<S>());
    else
      launch_sum_naive<S, unsigned long long, int64_t>(p, x.data<S>(), out.data<int64_t>());
  });
}

void max_min_dim_cuda(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim) {
  CudaDeviceGuard guard(x.device().index);
  Shape ks, kst;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == dim) continue;
    ks.push_back(x.shape()[d]);
    kst.push_back(x.strides()[d]);
  }
  const DeviceIndexer<1> kept = make_device_indexer<1>("max_min_dim", make_plan<1>(ks, {kst}, false));
  const int64_t n_out = shape_numel(ks);
  const int64_t n = x.dim() ? x.shape()[dim] : 1;
  const int64_t st = x.dim() ? x.strides()[dim] : 0;
  if (n_out == 0 || n == 0) return;
  CNNKIT_DISPATCH_ALL(x.dtype(), "max_min_dim", [&] {
    using S = scalar_t;
    S* v = values.defined() ? values.data<S>() : nullptr;
    int64_t* i = indices.defined() ? indices.data<int64_t>() : nullptr;
    if (is_max)
      extreme_kernel<true, S><<<reduce_grid(n_out), reduce_block_size(n)>>>(kept, n_out, n, st, x.data<S>(), v, i);
    else
      extreme_kernel<false, S><<<reduce_grid(n_out), reduce_block_size(n)>>>(kept, n_out, n, st, x.data<S>(), v, i);
    CNNKIT_CUDA_KERNEL_CHECK("max_min_dim");
  });
}

// ---------------------------------------------------------------------------------------------
// Scans: one thread per line (outer, inner) walking its n elements in order, with the CPU twin's
// accumulator (double for float dtypes, wrapping int64), so results match the CPU bit for bit.
// Parallel over lines only: a single long line runs on one thread (correctness first).
// ---------------------------------------------------------------------------------------------
namespace {

template <class S, class A, bool kProd>
__global__ void scan_kernel(S* out, const S* x, int64_t lines, int64_t n, int64_t inner, bool reverse) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines; l += step) {
    const int64_t base = (l / inner) * n * inner + l % inner;
    A acc = kProd ? A(1) : A(0);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t j = base + (reverse ? n - 1 - t : t) * inner;
      if constexpr (std::is_integral<A>::value) {
        const unsigned long long u = static_cast<unsigned long long>(acc);
        const unsigned long long v = static_cast<unsigned long long>(static_cast<A>(x[j]));
        acc = static_cast<A>(kProd ? u * v : u + v);
      } else {
        acc = kProd ? acc * static_cast<A>(x[j]) : acc + static_cast<A>(x[j]);
      }
      out[j] = static_cast<S>(acc);
    }
  }
}

template <class S>
__global__ void cumprod_backward_kernel(S* dx, const S* g, const S* x, int64_t lines, int64_t n, int64_t inner) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines; l += step) {
    const int64_t base = (l / inner) * n * inner + l % inner;
    double acc = 0.0;
    for (int64_t i = n - 1; i >= 0; --i) {
      const int64_t j = base + i * inner;
      acc = static_cast<double>(g[j]) + (i == n - 1 ? 0.0 : static_cast<double>(x[j + inner]) * acc);
      dx[j] = static_cast<S>(acc);
    }
    double pre = 1.0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = base + i * inner;
      dx[j] = static_cast<S>(pre * static_cast<double>(dx[j]));
      pre *= static_cast<double>(x[j]);
    }
  }
}

template <bool kProd>
void scan_cuda(const char* op, const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
               bool reverse) {
  const int64_t lines = outer * inner;
  if (lines == 0 || n == 0) return;
  CudaDeviceGuard guard(x.device().index);
  switch (x.dtype()) {
    case DType::Float32:
      scan_kernel<float, double, kProd><<<blocks_for(lines), kThreadsPerBlock>>>(out.data<float>(), x.data<float>(),
                                                                                 lines, n, inner, reverse);
      break;
    case DType::Float64:
      scan_kernel<double, double, kProd><<<blocks_for(lines), kThreadsPerBlock>>>(out.data<double>(), x.data<double>(),
                                                                                  lines, n, inner, reverse);
      break;
    case DType::Int64:
      scan_kernel<int64_t, int64_t, kProd><<<blocks_for(lines), kThreadsPerBlock>>>(
          out.data<int64_t>(), x.data<int64_t>(), lines, n, inner, reverse);
      break;
    default: throw TypeError(str(op, ": expected a float32, float64 or int64 tensor, got ", dtype_name(x.dtype())));
  }
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

}  // namespace

void cumsum_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  scan_cuda<false>("cumsum", out, x, outer, n, inner, reverse);
}

void cumprod_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  scan_cuda<true>("cumprod", out, x, outer, n, inner, false);
}

void cumprod_backward_cuda(const Tensor& dx, const Tensor& dout, const Tensor& x, int64_t outer, int64_t n,
                           int64_t inner) {
  const int64_t lines = outer * inner;
  if (lines == 0 || n == 0) return;
  CudaDeviceGuard guard(x.device().index);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "cumprod_backward", [&] {
    using S = scalar_t;
    cumprod_backward_kernel<S><<<blocks_for(lines), kThreadsPerBlock>>>(dx.data<S>(), dout.data<S>(), x.data<S>(),
                                                                        lines, n, inner);
    CNNKIT_CUDA_KERNEL_CHECK("cumprod_backward");
  });
}

}  // namespace cnnkit
