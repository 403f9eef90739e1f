// Python entry points of ops/loss: shape/dtype/target validation (PyTorch's rules; its messages
// where it has them) and dispatch. Inputs of any strides are made contiguous.
//
//   cross_entropy_forward(logits, target, weight|None, ignore_index, reduction, label_smoothing)
//       -> (loss, logp); logp = log_softmax(logits, 1) is what the backward needs.
//       target: int64 class indices of shape (N, d1, ...) ((), for a (C,) input), or a floating
//       tensor of the logits' shape holding class probabilities (ignore_index unused then).
//   cross_entropy_backward(dloss, logp, target, weight|None, ignore_index, reduction, label_smoothing)
//       -> dlogits (no gradient for probability targets).
//   nll_loss_forward(logp, target, weight|None, ignore_index, reduction) -> (loss, total_weight 0-d)
//   nll_loss_backward(dloss, input_shape, target, weight|None, ignore_index, reduction, total_weight)
//       -> dlogp of shape input_shape; total_weight is the forward's second result (a tensor or float).
//   mse_loss_forward(input, target, reduction), mse_loss_backward(dloss, input, target, reduction)
//       -> (dinput, dtarget). Shapes must match exactly: F.mse_loss broadcasts (expand) first, with
//       PyTorch's warning.
//   pointwise_loss_forward(op, input, target, weight|None, pos_weight|None, reduction, param) -> loss
//   pointwise_loss_backward(op, grad_output, input, target, weight|None, pos_weight|None, reduction, param,
//       needs_target) -> (dinput, dtarget|None)
//       op: 'l1' | 'smooth_l1' (param = beta >= 0; 0 means l1) | 'huber' (param = delta > 0) | 'bce' |
//       'bce_with_logits' | 'kl_div' | 'kl_div_log_target' | 'soft_margin'. target, weight and
//       pos_weight have the input's shape and dtype (the Python layer broadcasts them); 'bce' checks
//       that every input and target lies in [0, 1] (PyTorch's RuntimeError messages).
// Reductions: 'mean' | 'sum' | 'none'; 'none' returns the per-sample shape, the others a 0-d tensor.
// Devices: every tensor argument must be on the input's device (RuntimeError naming both
// otherwise); outputs are created there. CPU tensors run ops/loss.cpp, CUDA tensors ops/loss.cu
// (built with CNNKIT_WITH_CUDA); class targets are range-checked on their device either way.
#include <optional>
#include <string>

#include "bindings/bindings.h"
#include "ops/loss.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/loss_cuda.h"
#endif

namespace cnnkit {
namespace {

Reduction reduction_arg(const char* op, const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw ValueError(str(op, ": ", r, " is not a valid value for reduction (expected 'mean', 'sum' or 'none')"));
}

Tensor float_input(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  check_floating(op, name, t);
  return t.contiguous();
}

// Input (N, C, d1, ...) or (C,): its dims in the (N, C, S) view and the per-sample shape.
struct Layout {
  LossDims d;
  Shape sample_shape;
};
Layout layout_of(const char* op, const Shape& s) {
  CNNKIT_CHECK(!s.empty(), ValueError, op, ": expected input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor");
  Layout l;
  if (s.size() == 1) {
    l.d.C = s[0];
    return l;
  }
  l.d.N = s[0];
  l.d.C = s[1];
  l.sample_shape.push_back(s[0]);
  for (size_t i = 2; i < s.size(); ++i) {
    l.d.S *= s[i];
    l.sample_shape.push_back(s[i]);
  }
  return l;
}

// Class-index target: int64, shape = per-sample shape, every value ignore_index or in [0, C); on
// the device of `like` (the input, or grad_output where the input is not passed).
Tensor class_target(const char* op, const Tensor& t_, const Layout& l, const Shape& input_shape, int64_t ignore_index,
                    const char* like_name, const Tensor& like) {
  check_defined(op, "target", t_);
  check_same_device(op, like_name, like, "target", t_);
  CNNKIT_CHECK(t_.dtype() == DType::Int64, TypeError, op, ": expected target of dtype int64 (class indices), got ",
               dtype_name(t_.dtype()));
  if (input_shape.size() == 2 && t_.dim() == 1) {
    CNNKIT_CHECK(t_.shape()[0] == l.d.N, ValueError, "Expected input batch_size (", l.d.N,
                 ") to match target batch_size (", t_.shape()[0], ").");
  }
  CNNKIT_CHECK(t_.shape() == l.sample_shape, ValueError, op, ": expected target of shape ", l.sample_shape,
               " for input of shape ", input_shape, ", got ", t_.shape());
  Tensor t = t_.contiguous();
  const int64_t* p = t.data<int64_t>();
  if (t.device().is_cpu()) {
    for (int64_t i = 0, n = t.numel(); i < n; ++i)
      CNNKIT_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < l.d.C), IndexError, "Target ", p[i],
                   " is out of bounds.");
    return t;
  }
#ifdef CNNKIT_WITH_CUDA
  int64_t bad = 0;
  CNNKIT_CHECK(!loss_find_bad_target_cuda(p, t.numel(), l.d.C, ignore_index, t.device().index, &bad), IndexError,
               "Target ", bad, " is out of bounds.");
  return t;
#else
  throw_no_cuda(op);
#endif
}

