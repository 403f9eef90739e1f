// _C.im2col, _C.col2im, _C.conv2d_forward/backward (+ _naive references),
// _C.conv_transpose2d_forward/backward, _C.linear_forward/backward.
// Everything is validated here once (ndim, dtype, device, channel counts, window arguments via
// core/shape.h); inputs are made contiguous; kernels then assume valid, dense data.
// Window arguments (kernel, stride, padding, dilation) accept an int or a pair.
// Backward entry points return new tensors, which the kernels write (=); nothing is accumulated.
// Device dispatch: every tensor argument must be on the input's device (check_same_device); outputs
// are allocated there and the CPU kernels (ops/<stem>.h) or their CUDA twins (ops/<stem>_cuda.h,
// compiled only with CNNKIT_WITH_CUDA) run on them.
#include <array>
#include <optional>

#include "bindings/bindings.h"
#include "core/shape.h"
#include "ops/conv2d.h"
#include "ops/im2col.h"
#include "ops/linear.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/conv2d_cuda.h"
#include "ops/im2col_cuda.h"
#include "ops/linear_cuda.h"
#endif

namespace cnnkit {
namespace {

std::pair<int64_t, int64_t> pair_arg(const char* op, const char* name, const py::object& v) {
  if (py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v)) {
    const int64_t x = v.cast<int64_t>();
    return {x, x};
  }
  CNNKIT_CHECK(py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v), TypeError, op, ": expected ", name,
               " to be an int or a pair of ints, got ", std::string(py::str(py::type::of(v).attr("__name__"))));
  const auto seq = v.cast<py::sequence>();
  CNNKIT_CHECK(seq.size() == 2, ValueError, op, ": expected ", name, " to have 2 elements, got ", seq.size());
  for (const auto& e : seq)
    CNNKIT_CHECK(py::isinstance<py::int_>(e) && !py::isinstance<py::bool_>(e), TypeError, op, ": expected ", name,
                 " to contain ints, got ", std::string(py::str(py::type::of(e).attr("__name__"))));
  return {seq[0].cast<int64_t>(), seq[1].cast<int64_t>()};
}

std::array<bool, 3> needs_arg(const char* op, const std::vector<bool>& needs) {
  CNNKIT_CHECK(needs.size() == 3, ValueError, op, ": expected needs to hold 3 bools (input, weight, bias), got ",
               needs.size());
  return {needs[0], needs[1], needs[2]};
}

// A backward's grad_output must be on the input's device, of its dtype and of the forward's output shape.
void check_grad_output(const char* op, const Tensor& x, const Tensor& dout, const Shape& out_shape) {
  check_same_device(op, "input", x, "grad_output", dout);
  check_same_dtype(op, "input", x, "grad_output", dout);
  check_shape(op, "grad_output", dout, out_shape);
}

// Fresh buffers for the requested gradients (needs: input, weight, bias), shaped like x, w and a
// bias of `bias_size` values; the others stay undefined (returned as None).
void empty_grads(const std::array<bool, 3>& needs, const Tensor& x, const Tensor& w, int64_t bias_size, Tensor& dx,
                 Tensor& dw, Tensor& db) {
  const Device dev = x.device();
  if (needs[0]) dx = Tensor::empty(x.shape(), x.dtype(), dev);
  if (needs[1]) dw = Tensor::empty(w.shape(), w.dtype(), dev);
  if (needs[2]) db = Tensor::empty({bias_size}, x.dtype(), dev);
}

// A gradient's pointer for the kernels: null when it is not requested or empty.
template <class T>
T* grad_ptr(const Tensor& t) {
  return t.defined() && t.numel() ? t.data<T>() : nullptr;
}

