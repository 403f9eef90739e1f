// Reductions on the CPU. All kernels write (=) their outputs.
//
// Strategy (strided, no transposing copy). x's dims are split into kept dims (the output's index
// space, in x's order, so output element o is the o-th kept position in row-major order) and
// reduced dims (reordered by decreasing stride, so the innermost reduced dim is the densest);
// both groups are coalesced (StridedPlan). Then one of two loops runs:
//   * inner path (the common case: the densest reduced dim is innermost, e.g. sum over the last
//     dim, over H,W of NCHW, or everything): for each output, walk its reduced elements run by run
//     into 8 independent accumulators (a fixed interleave the compiler vectorises, and also a
//     pairwise-ish split that loses less precision than one running sum);
//   * outer path (x's innermost dim is kept and contiguous, e.g. sum over dim 0 of (N, C)): for a
//     tile of up to 256 adjacent outputs, add whole contiguous rows into a vector of accumulators,
//     so memory is read row by row instead of column by column.
// Parallelism without thread-dependent results: the reduced range of every output is cut into
// fixed-size blocks (16384 elements inner, 512 rows outer) chosen from the shapes alone; tasks are
// (output or output tile, block) pairs, each task writes its own partial, and partials are added
// in block order afterwards. The summation order therefore depends on the shapes and strides only.
//
// max/min along one dim use the same (output, block) task split: a block returns the first
// occurrence of its extreme (or its first NaN), and blocks are combined in order with strict
// comparisons, which gives exactly the sequential answer.
#include "ops/reduce.h"

#include <cmath>
#include <type_traits>

#include "core/parallel.h"
#include "ops/elementwise.h"

namespace cnnkit {
namespace {

constexpr int64_t kInnerBlock = 16384;  // reduced elements per task on the inner path
constexpr int64_t kOuterCols = 256;     // outputs per tile on the outer path
constexpr int64_t kOuterRows = 512;     // reduced rows per task on the outer path
constexpr int64_t kWorkGrain = 32768;   // elements of work below which a chunk stays on one thread

struct ReducePlan {
  StridedPlan<1> kept;  // output index space, x's strides, not reordered
  StridedPlan<1> red;   // reduced index space, x's strides, densest dim innermost
  int64_t n_out = 0, n_red = 0;
};

ReducePlan make_reduce_plan(const Tensor& x, const std::vector<bool>& reduce) {
  Shape ks, kst, rs, rst;
  for (int64_t d = 0; d < x.dim(); ++d) {
    (reduce[d] ? rs : ks).push_back(x.shape()[d]);
    (reduce[d] ? rst : kst).push_back(x.strides()[d]);
  }
  ReducePlan p;
  p.kept = make_plan<1>(ks, {kst}, false);
  p.red = make_plan<1>(rs, {rst}, true);
  p.n_out = shape_numel(ks);
  p.n_red = shape_numel(rs);
  return p;
}

// Element offsets of positions [0, numel) of a plan, filled in parallel.
std::vector<int64_t> plan_offsets(const StridedPlan<1>& p) {
  std::vector<int64_t> v(p.numel);
  parallel_for(0, p.numel, 65536, [&](int64_t b, int64_t e) {
    int64_t pos = b;
    for_each_run(p, b, e, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t i = 0; i < n; ++i) v[pos++] = off[0] + i * st[0];
    });
  });
  return v;
}

// f(offset, n, stride) for the runs of reduced positions [r0, r1); a 1-D reduced space (the usual
// case after coalescing) skips the general iterator.
template <class F>
void red_runs(const StridedPlan<1>& red, int64_t r0, int64_t r1, const F& f) {
  if (r0 >= r1) return;
  if (red.shape.size() == 1) {
    f(r0 * red.strides[0][0], r1 - r0, red.strides[0][0]);
    return;
  }
  for_each_run(red, r0, r1, [&](const int64_t* off, int64_t n, const int64_t* st) { f(off[0], n, st[0]); });
}

// Eight accumulators with a fixed interleave: element i of a run goes to acc[i % 8].
template <class S, class A>
struct Acc8 {
  A a[8] = {};
  void add_run(const S* p, int64_t n, int64_t st) {
    int64_t i = 0;
    if (st == 1) {
      for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) a[k] += static_cast<A>(p[i + k]);
    } else {
      for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) a[k] += static_cast<A>(p[(i + k) * st]);
    }
    for (int k = 0; i < n; ++i, ++k) a[k] += static_cast<A>(p[i * st]);
  }
  A total() const { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }
};

