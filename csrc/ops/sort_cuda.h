// Host-callable CUDA twin of ops/sort.h (plain C++, included by the bindings under
// #ifdef CNNKIT_WITH_CUDA). Same contract and order as sort_cpu: x contiguous (outer, n, inner)
// on a CUDA device, values/indices contiguous (outer, k, inner); writes (=) both.
#pragma once
#include "core/tensor.h"

namespace cnnkit {

void sort_cuda(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
               int64_t k, bool descending);

}  // namespace cnnkit
