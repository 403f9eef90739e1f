// Nearest / nearest-exact / (bi)linear interpolation, CUDA twins of ops/upsample.h (same layout,
// index rules and semantics, on device memory). Backward WRITES (=) dinp, gathering like the CPU
// (no atomics). Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include "ops/upsample.h"

namespace cnnkit {

template <class T>
void upsample_forward_cuda(T* out, const T* inp, const UpsampleParams& p, int device);

template <class T>
void upsample_backward_cuda(T* dinp, const T* dout, const UpsampleParams& p, int device);

}  // namespace cnnkit
