// Shape math, written once: overflow-checked size arithmetic (numel, contiguous strides, storage
// bytes), and the output sizes of convolution and pooling with their argument checks. Everything
// that computes a number of elements, a stride or a byte count from user sizes (tensor views and
// factories, conv, im2col, pooling; CPU and CUDA) calls these.
//
// The rule (PyTorch's, c10/util/safe_numerics.h and TensorImpl::safe_compute_numel): sizes are
// multiplied left to right as unsigned 64-bit integers and any overflow on the way is an error, even
// if a later size is 0; a numel above INT64_MAX is an error ("numel: integer multiplication
// overflow"); a contiguous allocation whose byte count (numel * itemsize) overflows or exceeds
// INT64_MAX is an error ("Storage size calculation overflowed"). All of these are RuntimeError: a
// size that cannot exist is not an out-of-memory condition. A representable request the system
// cannot satisfy is OutOfMemory (core/cpu_allocator.h).
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"

namespace cnnkit {

// ---- overflow-checked integer arithmetic ------------------------------------------------------
// True when a*b (a+b) does not fit in the result type; *out holds the wrapped value then.
#if defined(__GNUC__) || defined(__clang__)
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline bool add_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }
#else
// Portable fallbacks (MSVC): divide back instead of relying on the compiler builtins.
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  *out = a * b;
  return a != 0 && *out / a != b;
}
inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
  constexpr int64_t hi = std::numeric_limits<int64_t>::max(), lo = std::numeric_limits<int64_t>::min();
  bool ovf;
  if (a == 0 || b == 0) ovf = false;
  else if (a > 0) ovf = b > 0 ? a > hi / b : b < lo / a;
  else ovf = b > 0 ? a < lo / b : (a != 0 && b < hi / a);
  *out = static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  return ovf;
}
inline bool add_overflows(int64_t a, int64_t b, int64_t* out) {
  constexpr int64_t hi = std::numeric_limits<int64_t>::max(), lo = std::numeric_limits<int64_t>::min();
  const bool ovf = (b > 0 && a > hi - b) || (b < 0 && a < lo - b);
  *out = static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  return ovf;
}
#endif

// a*b and a+b, or RuntimeError "<op>: integer multiplication overflow (a * b)".
inline int64_t checked_mul(const char* op, int64_t a, int64_t b) {
  int64_t r;
  CNNKIT_CHECK(!mul_overflows(a, b, &r), RuntimeError, op, ": integer multiplication overflow (", a, " * ", b, ")");
  return r;
}
inline int64_t checked_add(const char* op, int64_t a, int64_t b) {
  int64_t r;
  CNNKIT_CHECK(!add_overflows(a, b, &r), RuntimeError, op, ": integer addition overflow (", a, " + ", b, ")");
  return r;
}

// Product of the sizes as torch computes it (unsigned, left to right, any overflow sticks); false
// when it overflowed or exceeds INT64_MAX. Negative sizes are the caller's to reject.
inline bool numel_fits(const std::vector<int64_t>& sizes, int64_t* numel) {
  uint64_t n = 1;
  bool ovf = false;
  for (int64_t d : sizes) ovf |= mul_overflows(n, static_cast<uint64_t>(d), &n);
  ovf |= n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  *numel = static_cast<int64_t>(n);
  return !ovf;
}

// RuntimeError "Trying to create tensor with negative dimension -1: [-1]" (torch's wording).
inline void check_no_negative_sizes(const std::vector<int64_t>& sizes) {
  for (int64_t d : sizes)
    CNNKIT_CHECK(d >= 0, RuntimeError, "Trying to create tensor with negative dimension ", d, ": ", sizes);
}

// Number of elements of a tensor of these sizes; RuntimeError "numel: integer multiplication
// overflow" (torch's wording, followed by the sizes) when it cannot be represented.
inline int64_t checked_numel(const std::vector<int64_t>& sizes) {
  check_no_negative_sizes(sizes);
  int64_t n;
  CNNKIT_CHECK(numel_fits(sizes, &n), RuntimeError, "numel: integer multiplication overflow (sizes ", sizes, ")");
  return n;
}

