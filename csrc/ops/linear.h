// Fully connected layer on the CPU (PyTorch's nn.Linear), contiguous row-major tensors:
//   inp (N, IN), weight (OUT, IN), bias (OUT) or null, out (N, OUT)
//   out = inp @ weight^T + bias
// Forward *writes* out; backward *writes* (=) dinp (N, IN), dweight (OUT, IN), dbias (OUT), each
// of which may be null to skip it. All products go through ops/gemm.h.
#pragma once
#include <cstdint>

namespace cnnkit {

template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t IN, int64_t OUT);

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t N,
                     int64_t IN, int64_t OUT);

}  // namespace cnnkit
