// Runtime selection of the SIMD level (cpuid + xgetbv, CNNKIT_SIMD), the self-check registry, the
// cache sizes the gemm blocking is computed from, and the two array helpers every caller of the
// AVX2 vector math shares (vector exp and tanh over a buffer). See simd.h. No backward lives here,
// so backward semantics (= or +=) do not apply.
#include "ops/simd.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#if CNNKIT_HAVE_AVX2
#include <cpuid.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace cnnkit {

namespace {

// ---- CPU feature detection ---------------------------------------------------------------------
struct CpuFeatures {
  bool osxsave = false, avx = false, fma = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  uint64_t xcr0 = 0;
};

#if CNNKIT_HAVE_AVX2
// XCR0 through the xgetbv instruction (inline asm: the _xgetbv intrinsic needs -mxsave). Only
// executed when CPUID.1:ECX.OSXSAVE says the instruction is enabled.
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures read_cpu_features() {
  CpuFeatures f;
#if CNNKIT_HAVE_AVX2
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  f.fma = (ecx >> 12) & 1;
  f.osxsave = (ecx >> 27) & 1;
  f.avx = (ecx >> 28) & 1;
  if (f.osxsave) f.xcr0 = read_xcr0();
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = (ebx >> 5) & 1;
    f.avx512f = (ebx >> 16) & 1;
    f.avx512dq = (ebx >> 17) & 1;
    f.avx512bw = (ebx >> 30) & 1;
    f.avx512vl = (ebx >> 31) & 1;
  }
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = read_cpu_features();
  return f;
}

// Why the CPU cannot run `level` ("" when it can), in the order a user would check.
std::string missing_for(SimdLevel level, const CpuFeatures& f) {
  if (level == SimdLevel::kPortable) return "";
#if !CNNKIT_HAVE_AVX2
  return "this build has no x86-64 SIMD kernels (not an x86-64 GCC/Clang build)";
#else
  if (!f.avx2) return "CPU lacks avx2 (grep avx2 /proc/cpuinfo)";
  if (!f.fma) return "CPU lacks fma (grep fma /proc/cpuinfo)";
  if (!f.osxsave || (f.xcr0 & 0x6) != 0x6) return "the OS does not save the AVX (YMM) state (XCR0 bits 1-2)";
  if (level == SimdLevel::kAvx2) return "";
  if (!f.avx512f) return "CPU lacks avx512f (grep avx512 /proc/cpuinfo)";
  if (!f.avx512bw) return "CPU lacks avx512bw (grep avx512 /proc/cpuinfo)";
  if (!f.avx512dq) return "CPU lacks avx512dq (grep avx512 /proc/cpuinfo)";
  if (!f.avx512vl) return "CPU lacks avx512vl (grep avx512 /proc/cpuinfo)";
  if ((f.xcr0 & 0xE0) != 0xE0) return "the OS does not save the AVX-512 opmask/ZMM state (XCR0 bits 5-7)";
  return "";
#endif
}

struct Selection {
  SimdLevel level;
  std::string note;
};

const Selection& selection() {
  static const Selection sel = [] {
    const SimdLevel best = cpu_simd_level();
    const char* env = std::getenv("CNNKIT_SIMD");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "auto") == 0) return Selection{best, ""};
    SimdLevel want;
    if (std::strcmp(env, "portable") == 0) {
      want = SimdLevel::kPortable;
    } else if (std::strcmp(env, "avx2") == 0) {
      want = SimdLevel::kAvx2;
    } else if (std::strcmp(env, "avx512") == 0) {
      want = SimdLevel::kAvx512;
    } else {
      Selection s{best, std::string("CNNKIT_SIMD=") + env + " ignored: expected avx512, avx2, portable or auto; using " +
                            simd_level_name(best)};
      std::fprintf(stderr, "cnnkit: warning: %s\n", s.note.c_str());
      return s;
    }
    if (static_cast<int>(want) <= static_cast<int>(best)) return Selection{want, ""};
    Selection s{best, std::string("CNNKIT_SIMD=") + env + " not available: " + missing_for(want, cpu_features()) +
                          "; using " + simd_level_name(best)};
    std::fprintf(stderr, "cnnkit: warning: %s\n", s.note.c_str());
    return s;
  }();
  return sel;
}

std::mutex g_fallback_mutex;
std::vector<std::string>& fallback_list() {
  static std::vector<std::string> list;
  return list;
}

