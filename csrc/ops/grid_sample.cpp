// Spatial grid sampling, CPU kernels (coordinate rules and taps in grid_sample.h).
// Backward WRITES (=) dinp and dgrid.
//
// Strategy:
//  - Forward: parallel_for over the N * OH * OW output locations, channels inner: each location
//    reads its grid point once, computes its taps (1 nearest, 4 bilinear, 16 bicubic: indices
//    into the H * W plane and weights) once, and applies them to all C channel planes.
//  - Input gradient: the adjoint of the forward is a SCATTER (output location -> the input pixels
//    it read), and two locations may read the same pixel, so parallelising over locations would
//    race. Instead the work is split into (image n, block of channels) tasks, each owning the
//    dinp planes it writes: it zero-fills them and walks all OH * OW locations of image n in order,
//    adding weight * dout into its planes. No atomics, no per-thread buffers, and every dinp element
//    is summed in the same order (location, then tap) whatever the thread count or the blocking,
//    so the result is deterministic. The number of channel blocks is chosen so there are about
//    2 tasks per thread (whole images when N is large: the taps are computed once per location);
//    with N < threads, channels are split and the taps recomputed per block (cheap next to C reads).
//  - Grid gradient: a GATHER, parallel over locations like the forward: for each channel, the
//    input values under the taps times d(weight)/d(coordinate) times dout, summed over channels,
//    times the coordinate map's derivative. nearest: zeros (torch's convention).
#include "ops/grid_sample.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

namespace cnnkit {

namespace {
constexpr int64_t kGrainWork = 1 << 14;  // multiply-adds below which a loop runs serially

int taps_per_location(GridSampleMode m) {
  return m == GridSampleMode::Bicubic ? 16 : (m == GridSampleMode::Bilinear ? 4 : 1);
}

int64_t location_grain(const GridSampleParams& p) {
  return std::max<int64_t>(1, kGrainWork / std::max<int64_t>(1, p.C * taps_per_location(p.mode)));
}
}  // namespace

template <class T>
void grid_sample_forward(T* out, const T* inp, const T* grid, const GridSampleParams& p) {
  const int64_t L = p.OH * p.OW, HW = p.H * p.W;
  parallel_for(0, p.N * L, location_grain(p), [&](int64_t b, int64_t e) {
    GridTaps<T> t;
    for (int64_t i = b; i < e; ++i) {
      const int64_t n = i / L, l = i % L;
      grid_sample_taps<T>(p, grid[2 * i], grid[2 * i + 1], &t);
      const T* x = inp + n * p.C * HW;
      T* y = out + n * p.C * L + l;
      for (int64_t c = 0; c < p.C; ++c, x += HW, y += L) {
        T acc = 0;
        for (int k = 0; k < t.n; ++k)
          if (t.idx[k] >= 0) acc += x[t.idx[k]] * t.w[k];
        *y = acc;
      }
    }
  });
}

template <class T>
void grid_sample_backward(T* dinp, T* dgrid, const T* dout, const T* inp, const T* grid, const GridSampleParams& p) {
  const int64_t L = p.OH * p.OW, HW = p.H * p.W;
  if (dinp != nullptr && p.N * p.C > 0) {
    const int64_t threads = get_num_threads();
    const int64_t blocks = std::min<int64_t>(p.C, std::max<int64_t>(1, (2 * threads + p.N - 1) / p.N));
    const int64_t per = (p.C + blocks - 1) / blocks;
    const int64_t work = p.N * p.C * std::max<int64_t>(L, HW) * taps_per_location(p.mode);
    const int64_t tasks = p.N * blocks;
    parallel_for(0, tasks, work < kGrainWork ? tasks : 0, [&](int64_t b, int64_t e) {
      GridTaps<T> t;
      for (int64_t task = b; task < e; ++task) {
        const int64_t n = task / blocks, c0 = (task % blocks) * per, c1 = std::min(p.C, c0 + per);
        if (c0 >= c1) continue;
        T* dx = dinp + (n * p.C + c0) * HW;
        std::fill(dx, dx + (c1 - c0) * HW, T(0));
        const T* g = grid + n * L * 2;
        const T* go = dout + (n * p.C + c0) * L;
        for (int64_t l = 0; l < L; ++l) {
          grid_sample_taps<T>(p, g[2 * l], g[2 * l + 1], &t);
          for (int64_t c = 0; c < c1 - c0; ++c) {
            const T gv = go[c * L + l];
            T* d = dx + c * HW;
            for (int k = 0; k < t.n; ++k)
              if (t.idx[k] >= 0) d[t.idx[k]] += t.w[k] * gv;
          }
        }
      }
    });
  }
  if (dgrid == nullptr) return;
  if (p.mode == GridSampleMode::Nearest) {
    std::fill(dgrid, dgrid + p.N * L * 2, T(0));
    return;
  }
  parallel_for(0, p.N * L, location_grain(p), [&](int64_t b, int64_t e) {
    GridTaps<T> t;
    for (int64_t i = b; i < e; ++i) {
      const int64_t n = i / L, l = i % L;
      grid_sample_taps<T>(p, grid[2 * i], grid[2 * i + 1], &t);
      const T* x = inp + n * p.C * HW;
      const T* go = dout + n * p.C * L + l;
      T gx = 0, gy = 0;
      for (int64_t c = 0; c < p.C; ++c, x += HW, go += L) {
        const T gv = *go;
        for (int k = 0; k < t.n; ++k)
          if (t.idx[k] >= 0) {
            const T v = x[t.idx[k]] * gv;
            gx += v * t.dwx[k];
            gy += v * t.dwy[k];
          }
      }
      dgrid[2 * i] = t.mx * gx;
      dgrid[2 * i + 1] = t.my * gy;
    }
  });
}

#define CNNKIT_GRID_SAMPLE_INSTANTIATE(T)                                                   \
  template void grid_sample_forward<T>(T*, const T*, const T*, const GridSampleParams&); \
  template void grid_sample_backward<T>(T*, T*, const T*, const T*, const T*, const GridSampleParams&);
CNNKIT_GRID_SAMPLE_INSTANTIATE(float)
CNNKIT_GRID_SAMPLE_INSTANTIATE(double)
#undef CNNKIT_GRID_SAMPLE_INSTANTIATE

}  // namespace cnnkit
