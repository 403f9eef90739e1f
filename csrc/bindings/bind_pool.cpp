// Python entry points of ops/pool2d: validation (PyTorch's rules and messages) and dispatch.
// Inputs of any strides are made contiguous; outputs are new contiguous tensors on the input's
// device. CPU tensors run ops/pool2d.cpp, CUDA tensors ops/pool2d.cu (built with CNNKIT_WITH_CUDA).
// Covers max_pool2d, avg_pool2d and the adaptive_{avg,max}_pool2d family (with CPU *_naive forms).
#include <array>
#include <optional>
#include <string>

#include "bindings/bindings.h"
#include "core/shape.h"
#include "ops/pool2d.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/pool2d_cuda.h"
#endif

namespace cnnkit {
namespace {

using Pair = std::vector<int64_t>;

std::array<int64_t, 2> pair_arg(const char* op, const char* name, const Pair& v) {
  CNNKIT_CHECK(v.size() == 2, ValueError, op, ": expected ", name, " to be a pair (h, w), got ", v.size(),
               " values ", v);
  return {v[0], v[1]};
}

// (N, C, H, W) or (C, H, W) with C, H, W non-zero (a zero batch is allowed, as in PyTorch).
void check_pool_input(const char* op, const char* name, const Shape& s) {
  const size_t nd = s.size();
  bool ok = nd == 3 || nd == 4;
  for (size_t d = nd == 4 ? 1 : 0; ok && d < nd; ++d) ok = s[d] != 0;
  CNNKIT_CHECK(ok, ValueError, op, ": expected ", name,
               " to be a 3D or 4D (batch mode) tensor with optional 0 dim batch size, but got shape ", s);
}

// Checks the window arguments in PyTorch's order and fills the geometry. `shape` is the input's.
Pool2dParams pool_params(const char* op, const Shape& shape, const Pair& kernel_, const Pair& stride_,
                         const Pair& padding_, const Pair& dilation_, bool ceil_mode) {
  check_pool_input(op, "input", shape);
  const auto k = pair_arg(op, "kernel_size", kernel_);
  const auto s = pair_arg(op, "stride", stride_);
  const auto pd = pair_arg(op, "padding", padding_);
  const auto d = pair_arg(op, "dilation", dilation_);
  CNNKIT_CHECK(k[0] > 0 && k[1] > 0, ValueError, op, ": kernel size should be greater than zero, but got kH: ", k[0],
               " kW: ", k[1]);
  CNNKIT_CHECK(s[0] > 0 && s[1] > 0, ValueError, op, ": stride should be greater than zero, but got dH: ", s[0],
               " dW: ", s[1]);
  CNNKIT_CHECK(d[0] > 0 && d[1] > 0, ValueError, op, ": dilation should be greater than zero, but got dilationH: ",
               d[0], " dilationW: ", d[1]);
  CNNKIT_CHECK(pd[0] >= 0 && pd[1] >= 0, ValueError, op, ": pad must be non-negative, but got pad: ", padding_);
  check_pool_padding(op, k[0], pd[0]);
  check_pool_padding(op, k[1], pd[1]);
  const size_t nd = shape.size();
  Pool2dParams p;
  p.H = shape[nd - 2];
  p.W = shape[nd - 1];
  p.planes = shape[nd - 3] * (nd == 4 ? shape[0] : 1);
  p.kh = k[0]; p.kw = k[1];
  p.sh = s[0]; p.sw = s[1];
  p.ph = pd[0]; p.pw = pd[1];
  p.dh = d[0]; p.dw = d[1];
  p.OH = window_out_size(op, p.H, p.kh, p.sh, p.ph, p.dh, ceil_mode);
  p.OW = window_out_size(op, p.W, p.kw, p.sw, p.pw, p.dw, ceil_mode);
  CNNKIT_CHECK(p.OH >= 1 && p.OW >= 1, ValueError, op, ": given input size ", shape, ", calculated output size (",
               p.OH, "x", p.OW, ") is too small");
  return p;
}

Shape out_shape(const Shape& in, const Pool2dParams& p) {
  Shape o = in;
  o[o.size() - 2] = p.OH;
  o[o.size() - 1] = p.OW;
  return o;
}

int64_t divisor_arg(const char* op, const std::optional<int64_t>& divisor_override) {
  if (!divisor_override) return 0;
  CNNKIT_CHECK(*divisor_override != 0, ValueError, op, ": divisor must be not zero");
  return *divisor_override;
}

py::tuple max_pool2d_forward_py(const Tensor& x_, const Pair& kernel, const Pair& stride, const Pair& padding,
                                const Pair& dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  const Pool2dParams p = pool_params(op, x_.shape(), kernel, stride, padding, dilation, ceil_mode);
  const Tensor x = x_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x.shape(), p), x.dtype(), dev);
  Tensor idx = Tensor::empty(out.shape(), DType::Int64, dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) {
      max_pool2d_forward<scalar_t>(out.data<scalar_t>(), idx.data<int64_t>(), x.data<scalar_t>(), p);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    max_pool2d_forward_cuda<scalar_t>(out.data<scalar_t>(), idx.data<int64_t>(), x.data<scalar_t>(), p, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return py::make_tuple(out, idx);
}

// Plane geometry from the input shape (validated) and the output size (the kernel fields keep their
// defaults: adaptive pooling and the index scatter of max-pool backward need none).
Pool2dParams plane_params(const Shape& shape, int64_t OH, int64_t OW) {
  const size_t nd = shape.size();
  Pool2dParams p;
  p.H = shape[nd - 2];
  p.W = shape[nd - 1];
  p.planes = shape[nd - 3] * (nd == 4 ? shape[0] : 1);
  p.OH = OH;
  p.OW = OW;
  return p;
}

// Validates grad_output (and indices) against the forward's input shape; returns the geometry.
Pool2dParams backward_params(const char* op, const Tensor& dout, const Shape& input_shape) {
  check_defined(op, "grad_output", dout);
  check_floating(op, "grad_output", dout);
  check_pool_input(op, "input_shape", input_shape);
  const size_t nd = input_shape.size();
  CNNKIT_CHECK(dout.dim() == static_cast<int64_t>(nd), ValueError, op, ": expected grad_output with ", nd,
               " dims for input of shape ", input_shape, ", got shape ", dout.shape());
  for (size_t i = 0; i + 2 < nd; ++i)
    CNNKIT_CHECK(dout.shape()[i] == input_shape[i], ValueError, op, ": grad_output shape ", dout.shape(),
                 " does not match input shape ", input_shape, " in its leading dims");
  return plane_params(input_shape, dout.shape()[nd - 2], dout.shape()[nd - 1]);
}

// Backward of max-pool and adaptive max-pool: dinp (input_shape) = 0, then each grad_output value
// added at its window's recorded index. dout and indices have the forward output's shape. The
// indices come from Python and address memory, so every one is checked first (on the device for
// CUDA tensors, which reports the first bad index as the CPU loop does). naive: the plain-loop
// reference scatter (CPU only).
Tensor max_index_backward(const char* op, bool naive, const Tensor& dout_, const Tensor& indices_,
                          const Shape& input_shape) {
  const Pool2dParams p = backward_params(op, dout_, input_shape);
  check_defined(op, "indices", indices_);
  check_same_device(op, "grad_output", dout_, "indices", indices_);
  check_dtype(op, "indices", indices_, DType::Int64);
  check_shape(op, "indices", indices_, dout_.shape());
  if (naive) check_cpu(op, dout_);
  const Tensor dout = dout_.contiguous();
  const Tensor idx = indices_.contiguous();
  const int64_t* ip = idx.data<int64_t>();
  const int64_t HW = p.H * p.W;
  const Device dev = dout.device();
  auto bad_index = [&](int64_t v) {
    return IndexError(str(op, ": index ", v, " is out of bounds for an input plane of ", p.H, "x", p.W));
  };
  if (dev.is_cpu()) {
    for (int64_t i = 0, n = idx.numel(); i < n; ++i)
      if (ip[i] < 0 || ip[i] >= HW) throw bad_index(ip[i]);
  } else {
#ifdef CNNKIT_WITH_CUDA
    int64_t bad = 0;
    if (max_pool2d_find_bad_index_cuda(ip, idx.numel(), HW, dev.index, &bad)) throw bad_index(bad);
#else
    throw_no_cuda(op);
#endif
  }
  Tensor dinp = Tensor::empty(input_shape, dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) {
      if (naive) adaptive_max_pool2d_backward_naive<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), ip, p);
      else max_pool2d_backward<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), ip, p);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    max_pool2d_backward_cuda<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), ip, p, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return dinp;
}

