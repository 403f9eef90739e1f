// Python entry points of ops/optim: sgd_step_ updates param (and buf) IN PLACE.
//   sgd_step_(param, grad, buf|None, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step)
//   adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq|None, lr, beta1, beta2, eps, weight_decay, step,
//              amsgrad, maximize, decoupled_weight_decay)
//   rmsprop_step_(param, grad, square_avg, grad_avg|None, momentum_buffer|None, lr, alpha, eps, weight_decay,
//                 momentum, centered, maximize)
//   adagrad_step_(param, grad, sum, clr, eps, weight_decay, maximize)
//   adadelta_step_(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize)
//   adamax_step_(param, grad, exp_avg, exp_inf, lr, beta1, beta2, eps, weight_decay, step, maximize)
//   nadam_step_(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, bias_correction2,
//               coef_grad, coef_avg, maximize, decoupled_weight_decay)
//   radam_step_(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, bias_correction1,
//               bc2_sqrt, rect, rectified, maximize, decoupled_weight_decay)
// State tensors are written: same shape, dtype and device as param, contiguous.
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

// A state tensor the kernel writes: defined, param's dtype, device and shape, contiguous.
void check_state(const char* op, const char* name, const Tensor& param, const Tensor& t) {
  check_defined(op, name, t);
  check_same_device(op, "param", param, name, t);
  check_same_dtype(op, "param", param, name, t);
  check_shape(op, name, t, param.shape());
  check_contiguous(op, name, t);
}

// Checks param and grad; returns grad made contiguous.
Tensor check_param_grad(const char* op, Tensor& param, const Tensor& grad) {
  check_defined(op, "param", param);
  check_floating(op, "param", param);
  check_contiguous(op, "param", param);
  check_defined(op, "grad", grad);
  check_same_device(op, "param", param, "grad", grad);
  check_same_dtype(op, "param", param, "grad", grad);
  check_shape(op, "grad", grad, param.shape());
  return grad.contiguous();
}

template <class scalar_t>
scalar_t* opt_data(const std::optional<Tensor>& t, bool used) {
  return used ? t->data<scalar_t>() : nullptr;
}

