// Indexing kernels on the CPU. index_select/gather/cat/nonzero write (=) fresh outputs;
// index_add_ and scatter_add_ accumulate (+=) into `out`; index_copy_ overwrites (=) slices.
//
// Thread mapping and determinism. Ops with duplicate-able destinations (index_add_, index_copy_,
// scatter_add_) are parallelised over the coordinates that are *not* indexed: a task owns a set of
// (outer, inner) columns, or a set of scatter "lines" (all coordinates but `dim`), and walks the
// index sequentially. Different tasks therefore never write the same element, no atomics are
// needed, and duplicates are applied in index order whatever the number of threads.
#include "ops/index.h"

#include <cstring>
#include <type_traits>

#include "core/parallel.h"
#include "ops/elementwise.h"
#include "ops/index_lines.h"

namespace cnnkit {
namespace {

constexpr int64_t kWorkGrain = 32768;  // elements of work below which a chunk stays on one thread
constexpr int64_t kCols = 4096;        // inner elements per index_add_/index_copy_ task

struct OuterInner {
  int64_t outer = 1, n = 1, inner = 1;
};
OuterInner split_at(const Shape& s, int64_t dim) {
  OuterInner r;
  if (s.empty()) return r;  // a 0-d tensor is (1, 1, 1)
  for (int64_t d = 0; d < dim; ++d) r.outer *= s[d];
  r.n = s[dim];
  for (size_t d = dim + 1; d < s.size(); ++d) r.inner *= s[d];
  return r;
}

template <class S>
S add_wrap(S a, S b) {
  if constexpr (std::is_integral_v<S>) return static_cast<S>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}

// Wrapping integer product (through uint64); bool is "and" (never reached: the binding rejects it).
template <class S>
S mul_wrap(S a, S b) {
  if constexpr (std::is_same_v<S, bool>) return a && b;
  else if constexpr (std::is_integral_v<S>) return static_cast<S>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

// index_add_ / index_copy_: tasks are (outer row, block of kCols inner elements); each walks the
// whole index in order.
template <class F>
void index_update(const Tensor& out, int64_t dim, const Tensor& index, const F& per_row) {
  const OuterInner o = split_at(out.shape(), dim);
  const int64_t k = index.numel();
  if (o.outer * o.inner == 0 || k == 0) return;
  const int64_t ncb = (o.inner + kCols - 1) / kCols;
  const int64_t* idx = index.data<int64_t>();
  const int64_t work = k * std::min(o.inner, kCols);
  parallel_for(0, o.outer * ncb, std::max<int64_t>(1, kWorkGrain / work), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t oi = t / ncb, j0 = (t % ncb) * kCols, w = std::min(kCols, o.inner - j0);
      for (int64_t i = 0; i < k; ++i)
        per_row((oi * o.n + idx[i]) * o.inner + j0, (oi * k + i) * o.inner + j0, w);
    }
  });
}

}  // namespace

void index_select_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  const OuterInner o = split_at(x.shape(), dim);
  const int64_t k = index.numel();
  if (out.numel() == 0) return;
  const size_t row = static_cast<size_t>(o.inner) * x.itemsize();
  const int64_t* idx = index.data<int64_t>();
  char* dst = static_cast<char*>(out.data_ptr());
  const char* src = static_cast<const char*>(x.data_ptr());
  parallel_for(0, o.outer * k, std::max<int64_t>(1, 4 * kWorkGrain / static_cast<int64_t>(row)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const int64_t oi = r / k, i = r % k;
                   std::memcpy(dst + r * row, src + (oi * o.n + idx[i]) * row, row);
                 }
               });
}

void index_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  CNNKIT_DISPATCH_ALL(out.dtype(), "index_add_", [&] {
    using S = scalar_t;
    if constexpr (std::is_same_v<S, bool>) {
      throw TypeError("index_add_: bool tensors are not supported");
    } else {
      S* o = out.data<S>();
      const S* s = src.data<S>();
      index_update(out, dim, index, [&](int64_t od, int64_t os, int64_t w) {
        for (int64_t j = 0; j < w; ++j) o[od + j] = add_wrap(o[od + j], s[os + j]);
      });
    }
  });
}

void index_copy_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const size_t isz = out.itemsize();
  char* o = static_cast<char*>(out.data_ptr());
  const char* s = static_cast<const char*>(src.data_ptr());
  index_update(out, dim, index,
               [&](int64_t od, int64_t os, int64_t w) { std::memcpy(o + od * isz, s + os * isz, w * isz); });
}

void gather_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  if (out.numel() == 0) return;
  Shape xs = x.strides();
  const int64_t sd = x.dim() ? xs[dim] : 0;
  if (x.dim()) xs[dim] = 0;  // the indexed coordinate comes from the index, not the position
  const StridedPlan<3> p = make_plan<3>(index.shape(), {out.strides(), index.strides(), xs}, true);
  const int64_t* ix = index.data<int64_t>();
  CNNKIT_DISPATCH_ALL(x.dtype(), "gather", [&] {
    using S = scalar_t;
    S* o = out.data<S>();
    const S* xp = x.data<S>();
    parallel_for(0, p.numel, kWorkGrain, [&](int64_t b, int64_t e) {
      for_each_run(p, b, e, [&](const int64_t* off, int64_t n, const int64_t* st) {
        for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] = xp[off[2] + i * st[2] + ix[off[1] + i * st[1]] * sd];
      });
    });
  });
}