// weight: (C,), like's dtype and device (like: the input, or grad_output where no input is passed).
std::optional<Tensor> weight_arg(const char* op, const std::optional<Tensor>& w, const char* like_name,
                                 const Tensor& like, int64_t C) {
  if (!w) return std::nullopt;
  check_defined(op, "weight", *w);
  check_same_device(op, like_name, like, "weight", *w);
  check_same_dtype(op, like_name, like, "weight", *w);
  CNNKIT_CHECK(w->dim() == 1 && w->shape()[0] == C, ValueError, op, ": weight tensor should be defined either for all ",
               C, " classes or no classes but got weight tensor of shape: ", w->shape());
  return w->contiguous();
}

double smoothing_arg(const char* op, double ls) {
  CNNKIT_CHECK(ls >= 0.0 && ls <= 1.0, ValueError, op, ": label_smoothing must be between 0.0 and 1.0. Got: ", ls);
  return ls;
}

Tensor loss_output(Reduction r, const Shape& sample_shape, DType dt, Device dev) {
  return Tensor::empty(r == Reduction::None ? sample_shape : Shape{}, dt, dev);
}

// dloss: the per-sample shape for 'none', one element otherwise; the loss dtype; like's device.
Tensor dloss_arg(const char* op, const Tensor& g, Reduction r, const Shape& sample_shape, DType dt,
                 const char* like_name, const Tensor& like) {
  check_defined(op, "grad_output", g);
  check_same_device(op, like_name, like, "grad_output", g);
  CNNKIT_CHECK(g.dtype() == dt, TypeError, op, ": expected grad_output of dtype ", dtype_name(dt), ", got ",
               dtype_name(g.dtype()));
  if (r == Reduction::None)
    check_shape(op, "grad_output", g, sample_shape);
  else
    CNNKIT_CHECK(g.numel() == 1, ValueError, op, ": expected a one-element grad_output for a reduced loss, got shape ",
                 g.shape());
  return g.contiguous();
}

// A Python number or a one-element tensor (what nll_loss_forward returned) as a one-element
// contiguous tensor of dtype `dt` on `like`'s device (a tensor must already be there).
Tensor scalar_arg(const char* op, const char* name, const py::object& v, DType dt, const Tensor& like) {
  if (py::isinstance<Tensor>(v)) {
    const Tensor& t = v.cast<const Tensor&>();
    check_same_device(op, "grad_output", like, name, t);
    CNNKIT_CHECK(t.numel() == 1, ValueError, op, ": expected ", name, " to have one element, got shape ", t.shape());
    return t.to(dt).contiguous();
  }
  return Tensor::full({}, v.cast<double>(), dt, like.device());
}

