// Python entry points of ops/norm (group / layer / instance normalisation): validation with
// PyTorch's rules and messages, then dispatch to the CPU kernels or their CUDA twins. Inputs of any
// strides are made contiguous; outputs are new contiguous tensors on the input's device.
//
//   group_norm_forward(input (N, C, *), num_groups, weight|None (C,), bias|None (C,), eps)
//       -> (out, mean (N, G), rstd (N, G))
//   layer_norm_forward(input (*, normalized_shape), normalized_shape, weight|None, bias|None, eps)
//       -> (out, mean (R,), rstd (R,)), R = numel / prod(normalized_shape); weight / bias of
//       shape normalized_shape
//   instance_norm_forward(input (N, C, *), weight|None (C,), bias|None (C,), eps)
//       -> (out, mean (N, C), rstd (N, C), var (N, C)); var is the biased per-instance variance
//       (the running statistics are updated by the Python layer from mean and var)
//   group_norm_backward(grad_output, input, num_groups, weight|None, mean, rstd, needs)
//   layer_norm_backward(grad_output, input, normalized_shape, weight|None, mean, rstd, needs)
//   instance_norm_backward(grad_output, input, weight|None, mean, rstd, needs)
//       -> (dinput|None, dweight|None, dbias|None); `needs` = 3 bools selects what is computed.
//   *_naive variants of all six: the same by the plain-loop CPU references (test oracles).
#include <optional>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "ops/norm.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/norm_cuda.h"
#endif

