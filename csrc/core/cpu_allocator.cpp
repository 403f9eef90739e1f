// The CPU caching allocator (the host twin of the CUDA one in cuda_allocator.cu, same reuse rule).
//
// Why: a training step allocates and frees the same activation and gradient buffers every step.
// glibc hands blocks above its mmap threshold straight back to the kernel on free (munmap), so the
// next step maps them again and takes a page fault on every 4 KiB page it touches: a fresh 32 MB
// buffer costs milliseconds of page faults, a large share of a small network's step.
//
// Strategy:
// - Small requests (block < 64 KiB after rounding to 64 B) go straight to aligned_alloc/free. They
//   come from malloc's heap, which recycles them without system calls (glibc only maps blocks of
//   128 KiB and more separately), so caching them here would only add bookkeeping. They are still
//   counted in the allocated/peak statistics (num_small_allocs), not in num_system_allocs.
// - Large requests are rounded up to a size class: 8 classes per power of two (step = 1/8 of the
//   power of two below the size, at least 4 KiB), so at most 12.5% is wasted per block. They are
//   served from a pool of freed blocks: the smallest cached block that fits and is at most twice
//   the request (the CUDA allocator's rule; blocks are never split or merged). Only when none fits
//   is a new block taken from the system: anonymous mmap on Linux (page aligned; from 2 MiB up,
//   2 MiB aligned and advised for transparent huge pages), aligned_alloc(4096) elsewhere.
//   A training loop allocates the same sequence of sizes every step, so after the first step or two
//   every request finds its block in the pool: the steady state takes nothing from the system.
// - A freed large block goes into the pool unless the pool would then hold more than the cache
//   limit, in which case it goes back to the system at once. The limit bounds the memory kept for
//   patterns of ever-new sizes; it defaults to a quarter of the physical memory (a training loop's
//   cache is about its peak working set, which must fit in memory anyway) and is set in MiB with
//   CNNKIT_CPU_CACHE_LIMIT_MB (0: nothing is kept).
// - Out of memory: when the system refuses a block (or malloc a small one), every cached block is
//   released and the request retried once; only then is OutOfMemory thrown (Python MemoryError).
// - CNNKIT_CPU_CACHING=0 (read once, at the first allocation) turns caching off: every request is
//   then its own 64-byte aligned malloc block of exactly the bytes asked for (posix_memalign/free),
//   so a memory checker (the sanitizer CI job, .ci/sanitize.sh; valgrind) sees an access even one
//   byte past a tensor's end, which the 64-byte rounding or a size-class block would hide.
//   Statistics are still kept, with the rounded sizes (large requests count as system allocations).
// - Thread safety: one mutex guards the pool and the statistics; it is held only for the map
//   look-up and the counters, never across mmap/munmap/malloc (uncontended it costs tens of ns,
//   nothing next to a tensor op). fork() is safe: the mutex is taken around fork (pthread_atfork),
//   so a child never inherits it locked by a thread that does not exist there.
// - The pool is created on first use and never destroyed, so tensors that outlive static
//   destruction at interpreter exit can still be freed safely. Cached blocks left at exit are
//   reclaimed by the operating system with the process.
#include "core/cpu_allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/errors.h"

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#define CNNKIT_CPU_ALLOC_MMAP 1
#endif

