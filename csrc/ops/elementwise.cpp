// Elementwise CPU kernels. Forward ops write (=) a fresh output; binary_ and masked_fill_ overwrite
// their target in place; clamp_backward writes (=) dx.
//
// Strategy. Every op builds a StridedPlan over the output's index space with one stride vector per
// operand (stride 0 where an input is broadcast), so that after dim coalescing:
//   * contiguous same-shape operands are one flat run  -> plain `o[i] = f(a[i], b[i])` loop that
//     the compiler vectorises (the lambda `f` is a template argument, so it is inlined);
//   * a 0-d / fully-expanded operand is a run of stride 0 -> the value is hoisted out of the loop;
//   * anything else is walked run by run along the innermost coalesced dim with its strides.
// Threads split the linear index space [0, numel) into contiguous chunks (parallel_for); each
// output element is computed by exactly one thread from the same inputs, so results do not depend
// on the number of threads.
#include "ops/elementwise.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "core/parallel.h"

namespace cnnkit {

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  Shape st(shape.size(), 0);
  for (int64_t d = 0; d < t.dim(); ++d)
    st[lead + d] = (t.shape()[d] == 1 && shape[lead + d] != 1) ? 0 : t.strides()[d];
  return st;
}

// ---------------------------------------------------------------------------------------------
// Op names
// ---------------------------------------------------------------------------------------------
namespace {
const char* const kBinaryNames[] = {"add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum",
                                    "minimum", "atan2", "hypot", "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                    "logical_or", "logical_xor"};
const char* const kUnaryNames[] = {"neg", "exp", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt",
                                   "abs", "sign", "sin", "cos", "floor", "ceil", "round", "trunc",
                                   "reciprocal", "square", "sinh", "cosh", "tan", "asin", "acos", "atan",
                                   "asinh", "acosh", "atanh", "erf", "erfc", "logical_not", "isnan", "isinf",
                                   "isfinite"};
constexpr int kNumBinary = sizeof(kBinaryNames) / sizeof(kBinaryNames[0]);
constexpr int kNumUnary = sizeof(kUnaryNames) / sizeof(kUnaryNames[0]);

std::string join_names(const char* const* names, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::string(names[i]);
  return s;
}
}  // namespace

BinaryOp parse_binary_op(const char* caller, const std::string& name) {
  for (int i = 0; i < kNumBinary; ++i)
    if (name == kBinaryNames[i]) return static_cast<BinaryOp>(i);
  throw ValueError(str(caller, ": unknown op '", name, "'; expected one of ", join_names(kBinaryNames, kNumBinary)));
}

UnaryOp parse_unary_op(const char* caller, const std::string& name) {
  for (int i = 0; i < kNumUnary; ++i)
    if (name == kUnaryNames[i]) return static_cast<UnaryOp>(i);
  throw ValueError(str(caller, ": unknown op '", name, "'; expected one of ", join_names(kUnaryNames, kNumUnary)));
}

const char* binary_op_name(BinaryOp op) {
  const int i = static_cast<int>(op);
  return i >= 0 && i < kNumBinary ? kBinaryNames[i] : "?";
}
const char* unary_op_name(UnaryOp op) {
  const int i = static_cast<int>(op);
  return i >= 0 && i < kNumUnary ? kUnaryNames[i] : "?";
}
bool binary_op_is_arithmetic(BinaryOp op) { return static_cast<int>(op) <= static_cast<int>(BinaryOp::Hypot); }
bool unary_op_is_predicate(UnaryOp op) { return static_cast<int>(op) >= static_cast<int>(UnaryOp::LogicalNot); }

void check_binary_dtype(const char* caller, BinaryOp op, DType dt) {
  // Bool supports comparisons, logical ops and the three arithmetic ops that stay in {0, 1}
  // (mul = and, maximum = or, minimum = and); torch turns add into "or" and rejects sub, we keep
  // it simple and reject the rest.
  const bool ok = dt != DType::Bool || !binary_op_is_arithmetic(op) || op == BinaryOp::Mul ||
                  op == BinaryOp::Maximum || op == BinaryOp::Minimum;
  CNNKIT_CHECK(ok, TypeError, caller, ": op '", binary_op_name(op),
               "' is not supported on bool tensors (only mul, maximum, minimum, comparisons and logical ops)");
  CNNKIT_CHECK(is_floating(dt) || (op != BinaryOp::Atan2 && op != BinaryOp::Hypot), TypeError, caller, ": op '",
               binary_op_name(op), "' expected float32 or float64 tensors, got ", dtype_name(dt));
}

void check_unary_dtype(const char* caller, UnaryOp op, DType dt) {
  if (is_floating(dt) || unary_op_is_predicate(op)) return;
  CNNKIT_CHECK(dt != DType::Bool, TypeError, caller, ": op '", unary_op_name(op),
               "' is not supported on bool tensors (only logical_not, isnan, isinf, isfinite)");
  // Integer tensors: ops that stay integers (floor/ceil/round/trunc are the identity, as in torch);
  // float-valued math needs the caller to convert to a floating dtype first.
  const bool ok = op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Square ||
                  op == UnaryOp::Floor || op == UnaryOp::Ceil || op == UnaryOp::Round || op == UnaryOp::Trunc;
  CNNKIT_CHECK(ok, TypeError, caller, ": op '", unary_op_name(op), "' expected a float32 or float64 tensor, got ",
               dtype_name(dt));
}

// ---------------------------------------------------------------------------------------------
// Scalar math shared by the fast kernels and the naive reference
// ---------------------------------------------------------------------------------------------
namespace {

template <class S>
constexpr bool kSignedInt = std::is_integral_v<S> && std::is_signed_v<S>;

// Wrapping integer arithmetic through uint64 (signed overflow is undefined behaviour in C++).
template <class S>
S wrap_add(S a, S b) {
  if constexpr (std::is_integral_v<S>) return static_cast<S>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}
template <class S>
S wrap_sub(S a, S b) {
  if constexpr (std::is_integral_v<S>) return static_cast<S>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  else return a - b;
}
template <class S>
S wrap_mul(S a, S b) {
  if constexpr (std::is_same_v<S, bool>) return a && b;
  else if constexpr (std::is_integral_v<S>) return static_cast<S>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

// Integer division: a zero divisor never reaches here (the binding raises ZeroDivisionError), the
// guards only keep the kernel free of SIGFPE; INT64_MIN / -1 wraps instead of trapping.
template <class S>
S int_div_trunc(S a, S b) {
  if (b == 0) return 0;
  if constexpr (kSignedInt<S>) if (b == -1) return wrap_sub<S>(0, a);
  return static_cast<S>(a / b);
}
template <class S>
S int_floor_div(S a, S b) {
  if (b == 0) return 0;
  if constexpr (kSignedInt<S>) {
    if (b == -1) return wrap_sub<S>(0, a);
    S q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) --q;
    return q;
  } else {
    return static_cast<S>(a / b);
  }
}
template <class S>
S int_remainder(S a, S b) {
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
// Exponentiation by squaring with wrapping; negative exponents follow torch's integer pow
// (1 -> 1, -1 -> +-1 by parity, everything else -> 0).
template <class S>
S int_pow(S a, S b) {
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

// Python/torch floor division and modulo of floats: the result of `floor_divide` is the exact
// floor of a/b computed from fmod (CPython's float_floor_div algorithm, Objects/floatobject.c),
// and `remainder` takes the sign of the divisor.
template <class S>
S float_floor_div(S a, S b) {
  if (b == 0) return a / b;
  const S mod = std::fmod(a, b);
  S div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= S(1);
  if (div == 0) return std::copysign(S(0), a / b);
  S fl = std::floor(div);
  if (div - fl > S(0.5)) fl += S(1);
  return fl;
}
template <class S>
S float_remainder(S a, S b) {
  S mod = std::fmod(a, b);
  if (mod != 0 && ((b < 0) != (mod < 0))) mod += b;
  return mod;
}

template <class S>
bool is_nan(S v) {
  if constexpr (std::is_floating_point_v<S>) return v != v;
  else return false;
}
// maximum/minimum propagate NaN from either side (torch.maximum / clamp semantics).
template <class S>
S max_nan(S a, S b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a > b ? a : b;
}
template <class S>
S min_nan(S a, S b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a < b ? a : b;
}

template <class S>
S arith(BinaryOp op, S a, S b) {
  constexpr bool F = std::is_floating_point_v<S>;
  switch (op) {
    case BinaryOp::Add: return wrap_add(a, b);
    case BinaryOp::Sub: return wrap_sub(a, b);
    case BinaryOp::Mul: return wrap_mul(a, b);
    case BinaryOp::Div:
      if constexpr (F) return a / b; else return int_div_trunc(a, b);
    case BinaryOp::FloorDivide:
      if constexpr (F) return float_floor_div(a, b); else return int_floor_div(a, b);
    case BinaryOp::Remainder:
      if constexpr (F) return float_remainder(a, b); else return int_remainder(a, b);
    case BinaryOp::Pow:
      if constexpr (F) return std::pow(a, b); else return int_pow(a, b);
    case BinaryOp::Maximum: return max_nan(a, b);
    case BinaryOp::Minimum: return min_nan(a, b);
    case BinaryOp::Atan2:
      if constexpr (F) return std::atan2(a, b); else return S(0);
    case BinaryOp::Hypot:
      if constexpr (F) return std::hypot(a, b); else return S(0);
    default: return S(0);
  }
}

template <class S>
bool predicate(BinaryOp op, S a, S b) {
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
S unary_math(UnaryOp op, S x) {
  if constexpr (std::is_floating_point_v<S>) {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Exp: return std::exp(x);
      case UnaryOp::Log: return std::log(x);
      case UnaryOp::Log2: return std::log2(x);
      case UnaryOp::Log1p: return std::log1p(x);
      case UnaryOp::Expm1: return std::expm1(x);
      case UnaryOp::Sqrt: return std::sqrt(x);
      case UnaryOp::Rsqrt: return S(1) / std::sqrt(x);
      case UnaryOp::Abs: return std::abs(x);
      case UnaryOp::Sign: return static_cast<S>((S(0) < x) - (x < S(0)));  // NaN -> 0, like torch
      case UnaryOp::Sin: return std::sin(x);
      case UnaryOp::Cos: return std::cos(x);
      case UnaryOp::Floor: return std::floor(x);
      case UnaryOp::Ceil: return std::ceil(x);
      case UnaryOp::Round: return std::nearbyint(x);  // default rounding mode: half to even
      case UnaryOp::Trunc: return std::trunc(x);
      case UnaryOp::Reciprocal: return S(1) / x;
      case UnaryOp::Square: return x * x;
      case UnaryOp::Sinh: return std::sinh(x);
      case UnaryOp::Cosh: return std::cosh(x);
      case UnaryOp::Tan: return std::tan(x);
      case UnaryOp::Asin: return std::asin(x);
      case UnaryOp::Acos: return std::acos(x);
      case UnaryOp::Atan: return std::atan(x);
      case UnaryOp::Asinh: return std::asinh(x);
      case UnaryOp::Acosh: return std::acosh(x);
      case UnaryOp::Atanh: return std::atanh(x);
      case UnaryOp::Erf: return std::erf(x);
      case UnaryOp::Erfc: return std::erfc(x);
      default: return S(0);
    }
  } else {
    switch (op) {
      case UnaryOp::Neg: return wrap_sub<S>(0, x);
      case UnaryOp::Abs:
        if constexpr (kSignedInt<S>) return x < 0 ? wrap_sub<S>(0, x) : x; else return x;
      case UnaryOp::Sign: return static_cast<S>((S(0) < x) - (x < S(0)));
      case UnaryOp::Square: return wrap_mul(x, x);
      default: return x;  // floor, ceil, round, trunc: the identity on integers
    }
  }
}

template <class S>
bool unary_pred(UnaryOp op, S x) {
  switch (op) {
    case UnaryOp::LogicalNot: return !(x != S(0));
    case UnaryOp::IsNan: return is_nan(x);
    case UnaryOp::IsInf:
      if constexpr (std::is_floating_point_v<S>) return std::isinf(x); else return false;
    case UnaryOp::IsFinite:
      if constexpr (std::is_floating_point_v<S>) return std::isfinite(x); else return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Loops
// ---------------------------------------------------------------------------------------------
// Elements per thread chunk below which the work stays on one thread (memory-bound loops of a
// few ns per element; forking costs a few microseconds).
constexpr int64_t kGrain = 32768;

// out[i] = f(a[i], b[i]) over a 3-operand plan (out, a, b).
template <class T, class S, class F>
void binary_loop(const StridedPlan<3>& p, T* out, const S* a, const S* b, const F& f) {
  parallel_for(0, p.numel, kGrain, [&](int64_t beg, int64_t end) {
    for_each_run(p, beg, end, [&](const int64_t* off, int64_t n, const int64_t* st) {
      T* o = out + off[0];
      const S* x = a + off[1];
      const S* y = b + off[2];
      if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
      } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
        const S c = *y;
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], c);
      } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
        const S c = *x;
        for (int64_t i = 0; i < n; ++i) o[i] = f(c, y[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
      }
    });
  });
}

// out[i] = f(x[i]) over a 2-operand plan (out, x).
template <class T, class S, class F>
void unary_loop(const StridedPlan<2>& p, T* out, const S* x, const F& f) {
  parallel_for(0, p.numel, kGrain, [&](int64_t beg, int64_t end) {
    for_each_run(p, beg, end, [&](const int64_t* off, int64_t n, const int64_t* st) {
      T* o = out + off[0];
      const S* v = x + off[1];
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(v[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(v[i * st[1]]);
      }
    });
  });
}

StridedPlan<3> plan3(const Tensor& out, const Tensor& a, const Tensor& b) {
  return make_plan<3>(out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
                      true);
}
StridedPlan<2> plan2(const Tensor& out, const Tensor& x) {
  return make_plan<2>(out.shape(), {out.strides(), broadcast_strides(x, out.shape())}, true);
}

// One instantiation of binary_loop per (dtype, op): the op is a compile-time lambda so that the
// inner loops inline and vectorise. Combinations rejected by check_binary_dtype (arithmetic on
// bool) are not instantiated.
template <class S>
void binary_typed(BinaryOp op, const StridedPlan<3>& p, void* out, const S* a, const S* b) {
  constexpr bool kBool = std::is_same_v<S, bool>;
  S* o = static_cast<S*>(out);
  bool* ob = static_cast<bool*>(out);
#define CNNKIT_ARITH(OP) \
  case BinaryOp::OP: return binary_loop(p, o, a, b, [](S x, S y) { return arith(BinaryOp::OP, x, y); });
#define CNNKIT_PRED(OP) \
  case BinaryOp::OP: return binary_loop(p, ob, a, b, [](S x, S y) { return predicate(BinaryOp::OP, x, y); });
  if constexpr (!kBool) {
    switch (op) {
      CNNKIT_ARITH(Add)
      CNNKIT_ARITH(Sub)
      CNNKIT_ARITH(Div)
      CNNKIT_ARITH(FloorDivide)
      CNNKIT_ARITH(Remainder)
      CNNKIT_ARITH(Pow)
      default: break;
    }
  }
  if constexpr (std::is_floating_point_v<S>) {
    switch (op) {
      CNNKIT_ARITH(Atan2)
      CNNKIT_ARITH(Hypot)
      default: break;
    }
  }
  switch (op) {
    CNNKIT_ARITH(Mul)
    CNNKIT_ARITH(Maximum)
    CNNKIT_ARITH(Minimum)
    CNNKIT_PRED(Eq)
    CNNKIT_PRED(Ne)
    CNNKIT_PRED(Lt)
    CNNKIT_PRED(Le)
    CNNKIT_PRED(Gt)
    CNNKIT_PRED(Ge)
    CNNKIT_PRED(LogicalAnd)
    CNNKIT_PRED(LogicalOr)
    CNNKIT_PRED(LogicalXor)
    default: break;
  }
#undef CNNKIT_ARITH
#undef CNNKIT_PRED
  throw TypeError(str("binary: op '", binary_op_name(op), "' is not supported for this dtype"));
}

template <class S>
void unary_typed(UnaryOp op, const StridedPlan<2>& p, void* out, const S* x) {
  S* o = static_cast<S*>(out);
  bool* ob = static_cast<bool*>(out);
#define CNNKIT_MATH(OP) \
  case UnaryOp::OP: return unary_loop(p, o, x, [](S v) { return unary_math(UnaryOp::OP, v); });
#define CNNKIT_UPRED(OP) \
  case UnaryOp::OP: return unary_loop(p, ob, x, [](S v) { return unary_pred(UnaryOp::OP, v); });
  switch (op) {
    CNNKIT_UPRED(LogicalNot)
    CNNKIT_UPRED(IsNan)
    CNNKIT_UPRED(IsInf)
    CNNKIT_UPRED(IsFinite)
    default: break;
  }
  if constexpr (std::is_floating_point_v<S>) {
    switch (op) {
      CNNKIT_MATH(Neg)
      CNNKIT_MATH(Exp)
      CNNKIT_MATH(Log)
      CNNKIT_MATH(Log2)
      CNNKIT_MATH(Log1p)
      CNNKIT_MATH(Expm1)
      CNNKIT_MATH(Sqrt)
      CNNKIT_MATH(Rsqrt)
      CNNKIT_MATH(Abs)
      CNNKIT_MATH(Sign)
      CNNKIT_MATH(Sin)
      CNNKIT_MATH(Cos)
      CNNKIT_MATH(Floor)
      CNNKIT_MATH(Ceil)
      CNNKIT_MATH(Round)
      CNNKIT_MATH(Trunc)
      CNNKIT_MATH(Reciprocal)
      CNNKIT_MATH(Square)
      CNNKIT_MATH(Sinh)
      CNNKIT_MATH(Cosh)
      CNNKIT_MATH(Tan)
      CNNKIT_MATH(Asin)
      CNNKIT_MATH(Acos)
      CNNKIT_MATH(Atan)
      CNNKIT_MATH(Asinh)
      CNNKIT_MATH(Acosh)
      CNNKIT_MATH(Atanh)
      CNNKIT_MATH(Erf)
      CNNKIT_MATH(Erfc)
      default: break;
    }
  } else if constexpr (!std::is_same_v<S, bool>) {
    switch (op) {
      CNNKIT_MATH(Neg)
      CNNKIT_MATH(Abs)
      CNNKIT_MATH(Sign)
      CNNKIT_MATH(Square)
      CNNKIT_MATH(Floor)
      CNNKIT_MATH(Ceil)
      CNNKIT_MATH(Round)
      CNNKIT_MATH(Trunc)
      default: break;
    }
  }
#undef CNNKIT_MATH
#undef CNNKIT_UPRED
  throw TypeError(str("unary: op '", unary_op_name(op), "' is not supported for this dtype"));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------
void binary_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  const StridedPlan<3> p = plan3(out, a, b);
  CNNKIT_DISPATCH_ALL(a.dtype(), "binary", [&] {
    binary_typed<scalar_t>(op, p, out.data_ptr(), a.data<scalar_t>(), b.data<scalar_t>());
  });
}

// Reference: for every output element, decode its full multi-index and compute each operand's
// offset from its broadcast strides. No coalescing, no fast paths, no threads.
void binary_naive_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Shape& shape = out.shape();
  const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  const int64_t nd = out.dim(), n = out.numel();
  const bool arithmetic = binary_op_is_arithmetic(op);
  CNNKIT_DISPATCH_ALL(a.dtype(), "binary_naive", [&] {
    using S = scalar_t;
    const S* pa = a.data<S>();
    const S* pb = b.data<S>();
    for (int64_t lin = 0; lin < n; ++lin) {
      int64_t rem = lin, oo = 0, oa = 0, ob = 0;
      for (int64_t d = nd - 1; d >= 0; --d) {
        const int64_t i = rem % shape[d];
        rem /= shape[d];
        oo += i * out.strides()[d];
        oa += i * sa[d];
        ob += i * sb[d];
      }
      if (arithmetic) out.data<S>()[oo] = arith(op, pa[oa], pb[ob]);
      else out.data<bool>()[oo] = predicate(op, pa[oa], pb[ob]);
    }
  });
}

bool any_zero_cpu(const Tensor& b) {
  if (b.numel() == 0) return false;
  const StridedPlan<1> p = make_plan<1>(b.shape(), {b.strides()}, true);
  bool found = false;
  CNNKIT_DISPATCH_ALL(b.dtype(), "any_zero", [&] {
    const scalar_t* base = b.data<scalar_t>();
    for_each_run(p, 0, p.numel, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t i = 0; i < n; ++i) found |= base[off[0] + i * st[0]] == scalar_t(0);
    });
  });
  return found;
}

void unary_cpu(UnaryOp op, const Tensor& out, const Tensor& x) {
  if (out.numel() == 0) return;
  const StridedPlan<2> p = plan2(out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "unary", [&] { unary_typed<scalar_t>(op, p, out.data_ptr(), x.data<scalar_t>()); });
}

// Small integral exponents get exact multiplications (torch does the same: x**2 is x*x, x**0.5 is
// sqrt), the rest std::pow.
void pow_scalar_cpu(const Tensor& out, const Tensor& x, const Scalar& e) {
  if (out.numel() == 0) return;
  const StridedPlan<2> p = plan2(out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "pow_scalar", [&] {
    using S = scalar_t;
    S* o = out.data<S>();
    const S* v = x.data<S>();
    if constexpr (std::is_floating_point_v<S>) {
      const double ed = e.d;
      const S es = static_cast<S>(ed);
      if (ed == 0.0) unary_loop(p, o, v, [](S) { return S(1); });
      else if (ed == 1.0) unary_loop(p, o, v, [](S a) { return a; });
      else if (ed == 2.0) unary_loop(p, o, v, [](S a) { return a * a; });
      else if (ed == 3.0) unary_loop(p, o, v, [](S a) { return a * a * a; });
      else if (ed == 0.5) unary_loop(p, o, v, [](S a) { return std::sqrt(a); });
      else if (ed == -0.5) unary_loop(p, o, v, [](S a) { return S(1) / std::sqrt(a); });
      else if (ed == -1.0) unary_loop(p, o, v, [](S a) { return S(1) / a; });
      else if (ed == -2.0) unary_loop(p, o, v, [](S a) { return S(1) / (a * a); });
      else unary_loop(p, o, v, [es](S a) { return std::pow(a, es); });
    } else if constexpr (!std::is_same_v<S, bool>) {
      const S ei = static_cast<S>(e.to<int64_t>());
      unary_loop(p, o, v, [ei](S a) { return int_pow(a, ei); });
    } else {
      throw TypeError("pow_scalar: bool tensors are not supported");
    }
  });
}

void clamp_cpu(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  if (out.numel() == 0) return;
  const StridedPlan<2> p = plan2(out, x);
  CNNKIT_DISPATCH_ALL(x.dtype(), "clamp", [&] {
    using S = scalar_t;
    if constexpr (std::is_same_v<S, bool>) {
      throw TypeError("clamp: bool tensors are not supported");
    } else {
      S* o = out.data<S>();
      const S* v = x.data<S>();
      if (lo && hi) {
        const S l = lo->to<S>(), h = hi->to<S>();
        unary_loop(p, o, v, [l, h](S a) { return min_nan(max_nan(a, l), h); });
      } else if (lo) {
        const S l = lo->to<S>();
        unary_loop(p, o, v, [l](S a) { return max_nan(a, l); });
      } else {
        const S h = hi->to<S>();
        unary_loop(p, o, v, [h](S a) { return min_nan(a, h); });
      }
    }
  });
}

void clamp_backward_cpu(const Tensor& dx, const Tensor& dout, const Tensor& x, const std::optional<Scalar>& lo,
                        const std::optional<Scalar>& hi) {
  if (dx.numel() == 0) return;
  const StridedPlan<3> p = plan3(dx, dout, x);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "clamp_backward", [&] {
    using S = scalar_t;
    // A missing bound is +-inf; a NaN x fails both comparisons and gets no gradient.
    const S l = lo ? lo->to<S>() : -std::numeric_limits<S>::infinity();
    const S h = hi ? hi->to<S>() : std::numeric_limits<S>::infinity();
    binary_loop(p, dx.data<S>(), dout.data<S>(), x.data<S>(),
                [l, h](S g, S a) { return (a >= l && a <= h) ? g : S(0); });
  });
}

