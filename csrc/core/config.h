// Facts about this build and machine for cnnkit.show_config().
#pragma once
#include <string>

namespace cnnkit {
std::string simd_level();       // the SIMD level in use (avx512, avx2, portable) and any fallback (ops/simd.h)
bool cuda_compiled();
std::string cuda_architectures();
int cuda_runtime_version();     // e.g. 13000; 0 without CUDA
int cuda_driver_version();      // 0 when no driver is usable
int cuda_device_count();        // 0 when no driver or device
std::string cuda_device_count_error();  // why cudaGetDeviceCount failed ("" when it did not)
std::string cuda_device_name(int index);
}  // namespace cnnkit
