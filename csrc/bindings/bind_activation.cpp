// Python entry points of ops/activation and ops/softmax: validation and dtype/device dispatch.
// Inputs of any strides are made contiguous; outputs are new contiguous tensors of the input's shape
// on the input's device. CPU tensors run activation.cpp / softmax.cpp, CUDA tensors activation.cu /
// softmax.cu (built with CNNKIT_WITH_CUDA).
#include "bindings/bindings.h"
#include "ops/activation.h"
#include "ops/softmax.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/activation_cuda.h"
#include "ops/softmax_cuda.h"
#endif

namespace cnnkit {
namespace {

Tensor checked_input(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  check_floating(op, name, t);
  return t.contiguous();
}

// Second operand of a backward (the saved output or input): same shape and dtype as dout.
Tensor checked_like(const char* op, const char* name, const Tensor& t, const Tensor& dout) {
  check_defined(op, name, t);
  check_same_device(op, "grad_output", dout, name, t);
  check_same_dtype(op, "grad_output", dout, name, t);
  check_shape(op, name, t, dout.shape());
  return t.contiguous();
}

enum class Act { Relu, LeakyRelu, Sigmoid, Tanh };

// out = act(x) elementwise, on x's device.
template <class scalar_t>
void act_forward(const char* op, Act a, scalar_t* o, const scalar_t* x, double slope, int64_t n, Device dev) {
  if (dev.is_cpu()) {
    switch (a) {
      case Act::Relu: return relu_forward(o, x, n);
      case Act::LeakyRelu: return leaky_relu_forward(o, x, slope, n);
      case Act::Sigmoid: return sigmoid_forward(o, x, n);
      case Act::Tanh: return tanh_forward(o, x, n);
    }
    return;
  }
#ifdef CNNKIT_WITH_CUDA
  switch (a) {
    case Act::Relu: return relu_forward_cuda(o, x, n, dev.index);
    case Act::LeakyRelu: return leaky_relu_forward_cuda(o, x, slope, n, dev.index);
    case Act::Sigmoid: return sigmoid_forward_cuda(o, x, n, dev.index);
    case Act::Tanh: return tanh_forward_cuda(o, x, n, dev.index);
  }
#else
  throw_no_cuda(op);
#endif
}

// dinp = act'(dout, saved) elementwise (saved: the output, or the input for leaky_relu).
template <class scalar_t>
void act_backward(const char* op, Act a, scalar_t* d, const scalar_t* g, const scalar_t* y, double slope, int64_t n,
                  Device dev) {
  if (dev.is_cpu()) {
    switch (a) {
      case Act::Relu: return relu_backward(d, g, y, n);
      case Act::LeakyRelu: return leaky_relu_backward(d, g, y, slope, n);
      case Act::Sigmoid: return sigmoid_backward(d, g, y, n);
      case Act::Tanh: return tanh_backward(d, g, y, n);
    }
    return;
  }
#ifdef CNNKIT_WITH_CUDA
  switch (a) {
    case Act::Relu: return relu_backward_cuda(d, g, y, n, dev.index);
    case Act::LeakyRelu: return leaky_relu_backward_cuda(d, g, y, slope, n, dev.index);
    case Act::Sigmoid: return sigmoid_backward_cuda(d, g, y, n, dev.index);
    case Act::Tanh: return tanh_backward_cuda(d, g, y, n, dev.index);
  }
#else
  throw_no_cuda(op);
#endif
}

Tensor unary(const char* op, Act a, const Tensor& x_, double slope = 0.0) {
  const Tensor x = checked_input(op, "input", x_);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    act_forward(op, a, out.data<scalar_t>(), x.data<scalar_t>(), slope, x.numel(), x.device());
  });
  return out;
}

Tensor backward(const char* op, Act a, const char* saved_name, const Tensor& dout_, const Tensor& saved_,
                double slope = 0.0) {
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor saved = checked_like(op, saved_name, saved_, dout);
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype(), dout.device());
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    act_backward(op, a, dinp.data<scalar_t>(), dout.data<scalar_t>(), saved.data<scalar_t>(), slope, dout.numel(),
                 dout.device());
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
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) {
      softmax_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), sl.outer, sl.D, sl.inner, log);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    softmax_forward_cuda<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), sl.outer, sl.D, sl.inner, log, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return out;
}

Tensor softmax_bwd(const char* op, const Tensor& dout_, const Tensor& out_, int64_t dim, bool log) {
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor out = checked_like(op, "output", out_, dout);
  const Slices sl = slices(op, dout.shape(), dim);
  const Device dev = dout.device();
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) {
      softmax_backward<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), out.data<scalar_t>(), sl.outer, sl.D,
                                 sl.inner, log);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    softmax_backward_cuda<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), out.data<scalar_t>(), sl.outer,
                                    sl.D, sl.inner, log, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return dinp;
}

