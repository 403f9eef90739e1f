// Runtime selection of the AVX2+FMA code paths of the memory-bound kernels (see simd.h). No
// kernel lives here, so backward semantics (= or +=) do not apply.
#include "ops/simd.h"

#include <cstdlib>
#include <cstring>

namespace cnnkit {

namespace {
bool detect_avx2() {
#if CNNKIT_HAVE_AVX2
  const char* env = std::getenv("CNNKIT_SIMD");
  if (env && std::strcmp(env, "portable") == 0) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
}  // namespace

// Decided once (thread-safe static initialisation); every kernel call reads the cached value.
bool simd_avx2() {
  static const bool enabled = detect_avx2();
  return enabled;
}

}  // namespace cnnkit