Tensor max_pool2d_backward_py(const Tensor& dout, const Tensor& indices, const Shape& input_shape) {
  return max_index_backward("max_pool2d_backward", false, dout, indices, input_shape);
}

Tensor avg_pool2d_forward_py(const Tensor& x_, const Pair& kernel, const Pair& stride, const Pair& padding,
                             bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  const int64_t div = divisor_arg(op, divisor_override);
  const Pool2dParams p = pool_params(op, x_.shape(), kernel, stride, padding, {1, 1}, ceil_mode);
  const Tensor x = x_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x.shape(), p), x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) {
      avg_pool2d_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), p, count_include_pad, div);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    avg_pool2d_forward_cuda<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), p, count_include_pad, div, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return out;
}

Tensor avg_pool2d_backward_py(const Tensor& dout_, const Shape& input_shape, const Pair& kernel, const Pair& stride,
                              const Pair& padding, bool ceil_mode, bool count_include_pad,
                              std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d_backward";
  check_defined(op, "grad_output", dout_);
  check_floating(op, "grad_output", dout_);
  const int64_t div = divisor_arg(op, divisor_override);
  const Pool2dParams p = pool_params(op, input_shape, kernel, stride, padding, {1, 1}, ceil_mode);
  check_shape(op, "grad_output", dout_, out_shape(input_shape, p));
  const Tensor dout = dout_.contiguous();
  const Device dev = dout.device();
  Tensor dinp = Tensor::empty(input_shape, dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) {
      avg_pool2d_backward<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), p, count_include_pad, div);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    avg_pool2d_backward_cuda<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), p, count_include_pad, div,
                                       dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return dinp;
}

