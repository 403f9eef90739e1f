// CUDA padding, the twin of ops/pad.h (same PadParams, source-index rule and preimage gather;
// device pointers, contiguous). Forward *writes* out, backward *writes* (=) dinp by a gather over
// each input element's preimages (no atomics: deterministic). The preimage arrays (offset/index per
// dim, from pad_preimages) must be device memory. Plain C++ for the bindings.
#pragma once
#include <cstdint>

#include "ops/pad.h"

namespace cnnkit {

template <class T>
void pad_forward_cuda(int device, T* out, const T* inp, double value, const PadParams& p);

template <class T>
void pad_backward_cuda(int device, T* dinp, const T* dout, const PadParams& p, const int64_t* off_d,
                       const int64_t* idx_d, const int64_t* off_h, const int64_t* idx_h, const int64_t* off_w,
                       const int64_t* idx_w);

}  // namespace cnnkit
