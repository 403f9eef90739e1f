// Elementwise activations, CPU. Backward WRITES (=) dinp.
//
// Strategy: every kernel is one flat loop over contiguous memory, split into contiguous chunks by
// parallel_for (one chunk per thread, each element written once). The loop bodies are branch-free
// selects and plain arithmetic so the compiler vectorises them (relu, leaky_relu and the
// backwards); sigmoid and tanh call libm per element. Below kGrain elements the loop runs serially:
// an OpenMP fork costs more than that much elementwise work.
#include "ops/activation.h"

#include <cmath>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrain = 1 << 15;

// Applies f(i) for i in [0, n) in parallel chunks.
template <class F>
inline void for_each_index(int64_t n, const F& f) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}
}  // namespace

// out, inp (n,)
template <class scalar_t>
void relu_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
  for_each_index(n, [&](int64_t i) {
    const scalar_t x = inp[i];
    out[i] = x < scalar_t(0) ? scalar_t(0) : x;
  });
}

// dinp, dout, out (n,): the gradient passes where the output is positive (or NaN), as in
// PyTorch's threshold_backward.
template <class scalar_t>
void relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  for_each_index(n, [&](int64_t i) { dinp[i] = out[i] <= scalar_t(0) ? scalar_t(0) : dout[i]; });
}

template <class scalar_t>
void leaky_relu_forward(scalar_t* out, const scalar_t* inp, double slope, int64_t n) {
  const scalar_t s = static_cast<scalar_t>(slope);
  for_each_index(n, [&](int64_t i) {
    const scalar_t x = inp[i];
    out[i] = x > scalar_t(0) ? x : x * s;
  });
}

template <class scalar_t>
void leaky_relu_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, double slope, int64_t n) {
  const scalar_t s = static_cast<scalar_t>(slope);
  for_each_index(n, [&](int64_t i) { dinp[i] = inp[i] > scalar_t(0) ? dout[i] : dout[i] * s; });
}

// 1 / (1 + exp(-x)): exp(-x) overflows to inf for very negative x and the result is 0, never NaN.
template <class scalar_t>
void sigmoid_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
  for_each_index(n, [&](int64_t i) { out[i] = scalar_t(1) / (scalar_t(1) + std::exp(-inp[i])); });
}

template <class scalar_t>
void sigmoid_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  for_each_index(n, [&](int64_t i) { dinp[i] = dout[i] * (scalar_t(1) - out[i]) * out[i]; });
}

template <class scalar_t>
void tanh_forward(scalar_t* out, const scalar_t* inp, int64_t n) {
  for_each_index(n, [&](int64_t i) { out[i] = std::tanh(inp[i]); });
}

// 1 - out^2 is rounded once (an FMA), as PyTorch's vectorised AVX2 kernel does: more accurate
// near saturation and bit-identical to PyTorch there.
template <class scalar_t>
void tanh_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n) {
  for_each_index(n, [&](int64_t i) { dinp[i] = dout[i] * std::fma(-out[i], out[i], scalar_t(1)); });
}

#define CNNKIT_INSTANTIATE_ACT(T)                                                     \
  template void relu_forward<T>(T*, const T*, int64_t);                              \
  template void relu_backward<T>(T*, const T*, const T*, int64_t);                   \
  template void leaky_relu_forward<T>(T*, const T*, double, int64_t);                \
  template void leaky_relu_backward<T>(T*, const T*, const T*, double, int64_t);     \
  template void sigmoid_forward<T>(T*, const T*, int64_t);                           \
  template void sigmoid_backward<T>(T*, const T*, const T*, int64_t);                \
  template void tanh_forward<T>(T*, const T*, int64_t);                              \
  template void tanh_backward<T>(T*, const T*, const T*, int64_t);
CNNKIT_INSTANTIATE_ACT(float)
CNNKIT_INSTANTIATE_ACT(double)
#undef CNNKIT_INSTANTIATE_ACT

}  // namespace cnnkit
