// Elementwise activations and their gradients, CPU. All buffers are contiguous with n elements.
// Backward WRITES (=) dinp. Formulas and NaN behaviour follow PyTorch's CPU kernels:
//   relu(x) = x < 0 ? 0 : x (NaN passes),         drelu = out <= 0 ? 0 : dout
//   leaky_relu(x) = x > 0 ? x : x * slope,         dleaky = x > 0 ? dout : dout * slope
//   sigmoid(x) = 1 / (1 + exp(-x)),                dsigmoid = dout * (1 - out) * out
//   tanh(x),                                       dtanh = dout * fma(-out, out, 1)
#pragma once
#include <cstdint>

namespace cnnkit {

template <class scalar_t> void relu_forward(scalar_t* out, const scalar_t* inp, int64_t n);
template <class scalar_t> void relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n);
template <class scalar_t>
void leaky_relu_forward(scalar_t* out, const scalar_t* inp, double slope, int64_t n);
template <class scalar_t>
void leaky_relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, double slope, int64_t n);
template <class scalar_t> void sigmoid_forward(scalar_t* out, const scalar_t* inp, int64_t n);
template <class scalar_t>
void sigmoid_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n);
template <class scalar_t> void tanh_forward(scalar_t* out, const scalar_t* inp, int64_t n);
template <class scalar_t> void tanh_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n);

}  // namespace cnnkit