// Validates conv2d's input and weight (and the window arguments) and computes the output size.
Conv2dParams conv2d_params(const char* op, const Tensor& x, const Tensor& w, const py::object& stride,
                           const py::object& padding, const py::object& dilation, int64_t groups) {
  check_ndim(op, "input", x, 4);
  check_ndim(op, "weight", w, 4);
  check_same_device(op, "input", x, "weight", w);
  check_floating(op, "input", x);
  check_same_dtype(op, "input", x, "weight", w);
  CNNKIT_CHECK(groups > 0, ValueError, op, ": groups must be a positive integer, got ", groups);
  const int64_t C = x.size(1), OC = w.size(0);
  CNNKIT_CHECK(C % groups == 0, ValueError, op, ": expected the input channels (", C, ", input shape ", x.shape(),
               ") to be divisible by groups=", groups);
  CNNKIT_CHECK(OC % groups == 0, ValueError, op, ": expected the output channels (", OC, ", weight shape ",
               w.shape(), ") to be divisible by groups=", groups);
  CNNKIT_CHECK(w.size(1) * groups == C, ValueError, op, ": expected input with ", w.size(1) * groups,
               " channels (weight shape ", w.shape(), ", groups=", groups, "), got ", C, " channels (input shape ",
               x.shape(), ")");
  const auto [SH, SW] = pair_arg(op, "stride", stride);
  const auto [PH, PW] = pair_arg(op, "padding", padding);
  const auto [DH, DW] = pair_arg(op, "dilation", dilation);
  Conv2dParams p{};
  p.N = x.size(0), p.C = C, p.H = x.size(2), p.W = x.size(3);
  p.OC = OC, p.KH = w.size(2), p.KW = w.size(3);
  p.SH = SH, p.SW = SW, p.PH = PH, p.PW = PW, p.DH = DH, p.DW = DW, p.groups = groups;
  p.OH = window_out_size(op, p.H, p.KH, SH, PH, DH);
  p.OW = window_out_size(op, p.W, p.KW, SW, PW, DW);
  return p;
}

// conv2d's algorithm: "auto" (depthwise kernels when groups == C > 1, else im2col + GEMM), or one
// forced ("im2col", "depthwise"; the latter only for depthwise shapes).
enum class ConvAlgo { Auto, Im2col, Depthwise };
ConvAlgo algo_arg(const char* op, const std::string& a, const Conv2dParams& p) {
  if (a == "auto") return ConvAlgo::Auto;
  if (a == "im2col") return ConvAlgo::Im2col;
  CNNKIT_CHECK(a == "depthwise", ValueError, op, ": expected algo 'auto', 'im2col' or 'depthwise', got '", a, "'");
  CNNKIT_CHECK(conv2d_is_depthwise(p), ValueError, op,
               ": algo='depthwise' needs groups == input channels > 1, got groups=", p.groups, " and ", p.C,
               " input channels");
  return ConvAlgo::Depthwise;
}

void check_bias(const char* op, const Tensor& b, const Tensor& x, int64_t n) {
  check_same_device(op, "input", x, "bias", b);
  check_same_dtype(op, "input", x, "bias", b);
  check_shape(op, "bias", b, Shape{n});
}

