// Python entry points of ops/dropout: validation and dtype/device dispatch. The input is made
// contiguous; outputs are new contiguous tensors on the input's device. CPU tensors run
// dropout.cpp, CUDA tensors dropout.cu (built with CNNKIT_WITH_CUDA).
#include "bindings/bindings.h"
#include "ops/dropout.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/dropout_cuda.h"
#endif

namespace cnnkit {
namespace {

void check_p(const char* op, double p) {
  CNNKIT_CHECK(p >= 0.0 && p <= 1.0, ValueError, op, ": dropout probability has to be between 0 and 1, but got ", p);
}

// Mask entries m = numel / inner (inner: elements per mask entry, 1 or the feature-map size).
int64_t mask_entries(const char* op, const Tensor& x, int64_t inner) {
  CNNKIT_CHECK(inner >= 1, ValueError, op, ": expected inner >= 1, got ", inner);
  CNNKIT_CHECK(x.numel() % inner == 0, ValueError, op, ": expected the input's ", x.numel(),
               " elements to be a multiple of inner = ", inner);
  return x.numel() / inner;
}

py::tuple dropout_fwd(const Tensor& x_, double p, uint64_t seed, uint64_t offset, int64_t inner, bool alpha) {
  const char* op = "dropout_forward";
  check_defined(op, "input", x_);
  check_floating(op, "input", x_);
  check_p(op, p);
  const Tensor x = x_.contiguous();
  const int64_t m = mask_entries(op, x, inner);
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  Tensor mask = Tensor::empty({m}, DType::Bool, dev);
  const DropoutCoef coef = dropout_coef(p, alpha);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
    if (dev.is_cpu())
      return dropout_forward(out.data<scalar_t>(), mask.data<bool>(), x.data<scalar_t>(), m, inner, seed, offset, coef);
    CNNKIT_CUDA_OR_THROW(op, dropout_forward_cuda(out.data<scalar_t>(), mask.data<bool>(), x.data<scalar_t>(), m, inner,
                                                  seed, offset, coef, dev.index));
  });
  return py::make_tuple(out, mask);
}

Tensor dropout_bwd(const Tensor& dout_, const Tensor& mask_, double p, int64_t inner, bool alpha) {
  const char* op = "dropout_backward";
  check_defined(op, "grad_output", dout_);
  check_floating(op, "grad_output", dout_);
  check_defined(op, "mask", mask_);
  check_dtype(op, "mask", mask_, DType::Bool);
  check_same_device(op, "grad_output", dout_, "mask", mask_);
  check_p(op, p);
  const Tensor dout = dout_.contiguous();
  const Tensor mask = mask_.contiguous();
  const int64_t m = mask_entries(op, dout, inner);
  CNNKIT_CHECK(mask.numel() == m, ValueError, op, ": expected mask of ", m, " elements (grad_output's ", dout.numel(),
               " / inner ", inner, "), got ", mask.numel());
  const Device dev = dout.device();
  Tensor dinp = Tensor::empty(dout.shape(), dout.dtype(), dev);
  const double scale = dropout_coef(p, alpha).scale;
  CNNKIT_DISPATCH_FLOATING(dout.dtype(), op, [&] {
    if (dev.is_cpu()) return dropout_backward(dinp.data<scalar_t>(), dout.data<scalar_t>(), mask.data<bool>(), m, inner, scale);
    CNNKIT_CUDA_OR_THROW(op, dropout_backward_cuda(dinp.data<scalar_t>(), dout.data<scalar_t>(), mask.data<bool>(), m,
                                                   inner, scale, dev.index));
  });
  return dinp;
}

Tensor philox(uint64_t seed, uint64_t offset, int64_t n) {
  CNNKIT_CHECK(n >= 0, ValueError, "philox4x32: expected n >= 0, got ", n);
  std::vector<uint32_t> words(static_cast<size_t>(n));
  philox4x32_fill(words.data(), n, seed, offset);
  Tensor out = Tensor::empty({n}, DType::Int64, Device::cpu());
  int64_t* o = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i] = words[static_cast<size_t>(i)];
  return out;
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def("dropout_forward", &dropout_fwd, py::arg("input"), py::arg("p"), py::arg("seed"), py::arg("offset") = 0,
        py::arg("inner") = 1, py::arg("alpha") = false,
        "(output, mask): fused dropout (alpha=True: alpha dropout) with a Philox4x32-10 mask of numel/inner bool "
        "entries, each covering `inner` consecutive elements");
  m.def("dropout_backward", &dropout_bwd, py::arg("grad_output"), py::arg("mask"), py::arg("p"), py::arg("inner") = 1,
        py::arg("alpha") = false, "grad_output * (mask ? scale : 0) with dropout_forward's scale");
  m.def("philox4x32", &philox, py::arg("seed"), py::arg("offset"), py::arg("n"),
        "the first n 32-bit words (as int64, CPU) of the Philox4x32-10 stream behind the dropout masks");
}

}  // namespace cnnkit
