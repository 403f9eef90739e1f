// CUDA twins of ops/dropout.h (same Philox stream, masks and formulas; buffers are contiguous
// device memory). Backward WRITES (=) dinp. `device` is the CUDA device index of the buffers.
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/dropout.h"

namespace cnnkit {

template <class scalar_t>
void dropout_forward_cuda(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                          uint64_t offset, const DropoutCoef& coef, int device);
template <class scalar_t>
void dropout_backward_cuda(scalar_t* dinp, const scalar_t* dout, const bool* mask, int64_t m, int64_t inner,
                           double scale, int device);

}  // namespace cnnkit
