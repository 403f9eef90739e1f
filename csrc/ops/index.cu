// Indexing kernels on CUDA, twins of ops/index.cpp. index_select/gather/cat/nonzero write (=)
// fresh outputs; index_add_ and scatter_add_ accumulate (+=) into `out`; index_copy_ overwrites (=)
// slices of `out`. No atomics on data: the only atomic is atomicMin on the error word of
// normalize_index_cuda.
//
// Thread mapping.
//   * index_select, gather, cat: one thread per output element (grid-stride), dtype-agnostic
//     copies of 1/4/8-byte words.
//   * index_add_, index_copy_, scatter_add_ (destinations may repeat): the CPU's gather-style
//     formulation instead of atomics. A thread owns a set of destinations no other thread touches
//     (an (outer, inner) column for index_add_/index_copy_, a "line" of all coordinates but `dim`
//     for scatter_add_) and walks the index sequentially, so duplicates accumulate in index order
//     (index_copy_: the last one wins) exactly as on the CPU: deterministic, and float sums are
//     bit-identical to the CPU twin. The price is less parallelism when there are few columns
//     (a 1-D index_add_ runs on one thread); correctness first.
//   * nonzero: blocks of 256 elements; pass 1 counts per block (__syncthreads_count), the host
//     reads the counts back (one sync, needed anyway to size the output) and prefix-sums them;
//     pass 2 places each nonzero at its block start + its rank inside the block (warp ballot +
//     popcount), which keeps row-major order.
//   * normalize_index: one thread per index value; an out-of-range value records its row-major
//     position with atomicMin, so the host reports the first bad value, as the CPU loop does.
#include <climits>
#include <cstdint>
#include <type_traits>

#include "core/cuda_utils.cuh"
#include "ops/elementwise_cuda.h"
#include "ops/index_cuda.h"
#include "ops/index_lines.h"

namespace cnnkit {
namespace {

constexpr int kNzBlock = 256;  // elements (= threads) per nonzero block

struct OuterInner {
  int64_t outer = 1, n = 1, inner = 1;
};
OuterInner split_at(const Shape& s, int64_t dim) {
  OuterInner r;
  if (s.empty()) return r;
  for (int64_t d = 0; d < dim; ++d) r.outer *= s[d];
  r.n = s[dim];
  for (size_t d = dim + 1; d < s.size(); ++d) r.inner *= s[d];
  return r;
}

#define CNNKIT_GRID_STRIDE(i, n)                                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,                        \
               _step = static_cast<int64_t>(gridDim.x) * blockDim.x;                                    \
       i < (n); i += _step)

// idx (any strides, walked in row-major order) -> out (contiguous) wrapped into [0, size); the
// position of the first out-of-range value goes to *bad (atomicMin), its raw value stays in out.
__global__ void normalize_index_kernel(DeviceIndexer<1> ix, int64_t n, const int64_t* idx, int64_t size, int64_t* out,
                                       unsigned long long* bad) {
  CNNKIT_GRID_STRIDE(i, n) {
    int64_t off;
    ix.offsets(i, &off);
    const int64_t v = idx[off];
    if (v < -size || v >= size) {
      out[i] = v;
      atomicMin(bad, static_cast<unsigned long long>(i));
    } else {
      out[i] = v < 0 ? v + size : v;
    }
  }
}

// out (outer, k, inner) = x (outer, n, inner)[:, index, :], both contiguous; U a word of itemsize.
template <class U>
__global__ void index_select_kernel(U* out, const U* x, const int64_t* idx, int64_t total, int64_t k, int64_t n,
                                    int64_t inner) {
  CNNKIT_GRID_STRIDE(e, total) {
    const int64_t j = e % inner, r = e / inner, i = r % k, oi = r / k;
    out[e] = x[(oi * n + idx[i]) * inner + j];
  }
}

// One thread per (outer, inner) column of out (outer, n, inner); src (outer, k, inner).
// Add: out[oi, idx[i], j] += src[oi, i, j] for i in order; else out[...] = src[...] (last wins).
template <class S, bool Add>
__global__ void index_update_kernel(S* out, const S* src, const int64_t* idx, int64_t cols, int64_t k, int64_t n,
                                    int64_t inner) {
  CNNKIT_GRID_STRIDE(c, cols) {
    const int64_t oi = c / inner, j = c % inner;
    for (int64_t i = 0; i < k; ++i) {
      S* o = out + (oi * n + idx[i]) * inner + j;
      const S v = src[(oi * k + i) * inner + j];
      if constexpr (Add) {
        if constexpr (std::is_integral<S>::value)
          *o = static_cast<S>(static_cast<uint64_t>(*o) + static_cast<uint64_t>(v));  // wrapping
        else
          *o = *o + v;
      } else {
        *o = v;
      }
    }
  }
}

// out[p] = x[p with coordinate dim replaced by index[p]]; operands (out, index, x with stride 0 on
// dim) over index's shape; sd = x's stride along dim.
template <class U>
__global__ void gather_kernel(DeviceIndexer<3> ix, int64_t n, U* out, const int64_t* idx, const U* x, int64_t sd) {
  CNNKIT_GRID_STRIDE(e, n) {
    int64_t off[3];
    ix.offsets(e, off);
    out[off[0]] = x[off[2] + idx[off[1]] * sd];
  }
}

// scatter_ (reduce None / Add / Multiply) and scatter_add_ (mode 1): one thread per line (all
// coordinates of index but dim): for j in order, out[line, index[line, j]] (=, +=, *=) src[line, j].
// The mode is a runtime switch (uniform across a launch, so no divergence).
template <class S>
__global__ void scatter_kernel(DeviceIndexer<3> ix, int64_t lines, int64_t len, S* out, int64_t os,
                               const int64_t* idx, int64_t is, const S* src, int64_t ss, int mode) {
  CNNKIT_GRID_STRIDE(l, lines) {
    int64_t off[3];
    ix.offsets(l, off);
    S* ob = out + off[0];
    const int64_t* ib = idx + off[1];
    const S* sb = src + off[2];
    for (int64_t j = 0; j < len; ++j) {
      S* o = ob + ib[j * is] * os;
      const S v = sb[j * ss];
      if constexpr (std::is_same<S, bool>::value) {
        *o = v;
      } else if constexpr (std::is_integral<S>::value) {
        if (mode == 0) *o = v;
        else if (mode == 1) *o = static_cast<S>(static_cast<uint64_t>(*o) + static_cast<uint64_t>(v));
        else *o = static_cast<S>(static_cast<uint64_t>(*o) * static_cast<uint64_t>(v));
      } else {
        if (mode == 0) *o = v;
        else if (mode == 1) *o = *o + v;
        else *o = *o * v;
      }
    }
  }
}

// Pass 1: counts[b] = number of nonzeros among x[b*256, (b+1)*256).
template <class S>
__global__ void nonzero_count_kernel(const S* x, int64_t n, int64_t* counts) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kNzBlock + threadIdx.x;
  const bool nz = i < n && x[i] != S(0);
  const int c = __syncthreads_count(nz);
  if (threadIdx.x == 0) counts[blockIdx.x] = c;
}

