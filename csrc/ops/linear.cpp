// Linear layer = three GEMMs. Forward writes out; backward writes (=) dinp, dweight, dbias.
//   out     (N, OUT) = inp (N, IN) @ weight^T        rows pre-filled with bias, GEMM beta = 1
//   dinp    (N, IN)  = dout (N, OUT) @ weight (OUT, IN)
//   dweight (OUT, IN) = dout^T (OUT, N) @ inp (N, IN)  (transposes are packing modes, not copies)
//   dbias   (OUT)    = column sums of dout, in double
// Threads: inside the GEMMs, and over blocks of output columns for the bias sum (each column is
// summed by one thread in row order, so the result does not depend on the thread count).
#include "ops/linear.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "ops/gemm.h"

namespace cnnkit {

template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t IN, int64_t OUT) {
  if (bias != nullptr) {
    parallel_for(0, N, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, OUT)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(bias, bias + OUT, out + r * OUT);
    });
  }
  gemm<T>(false, true, N, OUT, IN, T(1), inp, IN, weight, IN, bias != nullptr ? T(1) : T(0), out, OUT);
}

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int64_t N,
                     int64_t IN, int64_t OUT) {
  if (dinp != nullptr) gemm<T>(false, false, N, IN, OUT, T(1), dout, OUT, weight, IN, T(0), dinp, IN);
  if (dweight != nullptr) gemm<T>(true, false, OUT, IN, N, T(1), dout, OUT, inp, IN, T(0), dweight, IN);
  if (dbias != nullptr) {
    // Blocks of 64 columns: rows are read in order, the block's running sums stay in cache.
    constexpr int64_t kBlock = 64;
    const int64_t nblocks = (OUT + kBlock - 1) / kBlock;
    parallel_for(0, nblocks, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, N * kBlock)),
                 [&](int64_t b0, int64_t b1) {
                   double acc[kBlock];
                   for (int64_t blk = b0; blk < b1; ++blk) {
                     const int64_t j0 = blk * kBlock, w = std::min(kBlock, OUT - j0);
                     std::fill(acc, acc + w, 0.0);
                     for (int64_t n = 0; n < N; ++n) {
                       const T* row = dout + n * OUT + j0;
                       for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
                     }
                     for (int64_t j = 0; j < w; ++j) dbias[j0 + j] = static_cast<T>(acc[j]);
                   }
                 });
  }
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t);
template void linear_forward<double>(double*, const double*, const double*, const double*, int64_t, int64_t,
                                     int64_t);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                      int64_t, int64_t, int64_t);

}  // namespace cnnkit
