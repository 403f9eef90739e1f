// Host-callable CUDA twins of ops/index.h (plain C++, included by the bindings under
// #ifdef CNNKIT_WITH_CUDA). Same contracts as the CPU functions without the `_cuda` suffix.
// index_select/gather/cat/nonzero write (=) fresh outputs; index_add_ and scatter_add_ accumulate
// (+=) into `out`; index_copy_ overwrites (=) the selected slices of `out`.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/index.h"

namespace cnnkit {

// Device-side index validation (the CUDA twin of the binding's host loop): a fresh contiguous int64
// CUDA tensor holding `index` (any strides) with negative values wrapped into [0, size). A value
// outside [-size, size) raises IndexError "<op>: index V is out of bounds for dimension D with
// size S" naming the first bad value in row-major order (a kernel records its position with
// atomicMin in a device word; the host reads it back).
Tensor normalize_index_cuda(const std::string& op, const Tensor& index, int64_t size, int64_t dim);

void index_select_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
void index_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void index_copy_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void gather_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
void scatter_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void scatter_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce reduce);
void cat_cuda(const Tensor& out, const std::vector<Tensor>& tensors, int64_t dim);
// Counts per block are read back to the host (one sync) to size the output.
Tensor nonzero_cuda(const Tensor& x);

}  // namespace cnnkit
