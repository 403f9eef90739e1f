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
//               chosen at run time through GemmMicroKernel (portable or AVX2+FMA), so an
//               ISA-specific one replaces the portable one without touching the blocking code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace cnnkit {

// A register-tile kernel: C[0:mr, 0:nr] (row stride ldc) = alpha * sum_k a[k*MR + i] * b[k*ldbk + j]
// + beta * C, for a packed A sliver `a` (kc x MR, k-major, MR = the kernel's tile height) and a B
// sliver `b` whose row k starts at b + k*ldbk: a packed sliver (ldbk = NR, zero-padded) or the
// caller's row-major op(B) itself. 1 <= mr <= MR, 1 <= nr <= NR: edge tiles are computed in place;
// the kernel reads no column of B and touches no element of C beyond nr (and no row of C beyond
// mr). beta == 0 must not read C.
// The kernel also carries the cache blocking that suits it (upper bounds for the K, M and N blocks,
// computed once from the cache sizes read at run time; the driver rounds mc and nc down to multiples
// of mr and nr), since packing and blocking follow the tile shape, and the family it belongs to.
template <class T>
struct GemmMicroKernel {
  int mr;
  int nr;
  void (*fn)(int64_t kc, const T* a, const T* b, int64_t ldbk, T* c, int64_t ldc, T alpha, T beta, int mr, int nr);
  const char* name;
  int64_t kc;
  int64_t mc;
  int64_t nc;
  int family;  // 0 portable, 1 avx2, 2 avx512, 3 portable-12x32 (gemm.cpp's Family)
};

// The micro-kernel the fast gemm uses now: the family selected by set_gemm_kernel, or else the one
// chosen once at first use -- "avx512" (AVX-512F intrinsics), "avx2" (AVX2+FMA intrinsics) or
// "portable" (auto-vectorised plain C++, every CPU and compiler), following the SIMD level of
// ops/simd.h (CPU support and CNNKIT_SIMD). CNNKIT_GEMM_KERNEL=portable|avx2|avx512|auto overrides
// the level for the GEMM alone (a family the CPU lacks, or an unknown value, falls back to the
// automatic choice; gemm_kernel_name says what happened). A SIMD family is self-checked against
// gemm_naive the first time a dtype uses it and, on a mismatch, that dtype uses the next family down.
template <class T>
const GemmMicroKernel<T>& gemm_micro_kernel();

// "avx512 (float 12x32, double 12x16)", "avx2 (float 6x16, double 6x8)" or "portable (float 4x8,
// double 4x4)", plus a note when the environment override was ignored or a self-check failed.
std::string gemm_kernel_name();

// "float kc 384 mc 96 nc 4096; double kc 192 mc 96 nc 4096 (from the cache sizes)": the blocking of
// the kernels in use (CNNKIT_GEMM_BLOCKING="kc,mc,nc" replaces the cache formula; for benchmarks).
std::string gemm_blocking_info();

// Selects the kernel family for all later gemm calls: "portable", "avx2", "avx512" or "auto" (back
// to the choice made at first use); "portable-12x32", the portable kernel at the avx512 tile shape,
// exists for tests (it runs that shape's packing and conv paths on any CPU). ValueError for an
// unknown name, RuntimeError when the family is not available (not compiled in, or the CPU lacks
// it). For tests and benchmarks; not meant to be switched while another thread is inside gemm (each
// gemm call reads the selection once, so that is safe, but the two calls then use different kernels).
void set_gemm_kernel(const std::string& name);

// Packs n rows of a row-major matrix X (n, K) (row stride ld) into r-wide k-major slivers, as the
// micro-kernels read them: dst[(s*K + k)*r + i] = X[s*r + i, k], rows beyond n zero (dst holds
// ceil(n/r)*r*K elements). r must be a tile side (mr or nr) of the selected gemm_micro_kernel<T>().
// For callers that pack an operand once and drive the micro-kernel themselves (conv2d's batch
// schedule); the same packing routine gemm uses for A.
template <class T>
void gemm_pack_rows(T* dst, const T* X, int64_t ld, int64_t n, int64_t K, int r);

// Whether the avx2 / avx512 kernel family can run here (compiled in and supported by the CPU and OS).
bool gemm_avx2_available();
bool gemm_avx512_available();

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

// 64-byte aligned scratch memory owned by one kernel call (uninitialised), from the CPU caching
// allocator (core/cpu_allocator.h), so a training step's im2col and packing buffers are reused
// blocks rather than new memory from the OS. Throws OutOfMemory.
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
  size_t block_ = 0;  // the block size cpu_alloc handed out, given back to cpu_free
};

}  // namespace cnnkit
