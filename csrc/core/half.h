// 16-bit floating storage types: IEEE binary16 (`Half`, torch.float16) and bfloat16 (`BFloat16`,
// the upper half of a float32). Both only store and convert; nothing computes in them.
//
// Conversions (host and device; plain C++ for g++, __host__ __device__ under nvcc):
//   float -> half: round to nearest, ties to even; |x| >= 65520 (the midpoint above the largest
//     half, 65504) becomes +-inf; results below 2^-14 become subnormals (multiples of 2^-24),
//     below 2^-25 zero (sign kept); NaN becomes the quiet NaN 0x7e00 with x's sign.
//   float -> bfloat16: round to nearest even on the upper 16 bits (overflow rounds to inf by
//     itself); NaN becomes the quiet NaN 0x7fc0 with x's sign.
//   half/bfloat16 -> float: exact.
// Other types convert through float, as c10::Half / c10::BFloat16 do (so double -> half rounds
// twice, exactly like torch, which differs from NumPy's direct double -> float16 in rare ties).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define CNNKIT_HOST_DEVICE __host__ __device__
#else
#define CNNKIT_HOST_DEVICE
#endif

namespace cnnkit {

CNNKIT_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

CNNKIT_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

// Rounds the integer q + rem / 2^shift to the nearest integer, ties to even (1 <= shift <= 31).
CNNKIT_HOST_DEVICE inline uint32_t round_shift_rne(uint32_t m, uint32_t shift) {
  const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  return q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
}

CNNKIT_HOST_DEVICE inline uint16_t float_to_half_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);    // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);   // >= 65520 (and inf) -> inf
  const uint32_t e = a >> 23;                                            // biased float exponent
  if (a < 0x38800000u) {                                                 // below 2^-14: subnormal half
    if (e < 102) return static_cast<uint16_t>(sign);                     // below 2^-25: zero
    // value / 2^-24 = (1.m * 2^23) * 2^(e - 150 + 24); a carry to 0x400 is the smallest normal.
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    return static_cast<uint16_t>(sign | round_shift_rne(m, 126u - e));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits; a carry out
  // of the mantissa correctly increments the exponent.
  const uint32_t h = ((e - 112u) << 10) | ((a & 0x7fffffu) >> 13);
  const uint32_t rem = a & 0x1fffu;
  return static_cast<uint16_t>(sign | (h + ((rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ? 1u : 0u)));
}

CNNKIT_HOST_DEVICE inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));   // inf / NaN
  if (e == 0) {
    if (m == 0) return bits_float(sign);                                // +-0
    e = 113;                                                             // subnormal: normalise
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    return bits_float(sign | (e << 23) | ((m & 0x3ffu) << 13));
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

CNNKIT_HOST_DEVICE inline uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7fc0u);  // NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

CNNKIT_HOST_DEVICE inline float bfloat16_bits_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

struct Half {
  uint16_t x;
  Half() = default;
  template <class T>
  CNNKIT_HOST_DEVICE explicit Half(T v) : x(float_to_half_bits(static_cast<float>(v))) {}
  CNNKIT_HOST_DEVICE static Half from_bits(uint16_t b) {
    Half h;
    h.x = b;
    return h;
  }
  CNNKIT_HOST_DEVICE operator float() const { return half_bits_to_float(x); }
};

struct BFloat16 {
  uint16_t x;
  BFloat16() = default;
  template <class T>
  CNNKIT_HOST_DEVICE explicit BFloat16(T v) : x(float_to_bfloat16_bits(static_cast<float>(v))) {}
  CNNKIT_HOST_DEVICE static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.x = b;
    return h;
  }
  CNNKIT_HOST_DEVICE operator float() const { return bfloat16_bits_to_float(x); }
};

static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2, "16-bit storage types");

}  // namespace cnnkit
