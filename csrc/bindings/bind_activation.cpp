// Python entry points of ops/activation and ops/softmax: validation and dtype dispatch.
// Inputs of any strides are made contiguous; outputs are new contiguous tensors of the input's shape.
#include "bindings/bindings.h"
#include "ops/activation.h"
#include "ops/softmax.h"

namespace cnnkit {
namespace {

Tensor checked_input(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  check_cpu(op, t);
  check_floating(op, name, t);
  return t.contiguous();
}

// Second operand of a backward (the saved output or input): same shape and dtype as dout.
Tensor checked_like(const char* op, const char* name, const Tensor& t, const Tensor& dout) {
  check_defined(op, name, t);
  check_cpu(op, t);
  check_same_dtype(op, "grad_output", dout, name, t);
  check_shape(op, name, t, dout.shape());
  return t.contiguous();
}

// out = kernel(x) elementwise.
template <class K>
Tensor unary(const char* op, const Tensor& x_, const K& kernel) {
  const Tensor x = checked_input(op, "input", x_);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] { kernel(out.data<scalar_t>(), x.data<scalar_t>(), x.numel()); });
  return out;
}

// dinp = kernel(dout, saved) elementwise.
template <class K>
Tensor backward(const char* op, const char* saved_name, const Tensor& dout_, const Tensor& saved_, const K& kernel) {
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor saved = checked_like(op, saved_name, saved_, dout);
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype());
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    kernel(dinp.data<scalar_t>(), dout.data<scalar_t>(), saved.data<scalar_t>(), dout.numel());
  });
  return dinp;
}

// (outer, D, inner) of a softmax over `dim`; a 0-d tensor is one slice of one element.
struct Slices {
  int64_t outer = 1, D = 1, inner = 1;
};
Slices slices(const char* op, const Shape& s, int64_t dim) {
  const int64_t nd = static_cast<int64_t>(s.size());
  const int64_t d = wrap_dim(op, dim, nd);
  Slices r;
  if (nd == 0) return r;
  for (int64_t i = 0; i < d; ++i) r.outer *= s[i];
  r.D = s[d];
  for (int64_t i = d + 1; i < nd; ++i) r.inner *= s[i];
  return r;
}

Tensor softmax_fwd(const char* op, const Tensor& x_, int64_t dim, bool log) {
  const Tensor x = checked_input(op, "input", x_);
  const Slices sl = slices(op, x.shape(), dim);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    softmax_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), sl.outer, sl.D, sl.inner, log);
  });
  return out;
}

Tensor softmax_bwd(const char* op, const Tensor& dout_, const Tensor& out_, int64_t dim, bool log) {
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor out = checked_like(op, "output", out_, dout);
  const Slices sl = slices(op, dout.shape(), dim);
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype());
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    softmax_backward<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), out.data<scalar_t>(), sl.outer, sl.D,
                               sl.inner, log);
  });
  return dinp;
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("relu_forward", [](const Tensor& x) {
    return unary("relu", x, [](auto* o, const auto* i, int64_t n) { relu_forward(o, i, n); });
  }, py::arg("input"));
  m.def("relu_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("relu_backward", "output", dout, out,
                    [](auto* d, const auto* g, const auto* y, int64_t n) { relu_backward(d, g, y, n); });
  }, py::arg("grad_output"), py::arg("output"), "gradient of relu from its output");
  m.def("leaky_relu_forward", [](const Tensor& x, double slope) {
    return unary("leaky_relu", x, [slope](auto* o, const auto* i, int64_t n) { leaky_relu_forward(o, i, slope, n); });
  }, py::arg("input"), py::arg("negative_slope"));
  m.def("leaky_relu_backward", [](const Tensor& dout, const Tensor& x, double slope) {
    return backward("leaky_relu_backward", "input", dout, x, [slope](auto* d, const auto* g, const auto* i, int64_t n) {
      leaky_relu_backward(d, g, i, slope, n);
    });
  }, py::arg("grad_output"), py::arg("input"), py::arg("negative_slope"), "gradient of leaky_relu from its input");
  m.def("sigmoid_forward", [](const Tensor& x) {
    return unary("sigmoid", x, [](auto* o, const auto* i, int64_t n) { sigmoid_forward(o, i, n); });
  }, py::arg("input"));
  m.def("sigmoid_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("sigmoid_backward", "output", dout, out,
                    [](auto* d, const auto* g, const auto* y, int64_t n) { sigmoid_backward(d, g, y, n); });
  }, py::arg("grad_output"), py::arg("output"), "gradient of sigmoid from its output");
  m.def("tanh_forward", [](const Tensor& x) {
    return unary("tanh", x, [](auto* o, const auto* i, int64_t n) { tanh_forward(o, i, n); });
  }, py::arg("input"));
  m.def("tanh_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("tanh_backward", "output", dout, out,
                    [](auto* d, const auto* g, const auto* y, int64_t n) { tanh_backward(d, g, y, n); });
  }, py::arg("grad_output"), py::arg("output"), "gradient of tanh from its output");

  m.def("softmax_forward", [](const Tensor& x, int64_t dim) { return softmax_fwd("softmax", x, dim, false); },
        py::arg("input"), py::arg("dim"));
  m.def("softmax_backward",
        [](const Tensor& dout, const Tensor& out, int64_t dim) { return softmax_bwd("softmax_backward", dout, out, dim, false); },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"), "gradient of softmax from its output");
  m.def("log_softmax_forward", [](const Tensor& x, int64_t dim) { return softmax_fwd("log_softmax", x, dim, true); },
        py::arg("input"), py::arg("dim"));
  m.def("log_softmax_backward",
        [](const Tensor& dout, const Tensor& out, int64_t dim) {
          return softmax_bwd("log_softmax_backward", dout, out, dim, true);
        },
        py::arg("grad_output"), py::arg("output"), py::arg("dim"), "gradient of log_softmax from its output");
}

}  // namespace cnnkit
