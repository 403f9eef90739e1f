// Softmax and log-softmax along one dimension, CPU. The tensor is viewed as (outer, D, inner),
// contiguous, the reduced dimension D having stride `inner`. Backward WRITES (=) dinp.
//   softmax:      out = exp(x - max) / sum(exp(x - max))
//   log_softmax:  out = (x - max) - log(sum(exp(x - max)))
//   softmax backward:      dinp = out * (dout - sum(dout * out))
//   log_softmax backward:  dinp = dout - exp(out) * sum(dout)
// Sums accumulate in double for both dtypes.
#pragma once
#include <cstdint>

namespace cnnkit {

// out, inp (outer, D, inner). log=true gives log_softmax.
template <class scalar_t>
void softmax_forward(scalar_t* out, const scalar_t* inp, int64_t outer, int64_t D, int64_t inner, bool log);

// dinp, dout, out (outer, D, inner); `out` is the forward result (probabilities or log-probabilities).
template <class scalar_t>
void softmax_backward(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t outer, int64_t D,
                      int64_t inner, bool log);

}  // namespace cnnkit