namespace cnnkit {
namespace {

constexpr size_t kSmall = size_t(64) << 10;  // blocks below this take the small path
constexpr size_t kPage = size_t(4) << 10;
constexpr size_t kHuge = size_t(2) << 20;  // transparent huge page size on x86-64 and arm64
// Larger requests are refused outright, so that the rounding below can never overflow.
constexpr size_t kMaxRequest = SIZE_MAX / 4;

size_t round64(size_t n) { return ((n == 0 ? 1 : n) + 63) / 64 * 64; }

// Size class of a large request (n >= kSmall - 63): 8 classes per power of two, multiples of 4 KiB.
size_t size_class(size_t n) {
  size_t pow2 = kSmall;
  while (pow2 <= n / 2) pow2 *= 2;  // largest power of two <= n (kSmall for n < kSmall)
  const size_t step = pow2 / 8 > kPage ? pow2 / 8 : kPage;
  return (n + step - 1) / step * step;
}

size_t env_size(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v, &end, 10);
  return (end != v && *end == '\0' && v[0] != '-') ? static_cast<size_t>(x) : fallback;
}

bool env_disabled(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  for (const char* off : {"0", "false", "False", "FALSE", "off", "OFF", "no", "NO"})
    if (std::strcmp(v, off) == 0) return true;
  return false;
}

size_t default_cache_limit() {
#ifdef CNNKIT_CPU_ALLOC_MMAP
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<size_t>(pages) * static_cast<size_t>(page) / 4;
#endif
  return size_t(4) << 30;
}

// A new large block of `size` bytes (a multiple of 4 KiB) from the system; nullptr when refused.
void* system_alloc(size_t size) {
#ifdef CNNKIT_CPU_ALLOC_MMAP
  if (size < kHuge) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  // Map 2 MiB more than needed and unmap the ends so the block starts on a 2 MiB boundary.
  const size_t span = size + kHuge;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t a = (r + kHuge - 1) & ~(uintptr_t(kHuge) - 1);
  if (a > r) munmap(raw, a - r);
  const size_t tail = (r + span) - (a + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(a + size), tail);
#ifdef MADV_HUGEPAGE
  // Asks for transparent huge pages where the system leaves the choice to the program
  // (/sys/kernel/mm/transparent_hugepage/enabled = madvise): 512x fewer page faults on first touch
  // and fewer TLB misses in the kernels' streaming loops. Failure is harmless.
  madvise(reinterpret_cast<void*>(a), size, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<void*>(a);
#else
  return std::aligned_alloc(kPage, size);
#endif
}

void system_free(void* p, size_t size) {
#ifdef CNNKIT_CPU_ALLOC_MMAP
  munmap(p, size);
#else
  (void)size;
  std::free(p);
#endif
}

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // cached, unused: size -> pointer
  CpuMemoryStats stats;                      // caching_enabled, cache_limit: fixed at construction

  Pool() {
    stats.caching_enabled = !env_disabled("CNNKIT_CPU_CACHING");
    const size_t limit_mb = env_size("CNNKIT_CPU_CACHE_LIMIT_MB", default_cache_limit() >> 20);
    stats.cache_limit = stats.caching_enabled ? (limit_mb > (SIZE_MAX >> 21) ? SIZE_MAX / 2 : limit_mb << 20) : 0;
    stats.small_threshold = kSmall;
  }

  // The counters below are updated with the mutex held.
  void update_reserved() {
    stats.reserved = stats.allocated + stats.cached;
    if (stats.reserved > stats.peak_reserved) stats.peak_reserved = stats.reserved;
  }
  void add_allocated(size_t size) {
    stats.allocated += size;
    if (stats.allocated > stats.peak_allocated) stats.peak_allocated = stats.allocated;
    update_reserved();
  }
  // Takes every cached block out of the pool; the caller gives them back to the system after
  // releasing the mutex.
  std::multimap<size_t, void*> take_cached() {
    std::multimap<size_t, void*> out;
    out.swap(free_blocks);
    stats.cached = 0;
    stats.num_system_frees += out.size();
    update_reserved();
    return out;
  }
};

Pool& pool() {
  // Created once, never destroyed (see the header comment). The atfork handlers are registered
  // after construction, so they only ever see a complete pool.
  static Pool* p = [] {
    Pool* q = new Pool();
#ifdef CNNKIT_CPU_ALLOC_MMAP
    pthread_atfork([] { pool().mutex.lock(); }, [] { pool().mutex.unlock(); }, [] { pool().mutex.unlock(); });
#endif
    return q;
  }();
  return *p;
}

void release(std::multimap<size_t, void*>& blocks) {
  for (auto& kv : blocks) system_free(kv.second, kv.first);
}

// Runs `get` (which returns nullptr when the system refuses); on refusal empties the cache and
// tries once more, then throws OutOfMemory.
template <class Get>
void* obtain(Pool& p, size_t nbytes, Get get) {
  void* ptr = get();
  if (ptr != nullptr) return ptr;
  std::multimap<size_t, void*> cached;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.stats.num_alloc_retries += 1;
    cached = p.take_cached();
  }
  release(cached);
  ptr = get();
  if (ptr != nullptr) return ptr;
  size_t allocated;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.stats.num_ooms += 1;
    allocated = p.stats.allocated;
  }
  throw OutOfMemory(str("cnnkit: CPU out of memory: tried to allocate ", nbytes, " bytes (", allocated,
                        " bytes held by live cnnkit tensors)"));
}

}  // namespace

