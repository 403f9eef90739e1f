// Spatial grid sampling, CUDA twin of grid_sample.cpp (coordinate rules and taps in grid_sample.h,
// evaluated here per thread by the same CNNKIT_HD functions). Backward WRITES (=) dinp and dgrid.
//
// Thread mapping: grid-stride loops, one thread per OUTPUT location (n, oh, ow) looping over the
// channels, in the forward and in the backward: the taps of a location are computed once and
// applied to all C planes, as on the CPU.
// Input gradient: ATOMICS. The adjoint is a scatter (two locations may read one input pixel) and
// the grid is arbitrary, so there is no cheap gather formulation (the set of locations reading a
// pixel is not a range as in upsample); dinp is zero-filled with cudaMemsetAsync and each thread
// atomicAdds weight * dout into the pixels its location read, as PyTorch's CUDA kernel does. The
// float32 sums may therefore differ in the last bits between runs when locations overlap (the CPU
// twin is deterministic). Grid gradient: each thread owns its location's two values (no atomics).
#include "core/cuda_utils.cuh"
#include "ops/grid_sample_cuda.h"

namespace cnnkit {

namespace {

template <class T>
__global__ void grid_sample_forward_kernel(T* __restrict__ out, const T* __restrict__ inp,
                                           const T* __restrict__ grid, GridSampleParams p) {
  const int64_t L = p.OH * p.OW, HW = p.H * p.W, total = p.N * L;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t n = i / L, l = i % L;
    GridTaps<T> t;
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
}

template <class T>
__global__ void grid_sample_backward_kernel(T* __restrict__ dinp, T* __restrict__ dgrid, const T* __restrict__ dout,
                                            const T* __restrict__ inp, const T* __restrict__ grid,
                                            GridSampleParams p) {
  const int64_t L = p.OH * p.OW, HW = p.H * p.W, total = p.N * L;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool grid_grad = dgrid != nullptr && p.mode != GridSampleMode::Nearest;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t n = i / L, l = i % L;
    GridTaps<T> t;
    grid_sample_taps<T>(p, grid[2 * i], grid[2 * i + 1], &t);
    const T* x = inp + n * p.C * HW;
    const T* go = dout + n * p.C * L + l;
    T* dx = dinp != nullptr ? dinp + n * p.C * HW : nullptr;
    T gx = 0, gy = 0;
    for (int64_t c = 0; c < p.C; ++c, x += HW, go += L) {
      const T gv = *go;
      for (int k = 0; k < t.n; ++k) {
        if (t.idx[k] < 0) continue;
        if (dx != nullptr) atomicAdd(dx + c * HW + t.idx[k], t.w[k] * gv);
        if (grid_grad) {
          const T v = x[t.idx[k]] * gv;
          gx += v * t.dwx[k];
          gy += v * t.dwy[k];
        }
      }
    }
    if (dgrid != nullptr) {
      dgrid[2 * i] = grid_grad ? t.mx * gx : T(0);
      dgrid[2 * i + 1] = grid_grad ? t.my * gy : T(0);
    }
  }
}

}  // namespace

template <class T>
void grid_sample_forward_cuda(T* out, const T* inp, const T* grid, const GridSampleParams& p, int device) {
  const int64_t total = p.N * p.OH * p.OW;
  if (total == 0 || p.C == 0) return;
  CudaDeviceGuard guard(device);
  grid_sample_forward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(out, inp, grid, p);
  CNNKIT_CUDA_KERNEL_CHECK("grid_sample");
}

template <class T>
void grid_sample_backward_cuda(T* dinp, T* dgrid, const T* dout, const T* inp, const T* grid,
                               const GridSampleParams& p, int device) {
  CudaDeviceGuard guard(device);
  if (dinp != nullptr && p.N * p.C * p.H * p.W > 0)
    CNNKIT_CUDA_CHECK(cudaMemsetAsync(dinp, 0, sizeof(T) * p.N * p.C * p.H * p.W), "grid_sample_backward");
  const int64_t total = p.N * p.OH * p.OW;
  if (total == 0) return;
  if (p.C == 0) {  // nothing to gather: the grid gradient is zero
    if (dgrid != nullptr) CNNKIT_CUDA_CHECK(cudaMemsetAsync(dgrid, 0, sizeof(T) * total * 2), "grid_sample_backward");
    return;
  }
  grid_sample_backward_kernel<T><<<blocks_for(total), kThreadsPerBlock>>>(dinp, dgrid, dout, inp, grid, p);
  CNNKIT_CUDA_KERNEL_CHECK("grid_sample_backward");
}

#define CNNKIT_GRID_SAMPLE_CUDA_INSTANTIATE(T)                                                             \
  template void grid_sample_forward_cuda<T>(T*, const T*, const T*, const GridSampleParams&, int);         \
  template void grid_sample_backward_cuda<T>(T*, T*, const T*, const T*, const T*, const GridSampleParams&, \
                                             int);
CNNKIT_GRID_SAMPLE_CUDA_INSTANTIATE(float)
CNNKIT_GRID_SAMPLE_CUDA_INSTANTIATE(double)
#undef CNNKIT_GRID_SAMPLE_CUDA_INSTANTIATE

}  // namespace cnnkit
