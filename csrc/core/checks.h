// Argument checks for the binding layer. Every public entry point validates its tensors here once
// (shape, dtype, device, contiguity) so kernels may assume valid input. Each message names the op,
// the argument, what was expected and what was given.
#pragma once
#include <initializer_list>
#include <string>

#include "core/tensor.h"

namespace cnnkit {

inline void check_defined(const char* op, const char* name, const Tensor& t) {
  CNNKIT_CHECK(t.defined(), ValueError, op, ": ", name, " is undefined");
}

inline void check_ndim(const char* op, const char* name, const Tensor& t, int64_t ndim) {
  CNNKIT_CHECK(t.dim() == ndim, ValueError, op, ": expected ", name, " to be ", ndim, "-D, got ", t.dim(),
               "-D with shape ", t.shape());
}

inline void check_shape(const char* op, const char* name, const Tensor& t, const Shape& expected) {
  CNNKIT_CHECK(t.shape() == expected, ValueError, op, ": expected ", name, " of shape ", expected, ", got ",
               t.shape());
}

inline void check_dtype(const char* op, const char* name, const Tensor& t, DType dt) {
  CNNKIT_CHECK(t.dtype() == dt, TypeError, op, ": expected ", name, " of dtype ", dtype_name(dt), ", got ",
               dtype_name(t.dtype()));
}

inline void check_floating(const char* op, const char* name, const Tensor& t) {
  CNNKIT_CHECK(is_floating(t.dtype()), TypeError, op, ": expected ", name, " to be float32 or float64, got ",
               dtype_name(t.dtype()), half_hint(t.dtype()));
}

inline void check_same_dtype(const char* op, const char* na, const Tensor& a, const char* nb, const Tensor& b) {
  CNNKIT_CHECK(a.dtype() == b.dtype(), TypeError, op, ": expected ", na, " and ", nb,
               " to have the same dtype, got ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

inline void check_same_device(const char* op, const char* na, const Tensor& a, const char* nb, const Tensor& b) {
  CNNKIT_CHECK(a.device() == b.device(), RuntimeError, op, ": expected all tensors to be on the same device, but found ",
               na, " on ", a.device().str(), " and ", nb, " on ", b.device().str());
}

// The CUDA branch of a binding in a build without CUDA (a CUDA tensor cannot exist there, but the
// message keeps the dispatch total).
[[noreturn]] inline void throw_no_cuda(const char* op) {
  throw RuntimeError(str(op, ": cnnkit was built without CUDA support"));
}

inline void check_contiguous(const char* op, const char* name, const Tensor& t) {
  CNNKIT_CHECK(t.is_contiguous(), ValueError, op, ": expected ", name, " to be contiguous");
}

}  // namespace cnnkit
