// Python entry points of ops/grid_sample: validation (PyTorch's rules and messages, those of
// aten's grid_sampler checks) and dispatch. Inputs of any strides are made contiguous; outputs are
// new contiguous tensors on the input's device.
//
//   grid_sample_forward(input (N, C, H, W), grid (N, OH, OW, 2), mode, padding_mode, align_corners)
//     -> out (N, C, OH, OW)
//   grid_sample_backward(grad_output, input, grid, mode, padding_mode, align_corners,
//                        needs (input, grid)) -> (dinput | None, dgrid | None)
// mode: "bilinear" | "nearest" | "bicubic"; padding_mode: "zeros" | "border" | "reflection".
// Only the spatial (4-D) case is built: 5-D (volumetric) input raises ValueError.
#include <string>
#include <utility>

#include "bindings/bindings.h"
#include "ops/grid_sample.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/grid_sample_cuda.h"
#endif

namespace cnnkit {
namespace {

GridSampleMode mode_of(const std::string& m) {
  if (m == "bilinear") return GridSampleMode::Bilinear;
  if (m == "nearest") return GridSampleMode::Nearest;
  if (m == "bicubic") return GridSampleMode::Bicubic;
  throw ValueError(str("grid_sampler(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '", m, "'"));
}

GridSamplePadding padding_of(const std::string& m) {
  if (m == "zeros") return GridSamplePadding::Zeros;
  if (m == "border") return GridSamplePadding::Border;
  if (m == "reflection") return GridSamplePadding::Reflection;
  throw ValueError(
      str("grid_sampler(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: '", m, "'"));
}

// torch's check_grid_sampler_common + check_grid_sampler_2d, in its order, plus dtype checks.
GridSampleParams params_of(const Tensor& x, const Tensor& grid, const std::string& mode, const std::string& padding,
                           bool align_corners) {
  const char* op = "grid_sampler()";
  check_defined(op, "input", x);
  check_defined(op, "grid", grid);
  CNNKIT_CHECK(x.device() == grid.device(), RuntimeError,
               "grid_sampler(): expected input and grid to be on same device, but input is on ", x.device().str(),
               " and grid is on ", grid.device().str());
  check_floating(op, "input", x);
  check_floating(op, "grid", grid);
  CNNKIT_CHECK(x.dtype() == grid.dtype(), RuntimeError,
               "grid_sampler(): expected input and grid to have the same dtype, but input has ",
               dtype_name(x.dtype()), " and grid has ", dtype_name(grid.dtype()));
  const Shape& is = x.shape();
  const Shape& gs = grid.shape();
  CNNKIT_CHECK(is.size() >= 3 && gs.size() == is.size(), RuntimeError,
               "grid_sampler(): expected 4D input and grid with same number of dimensions, but got input with sizes ",
               is, " and grid with sizes ", gs);
  CNNKIT_CHECK(is[0] == gs[0], RuntimeError,
               "grid_sampler(): expected grid and input to have same batch size, but got input with sizes ", is,
               " and grid with sizes ", gs);
  CNNKIT_CHECK(gs.back() == static_cast<int64_t>(is.size()) - 2, RuntimeError,
               "grid_sampler(): expected grid to have size ", is.size() - 2,
               " in last dimension, but got grid with sizes ", gs);
  for (size_t i = 2; i < is.size(); ++i)
    CNNKIT_CHECK(is[i] > 0, RuntimeError,
                 "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes ", is,
                 " with dimension ", i, " being empty");
  const GridSampleMode m = mode_of(mode);
  const GridSamplePadding pm = padding_of(padding);
  CNNKIT_CHECK(!(is.size() == 5 && m == GridSampleMode::Bicubic), RuntimeError,
               "grid_sampler(): bicubic interpolation only supports 4D input");
  CNNKIT_CHECK(is.size() != 5, ValueError,
               "grid_sampler(): 5-D (volumetric) input is not supported by cnnkit; expected 4-D input (N, C, H, W) "
               "and grid (N, H_out, W_out, 2), got input with sizes ", is, " and grid with sizes ", gs);
  CNNKIT_CHECK(is.size() == 4, RuntimeError,
               "grid_sampler(): expected 4D input and grid with same number of dimensions, but got input with sizes ",
               is, " and grid with sizes ", gs);
  GridSampleParams p;
  p.N = is[0];
  p.C = is[1];
  p.H = is[2];
  p.W = is[3];
  p.OH = gs[1];
  p.OW = gs[2];
  p.mode = m;
  p.padding = pm;
  p.align_corners = align_corners;
  return p;
}

Tensor forward_impl(const Tensor& x_, const Tensor& grid_, const std::string& mode, const std::string& padding,
                    bool align_corners) {
  const GridSampleParams p = params_of(x_, grid_, mode, padding, align_corners);
  const Tensor x = x_.contiguous(), grid = grid_.contiguous();
  const Device dev = x.device();
  Tensor out = Tensor::empty({p.N, p.C, p.OH, p.OW}, x.dtype(), dev);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "grid_sample", [&] {
    using T = scalar_t;
    if (dev.is_cpu()) grid_sample_forward<T>(out.data<T>(), x.data<T>(), grid.data<T>(), p);
    else CNNKIT_CUDA_OR_THROW("grid_sample",
                              grid_sample_forward_cuda<T>(out.data<T>(), x.data<T>(), grid.data<T>(), p, dev.index));
  });
  return out;
}

std::pair<py::object, py::object> backward_impl(const Tensor& dout_, const Tensor& x_, const Tensor& grid_,
                                                const std::string& mode, const std::string& padding,
                                                bool align_corners, std::pair<bool, bool> needs) {
  const char* op = "grid_sample_backward";
  const GridSampleParams p = params_of(x_, grid_, mode, padding, align_corners);
  check_defined(op, "grad_output", dout_);
  check_same_device(op, "grad_output", dout_, "input", x_);
  check_same_dtype(op, "grad_output", dout_, "input", x_);
  check_shape(op, "grad_output", dout_, {p.N, p.C, p.OH, p.OW});
  const Tensor dout = dout_.contiguous(), x = x_.contiguous(), grid = grid_.contiguous();
  const Device dev = x.device();
  Tensor dinp, dgrid;
  if (needs.first) dinp = Tensor::empty(x.shape(), x.dtype(), dev);
  if (needs.second) dgrid = Tensor::empty(grid.shape(), grid.dtype(), dev);
  if (needs.first || needs.second) {
    CNNKIT_DISPATCH_FLOATING(x.dtype(), op, [&] {
      using T = scalar_t;
      T* di = needs.first ? dinp.data<T>() : nullptr;
      T* dg = needs.second ? dgrid.data<T>() : nullptr;
      if (dev.is_cpu()) grid_sample_backward<T>(di, dg, dout.data<T>(), x.data<T>(), grid.data<T>(), p);
      else CNNKIT_CUDA_OR_THROW(op, grid_sample_backward_cuda<T>(di, dg, dout.data<T>(), x.data<T>(),
                                                                 grid.data<T>(), p, dev.index));
    });
  }
  py::object a = needs.first ? py::cast(dinp) : py::none();
  py::object b = needs.second ? py::cast(dgrid) : py::none();
  return {a, b};
}

}  // namespace

void bind_grid_sample(py::module_& m) {
  m.def("grid_sample_forward", &forward_impl, py::arg("input"), py::arg("grid"), py::arg("mode") = "bilinear",
        py::arg("padding_mode") = "zeros", py::arg("align_corners") = false,
        "samples input (N, C, H, W) at the normalised locations grid (N, H_out, W_out, 2)");
  m.def("grid_sample_backward", &backward_impl, py::arg("grad_output"), py::arg("input"), py::arg("grid"),
        py::arg("mode"), py::arg("padding_mode"), py::arg("align_corners"),
        py::arg("needs") = std::pair<bool, bool>{true, true},
        "gradients of grid_sample_forward w.r.t. input and grid (None where not needed)");
}

}  // namespace cnnkit