// Pass 2: each nonzero writes its row-major coordinates (dims.sizes, dims.ndim) at row
// starts[b] + (its rank among the block's nonzeros).
template <class S>
__global__ void nonzero_write_kernel(const S* x, int64_t n, const int64_t* starts, DeviceIndexer<1> dims,
                                     int64_t* coords) {
  __shared__ int warp_count[kNzBlock / 32];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kNzBlock + threadIdx.x;
  const bool nz = i < n && x[i] != S(0);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const unsigned m = __ballot_sync(0xffffffffu, nz);
  if (lane == 0) warp_count[warp] = __popc(m);
  __syncthreads();
  if (!nz) return;
  int64_t pos = starts[blockIdx.x] + __popc(m & ((1u << lane) - 1u));
  for (int w = 0; w < warp; ++w) pos += warp_count[w];
  int64_t rem = i;
  const int nd = dims.ndim;
  for (int d = nd - 1; d >= 0; --d) {
    coords[pos * nd + d] = rem % dims.sizes[d];
    rem /= dims.sizes[d];
  }
}

// Dispatch on the element size only (copy kernels move raw words).
template <class F>
void by_itemsize(const char* op, size_t itemsize, const F& f) {
  switch (itemsize) {
    case 1: return f(uint8_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: throw RuntimeError(str(op, ": unsupported element size ", itemsize));
  }
}

template <class S, bool Add>
void launch_index_update(const char* op, const Tensor& out, const Tensor& src, const int64_t* idx, int64_t cols,
                         int64_t k, int64_t n, int64_t inner) {
  index_update_kernel<S, Add><<<blocks_for(cols), kThreadsPerBlock>>>(out.data<S>(), src.data<S>(), idx, cols, k, n,
                                                                       inner);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class S>
Tensor nonzero_typed(const Tensor& xc) {
  const int64_t n = xc.numel(), nd = xc.dim();
  if (n == 0) return Tensor::empty({0, nd}, DType::Int64, xc.device());
  CNNKIT_CHECK(nd <= kMaxCudaDims, RuntimeError, "nonzero(): CUDA kernels support at most ", kMaxCudaDims,
               " dims, got ", nd);
  const int64_t nb = (n + kNzBlock - 1) / kNzBlock;
  Tensor counts = Tensor::empty({nb}, DType::Int64, xc.device());
  nonzero_count_kernel<S><<<static_cast<unsigned>(nb), kNzBlock>>>(xc.data<S>(), n, counts.data<int64_t>());
  CNNKIT_CUDA_KERNEL_CHECK("nonzero()");
  std::vector<int64_t> starts(nb);
  CNNKIT_CUDA_CHECK(cudaMemcpy(starts.data(), counts.data_ptr(), nb * sizeof(int64_t), cudaMemcpyDeviceToHost),
                    "nonzero()");
  int64_t total = 0;
  for (int64_t b = 0; b < nb; ++b) {  // exclusive prefix sum, in place
    const int64_t c = starts[b];
    starts[b] = total;
    total += c;
  }
  Tensor out = Tensor::empty({total, nd}, DType::Int64, xc.device());
  if (total == 0 || nd == 0) return out;
  CNNKIT_CUDA_CHECK(cudaMemcpy(counts.data_ptr(), starts.data(), nb * sizeof(int64_t), cudaMemcpyHostToDevice),
                    "nonzero()");
  DeviceIndexer<1> dims;
  dims.ndim = static_cast<int>(nd);
  for (int64_t d = 0; d < nd; ++d) dims.sizes[d] = xc.shape()[d];
  nonzero_write_kernel<S><<<static_cast<unsigned>(nb), kNzBlock>>>(xc.data<S>(), n, counts.data<int64_t>(), dims,
                                                                     out.data<int64_t>());
  CNNKIT_CUDA_KERNEL_CHECK("nonzero()");
  return out;
}

}  // namespace

Tensor normalize_index_cuda(const std::string& op, const Tensor& index, int64_t size, int64_t dim) {
  CudaDeviceGuard guard(index.device().index);
  Tensor out = Tensor::empty(index.shape(), DType::Int64, index.device());
  const int64_t n = index.numel();
  if (n == 0) return out;
  // Not reordered: linear position = row-major position, so "first bad" matches the CPU loop.
  const DeviceIndexer<1> ix = make_device_indexer<1>(op.c_str(), make_plan<1>(index.shape(), {index.strides()}, false));
  Tensor bad = Tensor::empty({1}, DType::Int64, index.device());
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(bad.data_ptr(), 0xff, sizeof(int64_t)), op.c_str());
  normalize_index_kernel<<<blocks_for(n), kThreadsPerBlock>>>(ix, n, index.data<int64_t>(), size, out.data<int64_t>(),
                                                              static_cast<unsigned long long*>(bad.data_ptr()));
  CNNKIT_CUDA_KERNEL_CHECK(op.c_str());
  unsigned long long pos = 0;
  CNNKIT_CUDA_CHECK(cudaMemcpy(&pos, bad.data_ptr(), sizeof(pos), cudaMemcpyDeviceToHost), op.c_str());
  if (pos != ULLONG_MAX) {
    int64_t v = 0;
    CNNKIT_CUDA_CHECK(cudaMemcpy(&v, out.data<int64_t>() + pos, sizeof(v), cudaMemcpyDeviceToHost), op.c_str());
    throw IndexError(str(op, ": index ", v, " is out of bounds for dimension ", dim, " with size ", size));
  }
  return out;
}