// ---- adaptive pooling ---------------------------------------------------------------------------

// output_size: an int, or a pair whose entries are ints or None (None = the input's size there).
// Returns (OH, OW), checked non-negative (0 gives an empty output, as in PyTorch).
std::array<int64_t, 2> adaptive_output_size(const char* op, const py::object& v, int64_t H, int64_t W) {
  auto is_int = [](const py::handle& e) { return py::isinstance<py::int_>(e) && !py::isinstance<py::bool_>(e); };
  std::array<int64_t, 2> o{H, W};
  if (is_int(v)) {
    o[0] = o[1] = v.cast<int64_t>();
  } else {
    CNNKIT_CHECK(py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v), TypeError, op,
                 ": expected output_size to be an int or a pair of ints (or None), got ",
                 std::string(py::str(py::type::of(v).attr("__name__"))));
    const auto seq = v.cast<py::sequence>();
    CNNKIT_CHECK(seq.size() == 2, ValueError, op, ": expected output_size to have 2 elements, got ", seq.size());
    for (size_t i = 0; i < 2; ++i) {
      const py::object e = seq[i];
      if (e.is_none()) continue;
      CNNKIT_CHECK(is_int(e), TypeError, op, ": expected output_size to contain ints or None, got ",
                   std::string(py::str(py::type::of(e).attr("__name__"))));
      o[i] = e.cast<int64_t>();
    }
  }
  CNNKIT_CHECK(o[0] >= 0 && o[1] >= 0, ValueError, op, ": expected output_size to be non-negative, got (", o[0], ", ",
               o[1], ")");
  return o;
}

Tensor adaptive_avg_pool2d_forward_impl(bool naive, const Tensor& x_, const py::object& output_size) {
  const char* op = naive ? "adaptive_avg_pool2d_naive" : "adaptive_avg_pool2d";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  check_pool_input(op, "input", x_.shape());
  const size_t nd = x_.shape().size();
  const auto o = adaptive_output_size(op, output_size, x_.shape()[nd - 2], x_.shape()[nd - 1]);
  if (naive) check_cpu(op, x_);
  const Pool2dParams p = plane_params(x_.shape(), o[0], o[1]);
  const Tensor x = x_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x.shape(), p), x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu()) {
      if (naive) adaptive_avg_pool2d_forward_naive<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), p);
      else adaptive_avg_pool2d_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), p);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adaptive_avg_pool2d_forward_cuda<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), p, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return out;
}

Tensor adaptive_avg_pool2d_backward_impl(bool naive, const Tensor& dout_, const Shape& input_shape) {
  const char* op = naive ? "adaptive_avg_pool2d_backward_naive" : "adaptive_avg_pool2d_backward";
  const Pool2dParams p = backward_params(op, dout_, input_shape);
  if (naive) check_cpu(op, dout_);
  const Tensor dout = dout_.contiguous();
  const Device dev = dout.device();
  Tensor dinp = Tensor::empty(input_shape, dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) {
      if (naive) adaptive_avg_pool2d_backward_naive<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), p);
      else adaptive_avg_pool2d_backward<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), p);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adaptive_avg_pool2d_backward_cuda<scalar_t>(dinp.data<scalar_t>(), dout.data<scalar_t>(), p, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return dinp;
}

