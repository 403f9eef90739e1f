#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/cpu_allocator.h"
#include "core/cuda_backend.h"
#include "core/parallel.h"
#include "core/shape.h"

namespace cnnkit {

// ---------------------------------------------------------------------------------------------
// storage
// ---------------------------------------------------------------------------------------------
std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  if (device.is_cpu()) {
    // Through the caching allocator (core/cpu_allocator.h): 64-byte aligned, a valid pointer even
    // for 0 bytes; the deleter hands the block (and its size class) back to the cache.
    size_t block = 0;
    void* p = cpu_alloc(nbytes, &block);
    s->ptr = std::shared_ptr<void>(p, [block](void* q) { cpu_free(q, block); });
  } else {
#ifdef CNNKIT_WITH_CUDA
    // Round up to a whole number of 64-byte lines and never ask for 0 bytes.
    const size_t bytes = ((nbytes + 63) / 64) * 64 + (nbytes == 0 ? 64 : 0);
    const int index = device.index;
    void* p = cuda_alloc(bytes, index);
    s->ptr = std::shared_ptr<void>(p, [index](void* q) { cuda_free(q, index); });
#else
    throw RuntimeError(str("cnnkit: cannot allocate on ", device.str(), ": cnnkit was built without CUDA support"));
#endif
  }
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> keep_alive) {
  auto s = std::make_shared<Storage>();
  s->nbytes = nbytes;
  s->device = device;
  s->ptr = std::shared_ptr<void>(data, std::move(keep_alive));
  return s;
}

// ---------------------------------------------------------------------------------------------
// shape helpers
// ---------------------------------------------------------------------------------------------
// Both overflow-checked (core/shape.h): RuntimeError "numel: integer multiplication overflow".
int64_t shape_numel(const Shape& s) { return checked_numel(s); }

