// Elementwise CPU kernels: binary ops with NumPy broadcasting, unary ops, pow with a scalar
// exponent, clamp (+ its backward), where, masked_fill_.
//
// Forward ops write (=) into a fresh output; in-place ops (binary_, masked_fill_) overwrite their
// first argument; clamp_backward writes (=) dx, it does not accumulate.
//
// Also home of the strided N-d iteration used by every kernel family in this directory that
// walks tensors of arbitrary strides (elementwise, reduce, index): StridedPlan + for_each_run.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.h"

namespace cnnkit {

// ---------------------------------------------------------------------------------------------
// Strided iteration
// ---------------------------------------------------------------------------------------------
// N operands walked over one index space `shape`; strides are in elements, per operand (0 for a
// broadcast dim). make_plan drops size-1 dims, optionally reorders dims so that operand 0's
// strides decrease (cache-friendly writes into a transposed in-place target), and merges adjacent
// dims that are laid out contiguously with each other for every operand. A contiguous same-shape
// op therefore becomes one dim of stride 1, and "tensor op scalar" one dim with strides (1, 1, 0).
template <int N>
struct StridedPlan {
  Shape shape;                   // coalesced; last dim innermost
  std::array<Shape, N> strides;  // per operand, same length as shape
  int64_t numel = 0;
};

template <int N>
StridedPlan<N> make_plan(const Shape& shape, const std::array<Shape, N>& strides, bool reorder) {
  StridedPlan<N> p;
  p.numel = shape_numel(shape);
  std::vector<int64_t> dims;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1) dims.push_back(static_cast<int64_t>(d));
  if (reorder) {
    // Stable insertion sort by |stride of operand 0|, largest first.
    auto key = [&](int64_t d) { return strides[0][d] < 0 ? -strides[0][d] : strides[0][d]; };
    for (size_t i = 1; i < dims.size(); ++i)
      for (size_t j = i; j > 0 && key(dims[j - 1]) < key(dims[j]); --j) std::swap(dims[j - 1], dims[j]);
  }
  for (int64_t d : dims) {
    bool merge = !p.shape.empty();
    for (int k = 0; k < N && merge; ++k) merge = strides[k][d] * shape[d] == p.strides[k].back();
    if (merge) {
      // The previous (outer) dim continues exactly where this one ends: fold them.
      p.shape.back() *= shape[d];
      for (int k = 0; k < N; ++k) p.strides[k].back() = strides[k][d];
    } else {
      p.shape.push_back(shape[d]);
      for (int k = 0; k < N; ++k) p.strides[k].push_back(strides[k][d]);
    }
  }
  if (p.shape.empty() && p.numel == 1) {  // a single element: one run of length 1
    p.shape.push_back(1);
    for (int k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  return p;
}

// Calls f(off, n, st) for every maximal run along the innermost dim inside the linear index
// range [begin, end) of the plan: off[k] is operand k's element offset of the run's first element,
// st[k] its innermost stride, n the run length. Kernels specialise their inner loop on st.
template <int N, class F>
void for_each_run(const StridedPlan<N>& p, int64_t begin, int64_t end, const F& f) {
  if (begin >= end) return;
  const int64_t nd = static_cast<int64_t>(p.shape.size());
  const int64_t last = nd - 1;
  int64_t idx_small[16];  // index of the current position; heap only for > 16 coalesced dims
  std::vector<int64_t> idx_big(nd > 16 ? nd : 0);
  int64_t* idx = nd > 16 ? idx_big.data() : idx_small;
  std::array<int64_t, N> off{}, st{};
  int64_t rem = begin;
  for (int64_t d = last; d >= 0; --d) {
    idx[d] = rem % p.shape[d];
    rem /= p.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx[d] * p.strides[k][d];
  }
  for (int k = 0; k < N; ++k) st[k] = p.strides[k][last];
  int64_t pos = begin;
  while (pos < end) {
    const int64_t n = std::min(p.shape[last] - idx[last], end - pos);
    f(off.data(), n, st.data());
    pos += n;
    if (pos >= end) break;
    // Advance past the run, carrying into outer dims.
    for (int k = 0; k < N; ++k) off[k] += n * st[k];
    idx[last] += n;
    for (int64_t d = last; d > 0 && idx[d] == p.shape[d]; --d) {
      for (int k = 0; k < N; ++k) off[k] += p.strides[k][d - 1] - p.shape[d] * p.strides[k][d];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// Strides of t viewed in the broadcast shape `shape` (stride 0 in new or size-1 broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// A Python number passed to a kernel: exact for integers, a double otherwise.
struct Scalar {
  double d = 0.0;
  int64_t i = 0;
  bool is_int = false;
  static Scalar from_double(double v) { return Scalar{v, static_cast<int64_t>(v), false}; }
  static Scalar from_int(int64_t v) { return Scalar{static_cast<double>(v), v, true}; }
  // Integer targets go through int64 (wrapping for uint8); the binding has checked that a double
  // headed for an integer tensor is finite and within int64's range.
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return is_int ? i != 0 : d != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(is_int ? i : static_cast<int64_t>(d));
    else return is_int ? static_cast<T>(i) : static_cast<T>(d);
  }
};

// ---------------------------------------------------------------------------------------------
// Ops
// ---------------------------------------------------------------------------------------------
enum class BinaryOp {
  Add, Sub, Mul, Div, FloorDivide, Remainder, Pow, Maximum, Minimum,  // -> input dtype
  Atan2, Hypot,                                                       // -> input dtype (float only)
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor           // -> bool
};
enum class UnaryOp {
  Neg, Exp, Log, Log2, Log1p, Expm1, Sqrt, Rsqrt, Abs, Sign, Sin, Cos, Floor, Ceil, Round, Trunc,
  Reciprocal, Square,                       // -> input dtype
  Sinh, Cosh, Tan, Asin, Acos, Atan, Asinh, Acosh, Atanh, Erf, Erfc,  // -> input dtype (float only)
  LogicalNot, IsNan, IsInf, IsFinite        // -> bool
};

// Parse an op name; ValueError listing the valid names otherwise.
BinaryOp parse_binary_op(const char* caller, const std::string& name);
UnaryOp parse_unary_op(const char* caller, const std::string& name);
const char* binary_op_name(BinaryOp op);
const char* unary_op_name(UnaryOp op);
bool binary_op_is_arithmetic(BinaryOp op);  // output has the input dtype
bool unary_op_is_predicate(UnaryOp op);     // output is bool
// TypeError unless `op` is defined for dtype `dt` (float math on integers, arithmetic on bool).
void check_binary_dtype(const char* caller, BinaryOp op, DType dt);
void check_unary_dtype(const char* caller, UnaryOp op, DType dt);

// All kernels below assume validated input (shapes broadcast to out's shape, dtypes checked,
// CPU tensors, out without internal overlap and not overlapping the inputs unless it is them).
// Arbitrary strides, including stride 0, are fine for every input.

// out (S) = a (broadcast to S) op b (broadcast to S); out dtype = a's dtype or bool.
// Integer div/floor_divide/remainder: the caller has checked b for zeros.
void binary_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// Reference: one element at a time from the full N-d index, no plan, no threads.
void binary_naive_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// True if any element of the integer tensor b is 0.
bool any_zero_cpu(const Tensor& b);
// out (S) = op(x (S)).
void unary_cpu(UnaryOp op, const Tensor& out, const Tensor& x);
// out = x ** e (float x; integer x with integral e >= 0).
void pow_scalar_cpu(const Tensor& out, const Tensor& x, const Scalar& e);
// out = min(max(x, lo), hi) with NaN propagating from x and from the bounds (torch.clamp).
void clamp_cpu(const Tensor& out, const Tensor& x, const std::optional<Scalar>& lo, const std::optional<Scalar>& hi);
// dx = dout where lo <= x <= hi (missing bounds ignored), else 0. dx, dout, x all shape S.
void clamp_backward_cpu(const Tensor& dx, const Tensor& dout, const Tensor& x, const std::optional<Scalar>& lo,
                        const std::optional<Scalar>& hi);
// out (S) = cond ? a : b, all three broadcast to S; cond bool.
void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// x[mask] = value, mask (bool) broadcast to x's shape.
void masked_fill_cpu(const Tensor& x, const Tensor& mask, const Scalar& value);

}  // namespace cnnkit
