// CUDA GEMM, the twin of ops/gemm.h (same contract, device pointers, row-major, BLAS-style):
//   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// op(A) = A (M,K) with row stride lda, or A^T where A is stored (K,M) with row stride lda when
// trans_a; likewise for B; C has row stride ldc. beta == 0 writes C without reading it.
// Output convention: every function *writes* C = alpha*AB + beta*C (beta = 1 accumulates, +=).
//
// Plain C++ declarations (no CUDA headers) so the g++-compiled bindings can include this file under
// #ifdef CNNKIT_WITH_CUDA. `device` is the CUDA device index the pointers live on; every function
// makes it current for its launches. Work goes to the default stream, asynchronously.
//   gemm_cuda        shared-memory tiled, register-blocked kernel (gemm.cu explains the tiling)
//   gemm_naive_cuda  one thread per element of C: the reference
#pragma once
#include <cstdint>

namespace cnnkit {

template <class T>
void gemm_cuda(int device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <class T>
void gemm_naive_cuda(int device, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                     int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// batch products C[i] = alpha * op(A[i]) op(B[i]) + beta * C[i], matrix i starting sa*i, sb*i,
// sc*i elements after A, B, C (sa or sb may be 0 to broadcast one matrix). One launch covers the
// batch (grid z); used by bmm, by grouped convolutions (one group per batch entry) and by gemm_cuda.
template <class T>
void gemm_strided_batched_cuda(int device, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N,
                               int64_t K, T alpha, const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb,
                               int64_t sb, T beta, T* C, int64_t ldc, int64_t sc);

// The twin of gemm_batched in ops/gemm.h: C[i] = op(A[i]) op(B[i]) (alpha 1, beta 0).
template <class T>
void gemm_batched_cuda(int device, bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                       const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc,
                       int64_t sc);

}  // namespace cnnkit