Shape contiguous_strides(const Shape& s) { return checked_contiguous_strides(s); }

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1, like torch
  CNNKIT_CHECK(dim >= -n && dim < n, IndexError, op, ": dimension out of range (expected to be in range of [", -n,
               ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    CNNKIT_CHECK(da == db || da == 1 || db == 1, ValueError, op, ": shapes ", a, " and ", b,
                 " cannot be broadcast together (size ", da, " vs ", db, " at dimension ", i, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tensor
// ---------------------------------------------------------------------------------------------
Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset),
      dtype_(dtype) {
  // Every view and every new tensor passes here: a shape whose numel cannot be represented is
  // refused once, so numel() and everything computed from it afterwards is exact (torch checks
  // the same way when a TensorImpl's sizes are set).
  checked_numel(shape_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  // A size that cannot exist (numel or bytes past INT64_MAX) is a RuntimeError here; a size that
  // exists but does not fit in memory is the allocator's OutOfMemory.
  const int64_t nbytes = contiguous_nbytes(shape, dtype_size(dtype));
  checked_numel(shape);
  return Tensor(Storage::allocate(static_cast<size_t>(nbytes), device), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(0.0);
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim("size", d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides_[wrap_dim("stride", d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return numel() == 0;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  CNNKIT_CHECK(storage_ != nullptr, RuntimeError, "cnnkit: tensor has no storage");
  return static_cast<char*>(storage_->ptr.get()) + offset_ * static_cast<int64_t>(itemsize());
}

void check_cpu(const char* op, const Tensor& t) {
  CNNKIT_CHECK(t.device().is_cpu(), RuntimeError, op, ": expected a tensor on cpu, got one on ", t.device().str());
}

// ---- views ------------------------------------------------------------------------------------
Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  CNNKIT_CHECK(shape.size() == strides.size(), ValueError, "as_strided: shape ", shape, " and strides ", strides,
               " have different lengths");
  const int64_t n = checked_numel(shape);
  // The furthest element must lie inside the storage (reach computed with overflow checks).
  int64_t hi = offset, lo = offset;
  if (n > 0) strided_extent(shape, strides, offset, &lo, &hi);
  const int64_t cap = static_cast<int64_t>(storage_->nbytes / itemsize());
  CNNKIT_CHECK(lo >= 0 && (n == 0 || hi < cap), RuntimeError, "as_strided: size ", shape,
               " with strides ", strides, " and offset ", offset, " is out of bounds for storage of size ", cap);
  return Tensor(storage_, shape, strides, offset, dtype_);
}

// Replaces one -1 by the size that keeps numel; RuntimeError with PyTorch's wording otherwise.
static Shape infer_size(Shape shape, int64_t numel) {
  int64_t infer = -1;
  Shape known_sizes;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CNNKIT_CHECK(infer < 0, RuntimeError, "only one dimension can be inferred");
      infer = static_cast<int64_t>(i);
    } else {
      CNNKIT_CHECK(shape[i] >= 0, RuntimeError, "invalid shape dimension ", shape[i]);
      known_sizes.push_back(shape[i]);
    }
  }
  // torch's order (aten InferSize.h): the product of the given sizes, wrapping as torch's does, is
  // compared with numel first ("invalid for input of size"); a match whose true product overflowed
  // then fails the numel check of the new shape ("numel: integer multiplication overflow").
  int64_t known = 0;
  const bool fits = numel_fits(known_sizes, &known);  // `known` wraps when !fits
  const bool ok = numel == known || (infer >= 0 && known > 0 && numel % known == 0);
  if (ok && infer >= 0 && known == 0)
    throw RuntimeError(str("cannot reshape tensor of 0 elements into shape ", shape,
                           " because the unspecified dimension size -1 can be any value and is ambiguous"));
  if (!ok) {
    // Print the shape as the user wrote it (-1 included).
    throw RuntimeError(str("shape '", shape, "' is invalid for input of size ", numel));
  }
  if (infer >= 0) shape[infer] = numel / known;
  if (!fits) checked_numel(shape);  // throws: the true product of the sizes overflowed
  return shape;
}

// Strides for viewing (old shape, old strides) as new shape without copying, or false if the
// memory layout does not allow it. A port of the chunk-matching rule PyTorch uses
// (aten/src/ATen/TensorUtils.cpp, computeStride): dims of the old tensor that are laid out
// contiguously with each other form chunks; each chunk must map onto a run of new dims.
static bool compute_view_strides(const Shape& oldshape, const Shape& oldstride, const Shape& newshape,
                                 Shape& newstride) {
  newstride.assign(newshape.size(), 0);
  if (oldshape.empty()) {
    newstride.assign(newshape.size(), 1);
    return true;
  }
  if (shape_numel(oldshape) == 0) {
    // Any strides are valid for an empty view; an overflowing one (a size-0 dim in front of huge
    // ones) is left at 0 instead of failing, as torch's view of an empty tensor succeeds.
    int64_t acc = 1;
    for (int64_t i = static_cast<int64_t>(newshape.size()) - 1; i >= 0; --i) {
      newstride[i] = acc;
      if (mul_overflows(acc, std::max<int64_t>(newshape[i], 1), &acc)) acc = 0;
    }
    return true;
  }
  int64_t view_d = static_cast<int64_t>(newshape.size()) - 1;
  int64_t chunk_base_stride = oldstride.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(oldshape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= oldshape[tensor_d];
    if (tensor_d == 0 ||
        (oldshape[tensor_d - 1] != 1 && oldstride[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || newshape[view_d] == 1)) {
        newstride[view_d] = view_numel * chunk_base_stride;
        view_numel *= newshape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (tensor_d > 0) {
        chunk_base_stride = oldstride[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(Shape shape) const {
  shape = infer_size(std::move(shape), numel());
  Shape st;
  CNNKIT_CHECK(compute_view_strides(shape_, strides_, shape, st), RuntimeError,
               "view size is not compatible with input tensor's size and stride (at least one dimension spans "
               "across two contiguous subspaces). Use .reshape(...) instead.");
  return Tensor(storage_, shape, st, offset_, dtype_);
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_size(std::move(shape), numel());
  Shape st;
  if (compute_view_strides(shape_, strides_, shape, st)) return Tensor(storage_, shape, st, offset_, dtype_);
  return contiguous().view(shape);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CNNKIT_CHECK(static_cast<int64_t>(dims.size()) == dim(), RuntimeError,
               "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
               "desired ordering of dimensions i.e. input.dim() = ", dim(), " is not equal to len(dims) = ",
               dims.size());
  Shape sh(dims.size()), st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim("permute", dims[i], dim());
    CNNKIT_CHECK(!seen[d], RuntimeError, "permute(): duplicate dims are not allowed.");
    seen[d] = true;
    sh[i] = shape_[d];
    st[i] = strides_[d];
  }
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0) return *this;
  d0 = wrap_dim("transpose", d0, dim());
  d1 = wrap_dim("transpose", d1, dim());
  Shape sh = shape_, st = strides_;
  std::swap(sh[d0], sh[d1]);
  std::swap(st[d0], st[d1]);
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::squeeze() const {
  Shape sh, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape_[i] != 1) {
      sh.push_back(shape_[i]);
      st.push_back(strides_[i]);
    }
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap_dim("squeeze", d, dim());
  if (shape_[d] != 1) return *this;
  Shape sh = shape_, st = strides_;
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim("unsqueeze", d, dim() + 1);
  Shape sh = shape_, st = strides_;
  const int64_t s = d < dim() ? shape_[d] * strides_[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, s);
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
  CNNKIT_CHECK(static_cast<int64_t>(shape.size()) >= dim(), RuntimeError, "expand: the number of sizes provided (",
               shape.size(), ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  const int64_t lead = static_cast<int64_t>(shape.size()) - dim();
  Shape sh(shape.size()), st(shape.size());
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    const int64_t j = i - lead;
    if (j < 0) {
      CNNKIT_CHECK(shape[i] >= 0, RuntimeError, "expand: the expanded size of the tensor (", shape[i],
                   ") isn't allowed in a leading, non-existing dimension ", i);
      sh[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t want = shape[i] == -1 ? shape_[j] : shape[i];
    if (shape_[j] == want) {
      sh[i] = want;
      st[i] = strides_[j];
    } else {
      CNNKIT_CHECK(shape_[j] == 1, RuntimeError, "The expanded size of the tensor (", want,
                   ") must match the existing size (", shape_[j], ") at non-singleton dimension ", i,
                   ".  Target sizes: ", shape, ".  Tensor sizes: ", shape_);
      sh[i] = want;
      st[i] = 0;
    }
  }
  return Tensor(storage_, sh, st, offset_, dtype_);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t stop, int64_t step) const {
  d = wrap_dim("slice", d, dim());
  CNNKIT_CHECK(step > 0, ValueError, "slice: step must be greater than zero, got ", step);
  const int64_t n = shape_[d];
  if (start < 0) start += n;
  if (stop < 0) stop += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  stop = std::min(std::max<int64_t>(stop, start), n);
  Shape sh = shape_, st = strides_;
  sh[d] = stop > start ? (stop - start - 1) / step + 1 : 0;  // no `+ step - 1`: step may be huge
  // The step's stride only matters when more than one element is kept (a huge step keeps one).
  if (sh[d] > 1) st[d] = checked_mul("slice", strides_[d], step);
  return Tensor(storage_, sh, st, offset_ + start * strides_[d], dtype_);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  CNNKIT_CHECK(dim() > 0, IndexError, "select: invalid index of a 0-dim tensor");
  d = wrap_dim("select", d, dim());
  const int64_t n = shape_[d];
  CNNKIT_CHECK(index >= -n && index < n, IndexError, "index ", index, " is out of bounds for dimension ", d,
               " with size ", n);
  if (index < 0) index += n;
  Shape sh = shape_, st = strides_;
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, sh, st, offset_ + index * strides_[d], dtype_);
}

Tensor Tensor::view_dtype(DType dt) const {
  CNNKIT_CHECK(dtype_size(dt) == itemsize(), RuntimeError, "view(dtype): cnnkit only reinterprets between dtypes of ",
               "the same element size, got ", dtype_name(dtype_), " (", itemsize(), " bytes) and ", dtype_name(dt), " (",
               dtype_size(dt), " bytes)");
  return Tensor(storage_, shape_, strides_, offset_, dt);
}

// ---- copies -----------------------------------------------------------------------------------
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape_, dtype_, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to_device(Device d) const {
  if (d == device()) return *this;
  Tensor out = Tensor::empty(shape_, dtype_, d);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype_) return *this;
  Tensor out = Tensor::empty(shape_, dt, device());
  out.copy_(*this);
  return out;
}

// Strided copy with conversion: dst[i] = (D)src[i] over the N-d index space (every pair of dtypes;
// Half/BFloat16 convert through float with round-to-nearest-even, core/half.h). Rows along the last
// dim are the inner loop; rows are split across threads (each writes distinct dst rows).
template <class D, class S>
static void strided_copy(const Tensor& dst, const Tensor& src) {
  const int64_t nd = dst.dim();
  D* dp = dst.data<D>();
  const S* sp = src.data<S>();
  if (nd == 0) {
    *dp = static_cast<D>(*sp);
    return;
  }
  const int64_t inner = dst.shape()[nd - 1];
  const int64_t dsi = dst.strides()[nd - 1], ssi = src.strides()[nd - 1];
  const int64_t rows = dst.numel() / std::max<int64_t>(inner, 1);
  const Shape& sh = dst.shape();
  const Shape& dst_st = dst.strides();
  const Shape& src_st = src.strides();
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, doff = 0, soff = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        const int64_t idx = rem % sh[d];
        rem /= sh[d];
        doff += idx * dst_st[d];
        soff += idx * src_st[d];
      }
      D* drow = dp + doff;
      const S* srow = sp + soff;
      if (dsi == 1 && ssi == 1) {
        for (int64_t i = 0; i < inner; ++i) drow[i] = static_cast<D>(srow[i]);
      } else {
        for (int64_t i = 0; i < inner; ++i) drow[i * dsi] = static_cast<D>(srow[i * ssi]);
      }
    }
  });
}

void Tensor::copy_(const Tensor& src) {
  Tensor s = src;
  if (s.shape() != shape_) {
    CNNKIT_CHECK(broadcast_shapes("copy_", s.shape(), shape_) == shape_, RuntimeError, "copy_: source of shape ",
                 s.shape(), " cannot be broadcast to destination of shape ", shape_);
    s = s.expand(shape_);
  }
  if (numel() == 0) return;
  const bool dst_cpu = device().is_cpu(), src_cpu = s.device().is_cpu();
  const bool plain = s.dtype() == dtype_ && is_contiguous() && s.is_contiguous();
  if (dst_cpu && src_cpu) {
    if (plain) {
      if (data_ptr() != s.data_ptr()) std::memmove(data_ptr(), s.data_ptr(), numel() * itemsize());
      return;
    }
    // A source that overlaps the destination in memory is copied out first, so no element is
    // read after it was overwritten.
    if (s.storage() == storage_) s = s.clone();
    CNNKIT_DISPATCH_STORAGE(dtype_, "copy_", [&] {
      using D = scalar_t;
      CNNKIT_DISPATCH_STORAGE(s.dtype(), "copy_", [&] { strided_copy<D, scalar_t>(*this, s); });
    });
    return;
  }
#ifdef CNNKIT_WITH_CUDA
  const size_t nbytes = numel() * itemsize();
  if (!dst_cpu && !src_cpu) {
    if (s.device() != device()) {  // another GPU: a dense peer copy here first, then as a local copy
      Tensor dense = s.contiguous();
      Tensor peer = Tensor::empty(shape_, dense.dtype(), device());
      cuda_memcpy(peer.data_ptr(), device(), dense.data_ptr(), dense.device(), peer.numel() * peer.itemsize());
      s = peer;
    }
    if (plain && s.storage() != storage_) {
      cuda_memcpy(data_ptr(), device(), s.data_ptr(), s.device(), nbytes);
      return;
    }
    if (s.storage() == storage_) s = s.clone();
    cuda_copy_strided(*this, s);
  } else if (dst_cpu) {
    // Device -> host: make the source dense (on the device), bring it over, convert on the host.
    Tensor dense = s.is_contiguous() ? s : s.clone();
    if (dense.dtype() == dtype_ && is_contiguous()) {
      cuda_memcpy(data_ptr(), device(), dense.data_ptr(), dense.device(), nbytes);
      return;
    }
    Tensor host = Tensor::empty(shape_, dense.dtype());
    cuda_memcpy(host.data_ptr(), host.device(), dense.data_ptr(), dense.device(), host.numel() * host.itemsize());
    copy_(host);
  } else {
    // Host -> device: convert and densify on the host, copy over, scatter into strided layouts.
    Tensor host = (s.dtype() == dtype_ ? s : s.to(dtype_)).contiguous();
    if (is_contiguous()) {
      cuda_memcpy(data_ptr(), device(), host.data_ptr(), host.device(), nbytes);
      return;
    }
    Tensor stage = Tensor::empty(shape_, dtype_, device());
    cuda_memcpy(stage.data_ptr(), stage.device(), host.data_ptr(), host.device(), nbytes);
    cuda_copy_strided(*this, stage);
  }
#else
  throw RuntimeError("copy_: cnnkit was built without CUDA support");
#endif
}

void Tensor::fill_(double value) {
  if (numel() == 0) return;
  if (!device().is_cpu()) {
#ifdef CNNKIT_WITH_CUDA
    cuda_fill(*this, value);
    return;
#else
    throw RuntimeError("fill_: cnnkit was built without CUDA support");
#endif
  }
  CNNKIT_DISPATCH_STORAGE(dtype_, "fill_", [&] {
    const scalar_t v = static_cast<scalar_t>(value);
    if (is_contiguous()) {
      scalar_t* p = data<scalar_t>();
      parallel_for(0, numel(), 65536, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = v;
      });
    } else {
      Tensor one = Tensor::empty({}, dtype_);
      *one.data<scalar_t>() = v;
      copy_(one);
    }
  });
}

}  // namespace cnnkit