py::tuple adaptive_max_pool2d_forward_impl(bool naive, const Tensor& x_, const py::object& output_size) {
  const char* op = naive ? "adaptive_max_pool2d_naive" : "adaptive_max_pool2d";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  check_pool_input(op, "input", x_.shape());
  const size_t nd = x_.shape().size();
  const auto o = adaptive_output_size(op, output_size, x_.shape()[nd - 2], x_.shape()[nd - 1]);
  if (naive) check_cpu(op, x_);
  const Pool2dParams p = plane_params(x_.shape(), o[0], o[1]);
  const Tensor x = x_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty(out_shape(x.shape(), p), x.dtype(), dev);
  Tensor idx = Tensor::empty(out.shape(), DType::Int64, dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    scalar_t* po = out.data<scalar_t>();
    int64_t* pi = idx.data<int64_t>();
    const scalar_t* px = x.data<scalar_t>();
    if (dev.is_cpu()) {
      if (naive) adaptive_max_pool2d_forward_naive<scalar_t>(po, pi, px, p);
      else adaptive_max_pool2d_forward<scalar_t>(po, pi, px, p);
      return;
    }
#ifdef CNNKIT_WITH_CUDA
    adaptive_max_pool2d_forward_cuda<scalar_t>(po, pi, px, p, dev.index);
#else
    throw_no_cuda(op);
#endif
  });
  return py::make_tuple(out, idx);
}

Tensor adaptive_max_pool2d_backward_impl(bool naive, const Tensor& dout, const Tensor& indices,
                                         const Shape& input_shape) {
  return max_index_backward(naive ? "adaptive_max_pool2d_backward_naive" : "adaptive_max_pool2d_backward", naive,
                            dout, indices, input_shape);
}

// ---- max unpooling ---------------------------------------------------------------------------------

// Validates input / indices of max_unpool2d (PyTorch's messages) and the output size; returns the
// geometry (H, W: the pooled input; OH, OW: the output). Every index is range-checked against
// OH*OW (on the device for CUDA tensors, reporting the first bad one as the CPU does).
// `xs` is the pooled input's shape (the forward's input, the backward's indices); the callers check
// dtypes and devices.
Pool2dParams unpool_params(const char* op, const Shape& xs, const Tensor& indices, const Pair& output_size) {
  const int64_t nd = static_cast<int64_t>(xs.size());
  CNNKIT_CHECK(nd == 3 || nd == 4, RuntimeError,
               "Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with ", nd, " dimensions.");
  CNNKIT_CHECK(indices.dtype() == DType::Int64, RuntimeError, "elements in indices should be type int64 but got: ",
               dtype_name(indices.dtype()));
  CNNKIT_CHECK(indices.shape() == xs, RuntimeError,
               "Expected shape of indices to be same as that of the input tensor (", xs,
               ") but got indices tensor with shape: ", indices.shape());
  for (int64_t d = nd == 4 ? 1 : 0; d < nd; ++d)
    CNNKIT_CHECK(xs[d] != 0, RuntimeError, op,
                 "(): Expected input to have non-zero size for non-batch dimensions, but got ", xs,
                 " with dimension ", d, " being empty.");
  const auto o = pair_arg(op, "output_size", output_size);
  CNNKIT_CHECK(o[0] >= 0 && o[1] >= 0, ValueError, op, ": output_size must be non-negative, got ", output_size);
  Pool2dParams p = plane_params(xs, o[0], o[1]);
  const Tensor idx = indices.contiguous();
  const int64_t OHW = p.OH * p.OW;
  auto bad_index = [&](int64_t v) {
    return RuntimeError(str("Found an invalid max index: ", v, " (output volumes are of size ", p.OH, "x", p.OW, ")"));
  };
  if (idx.device().is_cpu()) {
    const int64_t* ip = idx.data<int64_t>();
    for (int64_t i = 0, n = idx.numel(); i < n; ++i)
      if (ip[i] < 0 || ip[i] >= OHW) throw bad_index(ip[i]);
  } else {
#ifdef CNNKIT_WITH_CUDA
    int64_t bad = 0;
    if (max_pool2d_find_bad_index_cuda(idx.data<int64_t>(), idx.numel(), OHW, idx.device().index, &bad))
      throw bad_index(bad);
#else
    throw_no_cuda(op);
#endif
  }
  return p;
}

Shape unpooled_shape(const Shape& in, const Pool2dParams& p) {
  Shape o = in;
  o[o.size() - 2] = p.OH;
  o[o.size() - 1] = p.OW;
  return o;
}