template <class scalar_t>
const scalar_t* ptr_or_null(const std::optional<Tensor>& t) {
  return t ? t->data<scalar_t>() : nullptr;
}

// True when `target` holds class probabilities (same shape as the input), as PyTorch decides.
bool is_prob_target(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, "target", target);
  if (target.shape() != input.shape()) return false;
  CNNKIT_CHECK(is_floating(target.dtype()), TypeError, op,
               ": expected a floating target with class probabilities (target has the input's shape), got ",
               dtype_name(target.dtype()));
  return true;
}

py::tuple cross_entropy_forward_py(const Tensor& logits_, const Tensor& target_, const std::optional<Tensor>& weight_,
                                   int64_t ignore_index, const std::string& reduction, double label_smoothing) {
  const char* op = "cross_entropy";
  const Tensor logits = float_input(op, "input", logits_);
  const Reduction r = reduction_arg(op, reduction);
  const double ls = smoothing_arg(op, label_smoothing);
  const Layout l = layout_of(op, logits.shape());
  const auto weight = weight_arg(op, weight_, "input", logits, l.d.C);
  const Device dev = logits.device();
  Tensor out = loss_output(r, l.sample_shape, logits.dtype(), dev);
  Tensor logp = Tensor::empty(logits.shape(), logits.dtype(), dev);
  if (is_prob_target(op, logits, target_)) {
    check_same_device(op, "input", logits, "target", target_);
    const Tensor target = target_.to(logits.dtype()).contiguous();
    CNNKIT_DISPATCH_FLOATING(logits.dtype(), op, [&] {
      if (dev.is_cpu()) {
        cross_entropy_prob_forward<scalar_t>(out.data<scalar_t>(), logp.data<scalar_t>(), logits.data<scalar_t>(),
                                             target.data<scalar_t>(), ptr_or_null<scalar_t>(weight), l.d, r, ls);
        return;
      }
#ifdef CNNKIT_WITH_CUDA
      cross_entropy_prob_forward_cuda<scalar_t>(out.data<scalar_t>(), logp.data<scalar_t>(), logits.data<scalar_t>(),
                                                target.data<scalar_t>(), ptr_or_null<scalar_t>(weight), l.d, r, ls,
                                                dev.index);
#else
      throw_no_cuda(op);
#endif
    });
  } else {
    const Tensor target = class_target(op, target_, l, logits.shape(), ignore_index, "input", logits);
    CNNKIT_DISPATCH_FLOATING(logits.dtype(), op, [&] {
      if (dev.is_cpu()) {
        cross_entropy_forward<scalar_t>(out.data<scalar_t>(), logp.data<scalar_t>(), logits.data<scalar_t>(),
                                        target.data<int64_t>(), ptr_or_null<scalar_t>(weight), l.d, ignore_index, r,
                                        ls);
        return;
      }
#ifdef CNNKIT_WITH_CUDA
      cross_entropy_forward_cuda<scalar_t>(out.data<scalar_t>(), logp.data<scalar_t>(), logits.data<scalar_t>(),
                                           target.data<int64_t>(), ptr_or_null<scalar_t>(weight), l.d, ignore_index, r,
                                           ls, dev.index);
#else
      throw_no_cuda(op);
#endif
    });
  }
  return py::make_tuple(out, logp);
}