void adam_step_py(Tensor& param, const Tensor& grad_, Tensor& exp_avg, Tensor& exp_avg_sq,
                  std::optional<Tensor> max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                  double weight_decay, double step, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
  const char* op = "adam_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "exp_avg", param, exp_avg);
  check_state(op, "exp_avg_sq", param, exp_avg_sq);
  if (amsgrad) {
    CNNKIT_CHECK(max_exp_avg_sq.has_value(), ValueError, op, ": max_exp_avg_sq is required when amsgrad=True");
    check_state(op, "max_exp_avg_sq", param, *max_exp_avg_sq);
  }
  CNNKIT_CHECK(step >= 1.0, ValueError, op, ": step must be >= 1 (the count after this step), got ", step);
  AdamParams h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.step = step;
  h.amsgrad = amsgrad;
  h.maximize = maximize;
  h.decoupled_weight_decay = decoupled_weight_decay;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* vmax = opt_data<scalar_t>(max_exp_avg_sq, amsgrad);
    if (dev.is_cpu()) {
      adam_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                          exp_avg_sq.data<scalar_t>(), vmax, param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adam_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                             exp_avg_sq.data<scalar_t>(), vmax, param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void rmsprop_step_py(Tensor& param, const Tensor& grad_, Tensor& square_avg, std::optional<Tensor> grad_avg,
                     std::optional<Tensor> momentum_buffer, double lr, double alpha, double eps, double weight_decay,
                     double momentum, bool centered, bool maximize) {
  const char* op = "rmsprop_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "square_avg", param, square_avg);
  if (centered) {
    CNNKIT_CHECK(grad_avg.has_value(), ValueError, op, ": grad_avg is required when centered=True");
    check_state(op, "grad_avg", param, *grad_avg);
  }
  const bool has_momentum = momentum > 0.0;
  if (has_momentum) {
    CNNKIT_CHECK(momentum_buffer.has_value(), ValueError, op, ": momentum_buffer is required when momentum > 0");
    check_state(op, "momentum_buffer", param, *momentum_buffer);
  }
  RmspropParams h;
  h.lr = lr;
  h.alpha = alpha;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.momentum = momentum;
  h.centered = centered;
  h.maximize = maximize;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* ga = opt_data<scalar_t>(grad_avg, centered);
    scalar_t* buf = opt_data<scalar_t>(momentum_buffer, has_momentum);
    if (dev.is_cpu()) {
      rmsprop_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), square_avg.data<scalar_t>(), ga, buf,
                             param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    rmsprop_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), square_avg.data<scalar_t>(), ga, buf,
                                param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void adagrad_step_py(Tensor& param, const Tensor& grad_, Tensor& sum, double clr, double eps, double weight_decay,
                     bool maximize) {
  const char* op = "adagrad_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "sum", param, sum);
  AdagradParams h;
  h.clr = clr;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    if (dev.is_cpu()) {
      adagrad_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), sum.data<scalar_t>(), param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adagrad_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), sum.data<scalar_t>(), param.numel(),
                                h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void adadelta_step_py(Tensor& param, const Tensor& grad_, Tensor& square_avg, Tensor& acc_delta, double lr,
                      double rho, double eps, double weight_decay, bool maximize) {
  const char* op = "adadelta_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "square_avg", param, square_avg);
  check_state(op, "acc_delta", param, acc_delta);
  AdadeltaParams h;
  h.lr = lr;
  h.rho = rho;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.maximize = maximize;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    if (dev.is_cpu()) {
      adadelta_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), square_avg.data<scalar_t>(),
                              acc_delta.data<scalar_t>(), param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adadelta_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), square_avg.data<scalar_t>(),
                                 acc_delta.data<scalar_t>(), param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void adamax_step_py(Tensor& param, const Tensor& grad_, Tensor& exp_avg, Tensor& exp_inf, double lr, double beta1,
                    double beta2, double eps, double weight_decay, double step, bool maximize) {
  const char* op = "adamax_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "exp_avg", param, exp_avg);
  check_state(op, "exp_inf", param, exp_inf);
  CNNKIT_CHECK(step >= 1.0, ValueError, op, ": step must be >= 1 (the count after this step), got ", step);
  AdamaxParams h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.step = step;
  h.maximize = maximize;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    if (dev.is_cpu()) {
      adamax_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                            exp_inf.data<scalar_t>(), param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adamax_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                               exp_inf.data<scalar_t>(), param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void nadam_step_py(Tensor& param, const Tensor& grad_, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double bias_correction2, double coef_grad,
                   double coef_avg, bool maximize, bool decoupled_weight_decay) {
  const char* op = "nadam_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "exp_avg", param, exp_avg);
  check_state(op, "exp_avg_sq", param, exp_avg_sq);
  NadamParams h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.bias_correction2 = bias_correction2;
  h.coef_grad = coef_grad;
  h.coef_avg = coef_avg;
  h.maximize = maximize;
  h.decoupled_weight_decay = decoupled_weight_decay;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    if (dev.is_cpu()) {
      nadam_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                           exp_avg_sq.data<scalar_t>(), param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    nadam_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                              exp_avg_sq.data<scalar_t>(), param.numel(), h, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
}

void radam_step_py(Tensor& param, const Tensor& grad_, Tensor& exp_avg, Tensor& exp_avg_sq, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double bias_correction1, double bc2_sqrt,
                   double rect, bool rectified, bool maximize, bool decoupled_weight_decay) {
  const char* op = "radam_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "exp_avg", param, exp_avg);
  check_state(op, "exp_avg_sq", param, exp_avg_sq);
  RadamParams h;
  h.lr = lr;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.bias_correction1 = bias_correction1;
  h.bc2_sqrt = bc2_sqrt;
  h.rect = rect;
  h.rectified = rectified;
  h.maximize = maximize;
  h.decoupled_weight_decay = decoupled_weight_decay;
  const Device dev = param.device();
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    if (dev.is_cpu()) {
      radam_step<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                           exp_avg_sq.data<scalar_t>(), param.numel(), h);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    radam_step_cuda<scalar_t>(param.data<scalar_t>(), grad.data<scalar_t>(), exp_avg.data<scalar_t>(),
                              exp_avg_sq.data<scalar_t>(), param.numel(), h, dev.index);
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
  m.def("adam_step_", &adam_step_py, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("step"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("decoupled_weight_decay"),
        "one torch.optim.Adam/AdamW update (step = count after this step), in place on param and state");
  m.def("rmsprop_step_", &rmsprop_step_py, py::arg("param"), py::arg("grad"), py::arg("square_avg"),
        py::arg("grad_avg"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
        "one torch.optim.RMSprop update, in place on param and state");
  m.def("adagrad_step_", &adagrad_step_py, py::arg("param"), py::arg("grad"), py::arg("sum"), py::arg("clr"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
        "one torch.optim.Adagrad update with clr = lr / (1 + (step - 1) * lr_decay), in place on param and sum");
  m.def("adadelta_step_", &adadelta_step_py, py::arg("param"), py::arg("grad"), py::arg("square_avg"),
        py::arg("acc_delta"), py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("maximize"), "one torch.optim.Adadelta update, in place on param and state");
  m.def("adamax_step_", &adamax_step_py, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_inf"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step"),
        py::arg("maximize"), "one torch.optim.Adamax update (step = count after this step), in place");
  m.def("nadam_step_", &nadam_step_py, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("bias_correction2"), py::arg("coef_grad"), py::arg("coef_avg"), py::arg("maximize"),
        py::arg("decoupled_weight_decay"), "one torch.optim.NAdam update with host-computed coefficients, in place");
  m.def("radam_step_", &radam_step_py, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("bias_correction1"), py::arg("bc2_sqrt"), py::arg("rect"), py::arg("rectified"), py::arg("maximize"),
        py::arg("decoupled_weight_decay"), "one torch.optim.RAdam update with host-computed coefficients, in place");
}

}  // namespace cnnkit