Tensor max_unpool2d_forward_py(const Tensor& x_, const Tensor& indices_, const Pair& output_size) {
  const char* op = "max_unpool2d";
  check_defined(op, "input", x_);
  check_defined(op, "indices", indices_);
  check_floating(op, "input", x_);
  check_same_device(op, "input", x_, "indices", indices_);
  const Pool2dParams p = unpool_params(op, x_.shape(), indices_, output_size);
  const Tensor x = x_.contiguous(), idx = indices_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty(unpooled_shape(x.shape(), p), x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    if (dev.is_cpu()) max_unpool2d_forward<T>(out.data<T>(), x.data<T>(), idx.data<int64_t>(), p);
    else CNNKIT_CUDA_OR_THROW(op, max_unpool2d_forward_cuda<T>(out.data<T>(), x.data<T>(), idx.data<int64_t>(), p,
                                                               dev.index));
  });
  return out;
}

// grad_output has the forward output's shape; indices the forward input's.
Tensor max_unpool2d_backward_py(const Tensor& dout_, const Tensor& indices_) {
  const char* op = "max_unpool2d_backward";
  check_defined(op, "grad_output", dout_);
  check_defined(op, "indices", indices_);
  CNNKIT_CHECK(dout_.dim() == indices_.dim() && (dout_.dim() == 3 || dout_.dim() == 4), ValueError, op,
               ": expected grad_output and indices of the same rank (3 or 4), got shapes ", dout_.shape(), " and ",
               indices_.shape());
  const int64_t nd = dout_.dim();
  for (int64_t d = 0; d + 2 < nd; ++d)
    CNNKIT_CHECK(dout_.shape()[d] == indices_.shape()[d], ValueError, op, ": grad_output shape ", dout_.shape(),
                 " does not match indices shape ", indices_.shape(), " in its leading dims");
  check_floating(op, "grad_output", dout_);
  check_same_device(op, "grad_output", dout_, "indices", indices_);
  const Pool2dParams p = unpool_params(op, indices_.shape(), indices_, {dout_.shape()[nd - 2], dout_.shape()[nd - 1]});
  const Tensor dout = dout_.contiguous(), idx = indices_.contiguous();
  const Device dev = dout.device();
  Tensor dinp = Tensor::empty(idx.shape(), dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    using T = scalar_t;
    if (dev.is_cpu()) max_unpool2d_backward<T>(dinp.data<T>(), dout.data<T>(), idx.data<int64_t>(), p);
    else CNNKIT_CUDA_OR_THROW(op, max_unpool2d_backward_cuda<T>(dinp.data<T>(), dout.data<T>(), idx.data<int64_t>(),
                                                                p, dev.index));
  });
  return dinp;
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_unpool2d_forward", &max_unpool2d_forward_py, py::arg("input"), py::arg("indices"),
        py::arg("output_size"), "zeros of output_size with each input value placed at its flat h*W+w index");
  m.def("max_unpool2d_backward", &max_unpool2d_backward_py, py::arg("grad_output"), py::arg("indices"),
        "gradient of max_unpool2d: grad_output gathered at the indices");
  m.def("max_pool2d_forward", &max_pool2d_forward_py, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "(out, indices int64): max over each window; indices are h*W+w within each plane");
  m.def("max_pool2d_backward", &max_pool2d_backward_py, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_shape"), "gradient of max_pool2d with respect to its input");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, py::arg("grad_output"), py::arg("input_shape"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"));

  // Adaptive pooling; output_size is an int or a pair of ints/None. The *_naive forms run the
  // plain-loop CPU references (tests only).
  for (bool naive : {false, true}) {
    const std::string sfx = naive ? "_naive" : "";
    m.def(("adaptive_avg_pool2d_forward" + sfx).c_str(),
          [naive](const Tensor& x, const py::object& os) { return adaptive_avg_pool2d_forward_impl(naive, x, os); },
          py::arg("input"), py::arg("output_size"), "mean over PyTorch's adaptive windows");
    m.def(("adaptive_avg_pool2d_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Shape& s) { return adaptive_avg_pool2d_backward_impl(naive, g, s); },
          py::arg("grad_output"), py::arg("input_shape"));
    m.def(("adaptive_max_pool2d_forward" + sfx).c_str(),
          [naive](const Tensor& x, const py::object& os) { return adaptive_max_pool2d_forward_impl(naive, x, os); },
          py::arg("input"), py::arg("output_size"),
          "(out, indices int64): max over PyTorch's adaptive windows; indices are h*W+w within each plane");
    m.def(("adaptive_max_pool2d_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Tensor& i, const Shape& s) {
            return adaptive_max_pool2d_backward_impl(naive, g, i, s);
          },
          py::arg("grad_output"), py::arg("indices"), py::arg("input_shape"));
  }
}

}  // namespace cnnkit