void* cpu_alloc(size_t nbytes, size_t* block_size) {
  Pool& p = pool();
  if (nbytes > kMaxRequest) {
    {
      std::lock_guard<std::mutex> lock(p.mutex);
      p.stats.num_ooms += 1;
    }
    throw OutOfMemory(str("cnnkit: CPU out of memory: tried to allocate ", nbytes, " bytes"));
  }
  const size_t small = round64(nbytes);
  if (small < kSmall || !p.stats.caching_enabled) {
    // aligned_alloc needs a size that is a multiple of the alignment: `small` is. Without caching the
    // block is exactly `nbytes` long (at least 1 byte), see the header comment.
    const bool exact = !p.stats.caching_enabled;
    void* ptr = obtain(p, nbytes, [small, nbytes, exact]() -> void* {
      if (!exact) return std::aligned_alloc(64, small);
#ifdef CNNKIT_CPU_ALLOC_MMAP
      void* q = nullptr;
      return posix_memalign(&q, 64, nbytes == 0 ? 1 : nbytes) == 0 ? q : nullptr;
#else
      return std::aligned_alloc(64, small);
#endif
    });
    std::lock_guard<std::mutex> lock(p.mutex);
    if (small < kSmall) {
      p.stats.num_small_allocs += 1;
    } else {
      p.stats.num_system_allocs += 1;
    }
    p.add_allocated(small);
    *block_size = small;
    return ptr;
  }
  const size_t size = size_class(nbytes);
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free_blocks.lower_bound(size);
    if (it != p.free_blocks.end() && it->first <= 2 * size) {
      void* ptr = it->second;
      *block_size = it->first;
      p.stats.cached -= it->first;
      p.stats.num_cache_hits += 1;
      p.free_blocks.erase(it);
      p.add_allocated(*block_size);
      return ptr;
    }
  }
  void* ptr = obtain(p, nbytes, [size] { return system_alloc(size); });
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.num_system_allocs += 1;
  p.add_allocated(size);
  *block_size = size;
  return ptr;
}

void cpu_free(void* ptr, size_t block_size) noexcept {
  if (ptr == nullptr) return;
  Pool& p = pool();
  if (block_size < kSmall || !p.stats.caching_enabled) {
    std::free(ptr);
    std::lock_guard<std::mutex> lock(p.mutex);
    if (block_size >= kSmall) p.stats.num_system_frees += 1;
    p.stats.allocated -= block_size;
    p.update_reserved();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.stats.allocated -= block_size;
    if (p.stats.cached + block_size <= p.stats.cache_limit) {
      try {
        p.free_blocks.emplace(block_size, ptr);
        p.stats.cached += block_size;
        p.update_reserved();
        return;
      } catch (...) {  // no memory for the map node: give the block back instead
      }
    }
    p.stats.num_system_frees += 1;
    p.update_reserved();
  }
  system_free(ptr, block_size);
}

CpuMemoryStats cpu_memory_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void cpu_reset_peak_memory_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.peak_allocated = p.stats.allocated;
  p.stats.peak_reserved = p.stats.reserved;
}

void cpu_empty_cache() {
  Pool& p = pool();
  std::multimap<size_t, void*> cached;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    cached = p.take_cached();
  }
  release(cached);
}

size_t cpu_allocator_stress(int threads, int iters) {
  // Sizes straddle both paths and several size classes; each thread keeps up to 6 blocks alive,
  // fills each with its own byte pattern and checks it before freeing, so a block handed to two
  // threads at once (or freed twice) shows up as a corrupted pattern.
  static const size_t kSizes[] = {0, 100, 5000, 65472, 70000, 300000, 1 << 20, 3 << 20};
  std::vector<size_t> bad(static_cast<size_t>(threads > 0 ? threads : 0), 0);
  auto work_thread = [&](int t) {
    struct Live {
      unsigned char* p;
      size_t n, block;
      unsigned char tag;
    };
    std::vector<Live> live;
    uint32_t rng = 12345u + 977u * static_cast<uint32_t>(t);
    auto check_free = [&](const Live& b) {
      for (size_t i = 0; i < b.n; ++i)
        if (b.p[i] != b.tag) {
          bad[t] += 1;
          break;
        }
      cpu_free(b.p, b.block);
    };
    for (int i = 0; i < iters; ++i) {
      rng = rng * 1664525u + 1013904223u;
      const size_t n = kSizes[(rng >> 8) % (sizeof(kSizes) / sizeof(kSizes[0]))];
      Live b{nullptr, n, 0, static_cast<unsigned char>(t * 31 + i)};
      b.p = static_cast<unsigned char*>(cpu_alloc(n, &b.block));
      if (reinterpret_cast<uintptr_t>(b.p) % 64 != 0 || b.block < n) bad[t] += 1;
      std::memset(b.p, b.tag, n);
      live.push_back(b);
      if (live.size() > 6) {
        const size_t k = (rng >> 16) % live.size();
        check_free(live[k]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    for (const Live& b : live) check_free(b);
  };
  auto work = [&](int t) {
    try {
      work_thread(t);
    } catch (...) {  // an OutOfMemory in a test thread counts as a failure, never terminates
      bad[t] += 1;
    }
  };
  std::vector<std::thread> pool_threads;
  for (int t = 0; t < threads; ++t) pool_threads.emplace_back(work, t);
  for (auto& th : pool_threads) th.join();
  size_t total = 0;
  for (size_t b : bad) total += b;
  return total;
}

}  // namespace cnnkit
