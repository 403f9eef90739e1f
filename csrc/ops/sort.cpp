// Sort / topk along one dim on the CPU (see sort.h for the layout and the order). Writes (=)
// values and indices.
//
// Strategy: each line x[o, :, i] is copied into a thread-local buffer of (key, position) pairs,
// sorted there with a comparator that is a strict total order (key order with NaN greatest, then
// position), and the first k pairs are written out. Because the order is total, std::sort-family
// results do not depend on the algorithm: stable_sort, partial_sort and the naive insertion sort
// give identical outputs, and the thread count (OpenMP over lines) never changes a result.
#include "ops/sort.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "core/parallel.h"

namespace cnnkit {
namespace {

template <class S>
bool key_nan(S v) {
  if constexpr (std::is_floating_point_v<S>) return v != v;
  else return false;
}

// True when (a, ia) comes before (b, ib): ascending with NaN last, or descending with NaN first;
// ties broken by the original position (the stable order).
template <class S>
struct Before {
  bool descending;
  bool operator()(const std::pair<S, int64_t>& p, const std::pair<S, int64_t>& q) const {
    const bool an = key_nan(p.first), bn = key_nan(q.first);
    if (an || bn) {
      if (an && bn) return p.second < q.second;
      return descending ? an : bn;  // NaN is the greatest key
    }
    if (p.first != q.first) return descending ? q.first < p.first : p.first < q.first;
    return p.second < q.second;
  }
};

template <class S, class SortFn>
void sort_lines(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                int64_t k, const SortFn& sort_fn) {
  const S* xp = x.data<S>();
  S* vp = values.data<S>();
  int64_t* ip = indices.data<int64_t>();
  const int64_t lines = outer * inner;
  if (lines == 0 || k == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
  parallel_for(0, lines, grain, [&](int64_t b, int64_t e) {
    std::vector<std::pair<S, int64_t>> buf(n);
    for (int64_t l = b; l < e; ++l) {
      const int64_t o = l / inner, i = l % inner;
      const S* src = xp + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) buf[j] = {src[j * inner], j};
      sort_fn(buf);
      S* vd = vp + o * k * inner + i;
      int64_t* id = ip + o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) {
        vd[j * inner] = buf[j].first;
        id[j * inner] = buf[j].second;
      }
    }
  });
}

}  // namespace

void sort_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
              int64_t k, bool descending) {
  CNNKIT_DISPATCH_ALL(x.dtype(), "sort", [&] {
    using S = scalar_t;
    const Before<S> before{descending};
    sort_lines<S>(values, indices, x, outer, n, inner, k, [&](std::vector<std::pair<S, int64_t>>& buf) {
      if (k == n) std::stable_sort(buf.begin(), buf.end(), before);
      else std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
    });
  });
}

void sort_naive_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n,
                    int64_t inner, int64_t k, bool descending) {
  CNNKIT_DISPATCH_ALL(x.dtype(), "sort_naive", [&] {
    using S = scalar_t;
    const Before<S> before{descending};
    sort_lines<S>(values, indices, x, outer, n, inner, k, [&](std::vector<std::pair<S, int64_t>>& buf) {
      for (size_t a = 1; a < buf.size(); ++a)
        for (size_t c = a; c > 0 && before(buf[c], buf[c - 1]); --c) std::swap(buf[c], buf[c - 1]);
    });
  });
}

}  // namespace cnnkit
