// The CPU caching allocator behind every CPU Storage (Storage::allocate) and, through
// cpu_alloc/cpu_free, any other host memory of cnnkit (kernels' scratch buffers). Storages that wrap
// memory owned by someone else (from_numpy, external deleters) never go through it.
//
// Large blocks are kept after free and handed out again, so a training loop reaches a steady state
// in which no step asks the operating system for memory (no mmap/munmap, no page faults on fresh
// pages); small requests go straight to the C library's malloc heap, which already recycles them.
// See cpu_allocator.cpp for the size classes, the reuse rule, the cache limit and the environment
// variables (CNNKIT_CPU_CACHING, CNNKIT_CPU_CACHE_LIMIT_MB).
#pragma once
#include <cstddef>

namespace cnnkit {

// A block of at least `nbytes` bytes (a valid pointer even for 0), 64-byte aligned; blocks of the
// cached (large) path are page aligned, and 2 MiB aligned from 2 MiB up. `*block_size` receives the
// size of the block actually handed out, which must be given back to cpu_free with the pointer.
// The contents are not initialised (a reused block holds old data). Throws OutOfMemory (Python:
// MemoryError) when the system refuses the memory even after the cache was emptied.
void* cpu_alloc(size_t nbytes, size_t* block_size);
// Returns a block from cpu_alloc: cached for reuse, or given back to the system. A null pointer is
// ignored. Never throws (called from Storage deleters and destructors).
void cpu_free(void* ptr, size_t block_size) noexcept;

struct CpuMemoryStats {
  size_t allocated = 0;          // bytes in live blocks (block sizes, small and large)
  size_t peak_allocated = 0;     // high-water mark of `allocated` since start or the last reset
  size_t cached = 0;             // bytes in freed large blocks kept for reuse
  size_t reserved = 0;           // allocated + cached
  size_t peak_reserved = 0;      // high-water mark of `reserved` since start or the last reset
  size_t num_system_allocs = 0;  // large blocks obtained from the system (mmap / aligned_alloc)
  size_t num_system_frees = 0;   // large blocks given back to the system
  size_t num_cache_hits = 0;     // large requests served from the cache
  size_t num_small_allocs = 0;   // requests below the small threshold, served by malloc directly
  size_t num_alloc_retries = 0;  // requests that the system refused once (the cache was then emptied)
  size_t num_ooms = 0;           // requests that failed even after the retry (OutOfMemory thrown)
  size_t cache_limit = 0;        // most bytes the cache may hold (0 while caching is disabled)
  size_t small_threshold = 0;    // requests below this many bytes take the small path
  bool caching_enabled = true;   // false when CNNKIT_CPU_CACHING=0
};
CpuMemoryStats cpu_memory_stats();
// Resets peak_allocated and peak_reserved to the current values.
void cpu_reset_peak_memory_stats();
// Gives every cached, unused block back to the system.
void cpu_empty_cache();

// Test hook: `threads` threads each run `iters` rounds of allocating and freeing blocks of mixed
// sizes (small and large, writing a pattern into each and checking it on free). Returns the number
// of corrupted blocks found (0 when the allocator is thread safe).
size_t cpu_allocator_stress(int threads, int iters);

}  // namespace cnnkit
