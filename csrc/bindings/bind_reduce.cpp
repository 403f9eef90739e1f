// _C entry points of the reduction family: sum, sum_naive, mean, max_dim, min_dim, max_all,
// min_all, argmax, argmin. Dims are wrapped and checked here (negative dims wrap, duplicates are
// a ValueError, empty reductions follow torch's errors); the kernels in ops/reduce.cpp assume
// valid input (ops/reduce.cpp on the CPU, ops/reduce.cu on CUDA). Outputs are new contiguous
// tensors on x's device.
#include <optional>

#include "bindings/bindings.h"
#include "ops/reduce.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/reduce_cuda.h"
#endif

namespace cnnkit {
namespace {

// torch's spelling of a dtype in messages copied from torch.
const char* torch_dtype_name(DType dt) {
  switch (dt) {
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
    case DType::Int64: return "Long";
    case DType::Bool: return "Bool";
    case DType::UInt8: return "Byte";
    case DType::Int32: return "Int";
    case DType::Int16: return "Short";
    case DType::Int8: return "Char";
    case DType::Float16: return "Half";
    case DType::BFloat16: return "BFloat16";
  }
  return "?";
}

struct DimSpec {
  std::vector<bool> reduce;  // per dim of x
  Shape out_shape;
};

// dims [] = all dims. A 0-d tensor accepts dim 0 / -1 and reduces to itself.
DimSpec reduce_dims(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  DimSpec s;
  s.reduce.assign(x.dim(), dims.empty());
  std::vector<bool> seen(std::max<int64_t>(x.dim(), 1), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, x.dim());
    CNNKIT_CHECK(!seen[w], ValueError, op, ": dim ", w, " appears multiple times in the list of dims");
    seen[w] = true;
    if (x.dim() > 0) s.reduce[w] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!s.reduce[d]) s.out_shape.push_back(x.shape()[d]);
    else if (keepdim) s.out_shape.push_back(1);
  }
  return s;
}

void check_input(const char* op, const Tensor& x) { check_defined(op, "x", x); }

// The device twin of max_min_dim (values and/or indices along dim).
void max_min_dim(const char* op, bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x,
                 int64_t dim) {
  if (x.device().is_cpu()) max_min_dim_cpu(is_max, values, indices, x, dim);
  else CNNKIT_CUDA_OR_THROW(op, max_min_dim_cuda(is_max, values, indices, x, dim));
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool naive) {
  const char* op = naive ? "sum_naive" : "sum";
  check_input(op, x);
  const DimSpec s = reduce_dims(op, x, dims, keepdim);
  Tensor out = Tensor::empty(s.out_shape, is_floating(x.dtype()) ? x.dtype() : DType::Int64, x.device());
  if (x.device().is_cpu()) {
    if (naive) sum_naive_cpu(out, x, s.reduce);
    else sum_cpu(out, x, s.reduce);
  } else if (naive) {
    CNNKIT_CUDA_OR_THROW(op, sum_naive_cuda(out, x, s.reduce));
  } else {
    CNNKIT_CUDA_OR_THROW(op, sum_cuda(out, x, s.reduce));
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_input("mean", x);
  CNNKIT_CHECK(is_floating(x.dtype()), TypeError,
               "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
               "Got: ", torch_dtype_name(x.dtype()));
  const DimSpec s = reduce_dims("mean", x, dims, keepdim);
  Tensor out = Tensor::empty(s.out_shape, x.dtype(), x.device());
  if (x.device().is_cpu()) mean_cpu(out, x, s.reduce);
  else CNNKIT_CUDA_OR_THROW("mean", mean_cuda(out, x, s.reduce));
  return out;
}

// values/indices along one dim (either may be skipped).
std::pair<Tensor, Tensor> extreme_dim(const char* op, bool is_max, const Tensor& x, int64_t dim, bool keepdim,
                                      bool want_values) {
  check_input(op, x);
  const int64_t d = wrap_dim(op, dim, x.dim());
  if (x.dim() == 0) {
    CNNKIT_CHECK(x.numel() > 0, IndexError, op, ": Expected reduction dim ", d, " to have non-zero size.");
    return {want_values ? x.clone() : Tensor(), Tensor::zeros({}, DType::Int64, x.device())};
  }
  CNNKIT_CHECK(x.shape()[d] > 0, IndexError, op, ": Expected reduction dim ", d, " to have non-zero size.");
  Shape out_shape = x.shape();
  if (keepdim) out_shape[d] = 1;
  else out_shape.erase(out_shape.begin() + d);
  Tensor values = want_values ? Tensor::empty(out_shape, x.dtype(), x.device()) : Tensor();
  Tensor indices = Tensor::empty(out_shape, DType::Int64, x.device());
  max_min_dim(op, is_max, values, indices, x, d);
  return {values, indices};
}

Tensor extreme_all(const char* op, bool is_max, const Tensor& x) {
  check_input(op, x);
  CNNKIT_CHECK(x.numel() > 0, RuntimeError, op,
               ": Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the "
               "'dim' argument.");
  const Tensor flat = x.contiguous().reshape({x.numel()});
  Tensor values = Tensor::empty({}, x.dtype(), x.device());
  max_min_dim(op, is_max, values, Tensor(), flat, 0);
  return values;
}

// argmax/argmin: with dim=None the index is into the flattened (row-major) tensor; keepdim then
// keeps every dim as size 1.
Tensor arg_extreme(const char* op, bool is_max, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  check_input(op, x);
  if (dim) return extreme_dim(op, is_max, x, *dim, keepdim, false).second;
  CNNKIT_CHECK(x.numel() > 0, IndexError, op, ": Expected reduction dim to be specified for input.numel() == 0.");
  const Tensor flat = x.contiguous().reshape({x.numel()});
  Tensor idx = Tensor::empty({}, DType::Int64, x.device());
  max_min_dim(op, is_max, Tensor(), idx, flat, 0);
  return keepdim ? idx.reshape(Shape(x.dim(), 1)) : idx;
}

struct Lines {
  int64_t dim = 0, outer = 1, n = 1, inner = 1;
};
Lines lines_of(const char* op, const Tensor& x, int64_t dim) {
  Lines l;
  l.dim = wrap_dim(op, dim, x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < l.dim) l.outer *= x.shape()[i];
    else if (i == l.dim) l.n = x.shape()[i];
    else l.inner *= x.shape()[i];
  }
  return l;
}

