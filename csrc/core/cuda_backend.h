// Host-callable entry points of the CUDA backend's core (caching allocator, copies, fill).
// Plain C++ so that g++-compiled files can call them; defined in cuda_allocator.cu and copy.cu,
// which are built only with CUDA (CNNKIT_WITH_CUDA).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace cnnkit {
#ifdef CNNKIT_WITH_CUDA

// Caching allocator: blocks are kept per device after free and reused for later requests of a
// similar size, so a training loop reaches a steady state with no cudaMalloc/cudaFree calls.
void* cuda_alloc(size_t nbytes, int device);
void cuda_free(void* ptr, int device);

struct CudaMemoryStats {
  size_t allocated = 0;       // bytes in live tensors
  size_t peak_allocated = 0;  // high-water mark of `allocated` since the last reset
  size_t reserved = 0;        // bytes held from the driver (live + cached)
  size_t num_mallocs = 0;     // cudaMalloc calls so far
};
CudaMemoryStats cuda_memory_stats(int device);
void cuda_reset_peak_memory_stats(int device);
void cuda_empty_cache();  // returns every cached, unused block to the driver
int cuda_current_device();
void cuda_set_device(int device);
void cuda_synchronize(int device);

// Raw copy of nbytes between any two memories (host or device); blocks until done when the
// destination is host memory.
void cuda_memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);
// dst[i] = (dst dtype) src[i] over the N-d index space; both on the same CUDA device, same shape
// (src may have stride-0 broadcast dims), any strides and dtypes; dst must not overlap src.
void cuda_copy_strided(const Tensor& dst, const Tensor& src);
// Every element of t (any strides) = value.
void cuda_fill(const Tensor& t, double value);

#endif
}  // namespace cnnkit
