// CUDA GEMM (see gemm_cuda.h for the contract). Every kernel *writes* C = alpha*op(A)op(B) + beta*C
// (beta = 1 accumulates, +=); beta == 0 never reads C. No atomics: each C element is owned by one
// thread, which sums its K products in increasing k, so results are deterministic.
//
// Fast kernel: shared-memory tiling + register blocking, following the progression in Simon Boehm,
// "How to optimize a CUDA matmul kernel for cuBLAS-like performance" (2022) (our own code).
//
//   Block tile. A thread block owns a BM x BN tile of C (128 x 128 for float, 64 x 64 for double and
//   for small problems, where 128-tiles would leave most SMs idle). It walks K in steps of BK = 8:
//   the BM x BK slice of op(A) and the BK x BN slice of op(B) are staged in shared memory, both stored
//   k-major (As[k][m], Bs[k][n]), then every thread reads them to update its accumulators. Each
//   element of A and B is thus read from global memory BN resp. BM times less often than in the naive
//   kernel.
//
//   Register tile. The block has 256 threads in a TY x TX = 16 x 16 grid; thread (ty, tx) owns the
//   TM x TN = 8 x 8 (or 4 x 4) elements of C at rows ty + 16*i and columns tx + 16*j of the tile. For
//   each k it loads TM values of A and TN values of B into registers and does TM*TN multiply-adds:
//   an outer product, so each shared-memory load feeds TN (or TM) FMAs. The strided ownership
//   (rather than a contiguous 8 x 8 square) keeps shared-memory reads conflict-free (16 consecutive
//   tx read 16 consecutive words of Bs; ty is uniform per half-warp, a broadcast in As) and makes the
//   final stores of C coalesced (consecutive tx write consecutive columns).
//
//   Transposes are handled while loading the tiles: whatever the storage of A (M x K or K x M) and B
//   (K x N or N x K), the tile is written k-major into shared memory, with thread indices mapped so
//   that consecutive threads read consecutive addresses of the stored matrix. When a tile lies fully
//   inside the matrices and the operand is 16-byte aligned with a leading dimension divisible by 4,
//   float tiles are loaded with float4 (one 16-byte load per thread per tile). Edge tiles (any M, N,
//   K) load element by element with bounds checks, filling zeros outside the matrix, and the store of
//   C checks bounds, so no size is special.
//   As rows are padded by 4 elements: a column of As (fixed m, 8 values of k) written by the
//   non-transposed loaders then falls in 8 different banks, and rows stay 16-byte aligned.
//
// Naive kernel (reference): one thread per element of C, the dot product in increasing k.
#include "core/cuda_utils.cuh"
#include "ops/gemm_cuda.h"

#include <algorithm>
#include <climits>
#include <type_traits>