// out[o] = fin(sum of x over output o's reduced elements), A the accumulator type.
template <class S, class A, class O, class Fin>
void reduce_sum(O* out, const S* x, const ReducePlan& p, const Fin& fin) {
  const int64_t n_out = p.n_out, n_red = p.n_red;
  if (n_out == 0) return;
  const StridedPlan<1>& kp = p.kept;
  const int64_t kin = kp.shape.back();
  const bool outer = kin >= 4 && kp.strides[0].back() == 1 && n_red > 1 && p.red.strides[0].back() != 1;

  if (!outer) {
    const std::vector<int64_t> base = plan_offsets(kp);
    const int64_t nblk = std::max<int64_t>(1, (n_red + kInnerBlock - 1) / kInnerBlock);
    if (nblk == 1) {
      const int64_t grain = std::max<int64_t>(1, kWorkGrain / std::max<int64_t>(n_red, 1));
      parallel_for(0, n_out, grain, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          Acc8<S, A> acc;
          red_runs(p.red, 0, n_red, [&](int64_t off, int64_t n, int64_t st) { acc.add_run(x + base[o] + off, n, st); });
          out[o] = fin(acc.total());
        }
      });
      return;
    }
    std::vector<A> part(n_out * nblk);
    parallel_for(0, n_out * nblk, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / nblk, blk = t % nblk;
        Acc8<S, A> acc;
        red_runs(p.red, blk * kInnerBlock, std::min(n_red, (blk + 1) * kInnerBlock),
                 [&](int64_t off, int64_t n, int64_t st) { acc.add_run(x + base[o] + off, n, st); });
        part[t] = acc.total();
      }
    });
    parallel_for(0, n_out, 4096, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        A s = part[o * nblk];
        for (int64_t b = 1; b < nblk; ++b) s += part[o * nblk + b];
        out[o] = fin(s);
      }
    });
    return;
  }

  // Outer path: output tiles of kOuterCols contiguous kept positions, rows of reduced positions.
  const StridedPlan<1> rows_plan =
      make_plan<1>(Shape(kp.shape.begin(), kp.shape.end() - 1), {Shape(kp.strides[0].begin(), kp.strides[0].end() - 1)},
                   false);
  const std::vector<int64_t> row_base = plan_offsets(rows_plan);
  const int64_t n_rows = n_out / kin;
  const int64_t ncb = (kin + kOuterCols - 1) / kOuterCols;
  const int64_t nblk = (n_red + kOuterRows - 1) / kOuterRows;
  std::vector<A> part(nblk > 1 ? n_out * nblk : 0);
  const int64_t task_work = std::min(kin, kOuterCols) * std::min(n_red, kOuterRows);
  parallel_for(0, n_rows * ncb * nblk, std::max<int64_t>(1, kWorkGrain / task_work), [&](int64_t t0, int64_t t1) {
    A acc[kOuterCols];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t blk = t % nblk, cb = (t / nblk) % ncb, row = t / nblk / ncb;
      const int64_t c0 = cb * kOuterCols, w = std::min(kOuterCols, kin - c0);
      const S* xb = x + row_base[row] + c0;
      for (int64_t j = 0; j < w; ++j) acc[j] = A(0);
      red_runs(p.red, blk * kOuterRows, std::min(n_red, (blk + 1) * kOuterRows), [&](int64_t off, int64_t n, int64_t st) {
        // Four rows per sweep: a quarter of the accumulator loads/stores. Each acc[j] still adds
        // its rows in order, one at a time.
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          const S* r0 = xb + off + i * st;
          const S* r1 = r0 + st;
          const S* r2 = r1 + st;
          const S* r3 = r2 + st;
          for (int64_t j = 0; j < w; ++j)
            acc[j] = (((acc[j] + static_cast<A>(r0[j])) + static_cast<A>(r1[j])) + static_cast<A>(r2[j])) +
                     static_cast<A>(r3[j]);
        }
        for (; i < n; ++i) {
          const S* rp = xb + off + i * st;
          for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<A>(rp[j]);
        }
      });
      const int64_t o0 = row * kin + c0;
      if (nblk == 1) {
        for (int64_t j = 0; j < w; ++j) out[o0 + j] = fin(acc[j]);
      } else {
        for (int64_t j = 0; j < w; ++j) part[(o0 + j) * nblk + blk] = acc[j];
      }
    }
  });
  if (nblk > 1) {
    parallel_for(0, n_out, 4096, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        A s = part[o * nblk];
        for (int64_t b = 1; b < nblk; ++b) s += part[o * nblk + b];
        out[o] = fin(s);
      }
    });
  }
}

template <class S>
bool nan_(S v) {
  if constexpr (std::is_floating_point_v<S>) return v != v;
  else return false;
}

