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

// An optional state tensor: when `used`, it must be given (`what` names it in the error, `when` the
// option that needs it) and is checked as check_state does.
void check_opt_state(const char* op, const char* name, const Tensor& param, const std::optional<Tensor>& t,
                     bool used, const char* what, const char* when) {
  if (!used) return;
  CNNKIT_CHECK(t.has_value(), ValueError, op, ": ", what, " is required when ", when);
  check_state(op, name, param, *t);
}

template <class scalar_t>
scalar_t* opt_data(const std::optional<Tensor>& t, bool used) {
  return used ? t->data<scalar_t>() : nullptr;
}

// The device dispatch of every update: kernel(param, grad, state..., n, h) for a CPU param, else
// its CUDA twin with the device index appended. CNNKIT_OPTIM_TWIN(kernel) names the twin of
// kernel<scalar_t> (nullptr in a build without CUDA, where a CUDA param raises the no-CUDA error).
#ifdef CNNKIT_WITH_CUDA
#define CNNKIT_OPTIM_TWIN(kernel) &kernel##_cuda<scalar_t>
#else
#define CNNKIT_OPTIM_TWIN(kernel) nullptr
#endif
template <class scalar_t, class Cpu, class Cuda, class Params, class... State>
void run_kernel(const char* op, Tensor& param, const Tensor& grad, Cpu cpu, Cuda cuda, const Params& h,
                State*... state) {
  scalar_t* p = param.data<scalar_t>();
  const scalar_t* g = grad.data<scalar_t>();
  const Device dev = param.device();
  if (dev.is_cpu()) {
    cpu(p, g, state..., param.numel(), h);
    return;
  }
  (void)cuda;
  CNNKIT_CUDA_OR_THROW(op, cuda(p, g, state..., param.numel(), h, dev.index));
}

void sgd_step_py(Tensor& param, const Tensor& grad_, std::optional<Tensor> buf, double lr, double momentum,
                 double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  const char* op = "sgd_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  const bool has_momentum = momentum != 0.0;
  check_opt_state(op, "momentum_buffer", param, buf, has_momentum, "a momentum buffer", "momentum != 0");
  SgdParams h;
  h.lr = lr;
  h.momentum = momentum;
  h.dampening = dampening;
  h.weight_decay = weight_decay;
  h.nesterov = nesterov;
  h.maximize = maximize;
  h.first_step = first_step;
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* b = has_momentum ? buf->data<scalar_t>() : nullptr;
    run_kernel<scalar_t>(op, param, grad, &sgd_step<scalar_t>, CNNKIT_OPTIM_TWIN(sgd_step), h, b);
  });
}

void adam_step_py(Tensor& param, const Tensor& grad_, Tensor& exp_avg, Tensor& exp_avg_sq,
                  std::optional<Tensor> max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                  double weight_decay, double step, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
  const char* op = "adam_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "exp_avg", param, exp_avg);
  check_state(op, "exp_avg_sq", param, exp_avg_sq);
  check_opt_state(op, "max_exp_avg_sq", param, max_exp_avg_sq, amsgrad, "max_exp_avg_sq", "amsgrad=True");
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* vmax = opt_data<scalar_t>(max_exp_avg_sq, amsgrad);
    run_kernel<scalar_t>(op, param, grad, &adam_step<scalar_t>, CNNKIT_OPTIM_TWIN(adam_step), h,
                         exp_avg.data<scalar_t>(), exp_avg_sq.data<scalar_t>(), vmax);
  });
}

void rmsprop_step_py(Tensor& param, const Tensor& grad_, Tensor& square_avg, std::optional<Tensor> grad_avg,
                     std::optional<Tensor> momentum_buffer, double lr, double alpha, double eps, double weight_decay,
                     double momentum, bool centered, bool maximize) {
  const char* op = "rmsprop_step_";
  const Tensor grad = check_param_grad(op, param, grad_);
  check_state(op, "square_avg", param, square_avg);
  check_opt_state(op, "grad_avg", param, grad_avg, centered, "grad_avg", "centered=True");
  const bool has_momentum = momentum > 0.0;
  check_opt_state(op, "momentum_buffer", param, momentum_buffer, has_momentum, "momentum_buffer", "momentum > 0");
  RmspropParams h;
  h.lr = lr;
  h.alpha = alpha;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.momentum = momentum;
  h.centered = centered;
  h.maximize = maximize;
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    scalar_t* ga = opt_data<scalar_t>(grad_avg, centered);
    scalar_t* buf = opt_data<scalar_t>(momentum_buffer, has_momentum);
    run_kernel<scalar_t>(op, param, grad, &rmsprop_step<scalar_t>, CNNKIT_OPTIM_TWIN(rmsprop_step), h,
                         square_avg.data<scalar_t>(), ga, buf);
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    run_kernel<scalar_t>(op, param, grad, &adagrad_step<scalar_t>, CNNKIT_OPTIM_TWIN(adagrad_step), h,
                         sum.data<scalar_t>());
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    run_kernel<scalar_t>(op, param, grad, &adadelta_step<scalar_t>, CNNKIT_OPTIM_TWIN(adadelta_step), h,
                         square_avg.data<scalar_t>(), acc_delta.data<scalar_t>());
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    run_kernel<scalar_t>(op, param, grad, &adamax_step<scalar_t>, CNNKIT_OPTIM_TWIN(adamax_step), h,
                         exp_avg.data<scalar_t>(), exp_inf.data<scalar_t>());
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    run_kernel<scalar_t>(op, param, grad, &nadam_step<scalar_t>, CNNKIT_OPTIM_TWIN(nadam_step), h,
                         exp_avg.data<scalar_t>(), exp_avg_sq.data<scalar_t>());
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
  CNNKIT_DISPATCH_FLOATING(param.dtype(), op, [&] {
    run_kernel<scalar_t>(op, param, grad, &radam_step<scalar_t>, CNNKIT_OPTIM_TWIN(radam_step), h,
                         exp_avg.data<scalar_t>(), exp_avg_sq.data<scalar_t>());
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