// Row-major strides in elements (a size-0 or size-1 dim counts as 1, like torch). A stride can
// overflow even when numel fits (a size-0 dim in front: [0, 2**62, 4]); that is torch's RuntimeError
// "Stride calculation overflowed" too.
inline std::vector<int64_t> checked_contiguous_strides(const std::vector<int64_t>& sizes) {
  checked_numel(sizes);
  std::vector<int64_t> st(sizes.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(sizes.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    if (i > 0)
      CNNKIT_CHECK(!mul_overflows(acc, sizes[i] > 1 ? sizes[i] : int64_t{1}, &acc), RuntimeError,
                   "Stride calculation overflowed with sizes=", sizes);
  }
  return st;
}

// Bytes of a dense tensor of these sizes; RuntimeError "Storage size calculation overflowed with
// sizes=[...]" (torch's wording) when numel * itemsize overflows or exceeds INT64_MAX.
inline int64_t contiguous_nbytes(const std::vector<int64_t>& sizes, size_t itemsize) {
  check_no_negative_sizes(sizes);
  uint64_t n = 1;
  bool ovf = false;
  for (int64_t d : sizes) ovf |= mul_overflows(n, static_cast<uint64_t>(d), &n);
  ovf |= mul_overflows(n, static_cast<uint64_t>(itemsize), &n);
  ovf |= n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  CNNKIT_CHECK(!ovf, RuntimeError, "Storage size calculation overflowed with sizes=", sizes);
  return static_cast<int64_t>(n);
}

// The lowest and highest element offsets (relative to `offset`) a strided view reaches, checked:
// RuntimeError "Storage size calculation overflowed with sizes=[...] and strides=[...]". Only
// meaningful for a non-empty view (every size >= 1).
inline void strided_extent(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides, int64_t offset,
                           int64_t* lo, int64_t* hi) {
  int64_t l = offset, h = offset;
  bool ovf = false;
  for (size_t i = 0; i < sizes.size() && !ovf; ++i) {
    int64_t reach;
    ovf |= mul_overflows(sizes[i] - 1, strides[i], &reach);
    if (!ovf) ovf |= add_overflows(reach > 0 ? h : l, reach, reach > 0 ? &h : &l);
  }
  CNNKIT_CHECK(!ovf, RuntimeError, "Storage size calculation overflowed with sizes=", sizes, " and strides=", strides);
  *lo = l;
  *hi = h;
}

// Output length of a sliding window along one axis (PyTorch's formula):
//   floor_or_ceil((in + 2*pad - dil*(k-1) - 1) / stride) + 1
// With ceil_mode the last window must start inside the input or the left padding.
inline int64_t window_out_size(const char* op, int64_t in, int64_t k, int64_t stride, int64_t pad,
                               int64_t dil, bool ceil_mode = false) {
  CNNKIT_CHECK(k > 0, ValueError, op, ": kernel size must be positive, got ", k);
  CNNKIT_CHECK(stride > 0, ValueError, op, ": stride must be positive, got ", stride);
  CNNKIT_CHECK(pad >= 0, ValueError, op, ": padding must be non-negative, got ", pad);
  CNNKIT_CHECK(dil > 0, ValueError, op, ": dilation must be positive, got ", dil);
  // Checked: a huge padding or dilation must not wrap around to a plausible size.
  const int64_t eff = checked_add(op, checked_mul(op, dil, k - 1), 1);  // receptive field of one window
  const int64_t padded = checked_add(op, in, checked_mul(op, 2, pad));
  const int64_t span = padded - eff;  // both non-negative: cannot overflow
  // Floor division (also for a negative span): with ceil_mode a window may overhang the padded
  // input, as PyTorch allows, as long as at least one output remains. Both divisions correct C++'s
  // truncation instead of adding `b - 1`, so that no intermediate can overflow (b > 0).
  auto floor_div = [](int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); };
  auto ceil_div = [](int64_t a, int64_t b) { return a / b + (a % b != 0 && a > 0); };
  int64_t out = (ceil_mode ? ceil_div(span, stride) : floor_div(span, stride)) + 1;
  // The last window must start inside the input or the left padding: (out-1)*stride < in+pad.
  if (ceil_mode && out - 1 >= ceil_div(in + pad, stride)) --out;
  CNNKIT_CHECK(out >= 1, ValueError, op, ": kernel size ", eff, " (dilated) is larger than the padded input size ",
               padded, " (output size would be ", out, ")");
  return out;
}

// Pooling: padding may be at most half the kernel (PyTorch's rule).
inline void check_pool_padding(const char* op, int64_t k, int64_t pad) {
  CNNKIT_CHECK(pad <= k / 2, ValueError, op, ": pad should be at most half of effective kernel size, but got pad=",
               pad, ", kernel_size=", k);
}

}  // namespace cnnkit
