// Sort / topk along one dim on CUDA, twin of ops/sort.cpp (same layout, same total order: key with
// NaN greatest, then original position; see sort.h). Writes (=) values and indices; no atomics.
//
// Algorithm: a bitonic sorting network (Batcher 1968) over each line padded to P = next power of
// two >= n with sentinel entries (position -1) that order after every real element. Because the
// comparator is a strict total order, the network's output equals the CPU's stable sort exactly.
// topk sorts the whole line and keeps the first k (simple and correct, not the fastest selection).
//   * P <= 2048 (kSharedMax): one block per line; the line is loaded into shared memory as
//     (key, position) pairs and every compare-exchange stage runs in that block between
//     __syncthreads(). A block of min(P/2, 1024) threads; each thread owns pairs (i, i ^ j).
//   * P > 2048: the line is copied into a global scratch buffer (lines * P pairs) and each of the
//     log2(P)(log2(P)+1)/2 stages is one grid-wide kernel over all lines' pairs.
// Limits: O(n log^2 n) work per line; the scratch of the large path costs lines * P * (sizeof(key)
// + 8) bytes of device memory; one-line sorts of huge n use one launch per stage.
#include <cstdint>
#include <type_traits>

#include "core/cuda_utils.cuh"
#include "core/dtype.h"
#include "ops/sort_cuda.h"

namespace cnnkit {
namespace {

constexpr int64_t kSharedMax = 2048;

template <class S>
__device__ __forceinline__ bool d_key_nan(S v) {
  if constexpr (std::is_floating_point<S>::value) return v != v;
  else return false;
}

// (a, ia) before (b, ib)? Sentinels (position < 0) come last; NaN is the greatest key.
template <class S>
__device__ __forceinline__ bool d_before(S a, int64_t ia, S b, int64_t ib, bool desc) {
  if (ia < 0 || ib < 0) return ib < 0 && ia >= 0;
  const bool an = d_key_nan(a), bn = d_key_nan(b);
  if (an || bn) {
    if (an && bn) return ia < ib;
    return desc ? an : bn;
  }
  if (a != b) return desc ? b < a : a < b;
  return ia < ib;
}

// One compare-exchange of the network: positions i < l = i ^ j inside a block of size kk sorted
// ascending in the network's sense when (i & kk) == 0.
template <class S>
__device__ __forceinline__ void d_exchange(S* key, int64_t* pos, int64_t i, int64_t l, int64_t kk, bool desc) {
  const bool up = (i & kk) == 0;
  const bool swap =
      up ? d_before(key[l], pos[l], key[i], pos[i], desc) : d_before(key[i], pos[i], key[l], pos[l], desc);
  if (swap) {
    const S tk = key[i];
    key[i] = key[l];
    key[l] = tk;
    const int64_t tp = pos[i];
    pos[i] = pos[l];
    pos[l] = tp;
  }
}

// Small lines: one block per line (grid-stride over lines), the whole network in shared memory.
template <class S>
__global__ void sort_shared_kernel(S* values, int64_t* indices, const S* x, int64_t lines, int64_t n, int64_t inner,
                                   int64_t k, int64_t P, bool desc) {
  extern __shared__ unsigned char smem[];
  int64_t* pos = reinterpret_cast<int64_t*>(smem);
  S* key = reinterpret_cast<S*>(smem + P * sizeof(int64_t));
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const int64_t o = line / inner, in = line % inner;
    const S* src = x + o * n * inner + in;
    for (int64_t i = threadIdx.x; i < P; i += blockDim.x) {
      if (i < n) {
        key[i] = src[i * inner];
        pos[i] = i;
      } else {
        key[i] = S(0);
        pos[i] = -1;
      }
    }
    __syncthreads();
    for (int64_t kk = 2; kk <= P; kk <<= 1) {
      for (int64_t j = kk >> 1; j > 0; j >>= 1) {
        for (int64_t t = threadIdx.x; t < P / 2; t += blockDim.x) {
          const int64_t i = 2 * j * (t / j) + (t % j);
          d_exchange(key, pos, i, i + j, kk, desc);
        }
        __syncthreads();
      }
    }
    S* vd = values + o * k * inner + in;
    int64_t* id = indices + o * k * inner + in;
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
      vd[i * inner] = key[i];
      id[i * inner] = pos[i];
    }
    __syncthreads();  // the next line reuses shared memory
  }
}

