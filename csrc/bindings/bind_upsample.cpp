// Python entry points of ops/upsample: validation (PyTorch's rules and messages) and dispatch.
// Inputs of any strides are made contiguous; outputs are new contiguous tensors on the input's device.
//
//   upsample_forward(input (N, C, L) or (N, C, H, W), output_size [L'] or [H', W'], mode,
//                    align_corners, scales [s] or [sh, sw] (None entries: no scale), antialias) -> out
//   upsample_backward(grad_output, input_size (the forward input's full shape), output_size, mode,
//                     align_corners, scales, antialias) -> dinput
//   *_naive: the same by the plain-loop CPU references.
// mode: "nearest" | "nearest-exact" | "linear" (linear1d for 3-D input, bilinear2d for 4-D) |
// "cubic" (bicubic2d, 4-D only). antialias=True (4-D, linear or cubic only) selects the "aa"
// filters. Cubic and antialias run the separable table kernels (ops/upsample_separable.*): the
// per-dim CSR weight tables are built here on the host and, for a CUDA input, copied to the device.
// A scale given for a dim is used in the source-index map (1/scale), as PyTorch does when
// scale_factor is passed without recompute_scale_factor; the output size is always explicit.
#include <algorithm>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "ops/upsample.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/upsample_cuda.h"
#endif

