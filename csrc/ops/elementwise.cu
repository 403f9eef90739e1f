// Elementwise CUDA kernels, twins of ops/elementwise.cpp (same functions with a `_cuda` suffix,
// same semantics). Forward ops write (=) a fresh output; binary_ and masked_fill_ overwrite their
// target in place; clamp_backward writes (=) dx. No atomics anywhere in this file.
//
// Thread mapping. Every op is one grid-stride loop over the linear index space of the output:
// thread t handles positions t, t + gridDim*blockDim, ... For each position it decodes the
// row-major multi-index once (DeviceIndexer: sizes/strides in a fixed-size struct passed by value,
// <= kMaxCudaDims (25) dims after the same dim coalescing the CPU uses, make_plan) into one element offset per
// operand, so broadcast (stride 0) and arbitrary strides cost nothing special; a contiguous op
// coalesces to 1 dim and the decode is a single multiply. Each output element is computed by
// exactly one thread from the same inputs, so results are deterministic.
//
// The op (add, exp, ...) is a runtime argument switched on inside the kernel: the switch is
// uniform across a warp (no divergence) and keeps the number of kernel instantiations (one per
// dtype x output kind) small. The scalar math mirrors the CPU's helper by helper (wrapping integer
// arithmetic, Python floor division/modulo, NaN-propagating maximum/minimum, half-to-even round).
//
// Integer division by zero: the binding calls any_zero_cuda(b) first (a kernel raises a device
// flag that the host reads back), so a zero divisor never reaches the kernels; the guards in the
// integer helpers only keep them total.
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/cuda_utils.cuh"
#include "ops/elementwise_cuda.h"