template <bool kNaive>
Tensor conv2d_forward_entry(const Tensor& x_, const Tensor& w_, std::optional<Tensor> b_, const py::object& stride,
                            const py::object& padding, const py::object& dilation, int64_t groups,
                            const std::string& algo_) {
  const char* op = "conv2d";
  const Conv2dParams p = conv2d_params(op, x_, w_, stride, padding, dilation, groups);
  const ConvAlgo algo = algo_arg(op, algo_, p);
  Tensor b;
  if (b_.has_value()) {
    check_bias(op, *b_, x_, p.OC);
    b = b_->contiguous();
  }
  const Tensor x = x_.contiguous(), w = w_.contiguous();
  Tensor out = Tensor::empty({p.N, p.OC, p.OH, p.OW}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    const scalar_t* bias = b.defined() ? b.data<scalar_t>() : nullptr;
    if (x.device().is_cpu()) {
      scalar_t* o = out.data<scalar_t>();
      if (kNaive)
        conv2d_forward_naive<scalar_t>(o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else if (algo == ConvAlgo::Im2col)
        conv2d_forward_im2col<scalar_t>(o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else if (algo == ConvAlgo::Depthwise)
        conv2d_depthwise_forward<scalar_t>(o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else
        conv2d_forward<scalar_t>(o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
    } else {
#ifdef CNNKIT_WITH_CUDA
      const int dev = x.device().index;
      scalar_t* o = out.data<scalar_t>();
      if (kNaive)
        conv2d_forward_naive_cuda<scalar_t>(dev, o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else if (algo == ConvAlgo::Im2col)
        conv2d_forward_im2col_cuda<scalar_t>(dev, o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else if (algo == ConvAlgo::Depthwise)
        conv2d_depthwise_forward_cuda<scalar_t>(dev, o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
      else
        conv2d_forward_cuda<scalar_t>(dev, o, x.data<scalar_t>(), w.data<scalar_t>(), bias, p);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return out;
}

template <bool kNaive>
py::tuple conv2d_backward_entry(const Tensor& dout_, const Tensor& x_, const Tensor& w_, const py::object& stride,
                                const py::object& padding, const py::object& dilation, int64_t groups,
                                const std::vector<bool>& needs_, const std::string& algo_) {
  const char* op = "conv2d_backward";
  const Conv2dParams p = conv2d_params(op, x_, w_, stride, padding, dilation, groups);
  const ConvAlgo algo = algo_arg(op, algo_, p);
  const auto needs = needs_arg(op, needs_);
  check_grad_output(op, x_, dout_, Shape{p.N, p.OC, p.OH, p.OW});
  const Tensor dout = dout_.contiguous(), x = x_.contiguous(), w = w_.contiguous();
  const Device dev = x.device();
  Tensor dx, dw, db;
  empty_grads(needs, x, w, p.OC, dx, dw, db);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T* pdx = grad_ptr<T>(dx);
    T* pdw = grad_ptr<T>(dw);
    T* pdb = grad_ptr<T>(db);
    if (dev.is_cpu()) {
      if (kNaive)
        conv2d_backward_naive<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else if (algo == ConvAlgo::Im2col)
        conv2d_backward_im2col<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else if (algo == ConvAlgo::Depthwise)
        conv2d_depthwise_backward<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else
        conv2d_backward<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
    } else {
#ifdef CNNKIT_WITH_CUDA
      if (kNaive)
        conv2d_backward_naive_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else if (algo == ConvAlgo::Im2col)
        conv2d_backward_im2col_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else if (algo == ConvAlgo::Depthwise)
        conv2d_depthwise_backward_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
      else
        conv2d_backward_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
#else
      throw_no_cuda(op);
#endif
    }
  });
  auto opt = [](const Tensor& t) { return t.defined() ? py::cast(t) : py::object(py::none()); };
  return py::make_tuple(opt(dx), opt(dw), opt(db));
}

// conv_transpose2d: input (N, C_in, H, W), weight (C_in, C_out/groups, KH, KW), bias (C_out) ->
// (N, C_out, OH, OW), OH = (H-1)*SH - 2*PH + DH*(KH-1) + OPH + 1. Validated here, then described by the
// Conv2dParams of the conv2d it is the input gradient of (ops/conv2d.h): p.C = C_out, p.H/W = OH/OW,
// p.OC = C_in, p.OH/OW = H/W.
Conv2dParams conv_transpose2d_params(const char* op, const Tensor& x, const Tensor& w, const py::object& stride,
                                     const py::object& padding, const py::object& output_padding,
                                     const py::object& dilation, int64_t groups) {
  check_ndim(op, "input", x, 4);
  check_ndim(op, "weight", w, 4);
  check_same_device(op, "input", x, "weight", w);
  check_floating(op, "input", x);
  check_same_dtype(op, "input", x, "weight", w);
  CNNKIT_CHECK(groups > 0, ValueError, op, ": groups must be a positive integer, got ", groups);
  const int64_t Cin = x.size(1);
  CNNKIT_CHECK(w.size(0) % groups == 0, ValueError, op, ": expected the weight's first dim (", w.size(0),
               ", weight shape ", w.shape(), ") to be divisible by groups=", groups);
  CNNKIT_CHECK(w.size(0) == Cin, ValueError, op, ": expected input with ", w.size(0), " channels (weight shape ",
               w.shape(), "), got ", Cin, " channels (input shape ", x.shape(), ")");
  const auto [SH, SW] = pair_arg(op, "stride", stride);
  const auto [PH, PW] = pair_arg(op, "padding", padding);
  const auto [OPH, OPW] = pair_arg(op, "output_padding", output_padding);
  const auto [DH, DW] = pair_arg(op, "dilation", dilation);
  CNNKIT_CHECK(SH > 0 && SW > 0, ValueError, op, ": stride must be positive, got (", SH, ", ", SW, ")");
  CNNKIT_CHECK(DH > 0 && DW > 0, ValueError, op, ": dilation must be positive, got (", DH, ", ", DW, ")");
  CNNKIT_CHECK(PH >= 0 && PW >= 0, ValueError, op, ": padding must be non-negative, got (", PH, ", ", PW, ")");
  CNNKIT_CHECK(OPH >= 0 && OPW >= 0 && (OPH < SH || OPH < DH) && (OPW < SW || OPW < DW), ValueError, op,
               ": output padding must be smaller than either stride or dilation, got output_padding (", OPH, ", ",
               OPW, "), stride (", SH, ", ", SW, "), dilation (", DH, ", ", DW, ")");
  Conv2dParams p{};
  p.N = x.size(0), p.OC = Cin, p.OH = x.size(2), p.OW = x.size(3);
  p.C = w.size(1) * groups, p.KH = w.size(2), p.KW = w.size(3);
  p.SH = SH, p.SW = SW, p.PH = PH, p.PW = PW, p.DH = DH, p.DW = DW, p.groups = groups;
  p.H = (p.OH - 1) * SH - 2 * PH + DH * (p.KH - 1) + OPH + 1;
  p.W = (p.OW - 1) * SW - 2 * PW + DW * (p.KW - 1) + OPW + 1;
  CNNKIT_CHECK(p.KH > 0 && p.KW > 0, ValueError, op, ": kernel size must be positive, got weight shape ", w.shape());
  CNNKIT_CHECK(p.H > 0 && p.W > 0, ValueError, op, ": the output size (", p.H, ", ", p.W,
               ") is not positive (input shape ", x.shape(), ", weight shape ", w.shape(), ")");
  return p;
}

Tensor conv_transpose2d_forward_entry(const Tensor& x_, const Tensor& w_, std::optional<Tensor> b_,
                                      const py::object& stride, const py::object& padding,
                                      const py::object& output_padding, const py::object& dilation, int64_t groups) {
  const char* op = "conv_transpose2d";
  const Conv2dParams p = conv_transpose2d_params(op, x_, w_, stride, padding, output_padding, dilation, groups);
  Tensor b;
  if (b_.has_value()) {
    check_bias(op, *b_, x_, p.C);
    b = b_->contiguous();
  }
  const Tensor x = x_.contiguous(), w = w_.contiguous();
  Tensor out = Tensor::empty({p.N, p.C, p.H, p.W}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    const T* bias = b.defined() ? b.data<T>() : nullptr;
    if (x.device().is_cpu()) {
      conv_transpose2d_forward<T>(out.data<T>(), x.data<T>(), w.data<T>(), bias, p);
    } else {
#ifdef CNNKIT_WITH_CUDA
      conv_transpose2d_forward_cuda<T>(x.device().index, out.data<T>(), x.data<T>(), w.data<T>(), bias, p);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return out;
}

py::tuple conv_transpose2d_backward_entry(const Tensor& dout_, const Tensor& x_, const Tensor& w_,
                                          const py::object& stride, const py::object& padding,
                                          const py::object& output_padding, const py::object& dilation,
                                          int64_t groups, const std::vector<bool>& needs_) {
  const char* op = "conv_transpose2d_backward";
  const Conv2dParams p = conv_transpose2d_params(op, x_, w_, stride, padding, output_padding, dilation, groups);
  const auto needs = needs_arg(op, needs_);
  check_grad_output(op, x_, dout_, Shape{p.N, p.C, p.H, p.W});
  const Tensor dout = dout_.contiguous(), x = x_.contiguous(), w = w_.contiguous();
  const Device dev = x.device();
  Tensor dx, dw, db;
  empty_grads(needs, x, w, p.C, dx, dw, db);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T* pdx = grad_ptr<T>(dx);
    T* pdw = grad_ptr<T>(dw);
    T* pdb = grad_ptr<T>(db);
    if (dev.is_cpu()) {
      conv_transpose2d_backward<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
    } else {
#ifdef CNNKIT_WITH_CUDA
      conv_transpose2d_backward_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), p);
#else
      throw_no_cuda(op);
#endif
    }
  });
  auto opt = [](const Tensor& t) { return t.defined() ? py::cast(t) : py::object(py::none()); };
  return py::make_tuple(opt(dx), opt(dw), opt(db));
}

Im2colGeometry im2col_geometry(const char* op, int64_t C, int64_t H, int64_t W, const py::object& kernel,
                               const py::object& stride, const py::object& padding, const py::object& dilation) {
  const auto [KH, KW] = pair_arg(op, "kernel", kernel);
  const auto [SH, SW] = pair_arg(op, "stride", stride);
  const auto [PH, PW] = pair_arg(op, "padding", padding);
  const auto [DH, DW] = pair_arg(op, "dilation", dilation);
  const int64_t OH = window_out_size(op, H, KH, SH, PH, DH);
  const int64_t OW = window_out_size(op, W, KW, SW, PW, DW);
  return Im2colGeometry{C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW};
}

Tensor im2col_entry(const Tensor& x_, const py::object& kernel, const py::object& stride, const py::object& padding,
                    const py::object& dilation) {
  const char* op = "im2col";
  check_ndim(op, "input", x_, 3);
  check_floating(op, "input", x_);
  const Im2colGeometry g = im2col_geometry(op, x_.size(0), x_.size(1), x_.size(2), kernel, stride, padding, dilation);
  const Tensor x = x_.contiguous();
  Tensor cols = Tensor::empty({g.rows(), g.cols()}, x.dtype(), x.device());
  if (cols.numel() == 0) return cols;
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (x.device().is_cpu()) {
      im2col<scalar_t>(cols.data<scalar_t>(), g.cols(), x.data<scalar_t>(), g);
    } else {
#ifdef CNNKIT_WITH_CUDA
      im2col_cuda<scalar_t>(x.device().index, cols.data<scalar_t>(), g.cols(), x.data<scalar_t>(), g);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return cols;
}

Tensor col2im_entry(const Tensor& cols_, const std::vector<int64_t>& size, const py::object& kernel,
                    const py::object& stride, const py::object& padding, const py::object& dilation) {
  const char* op = "col2im";
  check_ndim(op, "cols", cols_, 2);
  check_floating(op, "cols", cols_);
  CNNKIT_CHECK(size.size() == 3, ValueError, op, ": expected the image size (C, H, W), got ", Shape(size));
  for (int64_t s : size)
    CNNKIT_CHECK(s >= 0, ValueError, op, ": expected a non-negative image size, got ", Shape(size));
  const Im2colGeometry g = im2col_geometry(op, size[0], size[1], size[2], kernel, stride, padding, dilation);
  check_shape(op, "cols", cols_, Shape{g.rows(), g.cols()});
  const Tensor cols = cols_.contiguous();
  Tensor im = Tensor::empty({g.C, g.H, g.W}, cols.dtype(), cols.device());
  if (im.numel() == 0) return im;
  CNNKIT_DISPATCH_FLOATING(cols.dtype(), op, [&] {
    if (cols.device().is_cpu()) {
      col2im<scalar_t>(im.data<scalar_t>(), cols.data<scalar_t>(), g.cols(), g);
    } else {
#ifdef CNNKIT_WITH_CUDA
      col2im_cuda<scalar_t>(cols.device().index, im.data<scalar_t>(), cols.data<scalar_t>(), g.cols(), g);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return im;
}

// linear: input (N, IN), weight (OUT, IN), bias (OUT).
void check_linear(const char* op, const Tensor& x, const Tensor& w) {
  check_ndim(op, "input", x, 2);
  check_ndim(op, "weight", w, 2);
  check_same_device(op, "input", x, "weight", w);
  check_floating(op, "input", x);
  check_same_dtype(op, "input", x, "weight", w);
  CNNKIT_CHECK(x.size(1) == w.size(1), ValueError, op, ": expected input with ", w.size(1),
               " features (weight shape ", w.shape(), "), got input shape ", x.shape());
}

Tensor linear_forward_entry(const Tensor& x_, const Tensor& w_, std::optional<Tensor> b_) {
  const char* op = "linear";
  check_linear(op, x_, w_);
  const int64_t N = x_.size(0), IN = x_.size(1), OUT = w_.size(0);
  Tensor b;
  if (b_.has_value()) {
    check_bias(op, *b_, x_, OUT);
    b = b_->contiguous();
  }
  const Tensor x = x_.contiguous(), w = w_.contiguous();
  Tensor out = Tensor::empty({N, OUT}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    const scalar_t* bias = b.defined() ? b.data<scalar_t>() : nullptr;
    if (x.device().is_cpu()) {
      linear_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(), bias, N, IN, OUT);
    } else {
#ifdef CNNKIT_WITH_CUDA
      linear_forward_cuda<scalar_t>(x.device().index, out.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                    bias, N, IN, OUT);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return out;
}

py::tuple linear_backward_entry(const Tensor& dout_, const Tensor& x_, const Tensor& w_,
                                const std::vector<bool>& needs_) {
  const char* op = "linear_backward";
  check_linear(op, x_, w_);
  const auto needs = needs_arg(op, needs_);
  const int64_t N = x_.size(0), IN = x_.size(1), OUT = w_.size(0);
  check_grad_output(op, x_, dout_, Shape{N, OUT});
  const Tensor dout = dout_.contiguous(), x = x_.contiguous(), w = w_.contiguous();
  const Device dev = x.device();
  Tensor dx, dw, db;
  empty_grads(needs, x, w, OUT, dx, dw, db);  // x is (N, IN), w is (OUT, IN)
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    T* pdx = grad_ptr<T>(dx);
    T* pdw = grad_ptr<T>(dw);
    T* pdb = grad_ptr<T>(db);
    if (dev.is_cpu()) {
      linear_backward<T>(pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), N, IN, OUT);
    } else {
#ifdef CNNKIT_WITH_CUDA
      linear_backward_cuda<T>(dev.index, pdx, pdw, pdb, dout.data<T>(), x.data<T>(), w.data<T>(), N, IN, OUT);
#else
      throw_no_cuda(op);
#endif
    }
  });
  auto opt = [](const Tensor& t) { return t.defined() ? py::cast(t) : py::object(py::none()); };
  return py::make_tuple(opt(dx), opt(dw), opt(db));
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("im2col", &im2col_entry, py::arg("x"), py::arg("kernel"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, "x (C, H, W) -> columns (C*KH*KW, OH*OW)");
  m.def("col2im", &col2im_entry, py::arg("cols"), py::arg("size"), py::arg("kernel"), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1,
        "columns (C*KH*KW, OH*OW) -> image (C, H, W), summing overlapping windows (adjoint of im2col)");
  m.def("conv2d_forward", &conv2d_forward_entry<false>, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        py::arg("algo") = "auto",
        "x (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC) or None -> (N, OC, OH, OW); im2col + GEMM, or "
        "direct depthwise kernels when groups == C > 1 (algo 'auto'; 'im2col' / 'depthwise' force one)");
  m.def("conv2d_naive", &conv2d_forward_entry<true>, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        py::arg("algo") = "auto", "conv2d_forward by direct loops (reference; algo is ignored)");
  m.def("conv2d_backward", &conv2d_backward_entry<false>, py::arg("grad_output"), py::arg("x"), py::arg("weight"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("needs") = std::vector<bool>{true, true, true}, py::arg("algo") = "auto",
        "-> (dx | None, dweight | None, dbias | None)");
  m.def("conv2d_backward_naive", &conv2d_backward_entry<true>, py::arg("grad_output"), py::arg("x"),
        py::arg("weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("needs") = std::vector<bool>{true, true, true}, py::arg("algo") = "auto",
        "conv2d_backward by direct loops (reference; algo is ignored)");
  m.def("conv_transpose2d_forward", &conv_transpose2d_forward_entry, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("stride") = 1, py::arg("padding") = 0, py::arg("output_padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1,
        "x (N, C_in, H, W), weight (C_in, C_out/groups, KH, KW), bias (C_out) or None -> (N, C_out, OH, OW); the "
        "conv2d input-gradient kernels (GEMM + col2im)");
  m.def("conv_transpose2d_backward", &conv_transpose2d_backward_entry, py::arg("grad_output"), py::arg("x"),
        py::arg("weight"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("needs") = std::vector<bool>{true, true, true},
        "-> (dx | None, dweight | None, dbias | None): conv2d forward and weight-gradient kernels");
  m.def("linear_forward", &linear_forward_entry, py::arg("x"), py::arg("weight"), py::arg("bias"),
        "x (N, IN) @ weight (OUT, IN)^T + bias (OUT) -> (N, OUT)");
  m.def("linear_backward", &linear_backward_entry, py::arg("grad_output"), py::arg("x"), py::arg("weight"),
        py::arg("needs") = std::vector<bool>{true, true, true}, "-> (dx | None, dweight | None, dbias | None)");
}

}  // namespace cnnkit
