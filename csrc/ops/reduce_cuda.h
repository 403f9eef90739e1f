// Host-callable CUDA twins of ops/reduce.h (plain C++, included by the bindings under
// #ifdef CNNKIT_WITH_CUDA). Same contracts as the CPU functions without the `_cuda` suffix: x has any
// strides, `reduce` is a mask of x's dims (checked by the binding), outputs are contiguous CUDA
// tensors holding the kept dims in x's order. Every function writes (=) its outputs.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cnnkit {

// float32/float64 accumulate in double and write x's dtype; bool/uint8/int64 accumulate in
// wrapping int64 and write int64. Deterministic: the summation order depends on the shapes only.
void sum_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);
// sum / (number of reduced elements), float dtypes; an empty reduction gives NaN.
void mean_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);
// Reference: one thread per output adding its reduced elements sequentially in row-major order
// (the CPU naive order, so float results match sum_naive_cpu bit for bit).
void sum_naive_cuda(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);
// values (x's dtype) / int64 indices of the max or min along `dim` (size > 0): first occurrence on
// ties, the first NaN wins. Either output may be undefined (not computed).
void max_min_dim_cuda(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim);
// Scans (contiguous (outer, n, inner), one thread per line walking it in order, so results equal
// the CPU twin's sequential double/int64 accumulation).
void cumsum_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool reverse);
void cumprod_cuda(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner);
void cumprod_backward_cuda(const Tensor& dx, const Tensor& dout, const Tensor& x, int64_t outer, int64_t n,
                           int64_t inner);

}  // namespace cnnkit