namespace cnnkit {
namespace {

enum class Kind { Group, Layer, Instance };

const char* kind_name(Kind k) {
  return k == Kind::Group ? "group_norm" : (k == Kind::Layer ? "layer_norm" : "instance_norm");
}

// The row layout of the input, with PyTorch's shape checks. `groups` is used by group_norm,
// `normalized` by layer_norm.
RowNormDims dims_of(Kind kind, const char* op, const Tensor& x, int64_t groups, const Shape& normalized) {
  const Shape& s = x.shape();
  RowNormDims d;
  if (kind == Kind::Layer) {
    CNNKIT_CHECK(!normalized.empty(), RuntimeError,
                 "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
                 "but got normalized_shape = ", normalized);
    const size_t k = normalized.size();
    bool ok = s.size() >= k;
    for (size_t i = 0; ok && i < k; ++i) ok = s[s.size() - k + i] == normalized[i];
    if (!ok) {
      std::string star = "[*";
      for (int64_t v : normalized) star += ", " + std::to_string(v);
      star += "]";
      throw RuntimeError(str("Given normalized_shape=", normalized, ", expected input with shape ", star,
                             ", but got input of size", s));
    }
    int64_t D = 1;
    for (int64_t v : normalized) D *= v;
    d.G = 1;
    d.CPG = D;
    d.S = 1;
    d.R = D > 0 ? x.numel() / D : 0;
    if (D == 0) {
      d.R = 1;
      for (size_t i = 0; i + k < s.size(); ++i) d.R *= s[i];
    }
    return d;
  }
  CNNKIT_CHECK(x.dim() >= 2, RuntimeError, "Expected at least 2 dimensions for input tensor but received ", x.dim());
  const int64_t N = s[0], C = s[1];
  int64_t S = 1;
  for (size_t i = 2; i < s.size(); ++i) S *= s[i];
  if (kind == Kind::Group) {
    CNNKIT_CHECK(groups > 0, ValueError, op, ": expected num_groups to be positive, got ", groups);
    CNNKIT_CHECK(C % groups == 0, RuntimeError,
                 "Expected number of channels in input to be divisible by num_groups, but got input of shape ", s,
                 " and num_groups=", groups);
    d.G = groups;
    d.CPG = C / groups;
    d.S = S;
    d.R = N * groups;
  } else {
    d.G = C;
    d.CPG = 1;
    d.S = S;
    d.R = N * C;
  }
  return d;
}

// weight / bias of a norm: (C,) for group / instance norm, normalized_shape for layer norm; the
// input's dtype and device.
std::optional<Tensor> affine_arg(Kind kind, const char* op, const char* name, const std::optional<Tensor>& t,
                                 const Tensor& x, const Shape& normalized) {
  if (!t) return std::nullopt;
  check_defined(op, name, *t);
  check_same_device(op, "input", x, name, *t);
  check_same_dtype(op, "input", x, name, *t);
  if (kind == Kind::Layer) {
    CNNKIT_CHECK(t->shape() == normalized, RuntimeError, "Expected ", name,
                 " to be of same shape as normalized_shape, but got ", name, " of shape ", t->shape(),
                 " and normalized_shape = ", normalized);
  } else if (kind == Kind::Group) {
    CNNKIT_CHECK(t->dim() == 1 && t->shape()[0] == x.shape()[1], RuntimeError, "Expected ", name,
                 " to be a vector of size equal to the number of channels in input, but got ", name, " of shape ",
                 t->shape(), " and input of shape ", x.shape());
  } else {
    // torch's instance_norm repeats the affine vectors N times and runs batch_norm over N*C channels.
    const int64_t N = x.shape()[0], C = x.shape()[1];
    CNNKIT_CHECK(t->dim() == 1 && t->shape()[0] == C, RuntimeError, name, " should contain ", N * C,
                 " elements not ", t->numel() * N);
  }
  return t->contiguous();
}

template <class T>
T* ptr(const std::optional<Tensor>& t) {
  return t ? t->data<T>() : nullptr;
}

Shape stats_shape(Kind kind, const Tensor& x, const RowNormDims& d) {
  if (kind == Kind::Layer) return {d.R};
  return {x.shape()[0], kind == Kind::Group ? d.G : x.shape()[1]};
}

py::tuple forward_impl(Kind kind, bool naive, const Tensor& x_, int64_t groups, const Shape& normalized,
                       const std::optional<Tensor>& w_, const std::optional<Tensor>& b_, double eps) {
  const std::string opname = std::string(kind_name(kind)) + (naive ? "_naive" : "");
  const char* op = opname.c_str();
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  const RowNormDims d = dims_of(kind, op, x_, groups, normalized);
  CNNKIT_CHECK(eps >= 0.0, ValueError, op, ": eps must be non-negative, got ", eps);
  const Tensor x = x_.contiguous();
  const auto weight = affine_arg(kind, op, "weight", w_, x, normalized);
  const auto bias = affine_arg(kind, op, "bias", b_, x, normalized);
  const Device dev = x.device();
  if (naive) check_cpu(op, x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  const Shape ss = stats_shape(kind, x, d);
  Tensor mean = Tensor::empty(ss, x.dtype(), dev), rstd = Tensor::empty(ss, x.dtype(), dev);
  std::optional<Tensor> var;
  if (kind == Kind::Instance) var = Tensor::empty(ss, x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T *o = out.data<T>(), *m = mean.data<T>(), *r = rstd.data<T>(), *v = ptr<T>(var);
    const T *in = x.data<T>(), *w = ptr<T>(weight), *b = ptr<T>(bias);
    if (naive) {
      row_norm_forward_naive<T>(o, m, r, v, in, w, b, d, eps);
    } else if (dev.is_cpu()) {
      row_norm_forward<T>(o, m, r, v, in, w, b, d, eps);
    } else {
      CNNKIT_CUDA_OR_THROW(op, row_norm_forward_cuda<T>(o, m, r, v, in, w, b, d, eps, dev.index));
    }
  });
  if (var) return py::make_tuple(out, mean, rstd, *var);
  return py::make_tuple(out, mean, rstd);
}

py::tuple backward_impl(Kind kind, bool naive, const Tensor& dout_, const Tensor& x_, int64_t groups,
                        const Shape& normalized, const std::optional<Tensor>& w_, const Tensor& mean_,
                        const Tensor& rstd_, const std::vector<bool>& needs) {
  const std::string opname = std::string(kind_name(kind)) + (naive ? "_backward_naive" : "_backward");
  const char* op = opname.c_str();
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  const RowNormDims d = dims_of(kind, op, x_, groups, normalized);
  CNNKIT_CHECK(needs.size() == 3, ValueError, op, ": expected needs to hold 3 bools (input, weight, bias), got ",
               needs.size());
  check_defined(op, "grad_output", dout_);
  check_same_device(op, "input", x_, "grad_output", dout_);
  check_same_dtype(op, "input", x_, "grad_output", dout_);
  check_shape(op, "grad_output", dout_, x_.shape());
  const Tensor x = x_.contiguous();
  const Tensor dout = dout_.contiguous();
  const auto weight = affine_arg(kind, op, "weight", w_, x, normalized);
  const Shape ss = stats_shape(kind, x, d);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"mean", &mean_}, {"rstd", &rstd_}}) {
    check_defined(op, name, *t);
    check_same_device(op, "input", x, name, *t);
    check_same_dtype(op, "input", x, name, *t);
    check_shape(op, name, *t, ss);
  }
  const Tensor mean = mean_.contiguous(), rstd = rstd_.contiguous();
  const Device dev = x.device();
  if (naive) check_cpu(op, x);
  std::optional<Tensor> dx, dw, db;
  const Shape wshape = kind == Kind::Layer ? normalized : Shape{x.shape()[1]};
  if (needs[0]) dx = Tensor::empty(x.shape(), x.dtype(), dev);
  if (needs[1]) dw = Tensor::empty(wshape, x.dtype(), dev);
  if (needs[2]) db = Tensor::empty(wshape, x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T *pdx = ptr<T>(dx), *pdw = ptr<T>(dw), *pdb = ptr<T>(db);
    const T *g = dout.data<T>(), *in = x.data<T>(), *w = ptr<T>(weight), *m = mean.data<T>(), *r = rstd.data<T>();
    if (naive) {
      row_norm_backward_naive<T>(pdx, pdw, pdb, g, in, w, m, r, d);
    } else if (dev.is_cpu()) {
      row_norm_backward<T>(pdx, pdw, pdb, g, in, w, m, r, d);
    } else {
      CNNKIT_CUDA_OR_THROW(op, row_norm_backward_cuda<T>(pdx, pdw, pdb, g, in, w, m, r, d, dev.index));
    }
  });
  auto opt = [](const std::optional<Tensor>& t) { return t ? py::cast(*t) : py::none(); };
  return py::make_tuple(opt(dx), opt(dw), opt(db));
}

}  // namespace

