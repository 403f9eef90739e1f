// Host-callable CUDA twins of ops/elementwise.h (plain C++: the g++-compiled bindings include this
// under #ifdef CNNKIT_WITH_CUDA). Same contracts as the CPU functions of the same name without the
// `_cuda` suffix: validated input, every tensor on one CUDA device, any strides (stride 0 too).
// Forward ops write (=) a fresh output; binary_ / masked_fill_ overwrite their target in place;
// clamp_backward writes (=) dx.
//
// Also home of the device-side strided indexing shared by the CUDA kernels of the elementwise,
// reduce and index families: DeviceIndexer<N>, a fixed-size (<= kMaxCudaDims dims) description of
// N operands walked over one index space, passed to kernels by value.
#pragma once
#include <cstdint>
#include <optional>

#include "core/tensor.h"
#include "ops/elementwise.h"

#if defined(__CUDACC__)
#define CNNKIT_HOST_DEVICE __host__ __device__
#else
#define CNNKIT_HOST_DEVICE
#endif

namespace cnnkit {

// Dims a kernel can index after coalescing (make_plan merges contiguous dims and drops size-1 dims, so only
// a tensor with more than 25 genuinely non-mergeable dims -- at least 2^26 elements -- is rejected, with a
// RuntimeError naming the op). 25 is PyTorch's CUDA limit (its OffsetCalculator's MAX_DIMS) too; the CPU
// kernels have none. An indexer is passed by value: (N + 1) * 25 * 8 bytes, well inside the 4 KiB of
// kernel parameters even for the 3-operand kernels.
constexpr int kMaxCudaDims = 25;

// N operands over one index space of `ndim` dims (last innermost); strides in elements per operand.
// offsets(lin) decodes the linear (row-major) position into every operand's element offset.
template <int N>
struct DeviceIndexer {
  int ndim = 0;
  int64_t sizes[kMaxCudaDims] = {};
  int64_t strides[N][kMaxCudaDims] = {};

  CNNKIT_HOST_DEVICE void offsets(int64_t lin, int64_t* off) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t sz = sizes[d];
      const int64_t i = lin % sz;
      lin /= sz;
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
};

// From a coalesced plan; RuntimeError naming `op` beyond kMaxCudaDims dims.
template <int N>
DeviceIndexer<N> make_device_indexer(const char* op, const StridedPlan<N>& p) {
  const int64_t nd = static_cast<int64_t>(p.shape.size());
  CNNKIT_CHECK(nd <= kMaxCudaDims, RuntimeError, op, ": CUDA kernels support at most ", kMaxCudaDims,
               " dims after merging contiguous dims, got ", nd, " (shape ", p.shape, ")");
  DeviceIndexer<N> ix;
  ix.ndim = static_cast<int>(nd);
  for (int64_t d = 0; d < nd; ++d) {
    ix.sizes[d] = p.shape[d];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = p.strides[k][d];
  }
  return ix;
}

// Same as above from raw shape and per-operand strides, without coalescing (the naive kernels).
template <int N>
DeviceIndexer<N> make_device_indexer_raw(const char* op, const Shape& shape, const std::array<Shape, N>& strides) {
  StridedPlan<N> p;
  p.shape = shape;
  p.strides = strides;
  p.numel = shape_numel(shape);
  if (p.shape.empty()) {  // a 0-d tensor: one element at offset 0
    p.shape.push_back(1);
    for (int k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  return make_device_indexer<N>(op, p);
}

// True if any element of the integer tensor b (any strides) is 0; one host sync to read the flag.
bool any_zero_cuda(const Tensor& b);

void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// Reference: one thread per element, full (uncoalesced) N-d index decode.
void binary_naive_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& x);
void pow_scalar_cuda(const Tensor& out, const Tensor& x, const Scalar& e);
void clamp_cuda(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
void clamp_backward_cuda(const Tensor& dx, const Tensor& dout, const Tensor& x, const std::optional<Scalar>& lo,
                         const std::optional<Scalar>& hi);
void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
void masked_fill_cuda(const Tensor& x, const Tensor& mask, const Scalar& value);

}  // namespace cnnkit