void index_select_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const OuterInner o = split_at(x.shape(), dim);
  const int64_t k = index.numel(), total = out.numel();
  by_itemsize("index_select()", x.itemsize(), [&](auto word) {
    using U = decltype(word);
    index_select_kernel<U><<<blocks_for(total), kThreadsPerBlock>>>(static_cast<U*>(out.data_ptr()),
                                                                     static_cast<const U*>(x.data_ptr()),
                                                                     index.data<int64_t>(), total, k, o.n, o.inner);
    CNNKIT_CUDA_KERNEL_CHECK("index_select()");
  });
}

void index_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const OuterInner o = split_at(out.shape(), dim);
  const int64_t k = index.numel(), cols = o.outer * o.inner;
  if (cols == 0 || k == 0) return;
  CudaDeviceGuard guard(out.device().index);
  CNNKIT_DISPATCH_ALL(out.dtype(), "index_add_", [&] {
    using S = scalar_t;
    if constexpr (std::is_same<S, bool>::value)
      throw TypeError("index_add_: bool tensors are not supported");
    else
      launch_index_update<S, true>("index_add_()", out, src, index.data<int64_t>(), cols, k, o.n, o.inner);
  });
}

void index_copy_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const OuterInner o = split_at(out.shape(), dim);
  const int64_t k = index.numel(), cols = o.outer * o.inner;
  if (cols == 0 || k == 0) return;
  CudaDeviceGuard guard(out.device().index);
  by_itemsize("index_copy_()", out.itemsize(), [&](auto word) {
    using U = decltype(word);
    index_update_kernel<U, false><<<blocks_for(cols), kThreadsPerBlock>>>(
        static_cast<U*>(out.data_ptr()), static_cast<const U*>(src.data_ptr()), index.data<int64_t>(), cols, k, o.n,
        o.inner);
    CNNKIT_CUDA_KERNEL_CHECK("index_copy_()");
  });
}