#define CNNKIT_SORT_GRID_STRIDE(i, n)                                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,                        \
               _step = static_cast<int64_t>(gridDim.x) * blockDim.x;                                    \
       i < (n); i += _step)

// Large lines: scratch (lines, P) pairs.
template <class S>
__global__ void sort_load_kernel(S* key, int64_t* pos, const S* x, int64_t lines, int64_t n, int64_t inner,
                                 int64_t P) {
  CNNKIT_SORT_GRID_STRIDE(q, lines * P) {
    const int64_t line = q / P, i = q % P;
    const int64_t o = line / inner, in = line % inner;
    if (i < n) {
      key[q] = x[o * n * inner + in + i * inner];
      pos[q] = i;
    } else {
      key[q] = S(0);
      pos[q] = -1;
    }
  }
}

template <class S>
__global__ void sort_stage_kernel(S* key, int64_t* pos, int64_t lines, int64_t P, int64_t kk, int64_t j, bool desc) {
  const int64_t half = P / 2;
  CNNKIT_SORT_GRID_STRIDE(q, lines * half) {
    const int64_t line = q / half, t = q % half;
    const int64_t i = 2 * j * (t / j) + (t % j);
    d_exchange(key + line * P, pos + line * P, i, i + j, kk, desc);
  }
}

template <class S>
__global__ void sort_store_kernel(S* values, int64_t* indices, const S* key, const int64_t* pos, int64_t lines,
                                  int64_t inner, int64_t k, int64_t P) {
  CNNKIT_SORT_GRID_STRIDE(q, lines * k) {
    const int64_t line = q / k, i = q % k;
    const int64_t o = line / inner, in = line % inner;
    values[o * k * inner + in + i * inner] = key[line * P + i];
    indices[o * k * inner + in + i * inner] = pos[line * P + i];
  }
}

}  // namespace

void sort_cuda(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
               int64_t k, bool descending) {
  const int64_t lines = outer * inner;
  if (lines == 0 || k == 0) return;
  CudaDeviceGuard guard(x.device().index);
  int64_t P = 1;
  while (P < n) P <<= 1;
  CNNKIT_DISPATCH_ALL(x.dtype(), "sort", [&] {
    using S = scalar_t;
    S* vp = static_cast<S*>(values.data_ptr());
    int64_t* ip = indices.data<int64_t>();
    const S* xp = static_cast<const S*>(x.data_ptr());
    if (P <= kSharedMax) {
      const int threads = static_cast<int>(P / 2 < 32 ? 32 : (P / 2 > 1024 ? 1024 : P / 2));
      const size_t shmem = static_cast<size_t>(P) * (sizeof(int64_t) + sizeof(S));
      const unsigned int blocks = static_cast<unsigned int>(lines < 65535 * 8 ? lines : 65535 * 8);
      sort_shared_kernel<S><<<blocks, threads, shmem>>>(vp, ip, xp, lines, n, inner, k, P, descending);
      CNNKIT_CUDA_KERNEL_CHECK("sort()");
      return;
    }
    // Scratch through the tensor allocator (the caching allocator on CUDA), freed at scope exit.
    Tensor skey = Tensor::empty({lines, P}, x.dtype(), x.device());
    Tensor spos = Tensor::empty({lines, P}, DType::Int64, x.device());
    S* kp = static_cast<S*>(skey.data_ptr());
    int64_t* pp = spos.data<int64_t>();
    sort_load_kernel<S><<<blocks_for(lines * P), kThreadsPerBlock>>>(kp, pp, xp, lines, n, inner, P);
    CNNKIT_CUDA_KERNEL_CHECK("sort()");
    for (int64_t kk = 2; kk <= P; kk <<= 1) {
      for (int64_t j = kk >> 1; j > 0; j >>= 1) {
        sort_stage_kernel<S><<<blocks_for(lines * (P / 2)), kThreadsPerBlock>>>(kp, pp, lines, P, kk, j, descending);
        CNNKIT_CUDA_KERNEL_CHECK("sort()");
      }
    }
    sort_store_kernel<S><<<blocks_for(lines * k), kThreadsPerBlock>>>(vp, ip, kp, pp, lines, inner, k, P);
    CNNKIT_CUDA_KERNEL_CHECK("sort()");
  });
}

}  // namespace cnnkit
