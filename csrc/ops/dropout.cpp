// Dropout masks and the fused dropout kernels, CPU (formulas and the random stream: dropout.h).
// Backward WRITES (=) dinp.
//
// Strategy: the mask entries are split into Philox blocks of four; parallel_for hands each thread
// a contiguous range of blocks, and each block is one Philox call whose four words decide four
// mask entries and the 4 * inner elements they cover. Every entry and element is written by one
// thread, and the words depend only on (seed, offset, entry), so the result is the same for any
// thread count. The per-element work is a select and a multiply (plus an add for alpha dropout).
#include "ops/dropout.h"

#include <algorithm>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainElems = 1 << 15;

// Blocks per parallel task such that one task covers about kGrainElems elements.
inline int64_t block_grain(int64_t inner) { return std::max<int64_t>(1, kGrainElems / (4 * std::max<int64_t>(inner, 1))); }

template <class scalar_t, bool kAffine>
void forward_impl(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                  uint64_t offset, const DropoutCoef& c) {
  const scalar_t scale = static_cast<scalar_t>(c.scale);
  const scalar_t bk = static_cast<scalar_t>(c.bias_keep), bd = static_cast<scalar_t>(c.bias_drop);
  const int64_t blocks = (m + 3) / 4;
  parallel_for(0, blocks, block_grain(inner), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(j));
      const int64_t e0 = 4 * j, e1 = std::min(m, e0 + 4);
      if (inner == 1 && e1 - e0 == 4) {  // the common elementwise case: four outputs, no inner loop
        for (int w = 0; w < 4; ++w) {
          const bool keep = static_cast<uint64_t>(r.v[w]) < c.threshold;
          mask[e0 + w] = keep;
          const scalar_t v = inp[e0 + w] * (keep ? scale : scalar_t(0));
          out[e0 + w] = kAffine ? v + (keep ? bk : bd) : v;
        }
        continue;
      }
      for (int64_t k = e0; k < e1; ++k) {
        const bool keep = static_cast<uint64_t>(r.v[k - e0]) < c.threshold;
        mask[k] = keep;
        const scalar_t s = keep ? scale : scalar_t(0);
        const scalar_t* x = inp + k * inner;
        scalar_t* o = out + k * inner;
        if (kAffine) {
          const scalar_t bias = keep ? bk : bd;
          for (int64_t i = 0; i < inner; ++i) o[i] = x[i] * s + bias;
        } else {
          for (int64_t i = 0; i < inner; ++i) o[i] = x[i] * s;
        }
      }
    }
  });
}
}  // namespace

void philox4x32_fill(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t blocks = (n + 3) / 4;
  parallel_for(0, blocks, 4096, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(j));
      for (int64_t k = 4 * j; k < std::min(n, 4 * j + 4); ++k) out[k] = r.v[k - 4 * j];
    }
  });
}

template <class scalar_t>
void dropout_forward(scalar_t* out, bool* mask, const scalar_t* inp, int64_t m, int64_t inner, uint64_t seed,
                     uint64_t offset, const DropoutCoef& coef) {
  if (coef.affine)
    forward_impl<scalar_t, true>(out, mask, inp, m, inner, seed, offset, coef);
  else
    forward_impl<scalar_t, false>(out, mask, inp, m, inner, seed, offset, coef);
}

// dinp, dout (m, inner); mask (m,)
template <class scalar_t>
void dropout_backward(scalar_t* dinp, const scalar_t* dout, const bool* mask, int64_t m, int64_t inner, double scale) {
  const scalar_t s1 = static_cast<scalar_t>(scale);
  parallel_for(0, m, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const scalar_t s = mask[k] ? s1 : scalar_t(0);
      for (int64_t i = k * inner; i < (k + 1) * inner; ++i) dinp[i] = dout[i] * s;
    }
  });
}

#define CNNKIT_INSTANTIATE_DROPOUT(T)                                                                   \
  template void dropout_forward<T>(T*, bool*, const T*, int64_t, int64_t, uint64_t, uint64_t, const DropoutCoef&); \
  template void dropout_backward<T>(T*, const T*, const bool*, int64_t, int64_t, double);
CNNKIT_INSTANTIATE_DROPOUT(float)
CNNKIT_INSTANTIATE_DROPOUT(double)
#undef CNNKIT_INSTANTIATE_DROPOUT

}  // namespace cnnkit
