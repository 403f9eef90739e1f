// 2-D max and average pooling, CUDA twins of ops/pool2d.h (NCHW, contiguous device memory, the
// (N, C) dims flattened into Pool2dParams::planes; same window rules, NaN handling and divisors).
// Backward WRITES (=) dinp: max_pool2d_backward_cuda zero-fills it and then adds every output's
// gradient at its index (atomicAdd, see pool2d.cu); avg_pool2d_backward_cuda writes each input
// element once (gather over the windows that contain it).
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/pool2d.h"

namespace cnnkit {

template <class scalar_t>
void max_pool2d_forward_cuda(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p, int device);

// indices must lie in [0, H*W) (check with max_pool2d_find_bad_index_cuda first).
template <class scalar_t>
void max_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p,
                              int device);

template <class scalar_t>
void avg_pool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, bool count_include_pad,
                             int64_t divisor_override, int device);

template <class scalar_t>
void avg_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, bool count_include_pad,
                              int64_t divisor_override, int device);

// Adaptive pooling (ops/pool2d.h's adaptive_* twins; only planes, H, W, OH, OW of p are used).
// The avg backward gathers (each input written once, no atomics); the max backward zero-fills and
// scatters with atomicAdd (indices checked first with max_pool2d_find_bad_index_cuda).
template <class scalar_t>
void adaptive_avg_pool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, int device);
template <class scalar_t>
void adaptive_avg_pool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, int device);
template <class scalar_t>
void adaptive_max_pool2d_forward_cuda(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p,
                                      int device);
// Adaptive max-pool's backward is max_pool2d_backward_cuda (the same index scatter).

// Range check of max-pool indices on the device: true when one of the n indices (device memory) is
// outside [0, HW); *bad_value then holds the first such index (in memory order, as the CPU reports).
bool max_pool2d_find_bad_index_cuda(const int64_t* indices, int64_t n, int64_t HW, int device, int64_t* bad_value);

// Max unpooling twins (ops/pool2d.h): indices checked first with max_pool2d_find_bad_index_cuda
// (HW = OH*OW). The forward zero-fills, then scatters one thread per input value (when values share
// an index, which one lands is unspecified, as in PyTorch's CUDA kernel); the backward gathers.
template <class scalar_t>
void max_unpool2d_forward_cuda(scalar_t* out, const scalar_t* inp, const int64_t* indices, const Pool2dParams& p,
                               int device);
template <class scalar_t>
void max_unpool2d_backward_cuda(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p,
                                int device);

}  // namespace cnnkit