void gather_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  const int64_t n = out.numel();
  if (n == 0) return;
  CudaDeviceGuard guard(out.device().index);
  Shape xs = x.strides();
  const int64_t sd = x.dim() ? xs[dim] : 0;
  if (x.dim()) xs[dim] = 0;  // the indexed coordinate comes from the index, not the position
  const DeviceIndexer<3> ix =
      make_device_indexer<3>("gather()", make_plan<3>(index.shape(), {out.strides(), index.strides(), xs}, true));
  by_itemsize("gather()", x.itemsize(), [&](auto word) {
    using U = decltype(word);
    gather_kernel<U><<<blocks_for(n), kThreadsPerBlock>>>(ix, n, static_cast<U*>(out.data_ptr()), index.data<int64_t>(),
                                                           static_cast<const U*>(x.data_ptr()), sd);
    CNNKIT_CUDA_KERNEL_CHECK("gather()");
  });
}

namespace {

// One scatter_kernel launch over the lines (mode: 0 =, 1 +=, 2 *=).
template <class S>
void launch_scatter(const char* op, const ScatterLines& lines, const Tensor& out, const Tensor& index,
                    const Tensor& src, int mode) {
  const DeviceIndexer<3> ix = make_device_indexer<3>(op, lines.plan);
  const int64_t n = lines.plan.numel;
  scatter_kernel<S><<<blocks_for(n), kThreadsPerBlock>>>(ix, n, lines.len, out.data<S>(), lines.os,
                                                          index.data<int64_t>(), lines.is, src.data<S>(), lines.ss,
                                                          mode);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

}  // namespace

void scatter_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  if (index.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const ScatterLines lines = scatter_lines(out, dim, index, src);
  CNNKIT_DISPATCH_ALL(out.dtype(), "scatter_add_", [&] {
    using S = scalar_t;
    if constexpr (std::is_same<S, bool>::value)
      throw TypeError("scatter_add_: bool tensors are not supported");
    else
      launch_scatter<S>("scatter_add_()", lines, out, index, src, 1);
  });
}

void scatter_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce reduce) {
  if (index.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const ScatterLines lines = scatter_lines(out, dim, index, src);
  const int mode = reduce == ScatterReduce::None ? 0 : (reduce == ScatterReduce::Add ? 1 : 2);
  CNNKIT_DISPATCH_ALL(out.dtype(), "scatter_", [&] {
    using S = scalar_t;
    if (std::is_same<S, bool>::value && mode != 0) throw TypeError("scatter_: reduce is not supported on bool tensors");
    launch_scatter<S>("scatter_()", lines, out, index, src, mode);
  });
}

// Each input is copied into its slice of the output (a strided view) by the core's device copy
// (Tensor::copy_ -> cuda_copy_strided: one thread per element), as cat_cpu does on the CPU.
void cat_cuda(const Tensor& out, const std::vector<Tensor>& tensors, int64_t dim) {
  int64_t off = 0;
  for (const Tensor& t : tensors) {
    const int64_t n = t.shape()[dim];
    if (n > 0) {
      Tensor dst = out.slice(dim, off, off + n, 1);
      dst.copy_(t);
    }
    off += n;
  }
}

Tensor nonzero_cuda(const Tensor& x) {
  CudaDeviceGuard guard(x.device().index);
  const Tensor xc = x.contiguous();
  return CNNKIT_DISPATCH_ALL(xc.dtype(), "nonzero", [&] { return nonzero_typed<scalar_t>(xc); });
}

}  // namespace cnnkit