namespace cnnkit {
namespace {

using Scales = std::vector<std::optional<double>>;

UpsampleMode mode_of(const char* op, const std::string& m) {
  if (m == "nearest") return UpsampleMode::Nearest;
  if (m == "nearest-exact") return UpsampleMode::NearestExact;
  if (m == "linear") return UpsampleMode::Linear;
  if (m == "cubic") return UpsampleMode::Cubic;
  throw ValueError(str(op, ": expected mode 'nearest', 'nearest-exact', 'linear' or 'cubic', got '", m, "'"));
}

// Geometry from the input shape (3-D or 4-D), the output size and the scales.
UpsampleParams params_of(const char* op, const Shape& in, const Shape& osize, const std::string& mode,
                         bool align_corners, const Scales& scales, bool antialias) {
  const size_t nd = in.size();
  CNNKIT_CHECK(nd == 3 || nd == 4, ValueError, op, ": expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got ", nd,
               "-D with shape ", in);
  const size_t k = nd - 2;
  CNNKIT_CHECK(osize.size() == k, ValueError, op, ": expected output_size with ", k, " elements, got ", osize);
  CNNKIT_CHECK(scales.size() == k || scales.empty(), ValueError, op, ": expected scales with ", k, " elements, got ",
               scales.size());
  UpsampleParams p;
  p.mode = mode_of(op, mode);
  p.align_corners = align_corners;
  p.antialias = antialias;
  CNNKIT_CHECK(p.mode != UpsampleMode::Cubic || nd == 4, ValueError, op,
               ": mode 'cubic' expects a 4-D (N, C, H, W) input, got ", nd, "-D with shape ", in);
  CNNKIT_CHECK(!antialias || (nd == 4 && (p.mode == UpsampleMode::Linear || p.mode == UpsampleMode::Cubic)),
               ValueError, op, ": antialias=True expects mode 'linear' or 'cubic' and a 4-D input, got mode '", mode,
               "' and a ", nd, "-D input");
  p.planes = in[0] * in[1];
  if (k == 2) {
    p.H = in[2];
    p.W = in[3];
    p.OH = osize[0];
    p.OW = osize[1];
    CNNKIT_CHECK(p.H > 0 && p.W > 0 && p.OH > 0 && p.OW > 0, RuntimeError,
                 "Input and output sizes should be greater than 0, but got input (H: ", p.H, ", W: ", p.W,
                 ") output (H: ", p.OH, ", W: ", p.OW, ")");
    if (!scales.empty()) {
      p.scale_h = scales[0].value_or(-1.0);
      p.scale_w = scales[1].value_or(-1.0);
    }
  } else {
    p.W = in[2];
    p.OW = osize[0];
    CNNKIT_CHECK(p.W > 0 && p.OW > 0, RuntimeError,
                 "Input and output sizes should be greater than 0, but got input (W: ", p.W, ") and output (W: ", p.OW,
                 ")");
    if (!scales.empty()) p.scale_w = scales[0].value_or(-1.0);
  }
  CNNKIT_CHECK(in[1] != 0, RuntimeError, "Non-empty ", nd, "D data tensor expected but got a tensor with sizes ", in);
  return p;
}

Shape out_shape(const Shape& in, const UpsampleParams& p) {
  Shape o = in;
  if (o.size() == 4) o[2] = p.OH;
  o.back() = p.OW;
  return o;
}

bool separable(const UpsampleParams& p) { return p.mode == UpsampleMode::Cubic || p.antialias; }

// One dim's table as tensors on `dev` (int64 offsets and indices, weights of the data's dtype).
struct DevTable {
  Tensor ptr, idx, w;
};

template <class T>
DevTable upload(const SepTable<T>& t, DType dt, Device dev) {
  auto to_tensor = [&](const auto& v, DType d) {
    using E = typename std::decay_t<decltype(v)>::value_type;
    Tensor h = Tensor::empty({std::max<int64_t>(1, static_cast<int64_t>(v.size()))}, d);
    std::copy(v.begin(), v.end(), h.data<E>());
    return h.to_device(dev);
  };
  return {to_tensor(t.ptr, DType::Int64), to_tensor(t.idx, DType::Int64), to_tensor(t.w, dt)};
}

// The separable resize (see ops/upsample.h): forward = horizontal pass then vertical pass;
// backward = the transposed vertical pass then the transposed horizontal pass. A dim that
// sep_dim_identity skips is not touched; when both are skipped the result is a copy.
template <class T>
Tensor sep_run(const char* op, const Tensor& src, const UpsampleParams& p, bool backward, const Shape& in_shape) {
  const Device dev = src.device();
  const DType dt = src.dtype();
  const int64_t N = in_shape[0], C = in_shape[1];
  auto pass_w = [&](Tensor& dst, const Tensor& s, const DevTable& t, int64_t rows, int64_t ic, int64_t oc) {
    const int64_t *pp = t.ptr.data<int64_t>(), *pi = t.idx.data<int64_t>();
    if (dev.is_cpu()) sep_pass_w<T>(dst.data<T>(), s.data<T>(), pp, pi, t.w.data<T>(), rows, ic, oc);
    else CNNKIT_CUDA_OR_THROW(op, sep_pass_w_cuda<T>(dst.data<T>(), s.data<T>(), pp, pi, t.w.data<T>(), rows, ic, oc,
                                                     dev.index));
  };
  auto pass_h = [&](Tensor& dst, const Tensor& s, const DevTable& t, int64_t ir, int64_t orr, int64_t cols) {
    const int64_t *pp = t.ptr.data<int64_t>(), *pi = t.idx.data<int64_t>();
    if (dev.is_cpu()) sep_pass_h<T>(dst.data<T>(), s.data<T>(), pp, pi, t.w.data<T>(), p.planes, ir, orr, cols);
    else CNNKIT_CUDA_OR_THROW(op, sep_pass_h_cuda<T>(dst.data<T>(), s.data<T>(), pp, pi, t.w.data<T>(), p.planes, ir,
                                                     orr, cols, dev.index));
  };
  const bool skip_w = sep_dim_identity(p, p.W, p.OW), skip_h = sep_dim_identity(p, p.H, p.OH);
  if (skip_w && skip_h) return src.clone();
  Tensor cur = src;
  if (!backward) {
    if (!skip_w) {
      Tensor t = Tensor::empty({N, C, p.H, p.OW}, dt, dev);
      pass_w(t, cur, upload(sep_table<T>(p, p.W, p.OW, p.scale_w), dt, dev), p.planes * p.H, p.W, p.OW);
      cur = t;
    }
    if (!skip_h) {
      Tensor t = Tensor::empty({N, C, p.OH, p.OW}, dt, dev);
      pass_h(t, cur, upload(sep_table<T>(p, p.H, p.OH, p.scale_h), dt, dev), p.H, p.OH, p.OW);
      cur = t;
    }
  } else {
    if (!skip_h) {
      Tensor t = Tensor::empty({N, C, p.H, p.OW}, dt, dev);
      pass_h(t, cur, upload(sep_transpose(sep_table<T>(p, p.H, p.OH, p.scale_h), p.H), dt, dev), p.OH, p.H, p.OW);
      cur = t;
    }
    if (!skip_w) {
      Tensor t = Tensor::empty({N, C, p.H, p.W}, dt, dev);
      pass_w(t, cur, upload(sep_transpose(sep_table<T>(p, p.W, p.OW, p.scale_w), p.W), dt, dev), p.planes * p.H,
             p.OW, p.W);
      cur = t;
    }
  }
  return cur;
}

Tensor forward_impl(bool naive, const Tensor& x_, const Shape& osize, const std::string& mode, bool align_corners,
                    const Scales& scales, bool antialias) {
  const char* op = naive ? "upsample_naive" : "upsample";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  const UpsampleParams p = params_of(op, x_.shape(), osize, mode, align_corners, scales, antialias);
  if (naive) check_cpu(op, x_);
  const Tensor x = x_.contiguous();
  const Device dev = x.device();
  if (separable(p) && !naive)
    return CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] { return sep_run<scalar_t>(op, x, p, false, x.shape()); });
  Tensor out = Tensor::empty(out_shape(x.shape(), p), x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    using T = scalar_t;
    if (naive && separable(p)) sep_forward_naive<T>(out.data<T>(), x.data<T>(), p);
    else if (naive) upsample_forward_naive<T>(out.data<T>(), x.data<T>(), p);
    else if (dev.is_cpu()) upsample_forward<T>(out.data<T>(), x.data<T>(), p);
    else CNNKIT_CUDA_OR_THROW(op, upsample_forward_cuda<T>(out.data<T>(), x.data<T>(), p, dev.index));
  });
  return out;
}

