// CUDA device queries. The runtime is linked statically, so this translation unit loads on machines
// without a driver; every query then fails softly (cudaGetDeviceCount returns an error) and the
// answers are "0 devices", which keeps the CPU path fully usable.
#include <cuda_runtime.h>

#include "core/config.h"
#include "build_info.h"

namespace cnnkit {

bool cuda_compiled() { return true; }
std::string cuda_architectures() { return CNNKIT_CUDA_ARCHS; }
int cuda_runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) v = 0;
  return v;
}
int cuda_driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) v = 0;
  return v;
}
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    n = 0;
  }
  return n;
}
std::string cuda_device_name(int index) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return prop.name;
}

}  // namespace cnnkit