Tensor cross_entropy_backward_py(const Tensor& dloss_, const Tensor& logp_, const Tensor& target_,
                                 const std::optional<Tensor>& weight_, int64_t ignore_index,
                                 const std::string& reduction, double label_smoothing) {
  const char* op = "cross_entropy_backward";
  const Tensor logp = float_input(op, "saved log-probabilities", logp_);
  const Reduction r = reduction_arg(op, reduction);
  const double ls = smoothing_arg(op, label_smoothing);
  const Layout l = layout_of(op, logp.shape());
  const auto weight = weight_arg(op, weight_, "input", logp, l.d.C);
  const Tensor dloss = dloss_arg(op, dloss_, r, l.sample_shape, logp.dtype(), "logp", logp);
  const Device dev = logp.device();
  Tensor dlogits = Tensor::empty(logp.shape(), logp.dtype(), dev);
  if (is_prob_target(op, logp, target_)) {
    check_same_device(op, "logp", logp, "target", target_);
    const Tensor target = target_.to(logp.dtype()).contiguous();
    CNNKIT_DISPATCH_FLOATING(logp.dtype(), op, [&] {
      if (dev.is_cpu()) {
        cross_entropy_prob_backward<scalar_t>(dlogits.data<scalar_t>(), dloss.data<scalar_t>(), logp.data<scalar_t>(),
                                              target.data<scalar_t>(), ptr_or_null<scalar_t>(weight), l.d, r, ls);
        return;
      }
#ifdef CNNKIT_WITH_CUDA
      cross_entropy_prob_backward_cuda<scalar_t>(dlogits.data<scalar_t>(), dloss.data<scalar_t>(),
                                                 logp.data<scalar_t>(), target.data<scalar_t>(),
                                                 ptr_or_null<scalar_t>(weight), l.d, r, ls, dev.index);
#else
      throw_no_cuda(op);
#endif
    });
  } else {
    const Tensor target = class_target(op, target_, l, logp.shape(), ignore_index, "logp", logp);
    CNNKIT_DISPATCH_FLOATING(logp.dtype(), op, [&] {
      if (dev.is_cpu()) {
        cross_entropy_backward<scalar_t>(dlogits.data<scalar_t>(), dloss.data<scalar_t>(), logp.data<scalar_t>(),
                                         target.data<int64_t>(), ptr_or_null<scalar_t>(weight), l.d, ignore_index, r,
                                         ls);
        return;
      }
#ifdef CNNKIT_WITH_CUDA
      cross_entropy_backward_cuda<scalar_t>(dlogits.data<scalar_t>(), dloss.data<scalar_t>(), logp.data<scalar_t>(),
                                            target.data<int64_t>(), ptr_or_null<scalar_t>(weight), l.d, ignore_index,
                                            r, ls, dev.index);
#else
      throw_no_cuda(op);
#endif
    });
  }
  return dlogits;
}