namespace cnnkit {
namespace {

// ---------------------------------------------------------------------------------------------
// Device scalar math (mirrors the CPU helpers in elementwise.cpp)
// ---------------------------------------------------------------------------------------------
template <class S>
constexpr bool kSignedInt = std::is_integral<S>::value && std::is_signed<S>::value;

template <class S>
__device__ S d_wrap_add(S a, S b) {
  if constexpr (std::is_integral<S>::value) return static_cast<S>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}
template <class S>
__device__ S d_wrap_sub(S a, S b) {
  if constexpr (std::is_integral<S>::value) return static_cast<S>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  else return a - b;
}
template <class S>
__device__ S d_wrap_mul(S a, S b) {
  if constexpr (std::is_same<S, bool>::value) return a && b;
  else if constexpr (std::is_integral<S>::value)
    return static_cast<S>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

template <class S>
__device__ S d_int_div_trunc(S a, S b) {
  if (b == 0) return 0;
  if constexpr (kSignedInt<S>) if (b == -1) return d_wrap_sub<S>(0, a);
  return static_cast<S>(a / b);
}
template <class S>
__device__ S d_int_floor_div(S a, S b) {
  if (b == 0) return 0;
  if constexpr (kSignedInt<S>) {
    if (b == -1) return d_wrap_sub<S>(0, a);
    S q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return static_cast<S>(a / b);
  }
}
template <class S>
__device__ S d_int_remainder(S a, S b) {
  if (b == 0) return 0;
  if constexpr (kSignedInt<S>) {
    if (b == -1) return 0;
    S r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else {
    return static_cast<S>(a % b);
  }
}
// Exponentiation by squaring with wrapping; negative exponents as torch's integer pow.
template <class S>
__device__ S d_int_pow(S a, S b) {
  if constexpr (kSignedInt<S>) {
    if (b < 0) {
      if (a == 1) return 1;
      if (a == -1) return (b % 2) ? -1 : 1;
      return 0;
    }
  }
  uint64_t base = static_cast<uint64_t>(a), e = static_cast<uint64_t>(b), r = 1;
  while (e) {
    if (e & 1) r *= base;
    base *= base;
    e >>= 1;
  }
  return static_cast<S>(r);
}

// CPython's float floor division / modulo (see elementwise.cpp).
template <class S>
__device__ S d_float_floor_div(S a, S b) {
  if (b == 0) return a / b;
  const S mod = fmod(a, b);
  S div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= S(1);
  if (div == 0) return copysign(S(0), a / b);
  S fl = floor(div);
  if (div - fl > S(0.5)) fl += S(1);
  return fl;
}
template <class S>
__device__ S d_float_remainder(S a, S b) {
  S mod = fmod(a, b);
  if (mod != 0 && ((b < 0) != (mod < 0))) mod += b;
  return mod;
}

template <class S>
__device__ bool d_is_nan(S v) {
  if constexpr (std::is_floating_point<S>::value) return v != v;
  else return false;
}
template <class S>
__device__ S d_max_nan(S a, S b) {
  if (d_is_nan(a)) return a;
  if (d_is_nan(b)) return b;
  return a > b ? a : b;
}
template <class S>
__device__ S d_min_nan(S a, S b) {
  if (d_is_nan(a)) return a;
  if (d_is_nan(b)) return b;
  return a < b ? a : b;
}

template <class S>
__device__ S d_arith(BinaryOp op, S a, S b) {
  if constexpr (std::is_same<S, bool>::value) {
    // Bool supports only mul (and), maximum (or), minimum (and); the binding rejects the rest.
    switch (op) {
      case BinaryOp::Mul: return a && b;
      case BinaryOp::Maximum: return a || b;
      case BinaryOp::Minimum: return a && b;
      default: return false;
    }
  } else {
    constexpr bool F = std::is_floating_point<S>::value;
    switch (op) {
      case BinaryOp::Add: return d_wrap_add(a, b);
      case BinaryOp::Sub: return d_wrap_sub(a, b);
      case BinaryOp::Mul: return d_wrap_mul(a, b);
      case BinaryOp::Div:
        if constexpr (F) return a / b; else return d_int_div_trunc(a, b);
      case BinaryOp::FloorDivide:
        if constexpr (F) return d_float_floor_div(a, b); else return d_int_floor_div(a, b);
      case BinaryOp::Remainder:
        if constexpr (F) return d_float_remainder(a, b); else return d_int_remainder(a, b);
      case BinaryOp::Pow:
        if constexpr (F) return pow(a, b); else return d_int_pow(a, b);
      case BinaryOp::Maximum: return d_max_nan(a, b);
      case BinaryOp::Minimum: return d_min_nan(a, b);
      case BinaryOp::Atan2:
        if constexpr (F) return atan2(a, b); else return S(0);
      case BinaryOp::Hypot:
        if constexpr (F) return hypot(a, b); else return S(0);
      default: return S(0);
    }
  }
}

template <class S>
__device__ bool d_predicate(BinaryOp op, S a, S b) {
  switch (op) {
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return (a != S(0)) && (b != S(0));
    case BinaryOp::LogicalOr: return (a != S(0)) || (b != S(0));
    case BinaryOp::LogicalXor: return (a != S(0)) != (b != S(0));
    default: return false;
  }
}

template <class S>
__device__ S d_unary_math(UnaryOp op, S x) {
  if constexpr (std::is_floating_point<S>::value) {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Exp: return exp(x);
      case UnaryOp::Log: return log(x);
      case UnaryOp::Log2: return log2(x);
      case UnaryOp::Log1p: return log1p(x);
      case UnaryOp::Expm1: return expm1(x);
      case UnaryOp::Sqrt: return sqrt(x);
      case UnaryOp::Rsqrt: return S(1) / sqrt(x);  // not rsqrt(): same rounding as the CPU twin
      case UnaryOp::Abs: return fabs(x);
      case UnaryOp::Sign: return static_cast<S>((S(0) < x) - (x < S(0)));  // NaN -> 0, like torch
      case UnaryOp::Sin: return sin(x);
      case UnaryOp::Cos: return cos(x);
      case UnaryOp::Floor: return floor(x);
      case UnaryOp::Ceil: return ceil(x);
      case UnaryOp::Round: return rint(x);  // round half to even, like std::nearbyint
      case UnaryOp::Trunc: return trunc(x);
      case UnaryOp::Reciprocal: return S(1) / x;
      case UnaryOp::Square: return x * x;
      case UnaryOp::Sinh: return sinh(x);
      case UnaryOp::Cosh: return cosh(x);
      case UnaryOp::Tan: return tan(x);
      case UnaryOp::Asin: return asin(x);
      case UnaryOp::Acos: return acos(x);
      case UnaryOp::Atan: return atan(x);
      case UnaryOp::Asinh: return asinh(x);
      case UnaryOp::Acosh: return acosh(x);
      case UnaryOp::Atanh: return atanh(x);
      case UnaryOp::Erf: return erf(x);
      case UnaryOp::Erfc: return erfc(x);
      default: return S(0);
    }
  } else if constexpr (std::is_same<S, bool>::value) {
    return x;  // no arithmetic unary op is allowed on bool (the binding rejects them)
  } else {
    switch (op) {
      case UnaryOp::Neg: return d_wrap_sub<S>(0, x);
      case UnaryOp::Abs:
        if constexpr (kSignedInt<S>) return x < 0 ? d_wrap_sub<S>(0, x) : x; else return x;
      case UnaryOp::Sign:
        if constexpr (kSignedInt<S>) return static_cast<S>((S(0) < x) - (x < S(0))); else return static_cast<S>(x != 0);
      case UnaryOp::Square: return d_wrap_mul(x, x);
      default: return x;  // floor, ceil, round, trunc: the identity on integers
    }
  }
}

template <class S>
__device__ bool d_unary_pred(UnaryOp op, S x) {
  switch (op) {
    case UnaryOp::LogicalNot: return !(x != S(0));
    case UnaryOp::IsNan: return d_is_nan(x);
    case UnaryOp::IsInf:
      if constexpr (std::is_floating_point<S>::value) return fabs(x) == static_cast<S>(INFINITY); else return false;
    case UnaryOp::IsFinite:
      if constexpr (std::is_floating_point<S>::value) return fabs(x) < static_cast<S>(INFINITY); else return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The one loop: thread mapping described at the top of the file
// ---------------------------------------------------------------------------------------------
template <int N>
__device__ __forceinline__ void decode(const DeviceIndexer<N>& ix, int64_t lin, int64_t* off) {
  if (ix.ndim == 1) {  // the coalesced common case: one multiply per operand
    for (int k = 0; k < N; ++k) off[k] = lin * ix.strides[k][0];
  } else {
    ix.offsets(lin, off);
  }
}

// f(off) for every linear position in [0, n); off[k] is operand k's element offset.
template <int N, class F>
__global__ void elementwise_kernel(DeviceIndexer<N> ix, int64_t n, F f) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
    decode(ix, i, off);
    f(off);
  }
}

template <int N, class F>
void launch_elementwise(const char* op, const DeviceIndexer<N>& ix, int64_t n, const F& f) {
  if (n <= 0) return;
  elementwise_kernel<N, F><<<blocks_for(n), kThreadsPerBlock>>>(ix, n, f);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

// Functors (no extended lambdas: the build passes no --extended-lambda).
template <class S>
struct ArithFn {
  BinaryOp op;
  S* out;
  const S* a;
  const S* b;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = d_arith(op, a[off[1]], b[off[2]]); }
};
template <class S>
struct PredFn {
  BinaryOp op;
  bool* out;
  const S* a;
  const S* b;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = d_predicate(op, a[off[1]], b[off[2]]); }
};
template <class S>
struct UnaryMathFn {
  UnaryOp op;
  S* out;
  const S* x;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = d_unary_math(op, x[off[1]]); }
};
template <class S>
struct UnaryPredFn {
  UnaryOp op;
  bool* out;
  const S* x;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = d_unary_pred(op, x[off[1]]); }
};

