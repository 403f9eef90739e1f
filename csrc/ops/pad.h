// Padding (F.pad's constant / reflect / replicate / circular modes) on the CPU, contiguous tensors:
//   inp (B, D, H, W) -> out (B, OD, OH, OW), O* = * + lo_* + hi_*   (up to three padded dims; the
//   binding folds every leading dim into B and sets D = 1 or H = 1 with zero pads when fewer are padded)
//   out[b, od, oh, ow] = inp[b, src_d(od), src_h(oh), src_w(ow)], or `value` where a source index is
//   -1 (constant mode outside the input).
// Every padded dim maps independently through pad_source_index (below), shared with the CUDA twin.
// Negative pads crop. Forward *writes* (=) out; backward *writes* (=) dinp: a gather, each input
// element sums the dout entries whose source it is (no atomics, no scatter), using per-dim
// preimage lists (PadPreimages, built on the host once per call by pad_preimages).
#pragma once
#include <cstdint>
#include <vector>

#ifdef __CUDACC__
#define CNNKIT_PAD_HD __host__ __device__
#else
#define CNNKIT_PAD_HD
#endif

namespace cnnkit {

enum class PadMode : int { Constant = 0, Reflect = 1, Replicate = 2, Circular = 3 };

struct PadDim {
  int64_t in, lo, hi;  // input size and the pads before / after (negative = crop)
  CNNKIT_PAD_HD int64_t out() const { return in + lo + hi; }
};

// Source index along one dim of output position o (0 <= o < in + lo + hi), or -1 (constant fill).
//   constant   o - lo if inside [0, in), else -1
//   reflect    mirror of o - lo about the first / last element (torch: no edge repeat; pads < in)
//   replicate  o - lo clamped to [0, in - 1]
//   circular   as torch: negative pads crop first, then the cropped range [a, b) wraps around
//              (positive pads at most its length)
CNNKIT_PAD_HD inline int64_t pad_source_index(int64_t o, int64_t in, int64_t lo, int64_t hi, PadMode mode) {
  const int64_t i = o - lo;
  switch (mode) {
    case PadMode::Constant:
      return (i >= 0 && i < in) ? i : -1;
    case PadMode::Reflect: {
      if (in == 1) return 0;
      const int64_t period = 2 * (in - 1);
      int64_t m = i % period;
      if (m < 0) m += period;
      return m < in ? m : period - m;
    }
    case PadMode::Replicate:
      return i < 0 ? 0 : (i >= in ? in - 1 : i);
    case PadMode::Circular: {
      const int64_t a = lo < 0 ? -lo : 0, b = hi < 0 ? in + hi : in, len = b - a;
      int64_t m = (o - (lo > 0 ? lo : 0)) % len;
      if (m < 0) m += len;
      return a + m;
    }
  }
  return -1;
}

// Per-dim preimage lists in CSR form: the output positions o with pad_source_index(o) == i are
// index[offset[i] .. offset[i+1]). offset has in + 1 entries, index out entries at most.
struct PadPreimages {
  std::vector<int64_t> offset, index;
};
PadPreimages pad_preimages(const PadDim& d, PadMode mode);

struct PadParams {
  int64_t B;
  PadDim d, h, w;
  PadMode mode;
};

// out (B, OD, OH, OW) from inp (B, D, H, W). value is converted to T.
template <class T>
void pad_forward(T* out, const T* inp, double value, const PadParams& p);

// dinp (B, D, H, W) = sum of dout (B, OD, OH, OW) over each element's preimages; pre_* are the
// PadPreimages (offset then index arrays) of the three dims.
template <class T>
void pad_backward(T* dinp, const T* dout, const PadParams& p, const int64_t* off_d, const int64_t* idx_d,
                  const int64_t* off_h, const int64_t* idx_h, const int64_t* off_w, const int64_t* idx_w);

}  // namespace cnnkit
