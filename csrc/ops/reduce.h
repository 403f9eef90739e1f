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

// Scans along one dim. x and out are contiguous, of one dtype, viewed as (outer, n, inner); each
// line x[o, :, i] is scanned in order (from the end when `reverse`): out[j] = x[0] + ... + x[j]
// (cumprod: x[0] * ... * x[j]). float32/float64 accumulate in double, integers in wrapping int64
// (the binding converts integer/bool input to int64 first). Writes (=) out.
void cumsum_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool reverse);
void cumprod_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner);
// dx (outer, n, inner) = gradient of cumprod without division (exact with zeros in x):
// dx[i] = (x[0] * ... * x[i-1]) * S[i], S[n-1] = dout[n-1], S[i] = dout[i] + x[i+1] * S[i+1].
// Float dtypes; all three contiguous. Writes (=) dx.
void cumprod_backward_cpu(const Tensor& dx, const Tensor& dout, const Tensor& x, int64_t outer, int64_t n,
                          int64_t inner);

}  // namespace cnnkit
