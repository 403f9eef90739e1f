// The parametrised pointwise activations: one functor per op with its forward f(x) and its
// gradient df(dout, x), shared by the CPU loop (activation.cpp) and the CUDA kernel (activation.cu)
// so both devices evaluate the same expression (they may differ only where libm and CUDA's math
// library differ in the last ulp of exp/erf/tanh/log1p). Formulas, thresholds and NaN behaviour
// follow PyTorch's kernels (aten/src/ATen/native/cpu/Activation.cpp, UnaryOpsKernel.cpp):
//   elu(x; nc, pc, ni)   x <= 0 ? expm1(x*ni)*nc : x*pc   (ELU: nc=alpha, pc=1, ni=1; CELU: nc=alpha,
//                        ni=1/alpha; SELU: nc=alpha*scale, pc=scale, ni=1 with torch's constants)
//                        d = x <= 0 ? g*ni*nc*exp(x*ni) : g*pc
//   gelu (erf form)      x/2 * (1 + erf(x/sqrt2))          d = g*(Phi(x) + x*phi(x))
//   gelu (tanh form)     x/2 * (1 + tanh(k*(x + 0.044715x^3))), k = sqrt(2/pi)
//   silu                 x / (1 + exp(-x))                 d = g*s*(1 + x*(1 - s)), s = sigmoid(x)
//   softplus(b, t)       b*x > t ? x : log1p(exp(b*x))/b   d = b*x > t ? g : g*z/(z + 1), z = exp(b*x)
//   hardtanh(lo, hi)     clamp(x, lo, hi), NaN passes      d = (x <= lo || x >= hi) ? 0 : g
//   hardswish            x*min(max(x + 3, 0), 6)/6         d = x <= -3 ? 0 : x < 3 ? g*(x/3 + 1/2) : g
//   hardsigmoid          min(max(x + 3, 0), 6)/6           d = -3 < x < 3 ? g*float(1/6) : 0
//   mish                 x*tanh(log1p(exp(x)))             d = g*(t + x*s*(1 - t^2)), t = tanh(softplus x)
//   logsigmoid           min(x, 0) - log1p(exp(-|x|))      d = g*(x < 0 ? 1 - z/(1+z) : z/(1+z)), z = exp(-|x|)
//   softsign             x / (1 + |x|)                     d = g / (1 + |x|)^2
//   tanhshrink           x - tanh(x)                       d = g*tanh(x)^2
//   threshold(t, v)      x <= t ? v : x (NaN passes)       d = x <= t ? 0 : g
//   hardshrink(l)        -l <= x <= l ? 0 : x              d = -l <= x <= l ? 0 : g
//   softshrink(l)        x > l ? x - l : x < -l ? x + l : 0*x   d = -l <= x <= l ? 0 : g
// `x` in a gradient is always the forward's input (hardtanh's mask is also right on its output,
// which the Python layer uses to save only the output).
// Plain C++ that nvcc also compiles (no host-only headers): the math calls are the C functions
// (expf/exp, ...) that exist on the host and in CUDA's device library.
#pragma once
#include <math.h>

#include <cstdint>

#ifdef __CUDACC__
#define CNNKIT_HD __host__ __device__ __forceinline__
#else
#define CNNKIT_HD inline
#endif

