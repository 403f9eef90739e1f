// _C entry points of the indexing family: index_select, index_add_, index_copy_, gather,
// scatter_add_, cat, nonzero. Validation happens here once: dtypes, devices, dims, shapes (with
// torch's wording where a course might match it) and every index value, which is wrapped
// (negative counts from the end) into a fresh contiguous int64 tensor or rejected with an
// IndexError ("index 7 is out of bounds for dimension 0 with size 5"). Kernels in ops/index.cpp
// then never see an invalid index (on CUDA the values are checked on the device, see
// normalize_index_cuda, with the same message). In-place ops return their (modified) target;
// outputs are on the inputs' device.
#include "bindings/bindings.h"
#include "ops/index.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/index_cuda.h"
#endif

namespace cnnkit {
namespace {

// int64 indices everywhere; int32 too where torch takes them (index_select, index_add_, gather,
// scatter_add_; not index_copy_).
void check_index_tensor(const std::string& op, const Tensor& index, bool allow_int32 = true) {
  check_defined(op.c_str(), "index", index);
  if (allow_int32)
    CNNKIT_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, TypeError, op,
                 ": expected index of dtype int64 or int32, got ", dtype_name(index.dtype()));
  else
    CNNKIT_CHECK(index.dtype() == DType::Int64, TypeError, op, ": expected index of dtype int64, got ",
                 dtype_name(index.dtype()));
}

// Contiguous copy of `index` (on index's device) with values wrapped into [0, size).
Tensor normalize_index(const std::string& op, const Tensor& index, int64_t size, int64_t dim) {
  if (!index.device().is_cpu())
    CNNKIT_CUDA_OR_THROW(op.c_str(), return normalize_index_cuda(op, index.to(DType::Int64), size, dim));
  Tensor out = Tensor::empty(index.shape(), DType::Int64);
  out.copy_(index);
  int64_t* p = out.data<int64_t>();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) {
    const int64_t v = p[i];
    CNNKIT_CHECK(v >= -size && v < size, IndexError, op, ": index ", v, " is out of bounds for dimension ", dim,
                 " with size ", size);
    if (v < 0) p[i] = v + size;
  }
  return out;
}

void check_devices(const std::string& op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const auto& first = *ts.begin();
  for (const auto& t : ts) {
    check_defined(op.c_str(), t.first, *t.second);
    check_same_device(op.c_str(), first.first, *first.second, t.first, *t.second);
  }
}

void check_no_internal_overlap(const std::string& op, const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d)
    CNNKIT_CHECK(!(t.strides()[d] == 0 && t.shape()[d] > 1), RuntimeError, op,
                 ": unsupported operation: more than one element of the written-to tensor refers to a single "
                 "memory location. Please clone() the tensor before performing the operation.");
}

int64_t size_at(const Tensor& t, int64_t d) { return t.dim() ? t.shape()[d] : 1; }

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const std::string op = "index_select()";
  check_devices(op, {{"x", &x}, {"index", &index}});
  check_index_tensor(op, index);
  CNNKIT_CHECK(index.dim() <= 1, IndexError, op, ": Index is supposed to be a vector, got index of shape ",
               index.shape());
  const int64_t d = wrap_dim(op.c_str(), dim, x.dim());
  Shape shape = x.shape();
  if (x.dim() == 0)
    CNNKIT_CHECK(index.numel() == 1, IndexError, op, ": expected a single index for a 0-d tensor, got ", index.numel());
  else
    shape[d] = index.numel();
  const Tensor nidx = normalize_index(op, index, size_at(x, d), d);
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (x.device().is_cpu()) index_select_cpu(out, x.contiguous(), d, nidx);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), index_select_cuda(out, x.contiguous(), d, nidx));
  return out;
}