// pow with a scalar exponent: the same exact special cases as the CPU twin.
enum PowMode : int { kPow0, kPow1, kPow2, kPow3, kPowHalf, kPowMinusHalf, kPowMinus1, kPowMinus2, kPowGeneral };
template <class S>
struct PowScalarFn {
  int mode;
  S e;
  S* out;
  const S* x;
  __device__ void operator()(const int64_t* off) const {
    const S a = x[off[1]];
    S r;
    if constexpr (std::is_floating_point<S>::value) {
      switch (mode) {
        case kPow0: r = S(1); break;
        case kPow1: r = a; break;
        case kPow2: r = a * a; break;
        case kPow3: r = a * a * a; break;
        case kPowHalf: r = sqrt(a); break;
        case kPowMinusHalf: r = S(1) / sqrt(a); break;
        case kPowMinus1: r = S(1) / a; break;
        case kPowMinus2: r = S(1) / (a * a); break;
        default: r = pow(a, e); break;
      }
    } else {
      r = d_int_pow(a, e);
    }
    out[off[0]] = r;
  }
};

template <class S>
struct ClampFn {
  bool has_lo, has_hi;
  S lo, hi;
  S* out;
  const S* x;
  __device__ void operator()(const int64_t* off) const {
    S v = x[off[1]];
    if (has_lo) v = d_max_nan(v, lo);
    if (has_hi) v = d_min_nan(v, hi);
    out[off[0]] = v;
  }
};