namespace cnnkit {
namespace {

constexpr int kMaxGridYZ = 65535;

template <class T, int BM, int BN, int BK, int TM, int TN>
struct TileConfig {
  static constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
  static constexpr int APAD = 4;
  static_assert(BM % TM == 0 && BN % TN == 0 && BK % 4 == 0 && BM % 4 == 0 && BN % 4 == 0, "tile shape");
};

// Loads the BM x BK tile of op(A) starting at (m0, k0) into As[k][m] (zeros outside the matrix).
template <class T, int BM, int BK, int PITCH, int NT>
__device__ __forceinline__ void load_a_tile(T (*As)[PITCH], const T* __restrict__ A, int64_t lda, bool trans_a,
                                            int M, int K, int m0, int k0, bool vec, int tid) {
  const bool full = m0 + BM <= M && k0 + BK <= K;
  if constexpr (std::is_same<T, float>::value) {
    if (vec && full) {
      if (!trans_a) {
        // Stored (M, K): row m has BK contiguous k values, BK/4 float4 per row.
        for (int e = tid; e < BM * BK / 4; e += NT) {
          const int m = e / (BK / 4), kq = (e % (BK / 4)) * 4;
          const float4 v = *reinterpret_cast<const float4*>(A + int64_t(m0 + m) * lda + (k0 + kq));
          As[kq + 0][m] = v.x;
          As[kq + 1][m] = v.y;
          As[kq + 2][m] = v.z;
          As[kq + 3][m] = v.w;
        }
      } else {
        // Stored (K, M): row k has BM contiguous m values, copied as float4 into As[k][m..m+3].
        for (int e = tid; e < BM * BK / 4; e += NT) {
          const int k = e / (BM / 4), mq = (e % (BM / 4)) * 4;
          *reinterpret_cast<float4*>(&As[k][mq]) =
              *reinterpret_cast<const float4*>(A + int64_t(k0 + k) * lda + (m0 + mq));
        }
      }
      return;
    }
  }
  if (!trans_a) {
    for (int e = tid; e < BM * BK; e += NT) {
      const int m = e / BK, k = e % BK, gm = m0 + m, gk = k0 + k;
      As[k][m] = (gm < M && gk < K) ? A[int64_t(gm) * lda + gk] : T(0);
    }
  } else {
    for (int e = tid; e < BM * BK; e += NT) {
      const int k = e / BM, m = e % BM, gm = m0 + m, gk = k0 + k;
      As[k][m] = (gm < M && gk < K) ? A[int64_t(gk) * lda + gm] : T(0);
    }
  }
}

// Loads the BK x BN tile of op(B) starting at (k0, n0) into Bs[k][n] (zeros outside the matrix).
template <class T, int BN, int BK, int PITCH, int NT>
__device__ __forceinline__ void load_b_tile(T (*Bs)[PITCH], const T* __restrict__ B, int64_t ldb, bool trans_b,
                                            int N, int K, int n0, int k0, bool vec, int tid) {
  const bool full = n0 + BN <= N && k0 + BK <= K;
  if constexpr (std::is_same<T, float>::value) {
    if (vec && full) {
      if (!trans_b) {
        // Stored (K, N): row k has BN contiguous n values.
        for (int e = tid; e < BN * BK / 4; e += NT) {
          const int k = e / (BN / 4), nq = (e % (BN / 4)) * 4;
          *reinterpret_cast<float4*>(&Bs[k][nq]) =
              *reinterpret_cast<const float4*>(B + int64_t(k0 + k) * ldb + (n0 + nq));
        }
      } else {
        // Stored (N, K): row n has BK contiguous k values.
        for (int e = tid; e < BN * BK / 4; e += NT) {
          const int n = e / (BK / 4), kq = (e % (BK / 4)) * 4;
          const float4 v = *reinterpret_cast<const float4*>(B + int64_t(n0 + n) * ldb + (k0 + kq));
          Bs[kq + 0][n] = v.x;
          Bs[kq + 1][n] = v.y;
          Bs[kq + 2][n] = v.z;
          Bs[kq + 3][n] = v.w;
        }
      }
      return;
    }
  }
  if (!trans_b) {
    for (int e = tid; e < BN * BK; e += NT) {
      const int k = e / BN, n = e % BN, gn = n0 + n, gk = k0 + k;
      Bs[k][n] = (gn < N && gk < K) ? B[int64_t(gk) * ldb + gn] : T(0);
    }
  } else {
    for (int e = tid; e < BN * BK; e += NT) {
      const int n = e / BK, k = e % BK, gn = n0 + n, gk = k0 + k;
      Bs[k][n] = (gn < N && gk < K) ? B[int64_t(gn) * ldb + gk] : T(0);
    }
  }
}

// Grid: x over column tiles, y over row tiles, z over the batch. Block: TX*TY threads.
template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    gemm_tiled_kernel(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* __restrict__ A,
                      int64_t lda, int64_t sa, const T* __restrict__ B, int64_t ldb, int64_t sb, T beta,
                      T* __restrict__ C, int64_t ldc, int64_t sc, bool vec_a, bool vec_b) {
  using Cfg = TileConfig<T, BM, BN, BK, TM, TN>;
  constexpr int TX = Cfg::TX, TY = Cfg::TY, NT = Cfg::NT;
  __shared__ __align__(16) T As[BK][BM + Cfg::APAD];
  __shared__ __align__(16) T Bs[BK][BN];

  const int64_t z = blockIdx.z;
  A += z * sa;
  B += z * sb;
  C += z * sc;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  for (int k0 = 0; k0 < K; k0 += BK) {
    load_a_tile<T, BM, BK, BM + Cfg::APAD, NT>(As, A, lda, trans_a, M, K, m0, k0, vec_a, tid);
    load_b_tile<T, BN, BK, BN, NT>(Bs, B, ldb, trans_b, N, K, n0, k0, vec_b, tid);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      T a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty + TY * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + TX * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();  // the next iteration overwrites the tiles
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty + TY * i;
    if (m >= M) continue;
    T* crow = C + int64_t(m) * ldc;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int n = n0 + tx + TX * j;
      if (n >= N) continue;
      crow[n] = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * crow[n];
    }
  }
}

// Reference: thread (x, y) of the 2-D grid computes C[y, x] of batch entry z.
template <class T>
__global__ void gemm_naive_kernel(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* __restrict__ A,
                                  int64_t lda, int64_t sa, const T* __restrict__ B, int64_t ldb, int64_t sb, T beta,
                                  T* __restrict__ C, int64_t ldc, int64_t sc) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int m = blockIdx.y * blockDim.y + threadIdx.y;
  if (m >= M || n >= N) return;
  const int64_t z = blockIdx.z;
  A += z * sa;
  B += z * sb;
  C += z * sc;
  T acc = T(0);
  for (int k = 0; k < K; ++k) {
    const T a = trans_a ? A[int64_t(k) * lda + m] : A[int64_t(m) * lda + k];
    const T b = trans_b ? B[int64_t(n) * ldb + k] : B[int64_t(k) * ldb + n];
    acc += a * b;
  }
  T& c = C[int64_t(m) * ldc + n];
  c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
}