// index_add_ / index_copy_: src has out's shape except src.size(dim) == index.numel().
Tensor index_update(const char* name, bool add, Tensor out, int64_t dim, const Tensor& index, Tensor src) {
  const std::string op = std::string(name) + "()";
  check_devices(op, {{"out", &out}, {"index", &index}, {"src", &src}});
  check_index_tensor(op, index, add);
  check_same_dtype(op.c_str(), "out", out, "src", src);
  CNNKIT_CHECK(!(add && out.dtype() == DType::Bool), TypeError, op, ": bool tensors are not supported");
  CNNKIT_CHECK(index.dim() <= 1, IndexError, op, ": Index is supposed to be a vector, got index of shape ",
               index.shape());
  const int64_t d = wrap_dim(op.c_str(), dim, out.dim());
  bool same = src.dim() == out.dim();
  for (int64_t k = 0; same && k < out.dim(); ++k) same = k == d || src.shape()[k] == out.shape()[k];
  CNNKIT_CHECK(same, RuntimeError, op, ": source tensor shape must match self tensor shape, excluding the specified "
               "dimension. Got self.shape = ", out.shape(), " source.shape = ", src.shape());
  CNNKIT_CHECK(size_at(src, d) == index.numel(), RuntimeError, op, ": Number of indices (", index.numel(),
               ") should be equal to source.size(dim): (", size_at(src, d), "), for dim: ", d);
  check_no_internal_overlap(op, out);
  const Tensor nidx = normalize_index(op, index, size_at(out, d), d);
  src = src.storage() == out.storage() ? src.clone() : src.contiguous();
  // The kernel needs a dense target; a strided one is updated through a contiguous copy.
  Tensor dst = out.is_contiguous() ? out : out.contiguous();
  if (out.device().is_cpu()) {
    if (add) index_add_cpu(dst, d, nidx, src);
    else index_copy_cpu(dst, d, nidx, src);
  } else if (add) {
    CNNKIT_CUDA_OR_THROW(op.c_str(), index_add_cuda(dst, d, nidx, src));
  } else {
    CNNKIT_CUDA_OR_THROW(op.c_str(), index_copy_cuda(dst, d, nidx, src));
  }
  if (dst.data_ptr() != out.data_ptr()) out.copy_(dst);
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const std::string op = "gather()";
  check_devices(op, {{"x", &x}, {"index", &index}});
  check_index_tensor(op, index);
  CNNKIT_CHECK(index.dim() == x.dim(), RuntimeError, op,
               ": Index tensor must have the same number of dimensions as input tensor (", index.dim(), " vs ",
               x.dim(), ")");
  const int64_t d = wrap_dim(op.c_str(), dim, x.dim());
  for (int64_t k = 0; k < x.dim(); ++k)
    CNNKIT_CHECK(k == d || index.shape()[k] <= x.shape()[k], RuntimeError, op, ": Size does not match at dimension ",
                 k, " expected index ", index.shape(), " to be no larger than self ", x.shape(), " apart from dimension ",
                 d);
  const Tensor nidx = normalize_index(op, index, size_at(x, d), d);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) gather_cpu(out, x, d, nidx);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), gather_cuda(out, x, d, nidx));
  return out;
}

Tensor scatter_add_(Tensor out, int64_t dim, const Tensor& index, Tensor src) {
  const std::string op = "scatter_add_()";
  check_devices(op, {{"out", &out}, {"index", &index}, {"src", &src}});
  check_index_tensor(op, index);
  check_same_dtype(op.c_str(), "out", out, "src", src);
  CNNKIT_CHECK(out.dtype() != DType::Bool, TypeError, op, ": bool tensors are not supported");
  CNNKIT_CHECK(index.dim() == out.dim() && src.dim() == out.dim(), RuntimeError, op,
               ": Index tensor must have the same number of dimensions as self tensor and src (got index ",
               index.dim(), "-D, self ", out.dim(), "-D, src ", src.dim(), "-D)");
  const int64_t d = wrap_dim(op.c_str(), dim, out.dim());
  for (int64_t k = 0; k < out.dim(); ++k)
    CNNKIT_CHECK(index.shape()[k] <= src.shape()[k] && (k == d || index.shape()[k] <= out.shape()[k]), RuntimeError, op,
                 ": Expected index ", index.shape(), " to be no larger than self ", out.shape(), " apart from dimension ",
                 d, " and to be no larger size than src ", src.shape());
  check_no_internal_overlap(op, out);
  const Tensor nidx = normalize_index(op, index, size_at(out, d), d);
  if (src.storage() == out.storage()) src = src.clone();
  if (out.device().is_cpu()) scatter_add_cpu(out, d, nidx, src);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), scatter_add_cuda(out, d, nidx, src));
  return out;
}

// scatter_(dim, index, src, reduce): as scatter_add_'s checks; src may be a broadcast 0-d value.
Tensor scatter_(Tensor out, int64_t dim, const Tensor& index, Tensor src, const std::string& reduce) {
  const std::string op = "scatter_()";
  check_devices(op, {{"out", &out}, {"index", &index}, {"src", &src}});
  check_index_tensor(op, index);
  check_same_dtype(op.c_str(), "out", out, "src", src);
  ScatterReduce r = ScatterReduce::None;
  if (reduce == "add") r = ScatterReduce::Add;
  else if (reduce == "multiply") r = ScatterReduce::Multiply;
  else CNNKIT_CHECK(reduce.empty() || reduce == "none", ValueError, op,
                    ": reduce argument must be either add or multiply, got ", reduce);
  CNNKIT_CHECK(!(r != ScatterReduce::None && out.dtype() == DType::Bool), TypeError, op,
               ": reduce is not supported on bool tensors");
  if (src.dim() == 0 && out.dim() > 0) src = src.expand(index.shape());
  CNNKIT_CHECK(index.dim() == out.dim() && src.dim() == out.dim(), RuntimeError, op,
               ": Index tensor must have the same number of dimensions as self tensor and src (got index ",
               index.dim(), "-D, self ", out.dim(), "-D, src ", src.dim(), "-D)");
  const int64_t d = wrap_dim(op.c_str(), dim, out.dim());
  for (int64_t k = 0; k < out.dim(); ++k)
    CNNKIT_CHECK(index.shape()[k] <= src.shape()[k] && (k == d || index.shape()[k] <= out.shape()[k]), RuntimeError,
                 op, ": Expected index ", index.shape(), " to be no larger than self ", out.shape(),
                 " apart from dimension ", d, " and to be no larger size than src ", src.shape());
  check_no_internal_overlap(op, out);
  const Tensor nidx = normalize_index(op, index, size_at(out, d), d);
  if (src.storage() == out.storage()) src = src.clone();
  if (out.device().is_cpu()) scatter_cpu(out, d, nidx, src, r);
  else CNNKIT_CUDA_OR_THROW(op.c_str(), scatter_cuda(out, d, nidx, src, r));
  return out;
}