// ---- Cache sizes -------------------------------------------------------------------------------
// Deterministic cache parameters (Intel leaf 4 and AMD leaf 0x8000001D share the layout):
// EAX[4:0] type (0 = no more caches, 1 data, 2 instruction, 3 unified), EAX[7:5] level,
// EAX[25:14] logical CPUs sharing it - 1; EBX[11:0] line size - 1, EBX[21:12] partitions - 1,
// EBX[31:22] ways - 1; ECX sets - 1. Size = ways x partitions x line x sets.
bool caches_from_cpuid(CpuCaches& c) {
#if CNNKIT_HAVE_AVX2
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
  const unsigned max_leaf = eax;
  char vendor[13] = {};
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  unsigned leaf = 0;
  if (std::strcmp(vendor, "GenuineIntel") == 0 && max_leaf >= 4) {
    leaf = 4;
  } else if (std::strcmp(vendor, "AuthenticAMD") == 0 || std::strcmp(vendor, "HygonGenuine") == 0) {
    // 0x8000001D exists when the TOPOEXT flag (CPUID 0x80000001 ECX bit 22) is set.
    if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) && eax >= 0x8000001Du &&
        __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) && ((ecx >> 22) & 1))
      leaf = 0x8000001Du;
  }
  if (leaf == 0) return false;
  for (unsigned sub = 0; sub < 16; ++sub) {
    __cpuid_count(leaf, sub, eax, ebx, ecx, edx);
    const unsigned type = eax & 0x1F, level = (eax >> 5) & 0x7;
    if (type == 0) break;
    if (type == 2) continue;  // instruction cache
    const int64_t size = int64_t((ebx >> 22) + 1) * (((ebx >> 12) & 0x3FF) + 1) * ((ebx & 0xFFF) + 1) * (int64_t(ecx) + 1);
    const int64_t sharing = ((eax >> 14) & 0xFFF) + 1;
    if (level == 1) c.l1d = size;
    if (level == 2) c.l2 = size;
    if (level == 3) c.l3 = size, c.l3_sharing = sharing;
  }
  return c.l1d > 0;
#else
  (void)c;
  return false;
#endif
}

bool caches_from_sysconf(CpuCaches& c) {
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l1 <= 0) return false;
  c.l1d = l1;
  if (l2 > 0) c.l2 = l2;
  if (l3 > 0) c.l3 = l3;
  return true;
#else
  (void)c;
  return false;
#endif
}

// "48K", "2048K", "32M" as sysfs writes them.
int64_t parse_size(const std::string& s) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (v <= 0 || end == s.c_str()) return 0;
  if (*end == 'K') return v << 10;
  if (*end == 'M') return v << 20;
  if (*end == 'G') return v << 30;
  return v;
}

bool caches_from_sysfs(CpuCaches& c) {
  bool any = false;
  for (int idx = 0; idx < 16; ++idx) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/";
    std::ifstream flevel(dir + "level"), ftype(dir + "type"), fsize(dir + "size");
    if (!flevel || !ftype || !fsize) break;
    int level = 0;
    std::string type, size;
    flevel >> level;
    ftype >> type;
    fsize >> size;
    if (type == "Instruction") continue;
    const int64_t bytes = parse_size(size);
    if (bytes <= 0) continue;
    if (level == 1) c.l1d = bytes, any = true;
    if (level == 2) c.l2 = bytes;
    if (level == 3) {
      c.l3 = bytes;
      // shared_cpu_list such as "0-15" or "0,8": count the CPUs in it.
      std::ifstream fl(dir + "shared_cpu_list");
      std::string list;
      if (fl >> list) {
        int64_t n = 0;
        size_t pos = 0;
        while (pos < list.size()) {
          const size_t comma = std::min(list.find(',', pos), list.size());
          const std::string part = list.substr(pos, comma - pos);
          const size_t dash = part.find('-');
          n += dash == std::string::npos ? 1 : std::atoll(part.c_str() + dash + 1) - std::atoll(part.c_str()) + 1;
          pos = comma + 1;
        }
        if (n > 0) c.l3_sharing = n;
      }
    }
  }
  return any;
}

CpuCaches read_caches() {
  CpuCaches c{0, 0, 0, 1, "default"};
  if (caches_from_cpuid(c))
    c.source = "cpuid";
  else if (caches_from_sysconf(c))
    c.source = "sysconf";
  else if (caches_from_sysfs(c))
    c.source = "sysfs";
  if (c.l1d <= 0) c.l1d = 32 << 10;
  if (c.l2 <= 0) c.l2 = 1 << 20;
  if (c.l3 <= 0) c.l3 = 2 << 20, c.l3_sharing = 1;
  c.l3_sharing = std::max<int64_t>(1, c.l3_sharing);
  return c;
}