Tensor backward_impl(bool naive, const Tensor& dout_, const Shape& input_size, const Shape& osize,
                     const std::string& mode, bool align_corners, const Scales& scales, bool antialias) {
  const char* op = naive ? "upsample_backward_naive" : "upsample_backward";
  check_defined(op, "grad_output", dout_);
  check_floating(op, "grad_output", dout_);
  const UpsampleParams p = params_of(op, input_size, osize, mode, align_corners, scales, antialias);
  check_shape(op, "grad_output", dout_, out_shape(input_size, p));
  if (naive) check_cpu(op, dout_);
  const Tensor dout = dout_.contiguous();
  const Device dev = dout.device();
  if (separable(p) && !naive)
    return CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] { return sep_run<scalar_t>(op, dout, p, true, input_size); });
  Tensor dinp = Tensor::empty(input_size, dout.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    using T = scalar_t;
    if (naive && separable(p)) sep_backward_naive<T>(dinp.data<T>(), dout.data<T>(), p);
    else if (naive) upsample_backward_naive<T>(dinp.data<T>(), dout.data<T>(), p);
    else if (dev.is_cpu()) upsample_backward<T>(dinp.data<T>(), dout.data<T>(), p);
    else CNNKIT_CUDA_OR_THROW(op, upsample_backward_cuda<T>(dinp.data<T>(), dout.data<T>(), p, dev.index));
  });
  return dinp;
}

}  // namespace

void bind_upsample(py::module_& m) {
  for (bool naive : {false, true}) {
    const std::string sfx = naive ? "_naive" : "";
    m.def(("upsample_forward" + sfx).c_str(),
          [naive](const Tensor& x, const Shape& osize, const std::string& mode, bool ac, const Scales& scales,
                  bool aa) { return forward_impl(naive, x, osize, mode, ac, scales, aa); },
          py::arg("input"), py::arg("output_size"), py::arg("mode"), py::arg("align_corners"),
          py::arg("scales") = Scales{}, py::arg("antialias") = false,
          "nearest / nearest-exact / (bi)linear / bicubic interpolation to output_size (antialias: the aa filters)");
    m.def(("upsample_backward" + sfx).c_str(),
          [naive](const Tensor& g, const Shape& in, const Shape& osize, const std::string& mode, bool ac,
                  const Scales& scales, bool aa) { return backward_impl(naive, g, in, osize, mode, ac, scales, aa); },
          py::arg("grad_output"), py::arg("input_size"), py::arg("output_size"), py::arg("mode"),
          py::arg("align_corners"), py::arg("scales") = Scales{}, py::arg("antialias") = false,
          "gradient of upsample_forward w.r.t. its input");
  }
}

}  // namespace cnnkit