namespace cnnkit {

enum class PointwiseAct : int {
  Elu = 0, Gelu, GeluTanh, Silu, Softplus, Hardtanh, Hardswish, Hardsigmoid, Mish, LogSigmoid, Softsign,
  Tanhshrink, Threshold, Hardshrink, Softshrink,
};

// Up to three scalar parameters per op, in the order of the table above (double on the host,
// converted to scalar_t by each functor as PyTorch converts its Scalars to the tensor's type).
struct ActParams {
  double p[3] = {0.0, 0.0, 0.0};
};

namespace actmath {
CNNKIT_HD float exp_(float x) { return expf(x); }
CNNKIT_HD double exp_(double x) { return exp(x); }
CNNKIT_HD float expm1_(float x) { return expm1f(x); }
CNNKIT_HD double expm1_(double x) { return expm1(x); }
CNNKIT_HD float log1p_(float x) { return log1pf(x); }
CNNKIT_HD double log1p_(double x) { return log1p(x); }
CNNKIT_HD float erf_(float x) { return erff(x); }
CNNKIT_HD double erf_(double x) { return erf(x); }
CNNKIT_HD float tanh_(float x) { return tanhf(x); }
CNNKIT_HD double tanh_(double x) { return tanh(x); }
template <class T> CNNKIT_HD T abs_(T x) { return x < T(0) ? -x : x; }
// std::max / std::min semantics (the first argument wins on NaN comparisons), as PyTorch's kernels.
template <class T> CNNKIT_HD T max_(T a, T b) { return a < b ? b : a; }
template <class T> CNNKIT_HD T min_(T a, T b) { return b < a ? b : a; }
template <class T> CNNKIT_HD T sigmoid_(T x) { return T(1) / (T(1) + exp_(-x)); }
}  // namespace actmath

template <class T>
struct EluOp {
  T nc, pc, ni;
  explicit EluOp(const ActParams& a) : nc(T(a.p[0])), pc(T(a.p[1])), ni(T(a.p[2])) {}
  CNNKIT_HD T fwd(T x) const { return x <= T(0) ? actmath::expm1_(x * ni) * nc : x * pc; }
  CNNKIT_HD T bwd(T g, T x) const { return x <= T(0) ? g * ni * nc * actmath::exp_(x * ni) : g * pc; }
};

template <class T>
struct GeluOp {
  explicit GeluOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x * T(0.5) * (T(1) + actmath::erf_(x * T(M_SQRT1_2))); }
  CNNKIT_HD T bwd(T g, T x) const {
    const T kAlpha = T(M_2_SQRTPI * M_SQRT1_2 * 0.5);  // 1/sqrt(2 pi)
    const T cdf = T(0.5) * (T(1) + actmath::erf_(x * T(M_SQRT1_2)));
    const T pdf = kAlpha * actmath::exp_(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};

template <class T>
struct GeluTanhOp {
  explicit GeluTanhOp(const ActParams&) {}
  static constexpr double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5;  // sqrt(2/pi)
  static constexpr double kKappa = 0.044715;
  CNNKIT_HD T fwd(T x) const {
    const T inner = T(kBeta) * (x + T(kKappa) * x * x * x);
    return T(0.5) * x * (T(1) + actmath::tanh_(inner));
  }
  CNNKIT_HD T bwd(T g, T x) const {
    const T x_sq = x * x;
    const T inner = T(kBeta) * (x + T(kKappa) * x_sq * x);
    const T t = actmath::tanh_(inner);
    const T left = T(0.5) * x, right = T(1) + t;
    const T dleft = T(0.5) * right;
    const T dright = (T(1) - t * t) * (T(kBeta) * (T(1) + T(3 * kKappa) * x_sq));
    return g * (dleft + left * dright);
  }
};

template <class T>
struct SiluOp {
  explicit SiluOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x / (T(1) + actmath::exp_(-x)); }
  CNNKIT_HD T bwd(T g, T x) const {
    const T s = actmath::sigmoid_(x);
    return g * s * (T(1) + x * (T(1) - s));
  }
};

template <class T>
struct SoftplusOp {
  T beta, thr;
  explicit SoftplusOp(const ActParams& a) : beta(T(a.p[0])), thr(T(a.p[1])) {}
  CNNKIT_HD T fwd(T x) const { return x * beta > thr ? x : actmath::log1p_(actmath::exp_(x * beta)) / beta; }
  CNNKIT_HD T bwd(T g, T x) const {
    const T z = actmath::exp_(x * beta);
    return x * beta > thr ? g : g * z / (z + T(1));
  }
};

template <class T>
struct HardtanhOp {
  T lo, hi;
  explicit HardtanhOp(const ActParams& a) : lo(T(a.p[0])), hi(T(a.p[1])) {}
  // min(max(x, lo), hi) that keeps NaN (x < lo and hi < x are false for NaN)
  CNNKIT_HD T fwd(T x) const { return x < lo ? lo : (hi < x ? hi : x); }
  CNNKIT_HD T bwd(T g, T x) const { return (x <= lo || x >= hi) ? T(0) : g; }
};

template <class T>
struct HardswishOp {
  explicit HardswishOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x * actmath::min_(actmath::max_(x + T(3), T(0)), T(6)) / T(6); }
  CNNKIT_HD T bwd(T g, T x) const {
    return x <= T(-3) ? T(0) : (x < T(3) ? g * ((x / T(3)) + T(0.5)) : g);
  }
};

