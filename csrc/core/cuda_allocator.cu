// The CUDA caching allocator (after the idea of PyTorch's CUDACachingAllocator, much simplified).
//
// Requests are rounded up (512 B granules below 1 MiB, 1 MiB granules above) and served from a
// per-device pool of freed blocks: the smallest cached block that fits and is at most twice the
// request. Only when none fits does it call cudaMalloc; if that fails, every cached block is
// returned to the driver and the call is retried once before CudaOutOfMemory is thrown with the
// requested size and the current usage. Blocks are never split, which keeps the bookkeeping short.
//
// CNNKIT_CUDA_CACHING=0 (read once, at the first allocation) turns the cache off: every request is a
// cudaMalloc of exactly the bytes asked for and every free a cudaFree, so compute-sanitizer's memcheck sees
// an access one element past a tensor (inside a rounded or reused cached block it could not).
//
// A cudaMalloc failure is out-of-memory only when the runtime says cudaErrorMemoryAllocation. An earlier
// kernel's fault (illegal address, ...) is sticky: every later call, cudaMalloc included, returns it. That
// is reported as the CUDA error it is (RuntimeError), not as out-of-memory, with a hint to run with
// CNNKIT_CUDA_SYNC=1 so the failing kernel names itself.
//
// Stream safety: all cnnkit work runs on the legacy default stream, so a block freed by the host
// while kernels that use it are still queued can be handed out again at once — the next user's
// kernels are queued behind the old ones.
#include <cuda_runtime.h>

#include <cstdlib>
#include <map>
#include <string>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda_backend.h"
#include "core/cuda_utils.cuh"

namespace cnnkit {
namespace {

constexpr size_t kSmall = size_t(1) << 20;

bool caching_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("CNNKIT_CUDA_CACHING");
    return !(v != nullptr && std::string(v) == "0");
  }();
  return on;
}

size_t round_size(size_t n) {
  if (!caching_enabled()) return n;
  if (n < kSmall) return ((n + 511) / 512) * 512;
  return ((n + kSmall - 1) / kSmall) * kSmall;
}

struct DevicePool {
  std::multimap<size_t, void*> free_blocks;  // cached, unused: size -> pointer
  std::unordered_map<void*, size_t> size_of;  // every block we own (live or cached) -> size
  CudaMemoryStats stats;
};

std::mutex g_mutex;
std::vector<std::unique_ptr<DevicePool>> g_pools;

DevicePool& pool(int device) {
  if (device < 0) device = 0;
  if (static_cast<size_t>(device) >= g_pools.size()) g_pools.resize(device + 1);
  if (!g_pools[device]) g_pools[device] = std::make_unique<DevicePool>();
  return *g_pools[device];
}

void release_cached(int device, DevicePool& p) {
  CudaDeviceGuard guard(device);
  for (auto& kv : p.free_blocks) {
    cudaFree(kv.second);
    p.size_of.erase(kv.second);
    p.stats.reserved -= kv.first;
  }
  p.free_blocks.clear();
}

std::string mib(size_t b) { return str(static_cast<double>(b) / (1 << 20), " MiB"); }

}  // namespace

void* cuda_alloc(size_t nbytes, int device) {
  const size_t size = round_size(nbytes == 0 ? 1 : nbytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  DevicePool& p = pool(device);
  auto it = p.free_blocks.lower_bound(size);
  if (it != p.free_blocks.end() && it->first <= 2 * size) {
    void* ptr = it->second;
    p.stats.allocated += it->first;
    p.free_blocks.erase(it);
    p.stats.peak_allocated = std::max(p.stats.peak_allocated, p.stats.allocated);
    return ptr;
  }
  CudaDeviceGuard guard(device);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    release_cached(device, p);
    err = cudaMalloc(&ptr, size);
  }
  if (err != cudaSuccess && err != cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clears it if it is not sticky; a sticky fault stays and fails the next call too
    throw RuntimeError(str("CUDA error while allocating ", mib(nbytes), " on cuda:", device, ": ",
                           cudaGetErrorName(err), ": ", cudaGetErrorString(err),
                           ". This is not out-of-memory: an earlier kernel most likely faulted (the error is "
                           "sticky); run with CNNKIT_CUDA_SYNC=1 to make the failing kernel report itself."));
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw CudaOutOfMemory(str("CUDA out of memory. Tried to allocate ", mib(nbytes), " on cuda:", device, " (",
                              cudaGetErrorString(err), "). GPU total capacity ", mib(total_b), ", ",
                              mib(free_b), " free; ", mib(p.stats.allocated), " allocated by cnnkit tensors, ",
                              mib(p.stats.reserved), " reserved by cnnkit in total."));
  }
  p.size_of[ptr] = size;
  p.stats.reserved += size;
  p.stats.allocated += size;
  p.stats.num_mallocs += 1;
  p.stats.peak_allocated = std::max(p.stats.peak_allocated, p.stats.allocated);
  return ptr;
}

void cuda_free(void* ptr, int device) {
  // Called from tensor destructors: must never throw.
  std::lock_guard<std::mutex> lock(g_mutex);
  DevicePool& p = pool(device);
  auto it = p.size_of.find(ptr);
  if (it == p.size_of.end()) return;
  p.stats.allocated -= it->second;
  if (!caching_enabled()) {
    // No CudaDeviceGuard (it may throw); a failure here (sticky fault) resurfaces at the next checked call.
    int prev = 0;
    cudaGetDevice(&prev);
    if (prev != device) cudaSetDevice(device);
    cudaFree(ptr);
    if (prev != device) cudaSetDevice(prev);
    p.stats.reserved -= it->second;
    p.size_of.erase(it);
    return;
  }
  p.free_blocks.emplace(it->second, ptr);
}

CudaMemoryStats cuda_memory_stats(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return pool(device).stats;
}

void cuda_reset_peak_memory_stats(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  DevicePool& p = pool(device);
  p.stats.peak_allocated = p.stats.allocated;
}

void cuda_empty_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (size_t d = 0; d < g_pools.size(); ++d)
    if (g_pools[d]) release_cached(static_cast<int>(d), *g_pools[d]);
}

int cuda_current_device() {
  int d = 0;
  CNNKIT_CUDA_CHECK(cudaGetDevice(&d), "cuda.current_device");
  return d;
}

void cuda_set_device(int device) { CNNKIT_CUDA_CHECK(cudaSetDevice(device), "cuda.set_device"); }

void cuda_synchronize(int device) {
  CudaDeviceGuard guard(device);
  CNNKIT_CUDA_CHECK(cudaDeviceSynchronize(), "cuda.synchronize");
}

void cuda_memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  cudaMemcpyKind kind = dst_dev.is_cpu() ? (src_dev.is_cpu() ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost)
                                         : (src_dev.is_cpu() ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice);
  CudaDeviceGuard guard(dst_dev.is_cpu() ? src_dev.index : dst_dev.index);
  if (kind == cudaMemcpyDeviceToDevice && dst_dev != src_dev) {
    CNNKIT_CUDA_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, nbytes), "copy_ (device to device)");
    return;
  }
  // cudaMemcpy on the legacy default stream orders after queued kernels and, for device-to-host,
  // returns when the data has arrived.
  CNNKIT_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, kind), "copy_");
}

}  // namespace cnnkit
