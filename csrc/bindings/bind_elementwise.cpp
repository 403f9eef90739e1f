// _C entry points of the elementwise family: binary, binary_, binary_naive, unary, pow_scalar,
// clamp, clamp_backward, where, masked_fill_. Everything is validated here once (dtypes, devices,
// broadcast shapes, in-place targets, integer division by zero); the kernels in
// ops/elementwise.cpp (CPU) and ops/elementwise.cu (CUDA) then assume valid input. Outputs are new
// contiguous tensors on the inputs' device; the in-place ops return their (modified) target.
#include <cmath>

#include "bindings/bindings.h"
#include "ops/elementwise.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/elementwise_cuda.h"
#endif

namespace cnnkit {
namespace {

// A Python number (bool, int, float, or a NumPy scalar) as a Scalar: ints stay exact.
Scalar to_scalar(const std::string& op, const char* name, const py::handle& h) {
  PyObject* o = h.ptr();
  if (PyBool_Check(o)) return Scalar::from_int(o == Py_True ? 1 : 0);
  if (PyLong_Check(o) || (PyIndex_Check(o) && !PyFloat_Check(o))) {
    py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!idx) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(idx.ptr(), &overflow);
    CNNKIT_CHECK(!overflow, RuntimeError, op, ": value of ", name, " cannot be converted to int64 without overflow");
    return Scalar::from_int(static_cast<int64_t>(v));
  }
  const double d = PyFloat_AsDouble(o);
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw TypeError(str(op, ": expected ", name, " to be a Python number, got ",
                        Py_TYPE(o)->tp_name));
  }
  return Scalar::from_double(d);
}

std::optional<Scalar> to_opt_scalar(const std::string& op, const char* name, const py::handle& h) {
  if (h.is_none()) return std::nullopt;
  return to_scalar(op, name, h);
}

// A double that converts to int64 without undefined behaviour.
bool fits_int64(double d) { return std::isfinite(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18; }
bool is_integral_value(const Scalar& s) { return s.is_int || (fits_int64(s.d) && std::floor(s.d) == s.d); }

// A narrow integer target (uint8, int8, int16, int32) takes only values in its range (torch:
// "value cannot be converted to type int8_t without overflow").
void check_uint8_range(const std::string& op, const char* name, const Scalar& s, DType dt) {
  double lo = 0, hi = 0;
  switch (dt) {
    case DType::UInt8: lo = 0, hi = 255; break;
    case DType::Int8: lo = -128, hi = 127; break;
    case DType::Int16: lo = -32768, hi = 32767; break;
    case DType::Int32: lo = -2147483648.0, hi = 2147483647.0; break;
    default: return;
  }
  const double v = s.is_int ? static_cast<double>(s.i) : s.d;
  CNNKIT_CHECK(v >= lo && v <= hi, RuntimeError, op, ": ", name, " cannot be converted to type ", dtype_name(dt),
               " without overflow, got ", v);
}

// Integer tensors need integer-valued scalars (the Python layer promotes to float otherwise).
void check_scalar_for_dtype(const std::string& op, const char* name, const Scalar& s, DType dt) {
  if (is_floating(dt) || dt == DType::Bool) return;
  CNNKIT_CHECK(is_integral_value(s), TypeError, op, ": expected an integral ", name, " for a ", dtype_name(dt),
               " tensor, got ", s.d, " (convert the tensor to a floating dtype first)");
}

// The written-to tensor may have any strides but no two elements in one memory location.
void check_no_internal_overlap(const std::string& op, const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    CNNKIT_CHECK(!(t.strides()[d] == 0 && t.shape()[d] > 1), RuntimeError, op,
                 ": unsupported operation: more than one element of the written-to tensor refers to a single "
                 "memory location. Please clone() the tensor before performing the operation.");
}

bool is_int_division(BinaryOp op, DType dt) {
  return !is_floating(dt) && (op == BinaryOp::Div || op == BinaryOp::FloorDivide || op == BinaryOp::Remainder);
}

void check_int_divisor(const std::string& op, BinaryOp bop, const Tensor& out, const Tensor& b) {
  if (!is_int_division(bop, b.dtype()) || out.numel() == 0) return;
  bool zero = false;
  if (b.device().is_cpu()) zero = any_zero_cpu(b);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), zero = any_zero_cuda(b));
  CNNKIT_CHECK(!zero, RuntimeError, "ZeroDivisionError: ", op, ": integer division by zero");
}

void check_pair(const std::string& op, const char* na, const Tensor& a, const char* nb, const Tensor& b) {
  check_defined(op.c_str(), na, a);
  check_defined(op.c_str(), nb, b);
  check_same_device(op.c_str(), na, a, nb, b);
}

