// Tensor: shared storage + shape + strides (in elements) + offset + dtype + device.
// Views (view/reshape/permute/transpose/squeeze/unsqueeze/expand/slice/select/as_strided) share the
// storage; contiguous()/clone()/to() copy. CPU allocations are 64-byte aligned and come from the
// caching allocator (core/cpu_allocator.h), so empty() may hand out a reused block: never assume
// fresh memory is zero.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/dtype.h"

namespace cnnkit {

using Shape = std::vector<int64_t>;

struct Storage {
  std::shared_ptr<void> ptr;  // owns the memory; the deleter knows how to free it
  size_t nbytes = 0;
  Device device;
  // A fresh, uninitialised CPU or device allocation (64-byte aligned on the CPU), from the caching
  // allocator of its device.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  // Wraps memory owned by someone else (a NumPy array); `keep_alive` frees it.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> keep_alive);
};

int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Wraps a possibly negative dim into [0, ndim); IndexError naming `op` otherwise.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);
// NumPy broadcasting of two shapes; ValueError naming `op` when they do not broadcast.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype, Device device = Device::cpu());
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  DType dtype() const { return dtype_; }
  size_t itemsize() const { return dtype_size(dtype_); }
  Device device() const { return storage_ ? storage_->device : Device::cpu(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const;

  // Pointer to the first element (storage base + offset).
  void* data_ptr() const;
  template <class T>
  T* data() const { return static_cast<T*>(data_ptr()); }

  // ---- views (share storage) ----
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;
  Tensor view(Shape shape) const;      // -1 inferred; RuntimeError if strides do not allow a view
  Tensor reshape(Shape shape) const;   // a view when possible, else a contiguous copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size; broadcast dims get stride 0
  Tensor slice(int64_t dim, int64_t start, int64_t stop, int64_t step) const;  // Python slice rules
  Tensor select(int64_t dim, int64_t index) const;
  // The same bytes read as another dtype of the same element size (torch's view(dtype) for equal
  // sizes), e.g. bfloat16 as int16 to see its bits.
  Tensor view_dtype(DType dtype) const;

  // ---- copies ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;        // same object semantics as torch: a copy unless same dtype
  Tensor to_device(Device device) const;  // a copy on `device` (contiguous), or *this if already there
  // Copies src into this tensor, broadcasting src and converting its dtype; src may be on another
  // device (host <-> GPU copies go through a contiguous staging buffer).
  void copy_(const Tensor& src);
  void fill_(double value);

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
};

// Throws RuntimeError unless t is on the CPU (code paths that read memory on the host).
void check_cpu(const char* op, const Tensor& t);

}  // namespace cnnkit
