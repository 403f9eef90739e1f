// Optimizer update kernels, CUDA twin of ops/optim.h. They update param and the momentum buffer
// IN PLACE (contiguous device memory, n elements; buf may be nullptr when momentum == 0), with
// exactly torch.optim.SGD's per-element formula and roundings (see optim.h / optim.cu).
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/optim.h"

namespace cnnkit {

template <class scalar_t>
void sgd_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h, int device);

}  // namespace cnnkit