Tensor binary(const std::string& name, const Tensor& a, const Tensor& b, bool naive) {
  const std::string op = std::string(naive ? "binary_naive(" : "binary(") + name + ")";
  const BinaryOp bop = parse_binary_op(op.c_str(), name);
  check_pair(op, "a", a, "b", b);
  check_same_dtype(op.c_str(), "a", a, "b", b);
  check_binary_dtype(op.c_str(), bop, a.dtype());
  const Shape shape = broadcast_shapes(op.c_str(), a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, binary_op_is_arithmetic(bop) ? a.dtype() : DType::Bool, a.device());
  check_int_divisor(op, bop, out, b);
  if (a.device().is_cpu()) {
    if (naive) binary_naive_cpu(bop, out, a, b);
    else binary_cpu(bop, out, a, b);
  } else if (naive) {
    CNNKIT_CUDA_OR_THROW(op.c_str(), binary_naive_cuda(bop, out, a, b));
  } else {
    CNNKIT_CUDA_OR_THROW(op.c_str(), binary_cuda(bop, out, a, b));
  }
  return out;
}

Tensor binary_inplace(const std::string& name, Tensor out, Tensor b) {
  const std::string op = "binary_(" + name + ")";
  const BinaryOp bop = parse_binary_op(op.c_str(), name);
  CNNKIT_CHECK(binary_op_is_arithmetic(bop), ValueError, op, ": only arithmetic ops (add, sub, mul, div, "
               "floor_divide, remainder, pow, maximum, minimum) can be applied in place, got '", name, "'");
  check_pair(op, "out", out, "b", b);
  check_same_dtype(op.c_str(), "out", out, "b", b);
  check_binary_dtype(op.c_str(), bop, out.dtype());
  const Shape shape = broadcast_shapes(op.c_str(), out.shape(), b.shape());
  CNNKIT_CHECK(shape == out.shape(), RuntimeError, op, ": output with shape ", out.shape(),
               " doesn't match the broadcast shape ", shape);
  check_no_internal_overlap(op, out);
  check_int_divisor(op, bop, out, b);
  // b sharing memory with out (x += x.T, x -= x[0]) would be read after being overwritten: copy it.
  if (b.storage() == out.storage()) b = b.clone();
  if (out.device().is_cpu()) binary_cpu(bop, out, out, b);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), binary_cuda(bop, out, out, b));
  return out;
}

Tensor unary(const std::string& name, const Tensor& x) {
  const std::string op = "unary(" + name + ")";
  const UnaryOp uop = parse_unary_op(op.c_str(), name);
  check_defined(op.c_str(), "x", x);
  check_unary_dtype(op.c_str(), uop, x.dtype());
  Tensor out = Tensor::empty(x.shape(), unary_op_is_predicate(uop) ? DType::Bool : x.dtype(), x.device());
  if (x.device().is_cpu()) unary_cpu(uop, out, x);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), unary_cuda(uop, out, x));
  return out;
}

Tensor pow_scalar(const Tensor& x, const py::object& exponent) {
  const std::string op = "pow_scalar";
  check_defined(op.c_str(), "x", x);
  const Scalar e = to_scalar(op, "exponent", exponent);
  CNNKIT_CHECK(x.dtype() != DType::Bool, TypeError, op, ": expected a float32, float64, int64 or uint8 tensor, got bool");
  if (!is_floating(x.dtype())) {
    check_scalar_for_dtype(op, "exponent", e, x.dtype());
    CNNKIT_CHECK(e.to<double>() >= 0, RuntimeError, "Integers to negative integer powers are not allowed.");
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) pow_scalar_cpu(out, x, e);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), pow_scalar_cuda(out, x, e));
  return out;
}

Tensor clamp(const Tensor& x, const py::object& min, const py::object& max) {
  const std::string op = "clamp";
  check_defined(op.c_str(), "x", x);
  CNNKIT_CHECK(x.dtype() != DType::Bool, TypeError, op, ": expected a float32, float64, int64 or uint8 tensor, got bool");
  const auto lo = to_opt_scalar(op, "min", min);
  const auto hi = to_opt_scalar(op, "max", max);
  CNNKIT_CHECK(lo || hi, RuntimeError, "torch.clamp: At least one of 'min' or 'max' must not be None");
  for (const auto& [b, nm] : {std::make_pair(lo, "min"), std::make_pair(hi, "max")}) {
    if (!b) continue;
    check_scalar_for_dtype(op, nm, *b, x.dtype());
    check_uint8_range(op, nm, *b, x.dtype());
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) clamp_cpu(out, x, lo, hi);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), clamp_cuda(out, x, lo, hi));
  return out;
}

