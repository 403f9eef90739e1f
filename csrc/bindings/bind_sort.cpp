// _C entry points of the sorting family: sort, sort_naive, topk. Validation happens here once
// (dim range, k range); the kernels (ops/sort.cpp, ops/sort.cu) see a contiguous x viewed as
// (outer, n, inner) around the sorted dim and write fresh contiguous (values, int64 indices) on x's
// device. A 0-d tensor sorts as a single element (dim 0 or -1), as in torch.
#include <tuple>

#include "bindings/bindings.h"
#include "ops/sort.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/sort_cuda.h"
#endif

namespace cnnkit {
namespace {

std::tuple<Tensor, Tensor> sort_impl(const char* op, const Tensor& x, int64_t dim, int64_t k_or_n, bool descending,
                                     bool is_topk, bool naive) {
  check_defined(op, "x", x);
  const int64_t d = wrap_dim(op, dim, x.dim());
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.shape()[i];
    else if (i == d) n = x.shape()[i];
    else inner *= x.shape()[i];
  }
  const int64_t k = is_topk ? k_or_n : n;
  CNNKIT_CHECK(k >= 0 && k <= n, RuntimeError, op, ": selected index k out of range (k = ", k,
               ", size of dimension ", d, " = ", n, ")");
  Shape shape = x.shape();
  if (x.dim()) shape[d] = k;
  Tensor values = Tensor::empty(shape, x.dtype(), x.device());
  Tensor indices = Tensor::empty(shape, DType::Int64, x.device());
  const Tensor xc = x.contiguous();
  if (x.device().is_cpu()) {
    if (naive) sort_naive_cpu(values, indices, xc, outer, n, inner, k, descending);
    else sort_cpu(values, indices, xc, outer, n, inner, k, descending);
  } else {
    CNNKIT_CHECK(!naive, ValueError, op, ": the naive reference runs on the CPU only");
    CNNKIT_CUDA_OR_THROW(op, sort_cuda(values, indices, xc, outer, n, inner, k, descending));
  }
  return {values, indices};
}

}  // namespace

void bind_sort(py::module_& m) {
  m.def("sort",
        [](const Tensor& x, int64_t dim, bool descending) {
          return sort_impl("sort()", x, dim, 0, descending, false, false);
        },
        py::arg("x"), py::arg("dim") = -1, py::arg("descending") = false,
        "(values, int64 indices) of x sorted along dim; always stable; NaN is the greatest value");
  m.def("sort_naive",
        [](const Tensor& x, int64_t dim, bool descending) {
          return sort_impl("sort_naive()", x, dim, 0, descending, false, true);
        },
        py::arg("x"), py::arg("dim") = -1, py::arg("descending") = false,
        "Reference for sort (insertion sort per line, CPU only)");
  m.def("topk",
        [](const Tensor& x, int64_t k, int64_t dim, bool largest) {
          return sort_impl("topk()", x, dim, k, largest, true, false);
        },
        py::arg("x"), py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true,
        "(values, indices) of the k largest (or smallest) along dim, in sorted order, ties by position");
}

}  // namespace cnnkit
