// Shape math, written once: output sizes of convolution and pooling and their argument checks.
// Everything that computes an output size (conv, im2col, pooling; CPU and CUDA) calls these.
#pragma once
#include <cstdint>
#include <string>

#include "core/errors.h"

namespace cnnkit {

// Output length of a sliding window along one axis (PyTorch's formula):
//   floor_or_ceil((in + 2*pad - dil*(k-1) - 1) / stride) + 1
// With ceil_mode the last window must start inside the input or the left padding.
inline int64_t window_out_size(const char* op, int64_t in, int64_t k, int64_t stride, int64_t pad,
                               int64_t dil, bool ceil_mode = false) {
  CNNKIT_CHECK(k > 0, ValueError, op, ": kernel size must be positive, got ", k);
  CNNKIT_CHECK(stride > 0, ValueError, op, ": stride must be positive, got ", stride);
  CNNKIT_CHECK(pad >= 0, ValueError, op, ": padding must be non-negative, got ", pad);
  CNNKIT_CHECK(dil > 0, ValueError, op, ": dilation must be positive, got ", dil);
  const int64_t eff = dil * (k - 1) + 1;  // receptive field of one window
  const int64_t span = in + 2 * pad - eff;
  // Floor division (also for a negative span): with ceil_mode a window may overhang the padded
  // input, as PyTorch allows, as long as at least one output remains.
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  int64_t out = floor_div(ceil_mode ? span + stride - 1 : span, stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  CNNKIT_CHECK(out >= 1, ValueError, op, ": kernel size ", eff, " (dilated) is larger than the padded input size ",
               in + 2 * pad, " (output size would be ", out, ")");
  return out;
}

// Pooling: padding may be at most half the kernel (PyTorch's rule).
inline void check_pool_padding(const char* op, int64_t k, int64_t pad) {
  CNNKIT_CHECK(pad * 2 <= k, ValueError, op, ": pad should be at most half of effective kernel size, but got pad=",
               pad, ", kernel_size=", k);
}

}  // namespace cnnkit
