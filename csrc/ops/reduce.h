// Reductions on the CPU: sum, mean, max/min along one dim with indices (also serving max_all,
// min_all, argmax, argmin on a flattened copy). Every kernel writes (=) its outputs; nothing here
// accumulates into existing memory.
//
// x may have any strides. `reduce` is a mask of x's dims to reduce (already wrapped and checked
// by the binding). Outputs are contiguous and hold the kept dims in x's order, so keepdim only
// changes their shape, never the element order.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cnnkit {

// out (kept dims) = sum of x over the reduced dims. float32/float64 accumulate in double and
// write x's dtype; bool/uint8/int64 accumulate in (wrapping) int64 and write int64.
// Summation order depends only on the shapes/strides, never on the number of threads.
void sum_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);
// out = sum / (number of reduced elements), float dtypes only; an empty reduction gives NaN.
void mean_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);
// Reference: one sequential pass over x in row-major order adding into out[kept index].
void sum_naive_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce);

// values (kept dims, x's dtype) and indices (kept dims, int64) of the max (is_max) or min of x
// along `dim` (size > 0): first occurrence on ties; a NaN wins and its first index is returned.
// Either output may be undefined (not computed).
void max_min_dim_cpu(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim);

}  // namespace cnnkit
