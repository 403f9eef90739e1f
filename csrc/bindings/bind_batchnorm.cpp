// Python entry points of ops/batchnorm: validation (shapes, dtypes, devices; PyTorch's rules) and
// dispatch to the CPU kernels or their CUDA twins. Inputs of any strides are made contiguous.
//
//   batch_norm_forward(input, weight|None, bias|None, running_mean|None, running_var|None,
//                      training, momentum, eps) -> (out, save_mean, save_invstd)
//       input (N, C, *) floating; every vector (C,) of the input's dtype and device. Training
//       normalises with the batch statistics and updates running_mean / running_var IN PLACE
//       (when given); eval normalises with the running statistics (both required). save_mean and
//       save_invstd (C,) are what batch_norm_backward needs, in both modes.
//   batch_norm_backward(grad_output, input, weight|None, save_mean, save_invstd, training,
//                       needs=(True, True, True)) -> (dinput|None, dweight|None, dbias|None)
//       Writes fresh gradient tensors; `needs` selects which are computed.
//   batch_norm_forward_naive / batch_norm_backward_naive: the same on the CPU by the plain-loop
//       references (test oracles).
#include <array>
#include <optional>
#include <vector>

#include "bindings/bindings.h"
#include "ops/batchnorm.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/batchnorm_cuda.h"
#endif

namespace cnnkit {
namespace {

// input (N, C, *) -> its (N, C, S) view.
BatchNormDims dims_of(const char* op, const Tensor& x) {
  CNNKIT_CHECK(x.dim() >= 2, ValueError, op, ": expected input of shape (N, C, *) with at least 2 dims, got ",
               x.dim(), "-D with shape ", x.shape());
  BatchNormDims d;
  d.N = x.shape()[0];
  d.C = x.shape()[1];
  for (int64_t i = 2; i < x.dim(); ++i) d.S *= x.shape()[i];
  return d;
}

Tensor float_input(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  check_floating(op, name, t);
  return t;
}

// A per-channel vector: (C,), the input's dtype and device. Returned as given (maybe strided).
Tensor channel_vec(const char* op, const char* name, const Tensor& t, const Tensor& x, int64_t C) {
  check_defined(op, name, t);
  check_same_device(op, "input", x, name, t);
  check_same_dtype(op, "input", x, name, t);
  CNNKIT_CHECK(t.dim() == 1 && t.shape()[0] == C, ValueError, op, ": expected ", name, " of shape [", C,
               "] (C = input.shape[1]), got ", t.shape());
  return t;
}

std::optional<Tensor> opt_channel_vec(const char* op, const char* name, const std::optional<Tensor>& t,
                                      const Tensor& x, int64_t C) {
  if (!t) return std::nullopt;
  return channel_vec(op, name, *t, x, C).contiguous();
}

template <class T>
T* ptr(const std::optional<Tensor>& t) {
  return t ? t->data<T>() : nullptr;
}

// Running statistics are updated in place: a non-contiguous one is worked on in a dense copy that
// is copied back afterwards.
struct InPlaceVec {
  std::optional<Tensor> target, work;
  InPlaceVec(const char* op, const char* name, const std::optional<Tensor>& t, const Tensor& x, int64_t C) {
    if (!t) return;
    target = channel_vec(op, name, *t, x, C);
    work = target->is_contiguous() ? *target : target->contiguous();
  }
  void write_back() {
    if (target && work->data_ptr() != target->data_ptr()) target->copy_(*work);
  }
};

py::tuple batch_norm_forward_impl(bool naive, const Tensor& x_, const std::optional<Tensor>& weight_,
                                  const std::optional<Tensor>& bias_, const std::optional<Tensor>& rmean_,
                                  const std::optional<Tensor>& rvar_, bool training, double momentum, double eps) {
  const char* op = naive ? "batch_norm_naive" : "batch_norm";
  float_input(op, "input", x_);
  const BatchNormDims d = dims_of(op, x_);
  CNNKIT_CHECK(eps >= 0.0, ValueError, op, ": eps must be non-negative, got ", eps);
  if (!training) {
    CNNKIT_CHECK(rmean_.has_value(), RuntimeError, op, ": running_mean must be defined in evaluation mode");
    CNNKIT_CHECK(rvar_.has_value(), RuntimeError, op, ": running_var must be defined in evaluation mode");
  }
  const Tensor x = x_.contiguous();
  const auto weight = opt_channel_vec(op, "weight", weight_, x, d.C);
  const auto bias = opt_channel_vec(op, "bias", bias_, x, d.C);
  InPlaceVec rmean(op, "running_mean", rmean_, x, d.C), rvar(op, "running_var", rvar_, x, d.C);
  const Device dev = x.device();
  if (naive) check_cpu(op, x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  Tensor save_mean = Tensor::empty({d.C}, x.dtype(), dev);
  Tensor save_invstd = Tensor::empty({d.C}, x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T *o = out.data<T>(), *sm = save_mean.data<T>(), *si = save_invstd.data<T>();
    T *rm = ptr<T>(rmean.work), *rv = ptr<T>(rvar.work);
    const T *in = x.data<T>(), *w = ptr<T>(weight), *b = ptr<T>(bias);
    if (naive) {
      batch_norm_forward_naive<T>(o, sm, si, rm, rv, in, w, b, d, training, momentum, eps);
    } else if (dev.is_cpu()) {
      if (training)
        batch_norm_forward_train<T>(o, sm, si, rm, rv, in, w, b, d, momentum, eps);
      else
        batch_norm_forward_eval<T>(o, sm, si, in, rm, rv, w, b, d, eps);
    } else {
#ifdef CNNKIT_WITH_CUDA
      if (training)
        batch_norm_forward_train_cuda<T>(o, sm, si, rm, rv, in, w, b, d, momentum, eps, dev.index);
      else
        batch_norm_forward_eval_cuda<T>(o, sm, si, in, rm, rv, w, b, d, eps, dev.index);
#else
      throw_no_cuda(op);
#endif
    }
  });
  if (training) {
    rmean.write_back();
    rvar.write_back();
  }
  return py::make_tuple(out, save_mean, save_invstd);
}

py::tuple batch_norm_backward_impl(bool naive, const Tensor& dout_, const Tensor& x_,
                                   const std::optional<Tensor>& weight_, const Tensor& save_mean_,
                                   const Tensor& save_invstd_, bool training, const std::vector<bool>& needs_) {
  const char* op = naive ? "batch_norm_backward_naive" : "batch_norm_backward";
  float_input(op, "input", x_);
  const BatchNormDims d = dims_of(op, x_);
  CNNKIT_CHECK(needs_.size() == 3, ValueError, op,
               ": expected needs to hold 3 bools (input, weight, bias), got ", needs_.size());
  check_defined(op, "grad_output", dout_);
  check_same_device(op, "input", x_, "grad_output", dout_);
  check_same_dtype(op, "input", x_, "grad_output", dout_);
  check_shape(op, "grad_output", dout_, x_.shape());
  const Tensor x = x_.contiguous();
  const Tensor dout = dout_.contiguous();
  const auto weight = opt_channel_vec(op, "weight", weight_, x, d.C);
  const Tensor save_mean = channel_vec(op, "save_mean", save_mean_, x, d.C).contiguous();
  const Tensor save_invstd = channel_vec(op, "save_invstd", save_invstd_, x, d.C).contiguous();
  const Device dev = x.device();
  if (naive) check_cpu(op, x);
  std::optional<Tensor> dx, dw, db;
  if (needs_[0]) dx = Tensor::empty(x.shape(), x.dtype(), dev);
  if (needs_[1]) dw = Tensor::empty({d.C}, x.dtype(), dev);
  if (needs_[2]) db = Tensor::empty({d.C}, x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T *pdx = ptr<T>(dx), *pdw = ptr<T>(dw), *pdb = ptr<T>(db);
    const T *g = dout.data<T>(), *in = x.data<T>(), *w = ptr<T>(weight);
    const T *sm = save_mean.data<T>(), *si = save_invstd.data<T>();
    if (naive) {
      batch_norm_backward_naive<T>(pdx, pdw, pdb, g, in, w, sm, si, d, training);
    } else if (dev.is_cpu()) {
      batch_norm_backward<T>(pdx, pdw, pdb, g, in, w, sm, si, d, training);
    } else {
#ifdef CNNKIT_WITH_CUDA
      batch_norm_backward_cuda<T>(pdx, pdw, pdb, g, in, w, sm, si, d, training, dev.index);
#else
      throw_no_cuda(op);
#endif
    }
  });
  auto opt = [](const std::optional<Tensor>& t) { return t ? py::cast(*t) : py::none(); };
  return py::make_tuple(opt(dx), opt(dw), opt(db));
}

}  // namespace