// The parametrised family by name: (op, number of parameters).
struct ActSpec {
  const char* name;
  PointwiseAct act;
  size_t nparams;
};
constexpr ActSpec kActs[] = {
    {"elu", PointwiseAct::Elu, 3},           {"gelu", PointwiseAct::Gelu, 0},
    {"gelu_tanh", PointwiseAct::GeluTanh, 0}, {"silu", PointwiseAct::Silu, 0},
    {"softplus", PointwiseAct::Softplus, 2}, {"hardtanh", PointwiseAct::Hardtanh, 2},
    {"hardswish", PointwiseAct::Hardswish, 0}, {"hardsigmoid", PointwiseAct::Hardsigmoid, 0},
    {"mish", PointwiseAct::Mish, 0},         {"logsigmoid", PointwiseAct::LogSigmoid, 0},
    {"softsign", PointwiseAct::Softsign, 0}, {"tanhshrink", PointwiseAct::Tanhshrink, 0},
    {"threshold", PointwiseAct::Threshold, 2}, {"hardshrink", PointwiseAct::Hardshrink, 1},
    {"softshrink", PointwiseAct::Softshrink, 1},
};

ActParams act_params(const char* op, const std::string& name, const std::vector<double>& params, PointwiseAct* act) {
  for (const ActSpec& s : kActs) {
    if (name != s.name) continue;
    CNNKIT_CHECK(params.size() == s.nparams, ValueError, op, ": '", name, "' expects ", s.nparams,
                 " parameters, got ", params.size());
    ActParams a;
    for (size_t i = 0; i < params.size(); ++i) a.p[i] = params[i];
    *act = s.act;
    return a;
  }
  std::string names;
  for (const ActSpec& s : kActs) names += std::string(names.empty() ? "" : ", ") + s.name;
  throw ValueError(str(op, ": unknown activation '", name, "' (expected one of ", names, ")"));
}

// Errors name the activation ("gelu: expected input ..."), as the other ops' messages do.
Tensor pointwise_fwd(const std::string& name, const Tensor& x_, const std::vector<double>& params) {
  PointwiseAct act;
  const ActParams a = act_params("activation_forward", name, params, &act);
  const char* op = name.c_str();
  const Tensor x = checked_input(op, "input", x_);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Device dev = x.device();
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) return pointwise_act_forward(out.data<scalar_t>(), x.data<scalar_t>(), x.numel(), act, a);
    CNNKIT_CUDA_OR_THROW(op, pointwise_act_forward_cuda(out.data<scalar_t>(), x.data<scalar_t>(), x.numel(), act, a,
                                                        dev.index));
  });
  return out;
}

Tensor pointwise_bwd(const std::string& name, const Tensor& dout_, const Tensor& x_, const std::vector<double>& params) {
  PointwiseAct act;
  const ActParams a = act_params("activation_backward", name, params, &act);
  const std::string opname = name + "_backward";
  const char* op = opname.c_str();
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor x = checked_like(op, "input", x_, dout);
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype(), dout.device());
  const Device dev = dout.device();
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu())
      return pointwise_act_backward(dinp.data<scalar_t>(), dout.data<scalar_t>(), x.data<scalar_t>(), dout.numel(), act, a);
    CNNKIT_CUDA_OR_THROW(op, pointwise_act_backward_cuda(dinp.data<scalar_t>(), dout.data<scalar_t>(),
                                                         x.data<scalar_t>(), dout.numel(), act, a, dev.index));
  });
  return dinp;
}

// prelu's (outer, C, inner) view of the input: C = input.size(1) for inputs of 2+ dims, else 1
// (torch's channel rule); a one-element weight applies everywhere.
struct PreluDims {
  int64_t outer = 1, C = 1, inner = 1;
};
PreluDims prelu_dims(const char* op, const Tensor& x, const Tensor& w) {
  CNNKIT_CHECK(w.dim() <= 1, ValueError, op, ": expected weight to be a scalar or 1-D tensor, got ", w.dim(),
               "-D with shape ", w.shape());
  check_same_device(op, "input", x, "weight", w);
  check_same_dtype(op, "input", x, "weight", w);
  const int64_t channels = x.dim() >= 2 ? x.shape()[1] : 1;
  PreluDims d;
  if (w.numel() == 1) {
    d.inner = x.numel();
    return d;
  }
  CNNKIT_CHECK(w.numel() == channels, ValueError, op,
               ": mismatch of parameter numbers and input channel size: found parameter numbers = ", w.numel(),
               " and channel size = ", channels);
  d.outer = x.shape()[0];
  d.C = channels;
  for (int64_t i = 2; i < x.dim(); ++i) d.inner *= x.shape()[i];
  return d;
}

