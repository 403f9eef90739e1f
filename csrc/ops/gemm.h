// General matrix multiply on the CPU, row-major, BLAS-style arguments:
//   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// op(A) = A (M,K) with row stride lda, or A^T where A is stored (K,M) with row stride lda when
// trans_a; likewise for B. C has row stride ldc. beta == 0 means C is written without being read
// (NaN/garbage in C is ignored, as in BLAS).
//
// Output convention: gemm *writes* C = alpha*AB + beta*C; with beta = 1 it accumulates (+=), which
// the backward passes of conv2d/linear use to sum over image chunks.
//
// Two implementations, kept side by side:
//   gemm_naive  the plain triple loop (test oracle and the baseline the fast path must beat);
//   gemm        cache-blocked Goto/BLIS algorithm (K. Goto, R. van de Geijn, "Anatomy of
//               high-performance matrix multiplication", ACM TOMS 2008; F. Van Zee, R. van de Geijn,
//               "BLIS", ACM TOMS 2015): panels of A and B are packed into contiguous buffers and a
//               small register-tile micro-kernel computes MR x NR tiles of C. The micro-kernel is
//               chosen at run time through GemmMicroKernel, so an ISA-specific one (AVX2, AVX-512)
//               can replace the portable one without touching the blocking code.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cnnkit {

// A register-tile kernel: C[0:mr, 0:nr] (row stride ldc) = alpha * sum_k a[k*mr + i] * b[k*nr + j]
// + beta * C, for packed slivers `a` (kc x mr, k-major) and `b` (kc x nr, k-major). beta == 0 must not
// read C. Always computes a full mr x nr tile; the driver handles edge tiles via a scratch tile.
template <class T>
struct GemmMicroKernel {
  int mr;
  int nr;
  void (*fn)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta);
  const char* name;
};

// The micro-kernel the fast gemm uses on this machine (portable auto-vectorised one for now).
template <class T>
const GemmMicroKernel<T>& gemm_micro_kernel();

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <class T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Batched: C[i] = op(A[i]) op(B[i]) for i < batch, with per-matrix element strides sa, sb, sc
// (sa or sb may be 0 for a matrix broadcast over the batch). Parallel over the batch when the
// matrices are small, inside each gemm otherwise; each C[i] is computed by one gemm call either way.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc, int64_t sc);

// 64-byte aligned scratch memory owned by one kernel call (uninitialised). Throws OutOfMemory.
template <class T>
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  explicit ScratchBuffer(size_t n) { reset(n); }
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  void reset(size_t n);  // reallocates to hold at least n elements (contents are lost)
  T* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cnnkit