py::tuple nll_loss_forward_py(const Tensor& logp_, const Tensor& target_, const std::optional<Tensor>& weight_,
                              int64_t ignore_index, const std::string& reduction) {
  const char* op = "nll_loss";
  const Tensor logp = float_input(op, "input", logp_);
  const Reduction r = reduction_arg(op, reduction);
  const Layout l = layout_of(op, logp.shape());
  const auto weight = weight_arg(op, weight_, "input", logp, l.d.C);
  const Tensor target = class_target(op, target_, l, logp.shape(), ignore_index, "input", logp);
  const Device dev = logp.device();
  Tensor out = loss_output(r, l.sample_shape, logp.dtype(), dev);
  if (dev.is_cpu()) {
    double tw = 0;
    CNNKIT_DISPATCH_FLOATING(logp.dtype(), op, [&] {
      tw = nll_loss_forward<scalar_t>(out.data<scalar_t>(), logp.data<scalar_t>(), target.data<int64_t>(),
                                      ptr_or_null<scalar_t>(weight), l.d, ignore_index, r);
    });
    return py::make_tuple(out, Tensor::full({}, tw, logp.dtype()));
  }
#ifdef CNNKIT_WITH_CUDA
  // The total weight is written on the device (no synchronisation).
  Tensor tw = Tensor::empty({}, logp.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(logp.dtype(), op, [&] {
    nll_loss_forward_cuda<scalar_t>(out.data<scalar_t>(), tw.data<scalar_t>(), logp.data<scalar_t>(),
                                    target.data<int64_t>(), ptr_or_null<scalar_t>(weight), l.d, ignore_index, r,
                                    dev.index);
  });
  return py::make_tuple(out, tw);
#else
  throw_no_cuda(op);
#endif
}

Tensor nll_loss_backward_py(const Tensor& dloss_, const Shape& input_shape, const Tensor& target_,
                            const std::optional<Tensor>& weight_, int64_t ignore_index, const std::string& reduction,
                            const py::object& total_weight) {
  const char* op = "nll_loss_backward";
  check_defined(op, "grad_output", dloss_);
  check_floating(op, "grad_output", dloss_);
  const Reduction r = reduction_arg(op, reduction);
  const Layout l = layout_of(op, input_shape);
  const auto weight = weight_arg(op, weight_, "grad_output", dloss_, l.d.C);
  const Tensor target = class_target(op, target_, l, input_shape, ignore_index, "grad_output", dloss_);
  const Tensor dloss = dloss_arg(op, dloss_, r, l.sample_shape, dloss_.dtype(), "grad_output", dloss_);
  const Device dev = dloss.device();
  Tensor dlogp = Tensor::empty(input_shape, dloss.dtype(), dev);
  if (dev.is_cpu()) {
    const double tw = scalar_arg(op, "total_weight", total_weight, DType::Float64, dloss).data<double>()[0];
    CNNKIT_DISPATCH_FLOATING(dloss.dtype(), op, [&] {
      nll_loss_backward<scalar_t>(dlogp.data<scalar_t>(), dloss.data<scalar_t>(), target.data<int64_t>(),
                                  ptr_or_null<scalar_t>(weight), l.d, ignore_index, r, tw);
    });
    return dlogp;
  }
#ifdef CNNKIT_WITH_CUDA
  // The total weight stays on the device: the kernel reads it there.
  const Tensor tw = scalar_arg(op, "total_weight", total_weight, dloss.dtype(), dloss);
  CNNKIT_DISPATCH_FLOATING(dloss.dtype(), op, [&] {
    nll_loss_backward_cuda<scalar_t>(dlogp.data<scalar_t>(), dloss.data<scalar_t>(), target.data<int64_t>(),
                                     ptr_or_null<scalar_t>(weight), l.d, ignore_index, r, tw.data<scalar_t>(),
                                     dev.index);
  });
  return dlogp;
#else
  throw_no_cuda(op);
#endif
}

void check_mse_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, "target", target);
  check_same_device(op, "input", input, "target", target);
  check_same_dtype(op, "input", input, "target", target);
  CNNKIT_CHECK(input.shape() == target.shape(), ValueError, op, ": expected target of the input's shape ",
               input.shape(), ", got ", target.shape(), " (broadcasting is not supported)");
}

