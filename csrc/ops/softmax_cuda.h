// Softmax / log-softmax along one dimension, CUDA twin of ops/softmax.h: the tensor is viewed as
// (outer, D, inner), contiguous device memory, the reduced dimension D having stride `inner`.
// Backward WRITES (=) dinp. Same formulas as the CPU (max subtracted, sums in double):
//   softmax:      out = exp(x - max) / sum(exp(x - max))
//   log_softmax:  out = (x - max) - log(sum(exp(x - max)))
//   softmax backward:      dinp = out * (dout - sum(dout * out))
//   log_softmax backward:  dinp = dout - exp(out) * sum(dout)
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

namespace cnnkit {

template <class scalar_t>
void softmax_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t outer, int64_t D, int64_t inner, bool log,
                          int device);

template <class scalar_t>
void softmax_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t outer, int64_t D,
                           int64_t inner, bool log, int device);

}  // namespace cnnkit
