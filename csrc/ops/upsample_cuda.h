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

// The separable passes (bicubic / antialias; upsample.h), on device memory: the CSR tables
// (ptr, idx, w) are the host's sep_table / sep_transpose copied to the device, so both devices
// apply the same weights; one thread per output element, each a sequential sum in tap order
// (multiplies rounded separately, no FMA contraction: results equal the CPU's bit for bit).
template <class T>
void sep_pass_w_cuda(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t rows,
                     int64_t in_cols, int64_t out_cols, int device);
template <class T>
void sep_pass_h_cuda(T* dst, const T* src, const int64_t* ptr, const int64_t* idx, const T* w, int64_t planes,
                     int64_t in_rows, int64_t out_rows, int64_t cols, int device);

}  // namespace cnnkit