Tensor mse_loss_forward_py(const Tensor& input_, const Tensor& target_, const std::string& reduction) {
  const char* op = "mse_loss";
  const Tensor input = float_input(op, "input", input_);
  check_mse_pair(op, input, target_);
  const Reduction r = reduction_arg(op, reduction);
  const Tensor target = target_.contiguous();
  const Device dev = input.device();
  Tensor out = loss_output(r, input.shape(), input.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(input.dtype(), op, [&] {
    if (dev.is_cpu()) {
      mse_loss_forward<scalar_t>(out.data<scalar_t>(), input.data<scalar_t>(), target.data<scalar_t>(), input.numel(),
                                 r);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    mse_loss_forward_cuda<scalar_t>(out.data<scalar_t>(), input.data<scalar_t>(), target.data<scalar_t>(),
                                    input.numel(), r, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return out;
}

py::tuple mse_loss_backward_py(const Tensor& dloss_, const Tensor& input_, const Tensor& target_,
                               const std::string& reduction) {
  const char* op = "mse_loss_backward";
  const Tensor input = float_input(op, "input", input_);
  check_mse_pair(op, input, target_);
  const Reduction r = reduction_arg(op, reduction);
  const Tensor target = target_.contiguous();
  const Tensor dloss = dloss_arg(op, dloss_, r, input.shape(), input.dtype(), "input", input);
  const Device dev = input.device();
  Tensor dinput = Tensor::empty(input.shape(), input.dtype(), dev);
  Tensor dtarget = Tensor::empty(input.shape(), input.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(input.dtype(), op, [&] {
    if (dev.is_cpu()) {
      mse_loss_backward<scalar_t>(dinput.data<scalar_t>(), dtarget.data<scalar_t>(), dloss.data<scalar_t>(),
                                  input.data<scalar_t>(), target.data<scalar_t>(), input.numel(), r);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    mse_loss_backward_cuda<scalar_t>(dinput.data<scalar_t>(), dtarget.data<scalar_t>(), dloss.data<scalar_t>(),
                                     input.data<scalar_t>(), target.data<scalar_t>(), input.numel(), r, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return py::make_tuple(dinput, dtarget);
}

PointwiseLoss pointwise_op(const std::string& op, double param) {
  if (op == "l1") return PointwiseLoss::L1;
  if (op == "smooth_l1") {
    CNNKIT_CHECK(param >= 0.0, RuntimeError, "smooth_l1_loss does not support negative values for beta.");
    return param == 0.0 ? PointwiseLoss::L1 : PointwiseLoss::SmoothL1;  // PyTorch: beta 0 is l1_loss
  }
  if (op == "huber") {
    CNNKIT_CHECK(param > 0.0, RuntimeError, "huber_loss does not support non-positive values for delta.");
    return PointwiseLoss::Huber;
  }
  if (op == "bce") return PointwiseLoss::BCE;
  if (op == "bce_with_logits") return PointwiseLoss::BCEWithLogits;
  if (op == "kl_div") return PointwiseLoss::KLDiv;
  if (op == "kl_div_log_target") return PointwiseLoss::KLDivLogTarget;
  if (op == "soft_margin") return PointwiseLoss::SoftMargin;
  throw ValueError(str("pointwise_loss: unknown loss '", op,
                       "' (expected l1, smooth_l1, huber, bce, bce_with_logits, kl_div, kl_div_log_target or "
                       "soft_margin)"));
}

// target / weight / pos_weight of a pointwise loss: the input's shape, dtype and device; contiguous.
Tensor pointwise_operand(const char* op, const char* name, const Tensor& input, const Tensor& t) {
  check_defined(op, name, t);
  check_same_device(op, "input", input, name, t);
  check_same_dtype(op, "input", input, name, t);
  CNNKIT_CHECK(t.shape() == input.shape(), ValueError, op, ": expected ", name, " of the input's shape ", input.shape(),
               ", got ", t.shape(), " (broadcast it first)");
  return t.contiguous();
}

std::optional<Tensor> pointwise_optional(const char* op, const char* name, const Tensor& input,
                                         const std::optional<Tensor>& t) {
  if (!t) return std::nullopt;
  return pointwise_operand(op, name, input, *t);
}

// PyTorch's binary_cross_entropy check: every input, then every target, in [0, 1].
void bce_range_check(const Tensor& input, const Tensor& target) {
  int bad = 0;
  CNNKIT_DISPATCH_FLOATING(input.dtype(), "binary_cross_entropy", [&] {
    const int64_t n = input.numel();
    const scalar_t* x = input.data<scalar_t>();
    const scalar_t* y = target.data<scalar_t>();
    if (input.device().is_cpu()) {
      for (int64_t i = 0; i < n && bad == 0; ++i)
        if (!(x[i] >= scalar_t(0) && x[i] <= scalar_t(1))) bad = 1;
      for (int64_t i = 0; i < n && bad == 0; ++i)
        if (!(y[i] >= scalar_t(0) && y[i] <= scalar_t(1))) bad = 2;
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    bad = loss_bce_range_check_cuda<scalar_t>(x, y, n, input.device().index);
#else
    throw_no_cuda("binary_cross_entropy");
#endif
  });
  CNNKIT_CHECK(bad != 1, RuntimeError, "all elements of input should be between 0 and 1");
  CNNKIT_CHECK(bad != 2, RuntimeError, "all elements of target should be between 0 and 1");
}

// The validated operands of a pointwise loss (every entry point checks them in this order).
struct PointwiseArgs {
  PointwiseLoss kind;
  Tensor input, target;
  std::optional<Tensor> weight, pos_weight;
  Reduction r;
};
PointwiseArgs pointwise_args(const char* op, const std::string& op_name, const Tensor& input_, const Tensor& target_,
                             const std::optional<Tensor>& weight_, const std::optional<Tensor>& pos_weight_,
                             const std::string& reduction, double param, bool cpu_only = false) {
  const PointwiseLoss kind = pointwise_op(op_name, param);
  const Tensor input = float_input(op, "input", input_);
  if (cpu_only) {
    CNNKIT_CHECK(input.device().is_cpu(), RuntimeError, op, ": the naive reference runs on the CPU only");
  }
  const Tensor target = pointwise_operand(op, "target", input, target_);
  const auto weight = pointwise_optional(op, "weight", input, weight_);
  const auto pos_weight = pointwise_optional(op, "pos_weight", input, pos_weight_);
  const Reduction r = reduction_arg(op, reduction);
  return {kind, input, target, weight, pos_weight, r};
}

Tensor pointwise_loss_forward_py(const std::string& op_name, const Tensor& input_, const Tensor& target_,
                                 const std::optional<Tensor>& weight_, const std::optional<Tensor>& pos_weight_,
                                 const std::string& reduction, double param) {
  const char* op = "pointwise_loss";
  const PointwiseArgs a = pointwise_args(op, op_name, input_, target_, weight_, pos_weight_, reduction, param);
  if (a.kind == PointwiseLoss::BCE) bce_range_check(a.input, a.target);
  const Device dev = a.input.device();
  Tensor out = loss_output(a.r, a.input.shape(), a.input.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(a.input.dtype(), op, [&] {
    if (dev.is_cpu()) {
      pointwise_loss_forward<scalar_t>(out.data<scalar_t>(), a.input.data<scalar_t>(), a.target.data<scalar_t>(),
                                       ptr_or_null<scalar_t>(a.weight), ptr_or_null<scalar_t>(a.pos_weight),
                                       a.input.numel(), a.kind, param, a.r);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    pointwise_loss_forward_cuda<scalar_t>(out.data<scalar_t>(), a.input.data<scalar_t>(), a.target.data<scalar_t>(),
                                          ptr_or_null<scalar_t>(a.weight), ptr_or_null<scalar_t>(a.pos_weight),
                                          a.input.numel(), a.kind, param, a.r, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return out;
}

Tensor pointwise_loss_forward_naive_py(const std::string& op_name, const Tensor& input_, const Tensor& target_,
                                       const std::optional<Tensor>& weight_, const std::optional<Tensor>& pos_weight_,
                                       const std::string& reduction, double param) {
  const char* op = "pointwise_loss_naive";
  const PointwiseArgs a = pointwise_args(op, op_name, input_, target_, weight_, pos_weight_, reduction, param, true);
  Tensor out = loss_output(a.r, a.input.shape(), a.input.dtype(), a.input.device());
  CNNKIT_DISPATCH_FLOATING(a.input.dtype(), op, [&] {
    pointwise_loss_forward_naive<scalar_t>(out.data<scalar_t>(), a.input.data<scalar_t>(), a.target.data<scalar_t>(),
                                           ptr_or_null<scalar_t>(a.weight), ptr_or_null<scalar_t>(a.pos_weight),
                                           a.input.numel(), a.kind, param, a.r);
  });
  return out;
}

py::tuple pointwise_loss_backward_py(const std::string& op_name, const Tensor& dloss_, const Tensor& input_,
                                     const Tensor& target_, const std::optional<Tensor>& weight_,
                                     const std::optional<Tensor>& pos_weight_, const std::string& reduction,
                                     double param, bool needs_target) {
  const char* op = "pointwise_loss_backward";
  const PointwiseArgs a = pointwise_args(op, op_name, input_, target_, weight_, pos_weight_, reduction, param);
  const Tensor dloss = dloss_arg(op, dloss_, a.r, a.input.shape(), a.input.dtype(), "input", a.input);
  const Device dev = a.input.device();
  Tensor dinput = Tensor::empty(a.input.shape(), a.input.dtype(), dev);
  std::optional<Tensor> dtarget;
  if (needs_target) dtarget = Tensor::empty(a.input.shape(), a.input.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(a.input.dtype(), op, [&] {
    scalar_t* dt = dtarget ? dtarget->data<scalar_t>() : nullptr;
    if (dev.is_cpu()) {
      pointwise_loss_backward<scalar_t>(dinput.data<scalar_t>(), dt, dloss.data<scalar_t>(), a.input.data<scalar_t>(),
                                        a.target.data<scalar_t>(), ptr_or_null<scalar_t>(a.weight),
                                        ptr_or_null<scalar_t>(a.pos_weight), a.input.numel(), a.kind, param, a.r);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    pointwise_loss_backward_cuda<scalar_t>(dinput.data<scalar_t>(), dt, dloss.data<scalar_t>(),
                                           a.input.data<scalar_t>(), a.target.data<scalar_t>(),
                                           ptr_or_null<scalar_t>(a.weight), ptr_or_null<scalar_t>(a.pos_weight),
                                           a.input.numel(), a.kind, param, a.r, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  if (dtarget) return py::make_tuple(dinput, *dtarget);
  return py::make_tuple(dinput, py::none());
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward_py, py::arg("input"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("reduction"), py::arg("label_smoothing"),
        "(loss, logp): fused log_softmax over dim 1 + negative log-likelihood");
  m.def("cross_entropy_backward", &cross_entropy_backward_py, py::arg("grad_output"), py::arg("logp"),
        py::arg("target"), py::arg("weight"), py::arg("ignore_index"), py::arg("reduction"),
        py::arg("label_smoothing"), "gradient of cross_entropy with respect to the logits");
  m.def("nll_loss_forward", &nll_loss_forward_py, py::arg("input"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("reduction"), "(loss, total_weight)");
  m.def("nll_loss_backward", &nll_loss_backward_py, py::arg("grad_output"), py::arg("input_shape"), py::arg("target"),
        py::arg("weight"), py::arg("ignore_index"), py::arg("reduction"), py::arg("total_weight"),
        "gradient of nll_loss with respect to its input (log-probabilities)");
  m.def("mse_loss_forward", &mse_loss_forward_py, py::arg("input"), py::arg("target"), py::arg("reduction"));
  m.def("mse_loss_backward", &mse_loss_backward_py, py::arg("grad_output"), py::arg("input"), py::arg("target"),
        py::arg("reduction"), "(dinput, dtarget)");
  m.def("pointwise_loss_forward", &pointwise_loss_forward_py, py::arg("op"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(), py::arg("reduction") = "mean",
        py::arg("param") = 0.0, "elementwise loss (l1, smooth_l1, huber, bce, ...) fused with its reduction");
  m.def("pointwise_loss_forward_naive", &pointwise_loss_forward_naive_py, py::arg("op"), py::arg("input"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(),
        py::arg("reduction") = "mean", py::arg("param") = 0.0, "serial reference of pointwise_loss_forward");
  m.def("pointwise_loss_backward", &pointwise_loss_backward_py, py::arg("op"), py::arg("grad_output"),
        py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(),
        py::arg("reduction") = "mean", py::arg("param") = 0.0, py::arg("needs_target") = false,
        "(dinput, dtarget|None) of a pointwise loss");
}

}  // namespace cnnkit
