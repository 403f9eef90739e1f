// Python entry point of ops/optim: sgd_step_ updates param (and buf) IN PLACE.
//   sgd_step_(param, grad, buf|None, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step)
// param and buf must be contiguous (they are written); grad may have any strides. All three on
// one device: CPU tensors run ops/optim.cpp, CUDA tensors ops/optim.cu (built with CNNKIT_WITH_CUDA).
#include <optional>

#include "bindings/bindings.h"
#include "ops/optim.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/optim_cuda.h"
#endif

namespace cnnkit {
namespace {

void sgd_step_py(Tensor& param, const Tensor& grad_, std::optional<Tensor> buf, double lr, double momentum,
                 double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  const char* op = "sgd_step_";
  check_defined(op, "param", param);
  check_floating(op, "param", param);
  check_contiguous(op, "param", param);
  check_defined(op, "grad", grad_);
  check_same_device(op, "param", param, "grad", grad_);
  check_same_dtype(op, "param", param, "grad", grad_);
  check_shape(op, "grad", grad_, param.shape());
  const bool has_momentum = momentum != 0.0;
  if (has_momentum) {
    CNNKIT_CHECK(buf.has_value(), ValueError, op, ": a momentum buffer is required when momentum != 0");
    check_defined(op, "momentum_buffer", *buf);
    check_same_device(op, "param", param, "momentum_buffer", *buf);
    check_same_dtype(op, "param", param, "momentum_buffer", *buf);
    check_shape(op, "momentum_buffer", *buf, param.shape());
    check_contiguous(op, "momentum_buffer", *buf);
  }
  const Tensor grad = grad_.contiguous();
  SgdParams h;
  h.lr = lr;
  h.momentum = momentum;
  h.dampening = dampening;
  h.weight_decay = weight_decay;
  h.nesterov = nesterov;
  h.maximize = maximize;
  h.first_step = first_step;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* b = has_momentum ? buf->data<scalar_t>() : nullptr;
    if (dev.is_cpu()) {
      sgd_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), b, param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    sgd_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), b, param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_step_", &sgd_step_py, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::arg("lr"),
        py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        py::arg("first_step"),
        "one torch.optim.SGD update, in place on param and momentum_buffer (bit-identical to PyTorch)");
}

}  // namespace cnnkit