template <class T>
struct HardsigmoidOp {
  explicit HardsigmoidOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return actmath::min_(actmath::max_(x + T(3), T(0)), T(6)) / T(6); }
  // 1/6 rounded to float even for double, as PyTorch's kernel (its constant is 1.0f / 6.0f)
  CNNKIT_HD T bwd(T g, T x) const { return (x > T(-3) && x < T(3)) ? g * T(1.0f / 6.0f) : T(0); }
};

template <class T>
struct MishOp {
  explicit MishOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x * actmath::tanh_(actmath::log1p_(actmath::exp_(x))); }
  CNNKIT_HD T bwd(T g, T x) const {
    const T s = actmath::sigmoid_(x);
    const T t = actmath::tanh_(actmath::log1p_(actmath::exp_(x)));
    return g * (t + x * s * (T(1) - t * t));
  }
};

template <class T>
struct LogSigmoidOp {  // the stable form: exp only of non-positive numbers
  explicit LogSigmoidOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const {
    const T m = actmath::min_(x, T(0));
    return m - actmath::log1p_(actmath::exp_(-actmath::abs_(x)));
  }
  CNNKIT_HD T bwd(T g, T x) const {
    const T z = actmath::exp_(-actmath::abs_(x));
    const T q = z / (T(1) + z);
    return x < T(0) ? g * (T(1) - q) : g * q;
  }
};

template <class T>
struct SoftsignOp {
  explicit SoftsignOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x / (actmath::abs_(x) + T(1)); }
  CNNKIT_HD T bwd(T g, T x) const {
    const T d = actmath::abs_(x) + T(1);
    return g / (d * d);
  }
};

template <class T>
struct TanhshrinkOp {
  explicit TanhshrinkOp(const ActParams&) {}
  CNNKIT_HD T fwd(T x) const { return x - actmath::tanh_(x); }
  CNNKIT_HD T bwd(T g, T x) const {
    const T t = actmath::tanh_(x);
    return g * t * t;
  }
};

template <class T>
struct ThresholdOp {
  T thr, value;
  explicit ThresholdOp(const ActParams& a) : thr(T(a.p[0])), value(T(a.p[1])) {}
  CNNKIT_HD T fwd(T x) const { return x <= thr ? value : x; }
  CNNKIT_HD T bwd(T g, T x) const { return x <= thr ? T(0) : g; }
};

template <class T>
struct HardshrinkOp {
  T l;
  explicit HardshrinkOp(const ActParams& a) : l(T(a.p[0])) {}
  CNNKIT_HD T fwd(T x) const { return (x >= -l && x <= l) ? T(0) : x; }
  CNNKIT_HD T bwd(T g, T x) const { return (x >= -l && x <= l) ? T(0) : g; }
};

template <class T>
struct SoftshrinkOp {
  T l;
  explicit SoftshrinkOp(const ActParams& a) : l(T(a.p[0])) {}
  CNNKIT_HD T fwd(T x) const { return x > l ? x - l : (x < -l ? x + l : x * T(0)); }
  CNNKIT_HD T bwd(T g, T x) const { return (x >= -l && x <= l) ? T(0) : g; }
};

// Calls f(op_functor) for the functor of `act` (one switch, shared by the CPU and CUDA dispatch).
template <class T, class F>
void visit_act(PointwiseAct act, const ActParams& a, const F& f) {
  switch (act) {
    case PointwiseAct::Elu: return f(EluOp<T>(a));
    case PointwiseAct::Gelu: return f(GeluOp<T>(a));
    case PointwiseAct::GeluTanh: return f(GeluTanhOp<T>(a));
    case PointwiseAct::Silu: return f(SiluOp<T>(a));
    case PointwiseAct::Softplus: return f(SoftplusOp<T>(a));
    case PointwiseAct::Hardtanh: return f(HardtanhOp<T>(a));
    case PointwiseAct::Hardswish: return f(HardswishOp<T>(a));
    case PointwiseAct::Hardsigmoid: return f(HardsigmoidOp<T>(a));
    case PointwiseAct::Mish: return f(MishOp<T>(a));
    case PointwiseAct::LogSigmoid: return f(LogSigmoidOp<T>(a));
    case PointwiseAct::Softsign: return f(SoftsignOp<T>(a));
    case PointwiseAct::Tanhshrink: return f(TanhshrinkOp<T>(a));
    case PointwiseAct::Threshold: return f(ThresholdOp<T>(a));
    case PointwiseAct::Hardshrink: return f(HardshrinkOp<T>(a));
    case PointwiseAct::Softshrink: return f(SoftshrinkOp<T>(a));
  }
}

}  // namespace cnnkit
