// CUDA helpers shared by every .cu file: error checks that turn CUDA failures into cnnkit
// RuntimeErrors naming the op, a device guard, and launch-size helpers.
// Include only from .cu files (it pulls in cuda_runtime.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/errors.h"

namespace cnnkit {

// Every CUDA API call: CNNKIT_CUDA_CHECK(cudaMemcpy(...), "op_name");
#define CNNKIT_CUDA_CHECK(expr, op)                                                                      \
  do {                                                                                                   \
    const cudaError_t _e = (expr);                                                                       \
    if (_e != cudaSuccess) {                                                                             \
      cudaGetLastError(); /* clear non-sticky errors so the process keeps working */                    \
      throw ::cnnkit::RuntimeError(::cnnkit::str(op, ": CUDA error: ", cudaGetErrorString(_e), " (", #expr, \
                                                 ", ", __FILE__, ":", __LINE__, ")"));                  \
    }                                                                                                    \
  } while (0)

// True when CNNKIT_CUDA_SYNC=1 or CUDA_LAUNCH_BLOCKING=1 was set at start (read once; config.cu).
bool cuda_sync_each_launch();

// After every kernel launch: CNNKIT_CUDA_KERNEL_CHECK("relu_forward"). Launch errors (bad grid, too much
// shared memory) show at once; a fault inside the kernel (illegal address) is asynchronous and would
// surface at some later call, blaming the wrong op -- with CNNKIT_CUDA_SYNC=1 the check also waits for the
// kernel, so the error names the kernel that faulted (slow: for debugging and the sanitizer runs).
#define CNNKIT_CUDA_KERNEL_CHECK(op)                                                   \
  do {                                                                                 \
    CNNKIT_CUDA_CHECK(cudaGetLastError(), op);                                         \
    if (::cnnkit::cuda_sync_each_launch()) CNNKIT_CUDA_CHECK(cudaDeviceSynchronize(), op); \
  } while (0)

// Makes `index` the current device for the scope (kernels launch on the current device).
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int index) {
    cudaGetDevice(&prev_);
    if (index >= 0 && index != prev_) {
      CNNKIT_CUDA_CHECK(cudaSetDevice(index), "cuda device guard");
      changed_ = true;
    }
  }
  ~CudaDeviceGuard() {
    if (changed_) cudaSetDevice(prev_);
  }
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool changed_ = false;
};

constexpr int kThreadsPerBlock = 256;

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, never more than needed.
inline unsigned int blocks_for(int64_t n, int threads = kThreadsPerBlock) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace cnnkit
