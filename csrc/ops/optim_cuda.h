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

// Twins of adam_step / rmsprop_step / adagrad_step / adadelta_step (same arguments, same per-element
// formula and roundings; see optim.h), on device memory of `device`.
template <class scalar_t>
void adam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                    scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h, int device);
template <class scalar_t>
void rmsprop_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                       scalar_t* momentum_buffer, int64_t n, const RmspropParams& h, int device);
template <class scalar_t>
void adagrad_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h,
                       int device);
template <class scalar_t>
void adadelta_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                        const AdadeltaParams& h, int device);

template <class scalar_t>
void adamax_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                      const AdamaxParams& h, int device);
template <class scalar_t>
void nadam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const NadamParams& h, int device);
template <class scalar_t>
void radam_step_cuda(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                     const RadamParams& h, int device);

}  // namespace cnnkit
