// Elementwise activations and their gradients, CPU. All buffers are contiguous with n elements.
// Backward WRITES (=) dinp. Formulas and NaN behaviour follow PyTorch's CPU kernels:
//   relu(x) = x < 0 ? 0 : x (NaN passes),         drelu = out <= 0 ? 0 : dout
//   leaky_relu(x) = x > 0 ? x : x * slope,         dleaky = x > 0 ? dout : dout * slope
//   sigmoid(x) = 1 / (1 + exp(-x)),                dsigmoid = dout * (1 - out) * out
//   tanh(x),                                       dtanh = dout * (1 - out * out), 1 - out^2 rounded once
// and the parametrised pointwise family of activation_functors.h (elu/celu/selu, gelu, silu, softplus,
// hardtanh/relu6, hardswish, hardsigmoid, mish, logsigmoid, softsign, tanhshrink, threshold,
// hardshrink, softshrink: backward from the forward's input), and prelu (a learnable slope per
// channel; its backward WRITES dweight too).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops/activation_functors.h"
#include "ops/simd.h"

namespace cnnkit {

// exp(x) in float without a libm call, so that loops over it vectorise (sigmoid, softmax,
// cross-entropy). Cody-Waite range reduction x = n*ln2 + r, |r| <= ln2/2, and Cephes' degree-6
// polynomial for exp(r) (S. Moshier, Cephes Math Library, expf.c): within 2 ulp of the true value.
// 2^n is applied as two factors 2^(n>>1) * 2^(n-(n>>1)) that are always normal floats, so results
// underflow gradually to denormals and 0 and overflow to inf like std::exp. NaN propagates (the
// polynomial carries it); exp(-inf) = 0, exp(inf) = inf.
//
// Split in two steps, vexp_arg (clamp) and vexp_core (the arithmetic), because a loop that does
// both does not vectorise: GCC specialises the clamp's constant arm, which moves the arithmetic
// under a branch that it may not if-convert (the arithmetic could raise FP exceptions). Loops
// therefore clamp in one pass and evaluate in a second (vexp_inplace).
inline float vexp_arg(float x) {
  const float xl = x < -104.0f ? -104.0f : x;  // comparisons, not fmin/fmax: NaN passes through
  return xl > 89.0f ? 89.0f : xl;
}

inline float vexp_core(float xc) {  // xc in [-104, 89] or NaN
  const float kShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer, kept in the low bits
  const float t = xc * 1.44269504088896341f + kShift;
  const float n = t - kShift;
  uint32_t tb;
  std::memcpy(&tb, &t, 4);
  const int32_t ni = static_cast<int32_t>(tb - 0x4B400000u);  // n as an integer (bits of kShift removed)
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23, b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return y * s1 * s2;
}

inline float vexp(float x) { return vexp_core(vexp_arg(x)); }
inline double vexp(double x) { return std::exp(x); }

// v[i] = exp(v[i]) for i in [0, n): the AVX2 exp256 of simd.h (the same algorithm) when the CPU
// has it, else two vectorisable passes (see above).
inline void vexp_inplace(float* v, int64_t n) {
  if (simd_avx2()) return vexp_inplace_avx2(v, n);
  for (int64_t i = 0; i < n; ++i) v[i] = vexp_arg(v[i]);
  for (int64_t i = 0; i < n; ++i) v[i] = vexp_core(v[i]);
}
inline void vexp_inplace(double* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) v[i] = std::exp(v[i]);
}

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

// out = act(inp), dinp = act'(dout, inp) elementwise (activation_functors.h), n elements.
template <class scalar_t>
void pointwise_act_forward(scalar_t* out, const scalar_t* inp, int64_t n, PointwiseAct act, const ActParams& params);
template <class scalar_t>
void pointwise_act_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, int64_t n, PointwiseAct act,
                            const ActParams& params);

// prelu on a contiguous (outer, C, inner) view: out = x > 0 ? x : weight[c] * x.
// Backward: dinp = x > 0 ? dout : weight[c] * dout; dweight[c] = sum over (outer, inner) of
// (x > 0 ? 0 : x * dout), summed in double in a fixed order (pieces of fixed size, then pieces in
// order), so it does not depend on the thread count. dinp or dweight may be null (not needed).
template <class scalar_t>
void prelu_forward(scalar_t* out, const scalar_t* inp, const scalar_t* weight, int64_t outer, int64_t C, int64_t inner);
template <class scalar_t>
void prelu_backward(scalar_t* dinp, scalar_t* dweight, const scalar_t* dout, const scalar_t* inp,
                    const scalar_t* weight, int64_t outer, int64_t C, int64_t inner);

}  // namespace cnnkit
