// Sorting along one dim on the CPU: sort (stable, ascending or descending) and topk (the first k
// of that order). Every kernel writes (=) its two outputs; nothing accumulates.
//
// Layout: x is contiguous and viewed as (outer, n, inner) around the sorted dim; a "line" is one
// (outer, inner) pair, x[o, :, i], whose n elements lie `inner` apart. values (outer, k, inner)
// has x's dtype and indices (outer, k, inner) is int64, both contiguous (k = n for sort).
//
// Order (torch's): ascending puts NaN after +inf, descending puts NaN first; equal keys (and NaNs
// among themselves) keep their original order, so the result is the stable sort whether or not
// the caller asked for stability. topk uses the same total order (key, then original position), so
// its k elements and their order equal the first k of the stable sort.
#pragma once
#include "core/tensor.h"

namespace cnnkit {

// values/indices (outer, k, inner): the first k elements of each line of x (outer, n, inner) in
// the order above (descending when `descending`). 0 <= k <= n; checked by the binding.
// k == n sorts with std::stable_sort, k < n selects with std::partial_sort (same total order).
void sort_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
              int64_t k, bool descending);
// Reference: per line, a plain insertion sort (stable) of (value, position) pairs.
void sort_naive_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n,
                    int64_t inner, int64_t k, bool descending);

}  // namespace cnnkit
