// Tensor-level pinned memory and non_blocking copies (see pinned.h); the allocator and the async
// copy itself are in cuda_host_allocator.cu.
#include "core/pinned.h"

#include "core/errors.h"

namespace cnnkit {

bool is_pinned(const Tensor& t) {
#ifdef CNNKIT_WITH_CUDA
  return t.defined() && t.device().is_cpu() && cuda_host_owns(t.storage()->ptr.get());
#else
  (void)t;
  return false;
#endif
}

Tensor pin_memory(const Tensor& t) {
  CNNKIT_CHECK(t.device().is_cpu(), RuntimeError, "pin_memory: cannot pin a ", t.device().str(),
               " tensor: only dense CPU tensors can be pinned");
#ifdef CNNKIT_WITH_CUDA
  if (is_pinned(t)) return t;
  const size_t nbytes = static_cast<size_t>(t.numel()) * t.itemsize();
  size_t block = 0;
  void* p = cuda_host_alloc(nbytes, &block);
  auto storage = Storage::wrap(p, nbytes, Device::cpu(), [](void* q) { cuda_host_free(q); });
  Tensor out(storage, t.shape(), contiguous_strides(t.shape()), 0, t.dtype());
  out.copy_(t);
  return out;
#else
  throw RuntimeError("pin_memory: cnnkit was built without CUDA support (pinned memory needs a CUDA build)");
#endif
}

void copy_non_blocking(const Tensor& dst, const Tensor& src) {
  Tensor d = dst;
#ifdef CNNKIT_WITH_CUDA
  const bool same = src.shape() == dst.shape() && src.dtype() == dst.dtype() && dst.is_contiguous();
  const size_t nbytes = static_cast<size_t>(dst.numel()) * dst.itemsize();
  if (same && nbytes > 0 && !src.device().is_cpu() && is_pinned(dst)) {
    // Device -> pinned host: densify on the device first (queued too), then one async transfer.
    Tensor dense = src.contiguous();
    cuda_memcpy_async(dst.data_ptr(), dst.device(), dense.data_ptr(), dense.device(), nbytes);
    cuda_host_record_use(dst.storage()->ptr.get(), dense.device().index);
    return;
  }
  if (same && nbytes > 0 && !dst.device().is_cpu() && src.is_contiguous() && is_pinned(src)) {
    cuda_memcpy_async(dst.data_ptr(), dst.device(), src.data_ptr(), src.device(), nbytes);
    cuda_host_record_use(src.storage()->ptr.get(), dst.device().index);
    return;
  }
#endif
  d.copy_(src);
}

Tensor to_device_non_blocking(const Tensor& t, Device device) {
  if (device == t.device()) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device);
  copy_non_blocking(out, t);
  return out;
}

}  // namespace cnnkit