void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  const Shape& sh = out.shape();
  const StridedPlan<4> p = make_plan<4>(
      sh, {out.strides(), broadcast_strides(cond, sh), broadcast_strides(a, sh), broadcast_strides(b, sh)}, true);
  const bool* c = cond.data<bool>();
  CNNKIT_DISPATCH_ALL(a.dtype(), "where", [&] {
    using S = scalar_t;
    S* o = out.data<S>();
    const S* pa = a.data<S>();
    const S* pb = b.data<S>();
    parallel_for(0, p.numel, kGrain, [&](int64_t beg, int64_t end) {
      for_each_run(p, beg, end, [&](const int64_t* off, int64_t n, const int64_t* st) {
        S* oo = o + off[0];
        const bool* cc = c + off[1];
        const S* x = pa + off[2];
        const S* y = pb + off[3];
        if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
          for (int64_t i = 0; i < n; ++i) oo[i] = cc[i] ? x[i] : y[i];
        } else {
          for (int64_t i = 0; i < n; ++i) oo[i * st[0]] = cc[i * st[1]] ? x[i * st[2]] : y[i * st[3]];
        }
      });
    });
  });
}

void masked_fill_cpu(const Tensor& x, const Tensor& mask, const Scalar& value) {
  if (x.numel() == 0) return;
  const StridedPlan<2> p = plan2(x, mask);
  const bool* m = mask.data<bool>();
  CNNKIT_DISPATCH_ALL(x.dtype(), "masked_fill_", [&] {
    using S = scalar_t;
    S* o = x.data<S>();
    const S v = value.to<S>();
    parallel_for(0, p.numel, kGrain, [&](int64_t beg, int64_t end) {
      for_each_run(p, beg, end, [&](const int64_t* off, int64_t n, const int64_t* st) {
        S* oo = o + off[0];
        const bool* mm = m + off[1];
        for (int64_t i = 0; i < n; ++i)
          if (mm[i * st[1]]) oo[i * st[0]] = v;
      });
    });
  });
}

}  // namespace cnnkit
