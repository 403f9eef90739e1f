// Pinned (page-locked) host memory and non_blocking host <-> GPU copies: Tensor.pin_memory(),
// is_pinned() and the non_blocking=True paths of to()/cuda()/copy_().
//
// A pinned tensor is an ordinary CPU tensor whose storage wraps a block of the pinned host
// allocator (cuda_host_allocator.cu); every CPU kernel works on it unchanged. A non_blocking copy
// between such a tensor (dense, same dtype) and a GPU tensor is cudaMemcpyAsync on the default
// stream, and the pinned block records an event so it is not handed out again while the copy may
// still read (or write) it. Any other combination falls back to the synchronous Tensor::copy_.
#pragma once
#include <cstddef>

#include "core/tensor.h"

namespace cnnkit {

// Whether t's storage is a live block of the pinned host allocator (false in CPU-only builds).
bool is_pinned(const Tensor& t);
// A pinned, contiguous copy of a CPU tensor (t itself when already pinned). RuntimeError for a
// GPU tensor, in a build without CUDA, or when the driver refuses page-locked memory.
Tensor pin_memory(const Tensor& t);
// dst.copy_(src), queued asynchronously when one side is pinned host memory and the other a GPU.
void copy_non_blocking(const Tensor& dst, const Tensor& src);
// t.to_device(device) through copy_non_blocking.
Tensor to_device_non_blocking(const Tensor& t, Device device);

#ifdef CNNKIT_WITH_CUDA
// The pinned host allocator: cached page-locked blocks (4 KiB / 1 MiB granules, reuse of the
// smallest cached block that fits and is at most twice the request).
void* cuda_host_alloc(size_t nbytes, size_t* block_size);
void cuda_host_free(void* ptr) noexcept;
// Whether ptr is the base pointer of a live (not freed) pinned block.
bool cuda_host_owns(const void* ptr);
// Records an event on the default stream of `device`: the block starting at `block` is used by
// the copies queued so far, and is not reused before they complete.
void cuda_host_record_use(void* block, int device);
// Whether a copy recorded on the block may still be running.
bool cuda_host_block_busy(const void* block);
struct CudaHostMemoryStats {
  size_t allocated = 0;           // bytes in live pinned blocks
  size_t cached = 0;              // bytes in freed blocks ready for reuse
  size_t reserved = 0;            // all pinned bytes held from the driver
  size_t num_host_allocs = 0;     // cudaHostAlloc calls
  size_t num_cache_hits = 0;      // requests served from the cache
  size_t num_deferred_frees = 0;  // frees that had to wait for a copy in flight
  size_t pending = 0;             // freed blocks still waiting for their copies
};
CudaHostMemoryStats cuda_host_memory_stats();
void cuda_host_empty_cache();  // waits for pending copies, then cudaFreeHost on every cached block
// cudaMemcpyAsync on the default stream between pinned host memory and a device (H2D or D2H).
void cuda_memcpy_async(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);
#endif

}  // namespace cnnkit
