// _C.pad_forward / _C.pad_backward (ops/pad.h, ops/pad_cuda.h): F.pad's four modes over the last
// one to three dims. Validated here once, with torch's messages for the size rules (reflect pads
// below the input size, circular wrapping at most once, non-empty outputs for reflect/replicate);
// the Python layer (cnnkit/_functions/pad.py) checks the pad list's length against the input's
// rank per mode and folds constant padding of more than three dims into repeated calls.
// Backward returns a new tensor that the kernel writes (=).
#include <cstring>
#include <string>

#include "bindings/bindings.h"
#include "ops/pad.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/pad_cuda.h"
#endif

namespace cnnkit {
namespace {

PadMode parse_mode(const std::string& m) {
  if (m == "constant") return PadMode::Constant;
  if (m == "reflect") return PadMode::Reflect;
  if (m == "replicate") return PadMode::Replicate;
  if (m == "circular") return PadMode::Circular;
  throw ValueError(str("pad: unrecognised padding mode ", m));
}

std::string dims_str(const PadDim* dims, int k, bool output) {
  static const char* names[3] = {"W", "H", "D"};
  std::string s;
  for (int j = k - 1; j >= 0; --j) {
    s += str(names[j], ": ", output ? dims[j].out() : dims[j].in);
    if (j > 0) s += output ? " " : ", ";
  }
  return s;
}

// Validates and folds `shape` into PadParams (dims[0] = W, dims[1] = H, dims[2] = D).
PadParams pad_params(const char* op, const Shape& shape, const std::vector<int64_t>& pad, PadMode mode) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  CNNKIT_CHECK(pad.size() % 2 == 0 && !pad.empty() && pad.size() <= 6, ValueError, op,
               ": expected 2, 4 or 6 pad values, got ", pad.size());
  const int k = static_cast<int>(pad.size() / 2);
  CNNKIT_CHECK(k <= nd, ValueError, op, ": cannot pad ", k, " dims of a ", nd, "-D input");
  PadDim dims[3] = {{1, 0, 0}, {1, 0, 0}, {1, 0, 0}};
  for (int j = 0; j < k; ++j) dims[j] = PadDim{shape[nd - 1 - j], pad[2 * j], pad[2 * j + 1]};
  if (mode != PadMode::Constant) {
    // torch: dims other than the batch dim must be non-empty (the batch dim exists for rank k + 2)
    bool nonempty = true;
    for (int64_t i = (nd == k + 2 ? 1 : 0); i < nd; ++i) nonempty = nonempty && shape[i] != 0;
    CNNKIT_CHECK(nonempty, RuntimeError, "Expected ", k + 1, "D or ", k + 2,
                 "D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: ",
                 shape);
  }
  for (int j = 0; j < k; ++j) {
    const PadDim& d = dims[j];
    switch (mode) {
      case PadMode::Constant:
        CNNKIT_CHECK(d.in + std::min<int64_t>(d.lo, 0) + std::min<int64_t>(d.hi, 0) >= 0 && d.out() >= 0,
                     RuntimeError, "narrow(): length must be non-negative.");
        break;
      case PadMode::Reflect:
        CNNKIT_CHECK(d.lo < d.in && d.hi < d.in, RuntimeError, "Argument #", 4 + 2 * j,
                     ": Padding size should be less than the corresponding input dimension, but got: padding (",
                     d.lo, ", ", d.hi, ") at dimension ", nd - 1 - j, " of input ", shape);
        [[fallthrough]];
      case PadMode::Replicate: {
        bool ok = true;
        for (int i = 0; i < k; ++i) ok = ok && dims[i].out() >= 1;
        CNNKIT_CHECK(ok, RuntimeError, "input (", dims_str(dims, k, false), k > 1 ? " " : "",
                     ") is too small. Calculated output ", dims_str(dims, k, true));
        break;
      }
      case PadMode::Circular: {
        const int64_t len = d.in + std::min<int64_t>(d.lo, 0) + std::min<int64_t>(d.hi, 0);
        CNNKIT_CHECK(d.lo <= d.in && d.hi <= d.in && (len >= 0 ? std::max(d.lo, d.hi) <= len : true), RuntimeError,
                     "Padding value causes wrapping around more than once.");
        CNNKIT_CHECK(len >= 0 && d.out() >= 0, RuntimeError,
                     "Negative padding value is resulting in an empty dimension");
        break;
      }
    }
  }
  PadParams p{};
  p.B = 1;
  for (int64_t i = 0; i < nd - k; ++i) p.B *= shape[i];
  p.w = dims[0], p.h = dims[1], p.d = dims[2];
  p.mode = mode;
  return p;
}

Shape out_shape(const Shape& shape, const std::vector<int64_t>& pad) {
  Shape s = shape;
  const size_t nd = s.size();
  for (size_t j = 0; j < pad.size() / 2; ++j) s[nd - 1 - j] += pad[2 * j] + pad[2 * j + 1];
  return s;
}

Tensor pad_forward_entry(const Tensor& x_, const std::vector<int64_t>& pad, const std::string& mode_,
                         double value) {
  const char* op = "pad";
  check_defined(op, "input", x_);
  const PadMode mode = parse_mode(mode_);
  const PadParams p = pad_params(op, x_.shape(), pad, mode);
  const Tensor x = x_.contiguous();
  Tensor out = Tensor::empty(out_shape(x.shape(), pad), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  CNNKIT_DISPATCH_ALL(x.dtype(), op, [&] {
    if (x.device().is_cpu()) {
      pad_forward<scalar_t>(out.data<scalar_t>(), x.data<scalar_t>(), value, p);
    } else {
#ifdef CNNKIT_WITH_CUDA
      pad_forward_cuda<scalar_t>(x.device().index, out.data<scalar_t>(), x.data<scalar_t>(), value, p);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return out;
}

// The preimage lists of one dim as an int64 tensor [offset (in + 1) | index] on `dev`.
Tensor preimage_tensor(const PadDim& d, PadMode mode, Device dev) {
  const PadPreimages pre = pad_preimages(d, mode);
  const int64_t n = static_cast<int64_t>(pre.offset.size() + pre.index.size());
  Tensor t = Tensor::empty({n}, DType::Int64);
  std::memcpy(t.data<int64_t>(), pre.offset.data(), pre.offset.size() * sizeof(int64_t));
  std::memcpy(t.data<int64_t>() + pre.offset.size(), pre.index.data(), pre.index.size() * sizeof(int64_t));
  return dev.is_cpu() ? t : t.to_device(dev);
}

Tensor pad_backward_entry(const Tensor& dout_, const std::vector<int64_t>& input_shape,
                          const std::vector<int64_t>& pad, const std::string& mode_) {
  const char* op = "pad_backward";
  check_defined(op, "grad_output", dout_);
  check_floating(op, "grad_output", dout_);
  for (int64_t s : input_shape)
    CNNKIT_CHECK(s >= 0, ValueError, op, ": expected a non-negative input shape, got ", Shape(input_shape));
  const PadMode mode = parse_mode(mode_);
  const PadParams p = pad_params(op, input_shape, pad, mode);
  check_shape(op, "grad_output", dout_, out_shape(input_shape, pad));
  const Tensor dout = dout_.contiguous();
  const Device dev = dout.device();
  Tensor dx = Tensor::empty(input_shape, dout.dtype(), dev);
  if (dx.numel() == 0) return dx;
  const Tensor pd = preimage_tensor(p.d, mode, dev), ph = preimage_tensor(p.h, mode, dev),
               pw = preimage_tensor(p.w, mode, dev);
  const int64_t* od = pd.data<int64_t>();
  const int64_t* oh = ph.data<int64_t>();
  const int64_t* ow = pw.data<int64_t>();
  const int64_t* id = od + p.d.in + 1;
  const int64_t* ih = oh + p.h.in + 1;
  const int64_t* iw = ow + p.w.in + 1;
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) {
      pad_backward<scalar_t>(dx.data<scalar_t>(), dout.data<scalar_t>(), p, od, id, oh, ih, ow, iw);
    } else {
#ifdef CNNKIT_WITH_CUDA
      pad_backward_cuda<scalar_t>(dev.index, dx.data<scalar_t>(), dout.data<scalar_t>(), p, od, id, oh, ih, ow, iw);
#else
      throw_no_cuda(op);
#endif
    }
  });
  return dx;
}

}  // namespace

void bind_pad(py::module_& m) {
  m.def("pad_forward", &pad_forward_entry, py::arg("x"), py::arg("pad"), py::arg("mode") = "constant",
        py::arg("value") = 0.0,
        "pad the last len(pad)/2 (1 to 3) dims: pad = (w_lo, w_hi, h_lo, h_hi, d_lo, d_hi), negative crops; "
        "mode constant|reflect|replicate|circular");
  m.def("pad_backward", &pad_backward_entry, py::arg("grad_output"), py::arg("input_shape"), py::arg("pad"),
        py::arg("mode") = "constant", "gradient of pad_forward with respect to its input (a gather)");
}

}  // namespace cnnkit