// Legacy rule kept by torch: 1-D empty tensors (shape [0]) are skipped whatever the other shapes.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  const char* op = "cat()";
  CNNKIT_CHECK(!tensors.empty(), ValueError, "torch.cat(): expected a non-empty list of Tensors");
  std::vector<Tensor> kept;
  std::vector<size_t> pos;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_defined(op, "tensor", t);
    check_same_device(op, "tensors[0]", tensors[0], "another tensor", t);
    CNNKIT_CHECK(t.dtype() == tensors[0].dtype(), TypeError, op, ": expected all tensors to have dtype ",
                 dtype_name(tensors[0].dtype()), ", got ", dtype_name(t.dtype()), " for tensor number ", i,
                 " in the list");
    CNNKIT_CHECK(t.dim() > 0, RuntimeError, op, ": zero-dimensional tensor (at position ", i,
                 ") cannot be concatenated");
    if (t.dim() == 1 && t.shape()[0] == 0) continue;
    kept.push_back(t);
    pos.push_back(i);
  }
  const Device dev = tensors[0].device();
  if (kept.empty()) return Tensor::empty({0}, tensors[0].dtype(), dev);
  const Tensor& ref = kept[0];
  const int64_t d = wrap_dim(op, dim, ref.dim());
  Shape shape = ref.shape();
  shape[d] = 0;
  for (size_t j = 0; j < kept.size(); ++j) {
    const Tensor& t = kept[j];
    CNNKIT_CHECK(t.dim() == ref.dim(), RuntimeError, op, ": Tensors must have same number of dimensions: got ",
                 ref.dim(), " and ", t.dim());
    for (int64_t k = 0; k < ref.dim(); ++k)
      CNNKIT_CHECK(k == d || t.shape()[k] == ref.shape()[k], RuntimeError, op,
                   ": Sizes of tensors must match except in dimension ", d, ". Expected size ", ref.shape()[k],
                   " but got size ", t.shape()[k], " for tensor number ", pos[j], " in the list.");
    shape[d] += t.shape()[d];
  }
  Tensor out = Tensor::empty(shape, ref.dtype(), dev);
  if (dev.is_cpu()) cat_cpu(out, kept, d);
  else CNNKIT_CUDA_OR_THROW(op, cat_cuda(out, kept, d));
  return out;
}

Tensor nonzero(const Tensor& x) {
  check_defined("nonzero()", "x", x);
  if (x.device().is_cpu()) return nonzero_cpu(x);
  CNNKIT_CUDA_OR_THROW("nonzero()", return nonzero_cuda(x));
}

}  // namespace

void bind_index(py::module_& m) {
  m.def("index_select", &index_select, py::arg("x"), py::arg("dim"), py::arg("index"),
        "x.index_select(dim, index) for an int64 index of 0 or 1 dims (negative indices wrap)");
  m.def("index_add_",
        [](Tensor out, int64_t dim, const Tensor& index, Tensor src) {
          return index_update("index_add_", true, out, dim, index, src);
        },
        py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
        "out.index_add_(dim, index, src): duplicates accumulate in index order; returns out");
  m.def("index_copy_",
        [](Tensor out, int64_t dim, const Tensor& index, Tensor src) {
          return index_update("index_copy_", false, out, dim, index, src);
        },
        py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
        "out.index_copy_(dim, index, src): for duplicates the last one wins; returns out");
  m.def("gather", &gather, py::arg("x"), py::arg("dim"), py::arg("index"), "torch.gather(x, dim, index)");
  m.def("scatter_add_", &scatter_add_, py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
        "out.scatter_add_(dim, index, src); returns out");
  m.def("scatter_", &scatter_, py::arg("out"), py::arg("dim"), py::arg("index"), py::arg("src"),
        py::arg("reduce") = std::string(),
        "out.scatter_(dim, index, src, reduce=''|'add'|'multiply'); src may be 0-d (a value); returns out");
  m.def("cat", &cat, py::arg("tensors"), py::arg("dim") = 0, "torch.cat(tensors, dim) for tensors of one dtype");
  m.def("nonzero", &nonzero, py::arg("x"), "(n, x.dim()) int64 coordinates of the nonzero elements, row-major");
}

}  // namespace cnnkit
