#include "core/config.h"

namespace cnnkit {

std::string simd_level() {
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__) || defined(__clang__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2+fma";
  if (__builtin_cpu_supports("avx")) return "avx";
#endif
  return "sse2";
#elif defined(__aarch64__)
  return "neon";
#else
  return "generic";
#endif
}

#ifndef CNNKIT_WITH_CUDA
// CPU-only build: the CUDA queries answer "nothing here".
bool cuda_compiled() { return false; }
std::string cuda_architectures() { return ""; }
int cuda_runtime_version() { return 0; }
int cuda_driver_version() { return 0; }
int cuda_device_count() { return 0; }
std::string cuda_device_count_error() { return ""; }
std::string cuda_device_name(int) { return ""; }
#endif

}  // namespace cnnkit