// dx = dout where lo <= x <= hi (missing bounds are +-inf, set on the host), else 0.
template <class S>
struct ClampBackwardFn {
  S lo, hi;
  S* dx;
  const S* dout;
  const S* x;
  __device__ void operator()(const int64_t* off) const {
    const S a = x[off[2]];
    dx[off[0]] = (a >= lo && a <= hi) ? dout[off[1]] : S(0);
  }
};

template <class S>
struct WhereFn {
  S* out;
  const bool* cond;
  const S* a;
  const S* b;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]]; }
};

template <class S>
struct MaskedFillFn {
  S value;
  S* x;
  const bool* mask;
  __device__ void operator()(const int64_t* off) const {
    if (mask[off[1]]) x[off[0]] = value;
  }
};

template <class S>
struct AnyZeroFn {
  const S* b;
  int64_t* flag;
  __device__ void operator()(const int64_t* off) const {
    if (b[off[0]] == S(0)) *flag = 1;  // every writer stores the same value: a benign race
  }
};

DeviceIndexer<3> indexer3(const char* op, const Tensor& out, const Tensor& a, const Tensor& b) {
  return make_device_indexer<3>(
      op, make_plan<3>(out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
                       true));
}
DeviceIndexer<2> indexer2(const char* op, const Tensor& out, const Tensor& x) {
  return make_device_indexer<2>(op, make_plan<2>(out.shape(), {out.strides(), broadcast_strides(x, out.shape())}, true));
}

template <class S>
void binary_typed(BinaryOp op, const DeviceIndexer<3>& ix, int64_t n, const Tensor& out, const Tensor& a,
                  const Tensor& b) {
  if (binary_op_is_arithmetic(op))
    launch_elementwise("binary", ix, n, ArithFn<S>{op, out.data<S>(), a.data<S>(), b.data<S>()});
  else
    launch_elementwise("binary", ix, n, PredFn<S>{op, out.data<bool>(), a.data<S>(), b.data<S>()});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------
bool any_zero_cuda(const Tensor& b) {
  if (b.numel() == 0) return false;
  CudaDeviceGuard guard(b.device().index);
  const DeviceIndexer<1> ix = make_device_indexer<1>("any_zero", make_plan<1>(b.shape(), {b.strides()}, true));
  Tensor flag = Tensor::empty({1}, DType::Int64, b.device());
  CNNKIT_CUDA_CHECK(cudaMemsetAsync(flag.data_ptr(), 0, sizeof(int64_t)), "any_zero");
  CNNKIT_DISPATCH_ALL(b.dtype(), "any_zero", [&] {
    launch_elementwise("any_zero", ix, b.numel(), AnyZeroFn<scalar_t>{b.data<scalar_t>(), flag.data<int64_t>()});
  });
  int64_t found = 0;
  CNNKIT_CUDA_CHECK(cudaMemcpy(&found, flag.data_ptr(), sizeof(int64_t), cudaMemcpyDeviceToHost), "any_zero");
  return found != 0;
}

void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const DeviceIndexer<3> ix = indexer3("binary", out, a, b);
  CNNKIT_DISPATCH_ALL(a.dtype(), "binary", [&] { binary_typed<scalar_t>(op, ix, out.numel(), out, a, b); });
}

void binary_naive_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const Shape& sh = out.shape();
  const DeviceIndexer<3> ix = make_device_indexer_raw<3>(
      "binary_naive", sh, {out.strides(), broadcast_strides(a, sh), broadcast_strides(b, sh)});
  CNNKIT_DISPATCH_ALL(a.dtype(), "binary_naive", [&] { binary_typed<scalar_t>(op, ix, out.numel(), out, a, b); });
}