// First extreme (or first NaN) of p[r * st] for r in [r0, r1), r0 < r1.
template <bool IsMax, class S>
void scan_extreme(const S* p, int64_t st, int64_t r0, int64_t r1, S& best, int64_t& bi) {
  best = p[r0 * st];
  bi = r0;
  if (nan_(best)) return;
  for (int64_t r = r0 + 1; r < r1; ++r) {
    const S v = p[r * st];
    if (nan_(v)) {
      best = v;
      bi = r;
      return;
    }
    if (IsMax ? (v > best) : (v < best)) {
      best = v;
      bi = r;
    }
  }
}

template <bool IsMax, class S>
void max_min_dim(S* vals, int64_t* idxs, const S* x, const Tensor& xt, int64_t dim) {
  std::vector<bool> reduce(xt.dim(), false);
  reduce[dim] = true;
  const ReducePlan p = make_reduce_plan(xt, reduce);
  const int64_t n_out = p.n_out, n = xt.shape()[dim], st = xt.strides()[dim];
  if (n_out == 0) return;
  const std::vector<int64_t> base = plan_offsets(p.kept);
  const int64_t nblk = (n + kInnerBlock - 1) / kInnerBlock;
  auto emit = [&](int64_t o, S v, int64_t i) {
    if (vals) vals[o] = v;
    if (idxs) idxs[o] = i;
  };
  if (nblk == 1) {
    parallel_for(0, n_out, std::max<int64_t>(1, kWorkGrain / n), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        S v;
        int64_t i;
        scan_extreme<IsMax>(x + base[o], st, 0, n, v, i);
        emit(o, v, i);
      }
    });
    return;
  }
  std::vector<S> pv(n_out * nblk);
  std::vector<int64_t> pi(n_out * nblk);
  parallel_for(0, n_out * nblk, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, blk = t % nblk;
      S v;
      scan_extreme<IsMax>(x + base[o], st, blk * kInnerBlock, std::min(n, (blk + 1) * kInnerBlock), v, pi[t]);
      pv[t] = v;
    }
  });
  for (int64_t o = 0; o < n_out; ++o) {
    S best = pv[o * nblk];
    int64_t bi = pi[o * nblk];
    for (int64_t b = 1; b < nblk && !nan_(best); ++b) {
      const S v = pv[o * nblk + b];
      if (nan_(v) || (IsMax ? (v > best) : (v < best))) {
        best = v;
        bi = pi[o * nblk + b];
      }
    }
    emit(o, best, bi);
  }
}

}  // namespace

void sum_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  const ReducePlan p = make_reduce_plan(x, reduce);
  CNNKIT_DISPATCH_ALL(x.dtype(), "sum", [&] {
    using S = scalar_t;
    if constexpr (std::is_floating_point_v<S>) {
      reduce_sum<S, double>(out.data<S>(), x.data<S>(), p, [](double s) { return static_cast<S>(s); });
    } else {
      // Integers wrap modulo 2^64 (unsigned accumulation: signed overflow is undefined in C++).
      reduce_sum<S, uint64_t>(out.data<int64_t>(), x.data<S>(), p,
                              [](uint64_t s) { return static_cast<int64_t>(s); });
    }
  });
}

void mean_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  const ReducePlan p = make_reduce_plan(x, reduce);
  const double n = static_cast<double>(p.n_red);
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "mean", [&] {
    using S = scalar_t;
    reduce_sum<S, double>(out.data<S>(), x.data<S>(), p, [n](double s) { return static_cast<S>(s / n); });
  });
}

void sum_naive_cpu(const Tensor& out, const Tensor& x, const std::vector<bool>& reduce) {
  const int64_t nd = x.dim(), n = x.numel();
  CNNKIT_DISPATCH_ALL(x.dtype(), "sum_naive", [&] {
    using S = scalar_t;
    using A = std::conditional_t<std::is_floating_point_v<S>, double, uint64_t>;
    int64_t n_out = 1;
    for (int64_t d = 0; d < nd; ++d)
      if (!reduce[d]) n_out *= x.shape()[d];
    std::vector<A> acc(n_out, A(0));
    for (int64_t lin = 0; lin < n; ++lin) {
      int64_t rem = lin, xoff = 0, o = 0, ostride = 1;
      for (int64_t d = nd - 1; d >= 0; --d) {
        const int64_t i = rem % x.shape()[d];
        rem /= x.shape()[d];
        xoff += i * x.strides()[d];
        if (!reduce[d]) {
          o += i * ostride;
          ostride *= x.shape()[d];
        }
      }
      acc[o] += static_cast<A>(x.data<S>()[xoff]);
    }
    for (int64_t o = 0; o < n_out; ++o) {
      if constexpr (std::is_floating_point_v<S>) out.data<S>()[o] = static_cast<S>(acc[o]);
      else out.data<int64_t>()[o] = static_cast<int64_t>(acc[o]);
    }
  });
}

