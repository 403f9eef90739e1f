// Elementwise activations and their gradients, CUDA twins of ops/activation.h (same formulas, NaN
// behaviour and argument order; buffers are contiguous device memory with n elements).
// Backward WRITES (=) dinp. `device` is the CUDA device index the buffers live on.
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/activation_functors.h"

namespace cnnkit {

template <class scalar_t> void relu_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device);
template <class scalar_t>
void relu_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device);
template <class scalar_t>
void leaky_relu_forward_cuda(scalar_t* out, const scalar_t* inp, double slope, int64_t n, int device);
template <class scalar_t>
void leaky_relu_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, double slope, int64_t n,
                              int device);
template <class scalar_t> void sigmoid_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device);
template <class scalar_t>
void sigmoid_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device);
template <class scalar_t> void tanh_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device);
template <class scalar_t>
void tanh_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device);

// The parametrised family and prelu (activation.h: same arguments, plus the device index).
template <class scalar_t>
void pointwise_act_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, PointwiseAct act,
                                const ActParams& params, int device);
template <class scalar_t>
void pointwise_act_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, int64_t n,
                                 PointwiseAct act, const ActParams& params, int device);
template <class scalar_t>
void prelu_forward_cuda(scalar_t* out, const scalar_t* inp, const scalar_t* weight, int64_t outer, int64_t C,
                        int64_t inner, int device);
template <class scalar_t>
void prelu_backward_cuda(scalar_t* dinp, scalar_t* dweight, const scalar_t* dout, const scalar_t* inp,
                         const scalar_t* weight, int64_t outer, int64_t C, int64_t inner, int device);

}  // namespace cnnkit