// ---- vecmath self-check --------------------------------------------------------------------------
// exp256 / tanh256 over a fixed set of 203 points (an odd count: a masked tail) against double
// std::exp / std::tanh; both are within 3 ulp everywhere, so 1e-5 relative is a clear failure.
bool vecmath_selfcheck(std::string& detail) {
#if CNNKIT_HAVE_AVX2
  float x[203], e[203], t[203];
  for (int i = 0; i < 203; ++i) x[i] = -20.0f + 40.0f * static_cast<float>(i) / 202.0f;
  std::copy(x, x + 203, e);
  vexp_inplace_avx2(e, 203);
  vtanh_avx2(t, x, 203);
  double worst = 0.0;
  for (int i = 0; i < 203; ++i) {
    const double re = std::fabs(e[i] - std::exp(double(x[i]))) / std::exp(double(x[i]));
    const double rt = std::fabs(t[i] - std::tanh(double(x[i]))) / std::max(1e-30, std::fabs(std::tanh(double(x[i]))));
    worst = std::max({worst, re, rt});
  }
  if (!(worst <= 1e-5)) {
    detail = "max relative error " + std::to_string(worst);
    return false;
  }
  return true;
#else
  (void)detail;
  return false;
#endif
}

bool decide_avx2() {
  if (static_cast<int>(simd_selected_level()) < static_cast<int>(SimdLevel::kAvx2)) return false;
  std::string detail;
  const bool forced = simd_selfcheck_forced_fail("vecmath");
  if (forced) detail = "forced by CNNKIT_SIMD_SELFCHECK_FAIL";
  if (forced || !vecmath_selfcheck(detail)) {
    simd_record_fallback("self-check of the avx2 vecmath kernels (exp/tanh, activations, pooling, elementwise) "
                         "failed (" + detail + "); those kernels use the portable code");
    return false;
  }
  return true;
}

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx2: return "avx2";
    default: return "portable";
  }
}

SimdLevel cpu_simd_level() {
  static const SimdLevel best = [] {
    const CpuFeatures& f = cpu_features();
    if (missing_for(SimdLevel::kAvx512, f).empty()) return SimdLevel::kAvx512;
    if (missing_for(SimdLevel::kAvx2, f).empty()) return SimdLevel::kAvx2;
    return SimdLevel::kPortable;
  }();
  return best;
}

std::string cpu_simd_missing(SimdLevel level) { return missing_for(level, cpu_features()); }

SimdLevel simd_selected_level() { return selection().level; }
std::string simd_selection_note() { return selection().note; }

bool simd_selfcheck_forced_fail(const char* family) {
  const char* env = std::getenv("CNNKIT_SIMD_SELFCHECK_FAIL");
  if (env == nullptr) return false;
  const std::string list = std::string(",") + env + ",";
  return list.find(std::string(",") + family + ",") != std::string::npos || list.find(",all,") != std::string::npos;
}

void simd_record_fallback(const std::string& message) {
  std::fprintf(stderr, "cnnkit: RuntimeWarning: %s\n", message.c_str());
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  fallback_list().push_back(message);
}

std::vector<std::string> simd_fallbacks() {
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  return fallback_list();
}

const CpuCaches& cpu_caches() {
  static const CpuCaches c = read_caches();
  return c;
}

// Decided once (thread-safe static initialisation); every kernel call reads the cached value.
bool simd_avx2() {
  static const bool enabled = decide_avx2();
  return enabled;
}

#if CNNKIT_HAVE_AVX2
CNNKIT_AVX2 void vexp_inplace_avx2(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, simd::exp256(_mm256_loadu_ps(v + i)));
  if (i < n) simd::store_tail(v + i, n - i, simd::exp256(simd::load_tail(v + i, n - i, 0.0f)));
}
CNNKIT_AVX2 void vtanh_avx2(float* out, const float* inp, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, simd::tanh256(_mm256_loadu_ps(inp + i)));
  if (i < n) simd::store_tail(out + i, n - i, simd::tanh256(simd::load_tail(inp + i, n - i, 0.0f)));
}
#else
void vexp_inplace_avx2(float*, int64_t) {}
void vtanh_avx2(float*, const float*, int64_t) {}
#endif

}  // namespace cnnkit
