// CUDA device queries. The runtime is linked statically, so this translation unit loads on machines
// without a driver; every query then fails softly (cudaGetDeviceCount returns an error) and the
// answers are "0 devices", which keeps the CPU path fully usable. The error itself is kept and shown by
// show_config() (cuda_device_count_error): "no driver" and "driver older than the runtime we link" look
// alike as 0 devices, and a GPU test run that skips everything must be told apart from a machine without
// a GPU (benchmarks/gpu/run.sh fails unless cnnkit.cuda.is_available()).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "core/cuda_utils.cuh"
#include "build_info.h"

namespace cnnkit {

bool cuda_compiled() { return true; }

static bool env_is_one(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "1") == 0;
}
bool cuda_sync_each_launch() {
  static const bool on = env_is_one("CNNKIT_CUDA_SYNC") || env_is_one("CUDA_LAUNCH_BLOCKING");
  return on;
}
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
    cudaGetLastError();  // clear the "no driver" error so later calls start clean
    n = 0;
  }
  return n;
}
std::string cuda_device_count_error() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess) return "";
  cudaGetLastError();
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
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