void bind_norm(py::module_& m) {
  using OT = std::optional<Tensor>;
  const std::vector<bool> all{true, true, true};
  for (bool naive : {false, true}) {
    const std::string sfx = naive ? "_naive" : "";
    m.def(("group_norm_forward" + sfx).c_str(),
          [naive](const Tensor& x, int64_t groups, const OT& w, const OT& b, double eps) {
            return forward_impl(Kind::Group, naive, x, groups, {}, w, b, eps);
          },
          py::arg("input"), py::arg("num_groups"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
          "-> (out, mean (N, G), rstd (N, G))");
    m.def(("layer_norm_forward" + sfx).c_str(),
          [naive](const Tensor& x, const Shape& ns, const OT& w, const OT& b, double eps) {
            return forward_impl(Kind::Layer, naive, x, 0, ns, w, b, eps);
          },
          py::arg("input"), py::arg("normalized_shape"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
          "-> (out, mean (R,), rstd (R,))");
    m.def(("instance_norm_forward" + sfx).c_str(),
          [naive](const Tensor& x, const OT& w, const OT& b, double eps) {
            return forward_impl(Kind::Instance, naive, x, 0, {}, w, b, eps);
          },
          py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
          "-> (out, mean (N, C), rstd (N, C), biased var (N, C))");
    m.def(("group_norm_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Tensor& x, int64_t groups, const OT& w, const Tensor& mean,
                  const Tensor& rstd, const std::vector<bool>& needs) {
            return backward_impl(Kind::Group, naive, g, x, groups, {}, w, mean, rstd, needs);
          },
          py::arg("grad_output"), py::arg("input"), py::arg("num_groups"), py::arg("weight"), py::arg("mean"),
          py::arg("rstd"), py::arg("needs") = all, "-> (dinput | None, dweight | None, dbias | None)");
    m.def(("layer_norm_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Tensor& x, const Shape& ns, const OT& w, const Tensor& mean,
                  const Tensor& rstd, const std::vector<bool>& needs) {
            return backward_impl(Kind::Layer, naive, g, x, 0, ns, w, mean, rstd, needs);
          },
          py::arg("grad_output"), py::arg("input"), py::arg("normalized_shape"), py::arg("weight"), py::arg("mean"),
          py::arg("rstd"), py::arg("needs") = all, "-> (dinput | None, dweight | None, dbias | None)");
    m.def(("instance_norm_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Tensor& x, const OT& w, const Tensor& mean, const Tensor& rstd,
                  const std::vector<bool>& needs) {
            return backward_impl(Kind::Instance, naive, g, x, 0, {}, w, mean, rstd, needs);
          },
          py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
          py::arg("needs") = all, "-> (dinput | None, dweight | None, dbias | None)");
  }
}

}  // namespace cnnkit
