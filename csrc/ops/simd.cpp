// Runtime selection of the AVX2+FMA code paths of the memory-bound kernels (see simd.h), and the
// two array helpers every caller shares (vector exp and tanh over a buffer). No backward lives
// here, so backward semantics (= or +=) do not apply.
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
