#include "core/config.h"

#include "ops/simd.h"

namespace cnnkit {

// The level in use ("avx512", "avx2" or "portable"), then in parentheses why it differs from what
// CNNKIT_SIMD asked for and which kernel families a self-check moved down, if any.
std::string simd_level() {
  std::string s = simd_level_name(simd_selected_level());
  std::string why = simd_selection_note();
  for (const std::string& f : simd_fallbacks()) why += (why.empty() ? "" : "; ") + f;
  if (!why.empty()) s += " (" + why + ")";
  return s;
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