namespace {

// update(out[line, index[line, j]], src[line, j]) for j = 0, 1, ... of every line, parallel over
// the lines (disjoint destinations, see index_lines.h), so duplicates apply in index order.
template <class S, class Update>
void walk_scatter_lines(const ScatterLines& L, S* o, const int64_t* ix, const S* s, const Update& update) {
  const StridedPlan<3>& p = L.plan;
  const int64_t len = L.len, os = L.os, is = L.is, ss = L.ss;
  parallel_for(0, p.numel, std::max<int64_t>(1, kWorkGrain / len), [&](int64_t b, int64_t e) {
    for_each_run(p, b, e, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t i = 0; i < n; ++i) {
        S* ob = o + off[0] + i * st[0];
        const int64_t* ib = ix + off[1] + i * st[1];
        const S* sb = s + off[2] + i * st[2];
        for (int64_t j = 0; j < len; ++j) update(ob[ib[j * is] * os], sb[j * ss]);
      }
    });
  });
}

}  // namespace

void scatter_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  if (index.numel() == 0) return;
  const ScatterLines lines = scatter_lines(out, dim, index, src);
  const int64_t* ix = index.data<int64_t>();
  CNNKIT_DISPATCH_ALL(out.dtype(), "scatter_add_", [&] {
    using S = scalar_t;
    if constexpr (std::is_same_v<S, bool>) {
      throw TypeError("scatter_add_: bool tensors are not supported");
    } else {
      walk_scatter_lines(lines, out.data<S>(), ix, src.data<S>(), [](S& d, S v) { d = add_wrap(d, v); });
    }
  });
}

// The scatter_add_ line walk with the update chosen by `reduce` (one instantiation per mode).
void scatter_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce reduce) {
  if (index.numel() == 0) return;
  const ScatterLines lines = scatter_lines(out, dim, index, src);
  const int64_t* ix = index.data<int64_t>();
  CNNKIT_DISPATCH_ALL(out.dtype(), "scatter_", [&] {
    using S = scalar_t;
    S* o = out.data<S>();
    const S* s = src.data<S>();
    if (reduce == ScatterReduce::None) return walk_scatter_lines(lines, o, ix, s, [](S& d, S v) { d = v; });
    if constexpr (std::is_same_v<S, bool>) {
      throw TypeError("scatter_: reduce is not supported on bool tensors");
    } else if (reduce == ScatterReduce::Add) {
      walk_scatter_lines(lines, o, ix, s, [](S& d, S v) { d = add_wrap(d, v); });
    } else {
      walk_scatter_lines(lines, o, ix, s, [](S& d, S v) { d = mul_wrap(d, v); });
    }
  });
}

// Each input is copied into its slice of the output by the core's strided copy (parallel over
// rows; a plain memcpy when the slice is contiguous, i.e. for dim 0).
void cat_cpu(const Tensor& out, const std::vector<Tensor>& tensors, int64_t dim) {
  int64_t off = 0;
  for (const Tensor& t : tensors) {
    const int64_t n = t.shape()[dim];
    if (n > 0) {
      Tensor dst = out.slice(dim, off, off + n, 1);
      dst.copy_(t);
    }
    off += n;
  }
}

// Two passes over fixed blocks of the contiguous input: count per block, then write each block's
// coordinates at its prefix-sum position; row-major order whatever the number of threads.
Tensor nonzero_cpu(const Tensor& x) {
  const Tensor xc = x.contiguous();
  const int64_t n = xc.numel(), nd = xc.dim();
  constexpr int64_t kBlock = 65536;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<int64_t> start(nb + 1, 0);
  Tensor out;
  CNNKIT_DISPATCH_ALL(xc.dtype(), "nonzero", [&] {
    using S = scalar_t;
    const S* p = xc.data<S>();
    parallel_for(0, nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t c = 0;
        for (int64_t i = b * kBlock, e = std::min(n, (b + 1) * kBlock); i < e; ++i) c += p[i] != S(0);
        start[b + 1] = c;
      }
    });
    for (int64_t b = 0; b < nb; ++b) start[b + 1] += start[b];
    out = Tensor::empty({start[nb], nd}, DType::Int64);
    int64_t* coords = out.data<int64_t>();
    const Shape& shape = xc.shape();
    parallel_for(0, nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t pos = start[b];
        for (int64_t i = b * kBlock, e = std::min(n, (b + 1) * kBlock); i < e; ++i) {
          if (p[i] == S(0)) continue;
          int64_t rem = i;
          for (int64_t d = nd - 1; d >= 0; --d) {
            coords[pos * nd + d] = rem % shape[d];
            rem /= shape[d];
          }
          ++pos;
        }
      }
    });
  });
  return out;
}

}  // namespace cnnkit