// C = beta * C, or 0 without reading C when beta == 0 (K == 0 or alpha == 0). Grid-stride over
// batch*M*N elements, one element per iteration.
template <class T>
__global__ void gemm_scale_kernel(int64_t batch, int64_t M, int64_t N, T beta, T* __restrict__ C, int64_t ldc,
                                  int64_t sc) {
  const int64_t total = batch * M * N;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t z = idx / (M * N), r = idx % (M * N), m = r / N, n = r % N;
    T& c = C[z * sc + m * ldc + n];
    c = beta == T(0) ? T(0) : beta * c;
  }
}

void check_int_range(const char* op, int64_t M, int64_t N, int64_t K) {
  CNNKIT_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX, ValueError, op,
               ": matrix dimensions above 2^31-1 are not supported on CUDA, got M=", M, ", N=", N, ", K=", K);
}

template <class T>
bool aligned16(const T* p, int64_t ld, int64_t stride) {
  return std::is_same<T, float>::value && reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 4 == 0 && stride % 4 == 0;
}

// Row-tile and batch counts above the 65,535 limit of gridDim.y / gridDim.z are split into several launches
// (a host loop over row chunks and batch chunks: each launch sees a sub-matrix of op(A) and C), so an
// (4194305 x 1) . (1 x 1) product works on CUDA as it does on the CPU.
template <class T, int BM, int BN, int BK, int TM, int TN>
void launch_tiled(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc,
                  int64_t sc) {
  const int64_t gx = (N + BN - 1) / BN;
  CNNKIT_CHECK(gx <= INT_MAX, ValueError, "gemm: matrix too large for the CUDA grid (N=", N, ")");
  const bool vec_a = aligned16(A, lda, sa), vec_b = aligned16(B, ldb, sb);
  constexpr int threads = (BM / TM) * (BN / TN);
  constexpr int64_t rows_per_launch = int64_t(kMaxGridYZ) * BM;
  for (int64_t m0 = 0; m0 < M; m0 += rows_per_launch) {
    const int64_t mc = std::min<int64_t>(rows_per_launch, M - m0);
    const int64_t a_off = trans_a ? m0 : m0 * lda;  // row m0 of op(A)
    const int64_t gy = (mc + BM - 1) / BM;
    for (int64_t z0 = 0; z0 < batch; z0 += kMaxGridYZ) {
      const int64_t nz = std::min<int64_t>(kMaxGridYZ, batch - z0);
      const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(nz));
      const int64_t ao = z0 * sa + a_off, bo = z0 * sb;
      gemm_tiled_kernel<T, BM, BN, BK, TM, TN><<<grid, threads>>>(
          trans_a, trans_b, int(mc), int(N), int(K), alpha, A + ao, lda, sa, B + bo, ldb, sb, beta,
          C + z0 * sc + m0 * ldc, ldc, sc, vec_a && ao % 4 == 0, vec_b && bo % 4 == 0);
      CNNKIT_CUDA_KERNEL_CHECK("gemm");
    }
  }
}

