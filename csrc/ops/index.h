// Indexing kernels on the CPU: index_select, index_add_, index_copy_, gather, scatter_add_, cat,
// nonzero. index_select/gather/cat/nonzero write (=) fresh outputs; index_add_ and scatter_add_
// accumulate (+=) into `out`; index_copy_ overwrites (=) the selected slices of `out`.
//
// Index tensors reaching these kernels are contiguous int64 with every value already wrapped into
// [0, size) by the binding (negative indices wrap, out-of-range raises IndexError there), so the
// kernels never read or write out of bounds.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cnnkit {

// x viewed as (outer, n, inner) around `dim`, index (k): out (outer, k, inner) contiguous,
// out[o, i, :] = x[o, index[i], :].
void index_select_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
// out (outer, n, inner) contiguous, src (outer, k, inner), index (k):
// out[o, index[i], :] += src[o, i, :]  (duplicates accumulate in order of i).
void index_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// As index_add_cpu with `=`; for duplicate indices the last i wins.
void index_copy_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// out (index's shape, contiguous), x (any strides, x.size(d) >= index.size(d) for d != dim):
// out[p] = x[p with coordinate dim replaced by index[p]].
void gather_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
// out (any strides, no internal overlap), index and src (index.size(d) <= src.size(d) for every d
// and <= out.size(d) for d != dim): out[p with coordinate dim replaced by index[p]] += src[p].
void scatter_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// scatter_ with an optional reduction: out[p with coordinate dim replaced by index[p]] = src[p]
// (None; for duplicates the last one in index order wins), += src[p] (Add) or *= src[p]
// (Multiply). Same shapes and strides contract as scatter_add_cpu; src may have stride 0 (a
// broadcast scalar for scatter_(dim, index, value)). Bool supports None only.
enum class ScatterReduce { None, Add, Multiply };
void scatter_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce reduce);
// out = concatenation of `tensors` (same dtype, same shape except along dim) along dim.
void cat_cpu(const Tensor& out, const std::vector<Tensor>& tensors, int64_t dim);
// (n, ndim) int64 coordinates of the nonzero elements of x in row-major order.
Tensor nonzero_cpu(const Tensor& x);

}  // namespace cnnkit