void max_min_dim_cpu(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim) {
  CNNKIT_DISPATCH_ALL(x.dtype(), "max_min_dim", [&] {
    using S = scalar_t;
    S* v = values.defined() ? values.data<S>() : nullptr;
    int64_t* i = indices.defined() ? indices.data<int64_t>() : nullptr;
    if (is_max) max_min_dim<true, S>(v, i, x.data<S>(), x, dim);
    else max_min_dim<false, S>(v, i, x.data<S>(), x, dim);
  });
}

// ---------------------------------------------------------------------------------------------
// Scans (cumsum, cumprod): lines x[o, :, i] in parallel, each walked sequentially, so the result
// does not depend on the thread count. Accumulator A: double for float dtypes, int64 otherwise.
// ---------------------------------------------------------------------------------------------
namespace {

template <class S, class A, bool kProd>
void scan_lines(S* out, const S* x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  const int64_t lines = outer * inner;
  if (lines == 0 || n == 0) return;
  parallel_for(0, lines, std::max<int64_t>(1, 32768 / n), [&](int64_t b, int64_t e) {
    for (int64_t l = b; l < e; ++l) {
      const int64_t base = (l / inner) * n * inner + l % inner;
      A acc = kProd ? A(1) : A(0);
      for (int64_t t = 0; t < n; ++t) {
        const int64_t j = base + (reverse ? n - 1 - t : t) * inner;
        if constexpr (std::is_integral_v<A>) {
          const uint64_t u = static_cast<uint64_t>(acc), v = static_cast<uint64_t>(static_cast<A>(x[j]));
          acc = static_cast<A>(kProd ? u * v : u + v);
        } else {
          acc = kProd ? acc * static_cast<A>(x[j]) : acc + static_cast<A>(x[j]);
        }
        out[j] = static_cast<S>(acc);
      }
    }
  });
}

template <bool kProd>
void scan_dispatch(const char* op, const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                   bool reverse) {
  switch (x.dtype()) {
    case DType::Float32:
      return scan_lines<float, double, kProd>(out.data<float>(), x.data<float>(), outer, n, inner, reverse);
    case DType::Float64:
      return scan_lines<double, double, kProd>(out.data<double>(), x.data<double>(), outer, n, inner, reverse);
    case DType::Int64:
      return scan_lines<int64_t, int64_t, kProd>(out.data<int64_t>(), x.data<int64_t>(), outer, n, inner, reverse);
    default: throw TypeError(str(op, ": expected a float32, float64 or int64 tensor, got ", dtype_name(x.dtype())));
  }
}

}  // namespace

void cumsum_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  scan_dispatch<false>("cumsum", out, x, outer, n, inner, reverse);
}

void cumprod_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  scan_dispatch<true>("cumprod", out, x, outer, n, inner, false);
}

void cumprod_backward_cpu(const Tensor& dx, const Tensor& dout, const Tensor& x, int64_t outer, int64_t n,
                          int64_t inner) {
  const int64_t lines = outer * inner;
  if (lines == 0 || n == 0) return;
  CNNKIT_DISPATCH_FLOATING(x.dtype(), "cumprod_backward", [&] {
    using S = scalar_t;
    S* o = dx.data<S>();
    const S* g = dout.data<S>();
    const S* xp = x.data<S>();
    parallel_for(0, lines, std::max<int64_t>(1, 32768 / n), [&](int64_t b, int64_t e) {
      for (int64_t l = b; l < e; ++l) {
        const int64_t base = (l / inner) * n * inner + l % inner;
        // Backward pass: dx[i] holds S[i] = dout[i] + x[i+1] * S[i+1].
        double acc = 0.0;
        for (int64_t i = n - 1; i >= 0; --i) {
          const int64_t j = base + i * inner;
          acc = static_cast<double>(g[j]) + (i == n - 1 ? 0.0 : static_cast<double>(xp[j + inner]) * acc);
          o[j] = static_cast<S>(acc);
        }
        // Forward pass: multiply by the exclusive prefix product x[0] * ... * x[i-1].
        double pre = 1.0;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t j = base + i * inner;
          o[j] = static_cast<S>(pre * static_cast<double>(o[j]));
          pre *= static_cast<double>(xp[j]);
        }
      }
    });
  });
}

}  // namespace cnnkit
