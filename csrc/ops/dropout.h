// Dropout masks from a counter-based generator, and the fused dropout / alpha-dropout kernels (CPU).
//
// Random numbers: Philox4x32-10 (J. Salmon, M. Moraes, R. Dror, D. Shaw, "Parallel Random Numbers:
// As Easy as 1, 2, 3", SC'11). A Philox call maps a 128-bit counter and a 64-bit key to four
// 32-bit words through 10 rounds of two 32x32->64 multiplies, xors and a Weyl key schedule. Mask
// entry e takes word e % 4 of the call with
//   counter = (lo32(e / 4), hi32(e / 4), lo32(offset), hi32(offset)),  key = (lo32(seed), hi32(seed)),
// so each entry depends only on (seed, offset, e): the same seed gives the same mask on every run,
// every thread count, and on the CPU and CUDA (dropout.cu evaluates this same header).
//
// Keep decision: entry e is kept iff word < keep_threshold(p) = ceil((1 - p) * 2^32) (an integer in
// [0, 2^32]: p = 0 keeps all, p = 1 none), i.e. with probability (1 - p) up to 2^-32.
//
// Fused forward over inp/out of m * inner elements, mask (m,) (inner = 1: elementwise dropout;
// inner = H*W...: whole channels, feature dropout):
//   out[i] = inp[i] * (keep[i / inner] ? scale : 0)                               (dropout)
//   out[i] = inp[i] * (keep ? a : 0) + (keep ? alpha*a*p : alpha*a*p - alpha*a)   (alpha dropout)
// with scale = 1/(1-p), alpha = 1.7580993408473766 (SELU's -scale*alpha), a = 1/sqrt((alpha^2 p + 1)(1-p))
// as PyTorch's _dropout_impl (a dropped element is inp * 0, so NaN and inf propagate as in PyTorch).
// Backward WRITES (=): dinp[i] = dout[i] * (keep[i / inner] ? scale : 0) (scale = a for alpha dropout).
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define CNNKIT_PHILOX_HD __host__ __device__ __forceinline__
#else
#define CNNKIT_PHILOX_HD inline
#endif

namespace cnnkit {

struct Philox4 {
  uint32_t v[4];
};

// Philox4x32 with 10 rounds (Random123's constants).
CNNKIT_PHILOX_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // key schedule (golden ratio, sqrt(3) - 1)
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0, p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The four words of Philox block j (mask entries 4j .. 4j+3) for (seed, offset).
CNNKIT_PHILOX_HD Philox4 philox_block(uint64_t seed, uint64_t offset, uint64_t j) {
  return philox4x32_10(static_cast<uint32_t>(j), static_cast<uint32_t>(j >> 32), static_cast<uint32_t>(offset),
                       static_cast<uint32_t>(offset >> 32), static_cast<uint32_t>(seed),
                       static_cast<uint32_t>(seed >> 32));
}

// The coefficients of one dropout call (computed on the host, in double, once).
struct DropoutCoef {
  uint64_t threshold = 0;  // keep iff word < threshold
  double scale = 0.0;      // multiplier of kept elements (0 for dropped ones)
  double bias_keep = 0.0, bias_drop = 0.0;
  bool affine = false;     // alpha dropout: add bias_keep / bias_drop
};

inline uint64_t keep_threshold(double p) {
  return static_cast<uint64_t>(std::ceil((1.0 - p) * 4294967296.0));
}

// p in [0, 1]. p == 1: nothing is kept and out = inp * 0 for both kinds (PyTorch multiplies by a
// zero tensor then, without alpha dropout's shift).
inline DropoutCoef dropout_coef(double p, bool alpha) {
  DropoutCoef c;
  c.threshold = keep_threshold(p);
  if (p >= 1.0) return c;
  if (!alpha) {
    c.scale = 1.0 / (1.0 - p);
    return c;
  }
  constexpr double kAlpha = 1.7580993408473766;
  const double a = 1.0 / std::sqrt((kAlpha * kAlpha * p + 1.0) * (1.0 - p));
  c.scale = a;
  c.bias_keep = kAlpha * a * p;
  c.bias_drop = kAlpha * a * p - kAlpha * a;
  c.affine = true;
  return c;
}

// out (n,) = the raw Philox stream: out[e] = word e % 4 of block e / 4 (the reference of the masks).
void philox4x32_fill(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset);

// out, inp (m * inner,), mask (m,): the fused forward described above.
template <class scalar_t>
void dropout_forward(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                     uint64_t offset, const DropoutCoef& coef);

// dinp, dout (m * inner,), mask (m,): dinp = dout * (mask ? scale : 0).
template <class scalar_t>
void dropout_backward(scalar_t* dinp, const scalar_t* dout, const bool* mask, int64_t m, int64_t inner, double scale);

}  // namespace cnnkit