template <class T>
void launch_scale(int64_t batch, int64_t M, int64_t N, T beta, T* C, int64_t ldc, int64_t sc) {
  gemm_scale_kernel<T><<<blocks_for(batch * M * N), kThreadsPerBlock>>>(batch, M, N, beta, C, ldc, sc);
  CNNKIT_CUDA_KERNEL_CHECK("gemm");
}

int sm_count(int device) {
  int n = 0;
  CNNKIT_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "gemm");
  return n;
}

}  // namespace

template <class T>
void gemm_strided_batched_cuda(int device, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                               int64_t K, T alpha, const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb,
                               int64_t sb, T beta, T* C, int64_t ldc, int64_t sc) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  CudaDeviceGuard guard(device);
  if (K <= 0 || alpha == T(0)) {
    launch_scale<T>(batch, M, N, beta, C, ldc, sc);
    return;
  }
  check_int_range("gemm", M, N, K);
  // 128 x 128 tiles for float when they give at least one block per SM; otherwise (and for double,
  // whose 8 x 8 accumulators would need too many registers) 64 x 64 tiles with 4 x 4 per thread.
  const int64_t big_tiles = ((M + 127) / 128) * ((N + 127) / 128) * batch;
  if constexpr (std::is_same<T, float>::value) {
    if (big_tiles >= sm_count(device)) {
      launch_tiled<T, 128, 128, 8, 8, 8>(trans_a, trans_b, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C,
                                         ldc, sc);
      return;
    }
  }
  launch_tiled<T, 64, 64, 8, 4, 4>(trans_a, trans_b, batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc);
}

template <class T>
void gemm_cuda(int device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_strided_batched_cuda<T>(device, trans_a, trans_b, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

template <class T>
void gemm_batched_cuda(int device, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                       const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc,
                       int64_t sc) {
  gemm_strided_batched_cuda<T>(device, trans_a, trans_b, batch, M, N, K, T(1), A, lda, sa, B, ldb, sb, T(0), C, ldc,
                               sc);
}

template <class T>
void gemm_naive_cuda(int device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                     int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  CudaDeviceGuard guard(device);
  check_int_range("gemm_naive", M, N, K);
  const dim3 block(16, 16);
  const int64_t gx = (N + 15) / 16;
  CNNKIT_CHECK(gx <= INT_MAX, ValueError, "gemm_naive: matrix too large for the CUDA grid (N=", N, ")");
  constexpr int64_t rows_per_launch = int64_t(kMaxGridYZ) * 16;  // gridDim.y limit: split M as launch_tiled does
  for (int64_t m0 = 0; m0 < M; m0 += rows_per_launch) {
    const int64_t mc = std::min<int64_t>(rows_per_launch, M - m0);
    const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>((mc + 15) / 16), 1);
    gemm_naive_kernel<T><<<grid, block>>>(trans_a, trans_b, int(mc), int(N), int(std::max<int64_t>(K, 0)), alpha,
                                          A + (trans_a ? m0 : m0 * lda), lda, 0, B, ldb, 0, beta, C + m0 * ldc, ldc, 0);
    CNNKIT_CUDA_KERNEL_CHECK("gemm_naive");
  }
}

#define CNNKIT_INSTANTIATE_GEMM_CUDA(T)                                                                        \
  template void gemm_cuda<T>(int, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,       \
                             int64_t, T, T*, int64_t);                                                         \
  template void gemm_naive_cuda<T>(int, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, \
                                   int64_t, T, T*, int64_t);                                                   \
  template void gemm_strided_batched_cuda<T>(int, bool, bool, int64_t, int64_t, int64_t, int64_t, T, const T*, \
                                             int64_t, int64_t, const T*, int64_t, int64_t, T, T*, int64_t,     \
                                             int64_t);                                                         \
  template void gemm_batched_cuda<T>(int, bool, bool, int64_t, int64_t, int64_t, int64_t, const T*, int64_t,   \
                                     int64_t, const T*, int64_t, int64_t, T*, int64_t, int64_t);
CNNKIT_INSTANTIATE_GEMM_CUDA(float)
CNNKIT_INSTANTIATE_GEMM_CUDA(double)
#undef CNNKIT_INSTANTIATE_GEMM_CUDA

}  // namespace cnnkit