void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& x) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const DeviceIndexer<2> ix = indexer2("unary", out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "unary", [&] {
    using S = scalar_t;
    if (unary_op_is_predicate(op))
      launch_elementwise("unary", ix, out.numel(), UnaryPredFn<S>{op, out.data<bool>(), x.data<S>()});
    else
      launch_elementwise("unary", ix, out.numel(), UnaryMathFn<S>{op, out.data<S>(), x.data<S>()});
  });
}

void pow_scalar_cuda(const Tensor& out, const Tensor& x, const Scalar& e) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const DeviceIndexer<2> ix = indexer2("pow_scalar", out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "pow_scalar", [&] {
    using S = scalar_t;
    if constexpr (std::is_same<S, bool>::value) {
      throw TypeError("pow_scalar: bool tensors are not supported");
    } else if constexpr (std::is_floating_point<S>::value) {
      const double ed = e.d;
      const int mode = ed == 0.0    ? kPow0
                       : ed == 1.0  ? kPow1
                       : ed == 2.0  ? kPow2
                       : ed == 3.0  ? kPow3
                       : ed == 0.5  ? kPowHalf
                       : ed == -0.5 ? kPowMinusHalf
                       : ed == -1.0 ? kPowMinus1
                       : ed == -2.0 ? kPowMinus2
                                    : kPowGeneral;
      launch_elementwise("pow_scalar", ix, out.numel(),
                         PowScalarFn<S>{mode, static_cast<S>(ed), out.data<S>(), x.data<S>()});
    } else {
      launch_elementwise("pow_scalar", ix, out.numel(),
                         PowScalarFn<S>{kPowGeneral, static_cast<S>(e.to<int64_t>()), out.data<S>(), x.data<S>()});
    }
  });
}

void clamp_cuda(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const DeviceIndexer<2> ix = indexer2("clamp", out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "clamp", [&] {
    using S = scalar_t;
    if constexpr (std::is_same<S, bool>::value) {
      throw TypeError("clamp: bool tensors are not supported");
    } else {
      const S l = lo ? lo->to<S>() : S(0), h = hi ? hi->to<S>() : S(0);
      launch_elementwise("clamp", ix, out.numel(),
                         ClampFn<S>{lo.has_value(), hi.has_value(), l, h, out.data<S>(), x.data<S>()});
    }
  });
}

void clamp_backward_cuda(const Tensor& dx, const Tensor& dout, const Tensor& x, const std::optional<Scalar>& lo,
                         const std::optional<Scalar>& hi) {
  if (dx.numel() == 0) return;
  CudaDeviceGuard guard(dx.device().index);
  const DeviceIndexer<3> ix = indexer3("clamp_backward", dx, dout, x);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "clamp_backward", [&] {
    using S = scalar_t;
    const S l = lo ? lo->to<S>() : -std::numeric_limits<S>::infinity();
    const S h = hi ? hi->to<S>() : std::numeric_limits<S>::infinity();
    launch_elementwise("clamp_backward", ix, dx.numel(),
                       ClampBackwardFn<S>{l, h, dx.data<S>(), dout.data<S>(), x.data<S>()});
  });
}

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  CudaDeviceGuard guard(out.device().index);
  const Shape& sh = out.shape();
  const DeviceIndexer<4> ix = make_device_indexer<4>(
      "where", make_plan<4>(sh, {out.strides(), broadcast_strides(cond, sh), broadcast_strides(a, sh),
                                 broadcast_strides(b, sh)},
                            true));
  CNNKIT_DISPATCH_ALL(a.dtype(), "where", [&] {
    using S = scalar_t;
    launch_elementwise("where", ix, out.numel(), WhereFn<S>{out.data<S>(), cond.data<bool>(), a.data<S>(), b.data<S>()});
  });
}

void masked_fill_cuda(const Tensor& x, const Tensor& mask, const Scalar& value) {
  if (x.numel() == 0) return;
  CudaDeviceGuard guard(x.device().index);
  const DeviceIndexer<2> ix = indexer2("masked_fill_", x, mask);
  CNNKIT_DISPATCH_ALL(x.dtype(), "masked_fill_", [&] {
    using S = scalar_t;
    launch_elementwise("masked_fill_", ix, x.numel(), MaskedFillFn<S>{value.to<S>(), x.data<S>(), mask.data<bool>()});
  });
}

}  // namespace cnnkit