Tensor clamp_backward(const Tensor& dout, const Tensor& x, const py::object& min, const py::object& max) {
  const std::string op = "clamp_backward";
  check_pair(op, "dout", dout, "x", x);
  check_floating(op.c_str(), "x", x);
  check_same_dtype(op.c_str(), "dout", dout, "x", x);
  check_shape(op.c_str(), "dout", dout, x.shape());
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  const auto lo = to_opt_scalar(op, "min", min), hi = to_opt_scalar(op, "max", max);
  if (x.device().is_cpu()) clamp_backward_cpu(dx, dout, x, lo, hi);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), clamp_backward_cuda(dx, dout, x, lo, hi));
  return dx;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const std::string op = "where";
  check_pair(op, "cond", cond, "a", a);
  check_pair(op, "a", a, "b", b);
  CNNKIT_CHECK(cond.dtype() == DType::Bool, TypeError,
               "where: expected condition to be a boolean tensor, but got a tensor with dtype ", dtype_name(cond.dtype()));
  check_same_dtype(op.c_str(), "a", a, "b", b);
  const Shape shape = broadcast_shapes(op.c_str(), broadcast_shapes(op.c_str(), cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (a.device().is_cpu()) where_cpu(out, cond, a, b);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), where_cuda(out, cond, a, b));
  return out;
}

Tensor masked_fill_(Tensor x, Tensor mask, const py::object& value) {
  const std::string op = "masked_fill_";
  check_pair(op, "x", x, "mask", mask);
  CNNKIT_CHECK(mask.dtype() == DType::Bool, TypeError, op, ": expected mask to have dtype bool, got ",
               dtype_name(mask.dtype()));
  const Shape shape = broadcast_shapes(op.c_str(), x.shape(), mask.shape());
  CNNKIT_CHECK(shape == x.shape(), RuntimeError, op, ": mask of shape ", mask.shape(),
               " cannot be broadcast to the shape of x ", x.shape());
  check_no_internal_overlap(op, x);
  const Scalar v = to_scalar(op, "value", value);
  CNNKIT_CHECK(is_floating(x.dtype()) || x.dtype() == DType::Bool || v.is_int || fits_int64(v.d), RuntimeError, op,
               ": value cannot be converted to type ", dtype_name(x.dtype()), " without overflow, got ", v.d);
  check_uint8_range(op, "value", v, x.dtype());
  if (mask.storage() == x.storage()) mask = mask.clone();
  if (x.device().is_cpu()) masked_fill_cpu(x, mask, v);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), masked_fill_cuda(x, mask, v));
  return x;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("binary", [](const std::string& op, const Tensor& a, const Tensor& b) { return binary(op, a, b, false); },
        py::arg("op"), py::arg("a"), py::arg("b"),
        "a op b with NumPy broadcasting; a and b of one dtype. add sub mul div floor_divide remainder pow maximum "
        "minimum -> that dtype (int div truncates); eq ne lt le gt ge logical_and logical_or logical_xor -> bool");
  m.def("binary_naive", [](const std::string& op, const Tensor& a, const Tensor& b) { return binary(op, a, b, true); },
        py::arg("op"), py::arg("a"), py::arg("b"), "Reference implementation of binary (one element at a time)");
  m.def("binary_", &binary_inplace, py::arg("op"), py::arg("out"), py::arg("b"),
        "In place out = out op b (b broadcast to out); arithmetic ops only; returns out");
  m.def("unary", &unary, py::arg("op"), py::arg("x"),
        "op(x): neg exp log log2 log1p expm1 sqrt rsqrt abs sign sin cos floor ceil round trunc reciprocal square "
        "-> x's dtype; logical_not isnan isinf isfinite -> bool");
  m.def("pow_scalar", &pow_scalar, py::arg("x"), py::arg("exponent"), "x ** exponent (a Python number)");
  m.def("clamp", &clamp, py::arg("x"), py::arg("min") = py::none(), py::arg("max") = py::none(),
        "torch.clamp(x, min, max); NaN propagates");
  m.def("clamp_backward", &clamp_backward, py::arg("dout"), py::arg("x"), py::arg("min") = py::none(),
        py::arg("max") = py::none(), "dx = dout where min <= x <= max else 0");
  m.def("where", &where, py::arg("cond"), py::arg("a"), py::arg("b"), "cond ? a : b with 3-way broadcasting");
  m.def("masked_fill_", &masked_fill_, py::arg("x"), py::arg("mask"), py::arg("value"),
        "x[mask] = value in place (mask broadcast to x); returns x");
}

}  // namespace cnnkit
