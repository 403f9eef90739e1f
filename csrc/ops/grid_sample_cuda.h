// Spatial grid sampling, CUDA twins of ops/grid_sample.h (same layout, coordinate rules, taps and
// semantics, on device memory). Backward WRITES (=) dinp and dgrid; the input gradient is
// accumulated with atomicAdd after a zero fill (see grid_sample.cu). Plain C++ (no CUDA headers):
// the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include "ops/grid_sample.h"

namespace cnnkit {

template <class T>
void grid_sample_forward_cuda(T* out, const T* inp, const T* grid, const GridSampleParams& p, int device);

template <class T>
void grid_sample_backward_cuda(T* dinp, T* dgrid, const T* dout, const T* inp, const T* grid,
                               const GridSampleParams& p, int device);

}  // namespace cnnkit
