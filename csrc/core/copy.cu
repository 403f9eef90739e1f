// Device-side strided copy (with dtype conversion and broadcasting) and fill: the CUDA twins of
// the loops in tensor.cpp's strided_copy and fill_.
//
// Thread mapping: a grid-stride loop over the flat index of the destination's N-d index space;
// each thread turns its flat index into per-dim coordinates (innermost dim first) and from those
// into a destination and a source offset. Every destination element is written by one thread.
#include <cuda_runtime.h>

#include "core/cuda_backend.h"
#include "core/cuda_utils.cuh"

namespace cnnkit {
namespace {

// Dims the kernels index in one launch (PyTorch's CUDA kernels have the same 25). A tensor with more is
// copied one dim-0 slice at a time (cuda_copy_strided / cuda_fill recurse), so any rank the CPU accepts works.
constexpr int kMaxDims = 25;

// Sizes and strides passed by value to the kernels (no device allocation per launch).
struct StridedIndex {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t dst_strides[kMaxDims];
  int64_t src_strides[kMaxDims];
};

StridedIndex make_index(const char* op, const Tensor& dst, const Tensor* src) {
  CNNKIT_CHECK(dst.dim() <= kMaxDims, ValueError, op, ": internal: ", dst.dim(), " dims reached the kernel (max ",
               kMaxDims, ")");
  StridedIndex ix{};
  ix.ndim = static_cast<int>(dst.dim());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.sizes[d] = dst.shape()[d];
    ix.dst_strides[d] = dst.strides()[d];
    ix.src_strides[d] = src ? src->strides()[d] : 0;
  }
  return ix;
}

template <class D, class S>
__global__ void copy_kernel(D* __restrict__ dst, const S* __restrict__ src, StridedIndex ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t rem = i, doff = 0, soff = 0;
    for (int d = ix.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % ix.sizes[d];
      rem /= ix.sizes[d];
      doff += c * ix.dst_strides[d];
      soff += c * ix.src_strides[d];
    }
    dst[doff] = static_cast<D>(src[soff]);
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ dst, T value, StridedIndex ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t rem = i, off = 0;
    for (int d = ix.ndim - 1; d >= 0; --d) {
      off += (rem % ix.sizes[d]) * ix.dst_strides[d];
      rem /= ix.sizes[d];
    }
    dst[off] = value;
  }
}

}  // namespace

void cuda_copy_strided(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  if (dst.dim() > kMaxDims) {  // rare: one launch per dim-0 slice (a size-1 dim 0 just goes away)
    for (int64_t i = 0; i < dst.shape()[0]; ++i) cuda_copy_strided(dst.select(0, i), src.select(0, i));
    return;
  }
  const StridedIndex ix = make_index("copy_", dst, &src);
  CudaDeviceGuard guard(dst.device().index);
  CNNKIT_DISPATCH_STORAGE(dst.dtype(), "copy_", [&] {
    using D = scalar_t;
    CNNKIT_DISPATCH_STORAGE(src.dtype(), "copy_", [&] {
      copy_kernel<D, scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(dst.data<D>(), src.data<scalar_t>(), ix, n);
      CNNKIT_CUDA_KERNEL_CHECK("copy_");
    });
  });
}

void cuda_fill(const Tensor& t, double value) {
  const int64_t n = t.numel();
  if (n == 0) return;
  if (t.dim() > kMaxDims) {
    for (int64_t i = 0; i < t.shape()[0]; ++i) cuda_fill(t.select(0, i), value);
    return;
  }
  const StridedIndex ix = make_index("fill_", t, nullptr);
  CudaDeviceGuard guard(t.device().index);
  CNNKIT_DISPATCH_STORAGE(t.dtype(), "fill_", [&] {
    fill_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(t.data<scalar_t>(), static_cast<scalar_t>(value), ix, n);
    CNNKIT_CUDA_KERNEL_CHECK("fill_");
  });
}

}  // namespace cnnkit