// cumsum / cumprod (reverse: cumsum from the end, the gradient of cumsum). Integer and bool input
// scans in int64 (torch's default dtype for integer cumsum/cumprod).
Tensor scan(const char* op, bool prod, const Tensor& x, int64_t dim, bool reverse) {
  check_input(op, x);
  const Lines l = lines_of(op, x, dim);
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  const Tensor xc = x.dtype() == dt ? x.contiguous() : x.to(dt);
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  if (x.device().is_cpu()) {
    if (prod) cumprod_cpu(out, xc, l.outer, l.n, l.inner);
    else cumsum_cpu(out, xc, l.outer, l.n, l.inner, reverse);
  } else if (prod) {
    CNNKIT_CUDA_OR_THROW(op, cumprod_cuda(out, xc, l.outer, l.n, l.inner));
  } else {
    CNNKIT_CUDA_OR_THROW(op, cumsum_cuda(out, xc, l.outer, l.n, l.inner, reverse));
  }
  return out;
}

Tensor cumprod_backward(const Tensor& dout, const Tensor& x, int64_t dim) {
  const char* op = "cumprod_backward";
  check_input(op, x);
  check_defined(op, "dout", dout);
  check_floating(op, "x", x);
  check_same_dtype(op, "dout", dout, "x", x);
  check_same_device(op, "dout", dout, "x", x);
  check_shape(op, "dout", dout, x.shape());
  const Lines l = lines_of(op, x, dim);
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor gc = dout.contiguous(), xc = x.contiguous();
  if (x.device().is_cpu()) cumprod_backward_cpu(dx, gc, xc, l.outer, l.n, l.inner);
  else CNNKIT_CUDA_OR_THROW(op, cumprod_backward_cuda(dx, gc, xc, l.outer, l.n, l.inner));
  return dx;
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("cumsum", [](const Tensor& x, int64_t dim, bool reverse) { return scan("cumsum()", false, x, dim, reverse); },
        py::arg("x"), py::arg("dim"), py::arg("reverse") = false,
        "Cumulative sum along dim (from the end when reverse); integer/bool input -> int64");
  m.def("cumprod", [](const Tensor& x, int64_t dim) { return scan("cumprod()", true, x, dim, false); }, py::arg("x"),
        py::arg("dim"), "Cumulative product along dim; integer/bool input -> int64");
  m.def("cumprod_backward", &cumprod_backward, py::arg("dout"), py::arg("x"), py::arg("dim"),
        "Gradient of cumprod along dim (exact with zeros in x)");
  m.def("sum", [](const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return sum(x, dims, keepdim, false); },
        py::arg("x"), py::arg("dims") = std::vector<int64_t>{}, py::arg("keepdim") = false,
        "Sum over dims ([] = all); bool/int -> int64; float32 accumulates in double");
  m.def("sum_naive",
        [](const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return sum(x, dims, keepdim, true); },
        py::arg("x"), py::arg("dims") = std::vector<int64_t>{}, py::arg("keepdim") = false,
        "Reference implementation of sum (one sequential pass)");
  m.def("mean", &mean, py::arg("x"), py::arg("dims") = std::vector<int64_t>{}, py::arg("keepdim") = false,
        "Mean over dims ([] = all); float dtypes only");
  m.def("max_dim",
        [](const Tensor& x, int64_t dim, bool keepdim) {
          auto r = extreme_dim("max()", true, x, dim, keepdim, true);
          return py::make_tuple(r.first, r.second);
        },
        py::arg("x"), py::arg("dim"), py::arg("keepdim") = false,
        "(values, int64 indices) of the max along dim; first occurrence on ties; NaN propagates");
  m.def("min_dim",
        [](const Tensor& x, int64_t dim, bool keepdim) {
          auto r = extreme_dim("min()", false, x, dim, keepdim, true);
          return py::make_tuple(r.first, r.second);
        },
        py::arg("x"), py::arg("dim"), py::arg("keepdim") = false,
        "(values, int64 indices) of the min along dim; first occurrence on ties; NaN propagates");
  m.def("max_all", [](const Tensor& x) { return extreme_all("max()", true, x); }, py::arg("x"), "0-d max of all elements");
  m.def("min_all", [](const Tensor& x) { return extreme_all("min()", false, x); }, py::arg("x"), "0-d min of all elements");
  m.def("argmax",
        [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme("argmax()", true, x, dim, keepdim); },
        py::arg("x"), py::arg("dim") = py::none(), py::arg("keepdim") = false,
        "int64 index of the max (into the flattened tensor when dim is None)");
  m.def("argmin",
        [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme("argmin()", false, x, dim, keepdim); },
        py::arg("x"), py::arg("dim") = py::none(), py::arg("keepdim") = false,
        "int64 index of the min (into the flattened tensor when dim is None)");
}

}  // namespace cnnkit