Tensor prelu_fwd(const Tensor& x_, const Tensor& w_) {
  const char* op = "prelu";
  const Tensor x = checked_input(op, "input", x_);
  check_defined(op, "weight", w_);
  const Tensor w = w_.contiguous();
  const PreluDims d = prelu_dims(op, x, w);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Device dev = x.device();
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) return prelu_forward(out.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), d.outer, d.C, d.inner);
    CNNKIT_CUDA_OR_THROW(op, prelu_forward_cuda(out.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), d.outer,
                                                d.C, d.inner, dev.index));
  });
  return out;
}

py::tuple prelu_bwd(const Tensor& dout_, const Tensor& x_, const Tensor& w_, bool need_input, bool need_weight) {
  const char* op = "prelu_backward";
  const Tensor dout = checked_input(op, "grad_output", dout_);
  const Tensor x = checked_like(op, "input", x_, dout);
  check_defined(op, "weight", w_);
  const Tensor w = w_.contiguous();
  const PreluDims d = prelu_dims(op, x, w);
  const Device dev = x.device();
  Tensor dinp, dw;
  if (need_input) dinp = Tensor::empty(x.shape(), x.dtype(), dev);
  if (need_weight) dw = Tensor::empty(w.shape(), w.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    scalar_t* di = need_input ? dinp.data<scalar_t>() : nullptr;
    scalar_t* dwp = need_weight ? dw.data<scalar_t>() : nullptr;
    if (dev.is_cpu())
      return prelu_backward(di, dwp, dout.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), d.outer, d.C, d.inner);
    CNNKIT_CUDA_OR_THROW(op, prelu_backward_cuda(di, dwp, dout.data<scalar_t>(), x.data<scalar_t>(),
                                                 w.data<scalar_t>(), d.outer, d.C, d.inner, dev.index));
  });
  return py::make_tuple(need_input ? py::cast(dinp) : py::none(), need_weight ? py::cast(dw) : py::none());
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("relu_forward", [](const Tensor& x) { return unary("relu", Act::Relu, x); }, py::arg("input"));
  m.def("relu_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("relu_backward", Act::Relu, "output", dout, out);
  }, py::arg("grad_output"), py::arg("output"), "gradient of relu from its output");
  m.def("leaky_relu_forward", [](const Tensor& x, double slope) {
    return unary("leaky_relu", Act::LeakyRelu, x, slope);
  }, py::arg("input"), py::arg("negative_slope"));
  m.def("leaky_relu_backward", [](const Tensor& dout, const Tensor& x, double slope) {
    return backward("leaky_relu_backward", Act::LeakyRelu, "input", dout, x, slope);
  }, py::arg("grad_output"), py::arg("input"), py::arg("negative_slope"), "gradient of leaky_relu from its input");
  m.def("sigmoid_forward", [](const Tensor& x) { return unary("sigmoid", Act::Sigmoid, x); }, py::arg("input"));
  m.def("sigmoid_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("sigmoid_backward", Act::Sigmoid, "output", dout, out);
  }, py::arg("grad_output"), py::arg("output"), "gradient of sigmoid from its output");
  m.def("tanh_forward", [](const Tensor& x) { return unary("tanh", Act::Tanh, x); }, py::arg("input"));
  m.def("tanh_backward", [](const Tensor& dout, const Tensor& out) {
    return backward("tanh_backward", Act::Tanh, "output", dout, out);
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

  m.def("activation_forward", &pointwise_fwd, py::arg("op"), py::arg("input"), py::arg("params") = std::vector<double>{},
        "out = op(input; params) for the parametrised pointwise activations (elu(negcoef, poscoef, negiptcoef), "
        "gelu, gelu_tanh, silu, softplus(beta, threshold), hardtanh(min, max), hardswish, hardsigmoid, mish, "
        "logsigmoid, softsign, tanhshrink, threshold(threshold, value), hardshrink(lambd), softshrink(lambd))");
  m.def("activation_backward", &pointwise_bwd, py::arg("op"), py::arg("grad_output"), py::arg("input"),
        py::arg("params") = std::vector<double>{}, "gradient of activation_forward from its input");
  m.def("prelu_forward", &prelu_fwd, py::arg("input"), py::arg("weight"));
  m.def("prelu_backward", &prelu_bwd, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("need_input") = true, py::arg("need_weight") = true, "(grad_input | None, grad_weight | None)");
}

}  // namespace cnnkit
