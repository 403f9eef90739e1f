// Pinned (page-locked) host memory for Tensor.pin_memory() and the non_blocking copies that use it
// (after the idea of PyTorch's CachingHostAllocator, much simplified).
//
// cudaHostAlloc is slow (it maps and locks pages), so freed blocks are cached and reused for later
// requests of a similar size (the smallest cached block that fits and is at most twice the request;
// 4 KiB granules below 1 MiB, 1 MiB granules above; no splitting).
//
// Safety of asynchronous copies: cudaMemcpyAsync from (or into) a pinned block returns before the
// GPU has read (or written) it. Each such copy records a CUDA event on the default stream for the
// block (cuda_host_record_use). A freed block whose events have not all completed waits in
// `pending` and is reused only once cudaEventQuery reports every event done, so no later tensor can
// overwrite bytes that a queued copy still reads. cuda_host_empty_cache waits for those events
// before handing memory back with cudaFreeHost.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda_utils.cuh"
#include "core/pinned.h"

namespace cnnkit {
namespace {

constexpr size_t kGranuleSmall = size_t(4) << 10;
constexpr size_t kGranuleLarge = size_t(1) << 20;

size_t round_host_size(size_t n) {
  if (n == 0) n = 1;
  const size_t g = n < kGranuleLarge ? kGranuleSmall : kGranuleLarge;
  return (n + g - 1) / g * g;
}

struct HostBlock {
  size_t size = 0;
  bool in_use = false;
  std::vector<cudaEvent_t> events;  // copies queued on this block that may still run
};

struct HostPool {
  std::unordered_map<void*, HostBlock> blocks;  // every block we own
  std::multimap<size_t, void*> free_blocks;     // cached, no copy in flight: size -> pointer
  std::vector<void*> pending;                   // freed, but a recorded copy may still use it
  CudaHostMemoryStats stats;
};

std::mutex g_host_mutex;

HostPool& host_pool() {
  static HostPool* p = new HostPool();  // never destroyed: pinned tensors may outlive static destructors
  return *p;
}

// Drops the completed events of a block; true when none is left.
bool retire_events(HostBlock& b) {
  auto it = b.events.begin();
  while (it != b.events.end()) {
    const cudaError_t e = cudaEventQuery(*it);
    if (e == cudaErrorNotReady) {
      ++it;
      continue;
    }
    cudaGetLastError();  // an error leaves nothing more to wait for either
    cudaEventDestroy(*it);
    it = b.events.erase(it);
  }
  return b.events.empty();
}

// Moves pending blocks whose copies have finished to the free list. Caller holds the mutex.
void process_pending(HostPool& p) {
  auto it = p.pending.begin();
  while (it != p.pending.end()) {
    HostBlock& b = p.blocks[*it];
    if (retire_events(b)) {
      p.free_blocks.emplace(b.size, *it);
      p.stats.cached += b.size;
      it = p.pending.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

void* cuda_host_alloc(size_t nbytes, size_t* block_size) {
  const size_t size = round_host_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(g_host_mutex);
    HostPool& p = host_pool();
    process_pending(p);
    auto it = p.free_blocks.lower_bound(size);
    if (it != p.free_blocks.end() && it->first <= 2 * size) {
      void* ptr = it->second;
      HostBlock& b = p.blocks[ptr];
      b.in_use = true;
      p.stats.cached -= b.size;
      p.stats.allocated += b.size;
      p.stats.num_cache_hits += 1;
      p.free_blocks.erase(it);
      *block_size = b.size;
      return ptr;
    }
  }
  // cudaHostAlloc without the lock held: it is slow, and other threads may free meanwhile.
  void* ptr = nullptr;
  cudaError_t err = cudaHostAlloc(&ptr, size, cudaHostAllocDefault);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    cuda_host_empty_cache();
    err = cudaHostAlloc(&ptr, size, cudaHostAllocDefault);
  }
  CNNKIT_CUDA_CHECK(err, "pin_memory");
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  HostBlock& b = p.blocks[ptr];
  b.size = size;
  b.in_use = true;
  p.stats.allocated += size;
  p.stats.reserved += size;
  p.stats.num_host_allocs += 1;
  *block_size = size;
  return ptr;
}

void cuda_host_free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  auto it = p.blocks.find(ptr);
  if (it == p.blocks.end() || !it->second.in_use) return;
  HostBlock& b = it->second;
  b.in_use = false;
  p.stats.allocated -= b.size;
  if (retire_events(b)) {
    p.free_blocks.emplace(b.size, ptr);
    p.stats.cached += b.size;
  } else {
    p.pending.push_back(ptr);
    p.stats.num_deferred_frees += 1;
  }
}

void cuda_host_record_use(void* block, int device) {
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  auto it = p.blocks.find(block);
  if (it == p.blocks.end()) return;  // not one of ours (cannot happen for a pinned Storage)
  CudaDeviceGuard guard(device);
  cudaEvent_t ev;
  CNNKIT_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "copy_ (non_blocking)");
  const cudaError_t e = cudaEventRecord(ev, 0);
  if (e != cudaSuccess) {
    cudaEventDestroy(ev);
    CNNKIT_CUDA_CHECK(e, "copy_ (non_blocking)");
  }
  it->second.events.push_back(ev);
}

bool cuda_host_block_busy(const void* block) {
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  auto it = p.blocks.find(const_cast<void*>(block));
  return it != p.blocks.end() && !retire_events(it->second);
}

bool cuda_host_owns(const void* ptr) {
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  auto it = p.blocks.find(const_cast<void*>(ptr));
  return it != p.blocks.end() && it->second.in_use;
}

CudaHostMemoryStats cuda_host_memory_stats() {
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  process_pending(p);
  CudaHostMemoryStats s = p.stats;
  s.pending = p.pending.size();
  return s;
}

void cuda_host_empty_cache() {
  std::lock_guard<std::mutex> lock(g_host_mutex);
  HostPool& p = host_pool();
  for (void* ptr : p.pending) {  // wait for the copies still reading these blocks
    HostBlock& b = p.blocks[ptr];
    for (cudaEvent_t ev : b.events) {
      cudaEventSynchronize(ev);
      cudaEventDestroy(ev);
    }
    b.events.clear();
    p.free_blocks.emplace(b.size, ptr);
    p.stats.cached += b.size;
  }
  p.pending.clear();
  for (auto& kv : p.free_blocks) {
    cudaFreeHost(kv.second);
    p.stats.cached -= kv.first;
    p.stats.reserved -= kv.first;
    p.blocks.erase(kv.second);
  }
  p.free_blocks.clear();
  cudaGetLastError();
}

void cuda_memcpy_async(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  const cudaMemcpyKind kind = dst_dev.is_cpu() ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
  CudaDeviceGuard guard(dst_dev.is_cpu() ? src_dev.index : dst_dev.index);
  // The legacy default stream: ordered after the kernels queued so far and before later ones, and
  // asynchronous to the host because one side is pinned.
  CNNKIT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, kind, 0), "copy_ (non_blocking)");
}

}  // namespace cnnkit
