// CUDA fully connected layer, the twin of ops/linear.h (device pointers, contiguous row-major):
//   inp (N, IN), weight (OUT, IN), bias (OUT) or null, out (N, OUT);  out = inp @ weight^T + bias
// Forward *writes* out; backward *writes* (=) dinp (N, IN), dweight (OUT, IN), dbias (OUT), each
// of which may be null to skip it. Plain C++ declarations for the bindings; `device` is the CUDA
// device the pointers live on.
#pragma once
#include <cstdint>

namespace cnnkit {

template <class T>
void linear_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t IN,
                         int64_t OUT);

template <class T>
void linear_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                          int64_t N, int64_t IN, int64_t OUT);

}  // namespace cnnkit