void bind_batchnorm(py::module_& m) {
  auto fwd = [](bool naive) {
    return [naive](const Tensor& x, const std::optional<Tensor>& w, const std::optional<Tensor>& b,
                   const std::optional<Tensor>& rm, const std::optional<Tensor>& rv, bool training, double momentum,
                   double eps) { return batch_norm_forward_impl(naive, x, w, b, rm, rv, training, momentum, eps); };
  };
  auto bwd = [](bool naive) {
    return [naive](const Tensor& g, const Tensor& x, const std::optional<Tensor>& w, const Tensor& sm,
                   const Tensor& si, bool training, const std::vector<bool>& needs) {
      return batch_norm_backward_impl(naive, g, x, w, sm, si, training, needs);
    };
  };
  m.def("batch_norm_forward", fwd(false), py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "-> (out, save_mean, save_invstd); training updates running_mean/running_var in place");
  m.def("batch_norm_forward_naive", fwd(true), py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "batch_norm_forward by plain loops (CPU reference)");
  m.def("batch_norm_backward", bwd(false), py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
        py::arg("needs") = std::vector<bool>{true, true, true}, "-> (dinput | None, dweight | None, dbias | None)");
  m.def("batch_norm_backward_naive", bwd(true), py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
        py::arg("needs") = std::vector<bool>{true, true, true}, "batch_norm_backward by plain loops (CPU reference)");
}

}  // namespace cnnkit
