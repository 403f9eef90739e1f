// OpenMP helpers. parallel_for splits [begin, end) into contiguous chunks, one per thread, and
// runs serially when the range is smaller than `grain` (OpenMP's fork costs a few microseconds,
// more than small kernels take) or when already inside a parallel region. Chunks are disjoint and
// each element is computed by exactly one thread, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace cnnkit {

int get_num_threads();
void set_num_threads(int n);

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
#ifdef _OPENMP
  const int64_t n = end - begin;
  if (n > grain && !omp_in_parallel() && get_num_threads() > 1) {
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads();
      const int64_t tid = omp_get_thread_num();
      const int64_t chunk = (n + nt - 1) / nt;
      const int64_t b = begin + tid * chunk;
      const int64_t e = std::min(end, b + chunk);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(begin, end);
}

}  // namespace cnnkit
