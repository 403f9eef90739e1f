// CPU GEMM: the naive triple loop and the cache-blocked fast path (see gemm.h for the contract).
// Both *write* C = alpha*op(A)op(B) + beta*C (beta = 1 accumulates).
//
// Fast path, after Goto & van de Geijn (2008) / BLIS (2015). Loop nest over one block of C:
//   jc: N in steps of nc       B panel (kc x nc) is packed into NR-wide k-major slivers   -> L3
//    pc: K in steps of kc
//     ic: M in steps of mc     A block (mc x kc) is packed into MR-tall k-major slivers   -> L2
//      jr: nc in steps of NR   one B sliver (kc x NR) stays in L1 across the ir loop
//       ir: mc in steps of MR  micro-kernel: MR x NR accumulators in registers, kc rank-1 updates
// Packing turns any layout (transposed or not) into unit-stride streams, so the micro-kernel never
// sees strides, and pads edge slivers with zeros. Edge tiles of C are computed in place by the
// kernel (fewer rows, lane-masked columns), so they cost only their own size. Blocks of C only a few
// row tiles tall with B not transposed (the LeNet layers, M = 6 or 16) skip packing B: the kernel
// then streams op(B)'s rows directly.
//
// Threads: large products with B packed run on one team (gemm_team) that packs each operand once
// into shared buffers and hands out (row block x column chunk) tasks dynamically. Smaller products and
// those that read B in place (a few rows of C) cut C into a tm x tn grid of blocks instead (tm * tn <=
// threads, boundaries on MR/NR tile edges), one block per thread running the serial loop nest above.
// Every C element is produced by the same sequence of operations whatever the team, grid or schedule
// (k order and kc blocking are global, and the tile grid of C is fixed by MR/NR from row/column 0, so
// an element is in a full or an edge tile whatever the split), so results do not depend on the
// number of threads.
//
// Micro-kernels (one family per call, chosen once at first use; see "Kernel selection" below):
//   portable  plain C++ auto-vectorised for the baseline ISA (SSE2 on x86-64, NEON on aarch64):
//             4 x 8 float, 4 x 4 double, ~33 GFLOP/s on 2 cores of the AVX2 EPYC we measure on;
//   avx2      AVX2+FMA intrinsics in functions compiled with __attribute__((target("avx2,fma")))
//             (x86-64 with GCC/Clang only; the library itself stays baseline x86-64, so one wheel
//             runs on any CPU): 6 x 16 float, 6 x 8 double, used when the CPU reports AVX2 and FMA;
//   avx512    AVX-512F intrinsics (ops/gemm_avx512_kernel.h, target attribute likewise): 12 x 32 float,
//             12 x 16 double with masked edge tiles, at the avx512 SIMD level (simd.h).
// MR and NR come with the kernel, so packing follows the selected tile shape; the kc/mc/nc blocking
// is computed at run time from the cache sizes read (cpu_caches()) and the share of each cache level
// the kernel is tuned to use (BlockingShares below). A SIMD family is checked against gemm_naive the
// first time it is selected (gemm_selfcheck) and drops one level when it disagrees.
#include "ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "core/config.h"
#include "core/cpu_allocator.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "ops/simd.h"

// The AVX2+FMA kernels need GCC/Clang function-level target attributes and x86-64; everywhere else
// (aarch64, MSVC, other compilers) only the portable kernel is compiled.
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define CNNKIT_GEMM_AVX2 1
#include <immintrin.h>
#define CNNKIT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#include "ops/gemm_avx512_kernel.h"  // the AVX-512 kernels (function target attributes as well)
#else
#define CNNKIT_GEMM_AVX2 0
#endif

namespace cnnkit {

// ---------------------------------------------------------------------------------------------
// Scratch memory
// ---------------------------------------------------------------------------------------------
template <class T>
ScratchBuffer<T>::~ScratchBuffer() {
  cpu_free(ptr_, block_);
}

template <class T>
void ScratchBuffer<T>::reset(size_t n) {
  if (n <= size_ && ptr_ != nullptr) return;
  cpu_free(ptr_, block_);
  ptr_ = nullptr;
  size_ = 0;
  block_ = 0;
  const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
  ptr_ = static_cast<T*>(cpu_alloc(bytes, &block_));  // throws OutOfMemory when the system has none
  size_ = n;
}

template class ScratchBuffer<float>;
template class ScratchBuffer<double>;

namespace {

// ---------------------------------------------------------------------------------------------
// Portable micro-kernel. Written for gcc's auto-vectoriser: the B row of the current k is copied to
// a local array (so the compiler sees NR independent lanes), each A element is broadcast, and every
// loop has a compile-time trip count, so the whole tile is unrolled into vector multiply-adds with
// the MR x NR accumulators held in registers. Tile sizes: with SSE2's 16 xmm registers, 4 x 8 floats
// (8 accumulator registers) and 4 x 4 doubles (8 registers) are the largest tiles gcc 12 compiles
// without spilling accumulators to the stack.
// ---------------------------------------------------------------------------------------------
template <class T, int MR, int NR>
void micro_kernel_portable(int64_t kc, const T* __restrict a, const T* __restrict b, int64_t ldbk, T* __restrict c,
                           int64_t ldc, T alpha, T beta, int mr, int nr) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    T bk[NR];
    if (nr == NR) {
      for (int j = 0; j < NR; ++j) bk[j] = b[k * ldbk + j];
    } else {
      for (int j = 0; j < NR; ++j) bk[j] = j < nr ? b[k * ldbk + j] : T(0);
    }
    for (int i = 0; i < MR; ++i) {
      const T ai = a[k * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  if (mr == MR && nr == NR) {
    if (beta == T(0)) {
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j];
    } else {
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
    }
    return;
  }
  // Edge tile: copy out with compile-time indices first (runtime indices into acc would push the
  // accumulators out of registers for the whole kernel), then write the valid mr x nr part.
  T tile[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) tile[i][j] = acc[i][j];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * tile[i][j] : alpha * tile[i][j] + beta * cij;
    }
}

// Cache blocking, from the cache sizes read at run time: per kernel, the share of each level its
// operands are meant to occupy (s = sizeof(T)):
//   kc = l1 * L1d / (NR * s)          the B sliver (kc x NR) that stays in L1 across the row loop;
//                                     the A slivers (kc x MR) stream through the rest of it from L2
//   mc = l2 * L2 / (kc * s)           the packed A block (mc x kc) in L2
//   nc = l3 * (L3 / sharing) / (kc * s)   the packed B panel (kc x nc) in this core's share of L3
// kc is rounded to a multiple of 16 (64..1024), mc to the nearest multiple of MR (MR..1024 rows),
// nc down to a multiple of NR (16 NR..4096 columns). The shares of the portable and avx2 kernels
// reproduce the blocking measured best on the 2-core AVX2 EPYC (32 KiB L1d, 512 KiB L2; see the
// avx2 kernel below), so there the formula gives exactly those constants; the avx512 shares are
// BLIS-like guesses (not measured: no AVX-512 CPU was at hand). CNNKIT_GEMM_BLOCKING="kc,mc,nc"
// overrides them for every kernel (read once; for benchmarks and tests).
struct BlockingShares {
  double l1, l2, l3;
};
// portable: kc 256, mc 96 on that EPYC (B sliver 8 KiB float, A block 96 KiB float / 192 KiB double).
constexpr BlockingShares kPortableSharesFloat{0.25, 0.1875, 0.125};
constexpr BlockingShares kPortableSharesDouble{0.25, 0.375, 0.25};

#if CNNKIT_GEMM_AVX2
// ---------------------------------------------------------------------------------------------
// AVX2+FMA micro-kernels (compiled for avx2,fma by function attribute only, so the rest of the
// library stays baseline x86-64 and these run only after the CPU check in cpu_has_avx2_fma()).
//
// Register tile: 16 ymm registers. float 6 x 16 = 6 rows x 2 vectors of 8 = 12 accumulators, plus
// 2 registers for the B row of the current k and 1 for the broadcast A element = 15. double 6 x 8
// is the same shape in 4-wide vectors. Per k: 2 loads of B, 6 broadcasts of A (loads with a
// broadcast, which run on the load ports) and 12 independent FMAs. The FMAs are the bottleneck:
// 2 FMA units x 4-5 cycle latency need 8-10 independent accumulators in flight, which 12 provides,
// and the 8 loads per 12 FMAs fit in the 2-3 load ports. 6 x 16 is the tile BLIS and OpenBLAS use on
// Haswell/Zen for the same reasons (8 x 8 or 4 x 24 give 8 or 12 accumulators with worse
// load/FMA ratios or edge waste). Expected peak per core: 2 FMA units x 8 floats x 2 flops x
// 2.45 GHz ~ 78 GFLOP/s float (39 double) at the nominal clock. Measured (one thread, CPU time,
// n = 512..2048): ~76-87 GFLOP/s float and ~38 double (the core turbos to ~2.9 GHz), 0.9-1.0x
// OpenBLAS and 3.3x the portable kernel; with sequential-read and AVX2-transpose packing the
// micro-kernel takes ~85% of the cycles of a 256 x 1024 x 1152 product (perf).
// ---------------------------------------------------------------------------------------------
struct Avx2Float {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  CNNKIT_TARGET_AVX2 static inline V zero() { return _mm256_setzero_ps(); }
  CNNKIT_TARGET_AVX2 static inline V load(const T* p) { return _mm256_loadu_ps(p); }
  CNNKIT_TARGET_AVX2 static inline void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  CNNKIT_TARGET_AVX2 static inline V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  CNNKIT_TARGET_AVX2 static inline V set1(T x) { return _mm256_set1_ps(x); }
  CNNKIT_TARGET_AVX2 static inline V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  CNNKIT_TARGET_AVX2 static inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  // Lanes first .. first+7 of a row, active where the column is < n.
  CNNKIT_TARGET_AVX2 static inline __m256i mask(int first, int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n - first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  CNNKIT_TARGET_AVX2 static inline V mload(const T* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  CNNKIT_TARGET_AVX2 static inline void mstore(T* p, __m256i m, V v) { _mm256_maskstore_ps(p, m, v); }
};
struct Avx2Double {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  CNNKIT_TARGET_AVX2 static inline V zero() { return _mm256_setzero_pd(); }
  CNNKIT_TARGET_AVX2 static inline V load(const T* p) { return _mm256_loadu_pd(p); }
  CNNKIT_TARGET_AVX2 static inline void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  CNNKIT_TARGET_AVX2 static inline V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  CNNKIT_TARGET_AVX2 static inline V set1(T x) { return _mm256_set1_pd(x); }
  CNNKIT_TARGET_AVX2 static inline V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  CNNKIT_TARGET_AVX2 static inline V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  CNNKIT_TARGET_AVX2 static inline __m256i mask(int first, int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - first), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  CNNKIT_TARGET_AVX2 static inline V mload(const T* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  CNNKIT_TARGET_AVX2 static inline void mstore(T* p, __m256i m, V v) { _mm256_maskstore_pd(p, m, v); }
};

// MRC rows (of an A sliver packed MR tall) x 2 vectors. The accumulator array is indexed only with
// compile-time constants inside fully unrolled loops, so gcc keeps all of it in registers (checked
// in the generated assembly: the k loop has no stack traffic). PART: a right-edge tile of nr < NR
// columns; B and C are then read and written through lane masks, so nothing beyond column nr is
// touched (B may be the caller's unpacked matrix, whose row ends there). Edge rows (MRC < MR) are
// separate instantiations rather than a scratch tile, so edge tiles cost only their own rows.
template <class S, int MR, int MRC, bool PART>
CNNKIT_TARGET_AVX2 void micro_tile_avx2(int64_t kc, const typename S::T* __restrict a,
                                        const typename S::T* __restrict b, int64_t ldbk,
                                        typename S::T* __restrict c, int64_t ldc, typename S::T alpha,
                                        typename S::T beta, int nr) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int W = S::W;
  const __m256i m0 = S::mask(0, PART ? nr : 2 * W), m1 = S::mask(W, PART ? nr : 2 * W);
  V acc[MRC][2];
#pragma GCC unroll 16
  for (int i = 0; i < MRC; ++i) acc[i][0] = acc[i][1] = S::zero();
  // The C tile is needed after the loop: start fetching it now (its rows are 64 bytes of floats).
#pragma GCC unroll 16
  for (int i = 0; i < MRC; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  for (int64_t k = 0; k < kc; ++k) {
    const V b0 = PART ? S::mload(b, m0) : S::load(b);
    const V b1 = PART ? S::mload(b + W, m1) : S::load(b + W);
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i) {
      const V ai = S::bcast(a + i);
      acc[i][0] = S::fmadd(ai, b0, acc[i][0]);
      acc[i][1] = S::fmadd(ai, b1, acc[i][1]);
    }
    a += MR;
    b += ldbk;
  }
  const V va = S::set1(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i) {
      if (PART) {
        S::mstore(c + i * ldc, m0, S::mul(va, acc[i][0]));
        S::mstore(c + i * ldc + W, m1, S::mul(va, acc[i][1]));
      } else {
        S::store(c + i * ldc, S::mul(va, acc[i][0]));
        S::store(c + i * ldc + W, S::mul(va, acc[i][1]));
      }
    }
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i) {
      if (PART) {
        S::mstore(c + i * ldc, m0, S::fmadd(va, acc[i][0], S::mul(vb, S::mload(c + i * ldc, m0))));
        S::mstore(c + i * ldc + W, m1, S::fmadd(va, acc[i][1], S::mul(vb, S::mload(c + i * ldc + W, m1))));
      } else {
        S::store(c + i * ldc, S::fmadd(va, acc[i][0], S::mul(vb, S::load(c + i * ldc))));
        S::store(c + i * ldc + W, S::fmadd(va, acc[i][1], S::mul(vb, S::load(c + i * ldc + W))));
      }
    }
  }
}

// The kernel entry: full tiles go straight to the 6-row instantiation, edge tiles to the one for
// their row count, with or without column masks.
#define CNNKIT_ROWS_CASES(PART)                                                                 \
  switch (mr) {                                                                                 \
    case 6: return micro_tile_avx2<S, MR, 6, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);   \
    case 5: return micro_tile_avx2<S, MR, 5, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);   \
    case 4: return micro_tile_avx2<S, MR, 4, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);   \
    case 3: return micro_tile_avx2<S, MR, 3, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);   \
    case 2: return micro_tile_avx2<S, MR, 2, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);   \
    default: return micro_tile_avx2<S, MR, 1, PART>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);  \
  }
template <class S, int MR>
void micro_kernel_avx2(int64_t kc, const typename S::T* a, const typename S::T* b, int64_t ldbk, typename S::T* c,
                       int64_t ldc, typename S::T alpha, typename S::T beta, int mr, int nr) {
  static_assert(MR == 6, "the edge-row dispatch is written for 6-row slivers");
  if (nr == 2 * S::W) CNNKIT_ROWS_CASES(false)
  CNNKIT_ROWS_CASES(true)
}
#undef CNNKIT_ROWS_CASES

// Blocking for the 6 x 16 float / 6 x 8 double tiles, measured on the 2-core AVX2 EPYC (32 KiB L1d,
// 512 KiB L2) at n = 512..2048 on one thread (CPU time, so that other load does not blur it):
// float kc 384 / mc 96 was the best of kc 192..512 x mc 72..288 by a few percent (kc 256 / mc 144
// 3-8% slower, mc 288 ~10% slower). kc = 384: the B sliver (384 x 16 floats = 24 KiB) stays in L1
// while the A slivers (9 KiB each) stream from L2, where the packed A block (96 x 384 floats =
// 144 KiB) lives. double: kc 192 / mc 96 (B sliver 12 KiB, A block 144 KiB); kc 256 was slower.
// nc = 2048 (float) / 1024 (double): the packed B panel (3 MiB / 1.5 MiB) is a share of the L3.
// As shares (BlockingShares): float l1 0.75 (384 x 16 x 4 B of 32 KiB), l2 0.28 (96 x 384 x 4 B of
// 512 KiB), double l1 0.375, l2 0.28. nc: half the L3 share (capped at 4096), as for avx512.
constexpr BlockingShares kAvx2SharesFloat{0.75, 0.28, 0.5};
constexpr BlockingShares kAvx2SharesDouble{0.375, 0.28, 0.5};

// avx512 (12 x 32 float, 12 x 16 double): the B sliver takes 3/4 of L1d (kc 192 on a 32 KiB L1d,
// 288 on Sapphire Rapids' 48 KiB), the A block half the L2 (mc ~684 floats on a 1 MiB L2; BLIS uses
// kc 384 / mc 480 on Skylake-X with its transposed orientation), the B panel half the L3 share.
constexpr BlockingShares kAvx512Shares{0.75, 0.5, 0.5};
#endif  // CNNKIT_GEMM_AVX2

// Blocks of C with at most this many MR-row tiles read B unpacked (see gemm_block); measured on
// the AVX2 EPYC, one thread: 3 tiles (M <= 18) direct is 1.3-1.6x faster than packing at M = 6 and
// 16; for every M over ~5 tiles with K >= 16, packing wins (64 x 1024 x 576: 15-25% faster).
constexpr int64_t kDirectBRowTiles = 3;
// ... and so do products with K this small (the rank-6 input-gradient GEMM of LeNet's first layer):
// the few B rows of a sliver stay in L1 however many row tiles reuse them.
constexpr int64_t kDirectBMaxK = 8;

// Below this many multiply-adds a gemm runs on one thread: an OpenMP fork/join costs a few
// microseconds, as much as a 64^3 product.
constexpr int64_t kParallelMinWork = int64_t(1) << 18;
// From this many multiply-adds a multi-threaded product with B packed runs on one team (gemm_team)
// rather than as independent blocks. Below it, a thread that packs exactly the panels it multiplies
// (kept in its own L2) beats the team, whose operands are packed by one core and read by the other.
// Measured on the 2-core EPYC, 2 threads, median per call: at 38M (64 x 576 x 1024, 128 x 256 x 1152)
// blocks were 5-30% faster; at 57-75M about even; from 134M (512^3, 128 x 1024 x 1152) the team was
// 3-15% faster, and 5-10% at 600M-1G.
constexpr int64_t kTeamMinWork = int64_t(1) << 26;

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Packing. Both operands reduce to two copy patterns into R-wide k-major slivers
// (dst[s*kb*R + k*R + r] = X(k, s*R + r), entries beyond n set to zero):
//   rows_by_k  X(k, r) = src[k*ld + r]  (op(B) = B, op(A) = A^T): each source row k is read once,
//              front to back, and its R-element pieces go to the slivers. Walking a sliver down k
//              instead (one R-element piece per source row, a row stride apart) makes every piece a
//              new cache line and, for wide matrices, a new page; that took a quarter of the run time
//              of a 128 x 1024 x 1152 product.
//   rows_by_r  X(k, r) = src[r*ld + k]  (op(A) = A, op(B) = B^T): R source rows are read side by side
//              (R sequential streams), each sliver row k written contiguously.
// R is a template parameter so the piece copies compile to fixed-length vector moves.
template <class T, int R>
void pack_rows_by_k(T* dst, const T* src, int64_t ld, int64_t kb, int64_t n) {
  const int64_t full = n / R, rest = n - full * R;
  for (int64_t k = 0; k < kb; ++k) {
    const T* s = src + k * ld;
    T* d = dst + k * R;
    for (int64_t q = 0; q < full; ++q) {
      std::memcpy(d, s, R * sizeof(T));  // constant size: inlined as vector moves (a loop stayed scalar)
      s += R;
      d += kb * R;
    }
    if (rest) {
      for (int64_t r = 0; r < rest; ++r) d[r] = s[r];
      for (int64_t r = rest; r < R; ++r) d[r] = T(0);
    }
  }
}

template <class T, int R>
void pack_rows_by_r(T* dst, const T* src, int64_t ld, int64_t kb, int64_t n) {
  for (int64_t s0 = 0; s0 < n; s0 += R) {
    const int64_t rows = std::min<int64_t>(R, n - s0);
    T* d = dst + s0 * kb;
    if (rows == R) {
      const T* p[R];
      for (int r = 0; r < R; ++r) p[r] = src + (s0 + r) * ld;
      for (int64_t k = 0; k < kb; ++k)
        for (int r = 0; r < R; ++r) d[k * R + r] = p[r][k];
    } else {
      for (int64_t k = 0; k < kb; ++k) {
        for (int64_t r = 0; r < rows; ++r) d[k * R + r] = src[(s0 + r) * ld + k];
        for (int64_t r = rows; r < R; ++r) d[k * R + r] = T(0);
      }
    }
  }
}

#if CNNKIT_GEMM_AVX2
// AVX2 versions of pack_rows_by_r for the float slivers of the SIMD kernels (R = 6 / 16, 12 / 32):
// an 8 x 8 block (8 source rows x 8 k) is loaded, transposed in registers (unpack / shuffle /
// 128-bit permute, the standard 24-instruction sequence) and stored as 8 sliver rows, about 4x
// faster than element-by-element copies. Only reached when simd_avx2() (a CPU with AVX2, not
// switched off). Rows of the last, partial sliver beyond n are zero registers (never loaded); k
// beyond a multiple of 8 takes a scalar loop.
CNNKIT_TARGET_AVX2 inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// R-row slivers (R = 6, 12, 16, 32: the A slivers of the avx2 / avx512 kernels and the B^T slivers):
// the sliver's rows go in groups of 8 through the 8 x 8 transpose, 8 k at a time; each transposed
// column q is the group's piece of sliver row k + q. A last group of fewer than 8 rows (6 or 4) has
// zero registers for its missing rows and stores only its 6 or 4 floats (4 + 2, or 4: no masked
// stores, which are slow on Zen). Rows beyond n of the last, partial sliver are zero registers too.
template <int R>
CNNKIT_TARGET_AVX2 void pack_rows_by_r_avx2(float* dst, const float* src, int64_t ld, int64_t kb, int64_t n) {
  static_assert(R % 8 == 0 || R % 8 == 6 || R % 8 == 4, "groups of 8 rows, the last one 8, 6 or 4 rows");
  constexpr int groups = (R + 7) / 8;
  const int64_t slivers = (n + R - 1) / R;
  for (int64_t s = 0; s < slivers; ++s) {
    const float* p = src + s * R * ld;
    float* d = dst + s * R * kb;
    const int rows = static_cast<int>(std::min<int64_t>(R, n - s * R));  // the rest are zero padding
    int64_t k = 0;
    for (; k + 8 <= kb; k += 8) {
      for (int g = 0; g < groups; ++g) {
        constexpr int last = R % 8 == 0 ? 8 : R % 8;
        const int width = g + 1 < groups ? 8 : last;
        __m256 r8[8];
        for (int r = 0; r < 8; ++r)
          r8[r] = r < width && g * 8 + r < rows ? _mm256_loadu_ps(p + (g * 8 + r) * ld + k) : _mm256_setzero_ps();
        transpose8x8(r8);
        for (int q = 0; q < 8; ++q) {
          float* o = d + (k + q) * R + g * 8;
          if (width == 8) {
            _mm256_storeu_ps(o, r8[q]);
          } else {
            _mm_storeu_ps(o, _mm256_castps256_ps128(r8[q]));
            if (width == 6) _mm_storel_pi(reinterpret_cast<__m64*>(o + 4), _mm256_extractf128_ps(r8[q], 1));
          }
        }
      }
    }
    for (; k < kb; ++k)
      for (int r = 0; r < R; ++r) d[k * R + r] = r < rows ? p[r * ld + k] : 0.0f;
  }
}
#endif

// Runs the pack pattern for the sliver width R of the selected kernel (every MR/NR in use here has
// an instantiation; the micro-kernel table is the only source of tile shapes).
template <class T>
void pack_panel(bool by_k, T* dst, const T* src, int64_t ld, int64_t kb, int64_t n, int R) {
#if CNNKIT_GEMM_AVX2
  // The AVX2 transposing copies, whenever the AVX2 code paths may run (whatever the kernel: the
  // copy is exact, so the packed sliver is the same bits either way).
  if constexpr (std::is_same_v<T, float>) {
    if (!by_k && simd_avx2()) {
      if (R == 6) return pack_rows_by_r_avx2<6>(dst, src, ld, kb, n);
      if (R == 12) return pack_rows_by_r_avx2<12>(dst, src, ld, kb, n);
      if (R == 16) return pack_rows_by_r_avx2<16>(dst, src, ld, kb, n);
      if (R == 32) return pack_rows_by_r_avx2<32>(dst, src, ld, kb, n);
    }
  }
#endif
  switch (R) {
#define CNNKIT_PACK_CASE(W)                                                        \
  case W:                                                                          \
    return by_k ? pack_rows_by_k<T, W>(dst, src, ld, kb, n) : pack_rows_by_r<T, W>(dst, src, ld, kb, n);
    CNNKIT_PACK_CASE(4)
    CNNKIT_PACK_CASE(6)
    CNNKIT_PACK_CASE(8)
    CNNKIT_PACK_CASE(12)
    CNNKIT_PACK_CASE(16)
    CNNKIT_PACK_CASE(32)
#undef CNNKIT_PACK_CASE
    default:
      CNNKIT_CHECK(false, RuntimeError, "gemm: no packing routine for a sliver width of ", R);
  }
}

// Rows [i0, i0+mb) x cols [p0, p0+kb) of op(A) into MR-tall slivers.
template <class T>
void pack_a(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t p0, int64_t mb, int64_t kb, int MR) {
  if (trans_a)  // A stored (K, M)
    pack_panel(true, dst, A + p0 * lda + i0, lda, kb, mb, MR);
  else
    pack_panel(false, dst, A + i0 * lda + p0, lda, kb, mb, MR);
}

// Rows [p0, p0+kb) x cols [j0, j0+nb) of op(B) into NR-wide slivers.
template <class T>
void pack_b(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t j0, int64_t kb, int64_t nb, int NR) {
  if (trans_b)  // B stored (N, K)
    pack_panel(false, dst, B + j0 * ldb + p0, ldb, kb, nb, NR);
  else
    pack_panel(true, dst, B + p0 * ldb + j0, ldb, kb, nb, NR);
}

// Packing buffers live per thread and only grow, so repeated calls (a training loop) do not pay
// for page faults on fresh allocations each time. At most (mc + nc) * kc elements per thread.
template <class T>
struct PackBuffers {
  ScratchBuffer<T> a, b;
};
template <class T>
PackBuffers<T>& thread_pack_buffers() {
  thread_local PackBuffers<T> buffers;
  return buffers;
}

// The cache blocking of one product: mc and nc rounded down to whole tiles; K split into equal
// blocks of at most uk.kc (576 -> 3 x 192 rather than 256 + 256 + 64), so no block is a short one
// that pays the C load/store of a whole pass for a few rank-1 updates.
struct Blocking {
  int64_t mc, nc, kc;
};
template <class T>
Blocking blocking(const GemmMicroKernel<T>& uk, int64_t K) {
  const int64_t kblocks = (K + uk.kc - 1) / uk.kc;
  return {std::max<int64_t>(uk.mr, uk.mc / uk.mr * uk.mr), std::max<int64_t>(uk.nr, uk.nc / uk.nr * uk.nr),
          (K + kblocks - 1) / kblocks};
}

// The micro-kernel over one block of C: rows [0, mb) of a packed A block (Ap, MR-tall slivers of kb)
// x columns [j0, j1) of a B panel whose sliver at column jr starts at b0 + jr * bstep with row stride
// ldbk: a packed panel (bstep = kb, ldbk = NR) or op(B) read in place (bstep = 1, ldbk = ldb). C points
// at the element for row 0, column 0. jr outer, ir inner: one B sliver stays in L1 across the rows.
template <class T>
void run_tiles(const GemmMicroKernel<T>& uk, int64_t kb, const T* Ap, int64_t mb, const T* b0, int64_t bstep,
               int64_t ldbk, int64_t j0, int64_t j1, T alpha, T beta_k, T* C, int64_t ldc) {
  const int MR = uk.mr, NR = uk.nr;
  for (int64_t jr = j0; jr < j1; jr += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, j1 - jr));
    for (int64_t ir = 0; ir < mb; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, mb - ir));
      uk.fn(kb, Ap + ir * kb, b0 + jr * bstep, ldbk, C + ir * ldc + jr, ldc, alpha, beta_k, mr, nr);
    }
  }
}

// Rows [m0, m1) of C, columns [jc, jc + nb), k block [pc, pc + kb): A packed block by block into Ap,
// then the micro-kernel over the tiles (b0, bstep, ldbk as in run_tiles).
template <class T>
void sweep_rows(const GemmMicroKernel<T>& uk, int64_t mc, bool trans_a, int64_t m0, int64_t m1, int64_t jc, int64_t nb,
                int64_t pc, int64_t kb, T alpha, const T* A, int64_t lda, T* Ap, const T* b0, int64_t bstep,
                int64_t ldbk, T beta_k, T* C, int64_t ldc) {
  for (int64_t ic = m0; ic < m1; ic += mc) {
    const int64_t mb = std::min(mc, m1 - ic);
    pack_a(Ap, A, lda, trans_a, ic, pc, mb, kb, uk.mr);
    run_tiles(uk, kb, Ap, mb, b0, bstep, ldbk, int64_t(0), nb, alpha, beta_k, C + ic * ldc + jc, ldc);
  }
}

// The serial loop nest over the block rows [m0, m1) x cols [n0, n1) of C.
template <class T>
void gemm_block(const GemmMicroKernel<T>& uk, bool trans_a, bool trans_b, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                int64_t ldc) {
  const int MR = uk.mr, NR = uk.nr;
  const Blocking bl = blocking(uk, K);
  const int64_t mspan = m1 - m0, nspan = n1 - n0;
  const int64_t mb_max = std::min(bl.mc, (mspan + MR - 1) / MR * MR);
  const int64_t nb_max = std::min(bl.nc, (nspan + NR - 1) / NR * NR);
  const int64_t kb_max = std::min(bl.kc, K);
  // Few row tiles and B not transposed: each B sliver would serve at most kDirectBRowTiles
  // micro-kernel calls, too few to repay copying it (packing B then costs as much as the arithmetic
  // for M = 6, the LeNet layers). The kernel reads op(B)'s rows in place instead (ldbk = ldb),
  // with lane masks on the last, partial column sliver.
  const bool direct_b = !trans_b && ((mspan + MR - 1) / MR <= kDirectBRowTiles || K <= kDirectBMaxK);
  PackBuffers<T>& buf = thread_pack_buffers<T>();
  buf.a.reset(static_cast<size_t>(mb_max * kb_max));
  if (!direct_b) buf.b.reset(static_cast<size_t>(nb_max * kb_max));
  T* Ap = buf.a.data();
  T* Bp = buf.b.data();

  for (int64_t jc = n0; jc < n1; jc += bl.nc) {
    const int64_t nb = std::min(bl.nc, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += bl.kc) {
      const int64_t kb = std::min(bl.kc, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);  // later k blocks accumulate onto the first
      if (direct_b) {
        sweep_rows(uk, bl.mc, trans_a, m0, m1, jc, nb, pc, kb, alpha, A, lda, Ap, B + pc * ldb + jc, 1, ldb, beta_k,
                   C, ldc);
      } else {
        pack_b(Bp, B, ldb, trans_b, pc, jc, kb, nb, NR);
        sweep_rows(uk, bl.mc, trans_a, m0, m1, jc, nb, pc, kb, alpha, A, lda, Ap, Bp, kb, NR, beta_k, C, ldc);
      }
    }
  }
}

#ifdef _OPENMP
// Threads cooperating on one product whose B is packed (multi-threaded products of at least
// kTeamMinWork multiply-adds), after BLIS. For each (jc, pc) step of the loop nest above, two phases,
// each a dynamically scheduled loop ended by the team's barrier (the implicit one of `omp for`):
//   pack     the B panel (kc x nb, in chunks of kPackChunk slivers) and op(A)'s rows for this k block
//            (M x kc, in mc-row blocks) into buffers shared by the team, so each operand is packed once;
//   compute  tasks = (mc-row block) x (chunk of cw NR-slivers), in row-block-major order, so a thread
//            usually takes several chunks of one A block in a row and keeps it in its L2.
// Tasks are handed out as threads become free rather than split up front: on a shared VM the cores
// often run at different speeds (two copies of one FMA loop measured 100 and 75-85 GFLOP/s), and with
// a fixed half each the faster thread spent ~8% of a product waiting for the slower one. cw is chosen
// for about 8 tasks per thread and step (at most 8 slivers), so the last task is short.
// op(A)'s rows are packed whole up to kTeamRows rows; taller products go through row super-blocks of
// at most that many rows (one more pack/compute pair per super-block; B is packed with the first).
// Every element of C sees the same kc blocks in the same order and the same micro-kernel arithmetic as
// in gemm_block, so the result is bit-identical to the serial path whatever the team or the schedule.
// Buffers are allocated before the parallel region (no exception can start inside it).
constexpr int64_t kPackChunk = 8;
constexpr int64_t kTeamRows = 2048;

template <class T>
void gemm_team(const GemmMicroKernel<T>& uk, int nt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const int MR = uk.mr, NR = uk.nr;
  const Blocking bl = blocking(uk, K);
  const int64_t kb_max = std::min(bl.kc, K);
  const int64_t nb_max = std::min(bl.nc, (N + NR - 1) / NR * NR);
  // Row super-blocks of equal size (whole tiles), then mc-row blocks of equal size within one.
  const int64_t mtiles = (M + MR - 1) / MR;
  const int64_t nsuper = (mtiles * MR + kTeamRows - 1) / kTeamRows;
  const int64_t super_tiles = (mtiles + nsuper - 1) / nsuper;
  const int64_t mblocks = (super_tiles * MR + bl.mc - 1) / bl.mc;
  const int64_t mc = (super_tiles + mblocks - 1) / mblocks * MR;
  const int64_t cw = std::clamp<int64_t>(nb_max / NR * mblocks / (8 * int64_t(nt)), 1, 8);
  ScratchBuffer<T> bpack(static_cast<size_t>(nb_max * kb_max));
  ScratchBuffer<T> apack(static_cast<size_t>(super_tiles * MR * kb_max));
  T* Bp = bpack.data();
  T* Ap = apack.data();

#pragma omp parallel num_threads(nt)
  for (int64_t jc = 0; jc < N; jc += bl.nc) {
    const int64_t nb = std::min(bl.nc, N - jc);
    const int64_t slivers = (nb + NR - 1) / NR;
    const int64_t bchunks = (slivers + kPackChunk - 1) / kPackChunk;
    const int64_t nchunks = (slivers + cw - 1) / cw;
    for (int64_t pc = 0; pc < K; pc += bl.kc) {
      const int64_t kb = std::min(bl.kc, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);  // later k blocks accumulate onto the first
      for (int64_t r0 = 0; r0 < M; r0 += super_tiles * MR) {
        const int64_t rows = std::min(super_tiles * MR, M - r0);
        const int64_t ablocks = (rows + mc - 1) / mc;
        const int64_t btasks = r0 == 0 ? bchunks : 0;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < btasks + ablocks; ++t) {
          if (t < btasks) {
            const int64_t s0 = t * kPackChunk, s1 = std::min(slivers, s0 + kPackChunk);
            pack_b(Bp + s0 * NR * kb, B, ldb, trans_b, pc, jc + s0 * NR, kb, std::min(nb, s1 * NR) - s0 * NR, NR);
          } else {
            const int64_t i0 = (t - btasks) * mc;
            pack_a(Ap + i0 * kb, A, lda, trans_a, r0 + i0, pc, std::min(mc, rows - i0), kb, MR);
          }
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ablocks * nchunks; ++t) {
          const int64_t i0 = t / nchunks * mc, j0 = t % nchunks * cw * NR, j1 = std::min(nb, j0 + cw * NR);
          run_tiles(uk, kb, Ap + i0 * kb, std::min(mc, rows - i0), Bp, kb, int64_t(NR), j0, j1, alpha, beta_k,
                    C + (r0 + i0) * ldc + jc, ldc);
        }
      }
    }
  }
}
#endif

// C = beta * C (or zero when beta == 0, without reading C): the K == 0 / alpha == 0 case.
template <class T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernel selection. The family is decided once, at first use (a function-local static: thread-safe
// initialisation), from CNNKIT_GEMM_KERNEL, else the SIMD level (simd.h: CPU and CNNKIT_SIMD);
// set_gemm_kernel can override it later. Each gemm call reads the selection once, so one product
// never mixes kernels (mixing would change the packing layout mid-call).
//
// Self-check: the first time a SIMD family (avx2, avx512) is used for a dtype, gemm_selfcheck runs
// it on a small fixed product against gemm_naive; on a mismatch (or when CNNKIT_SIMD_SELFCHECK_FAIL
// names gemm_float / gemm_double, optionally as gemm_float:avx512) that dtype uses the next family
// down from then on, with a RuntimeWarning on stderr (simd_fallbacks() keeps it for show_config).
// ---------------------------------------------------------------------------------------------
namespace {

// kPortable12x32: the portable kernel at the avx512 tile shape (12 x 32 float, 12 x 16 double), for
// tests only: it runs the packing, blocking and conv packed paths of that shape on any CPU.
enum Family : int { kPortable = 0, kAvx2 = 1, kAvx512 = 2, kPortable12x32 = 3, kFamilies = 4 };

const char* family_name(int f) {
  static const char* names[kFamilies] = {"portable", "avx2", "avx512", "portable-12x32"};
  return names[f];
}

bool family_available(int f) {
  if (f == kAvx2) return CNNKIT_GEMM_AVX2 && static_cast<int>(cpu_simd_level()) >= static_cast<int>(SimdLevel::kAvx2);
  if (f == kAvx512) return CNNKIT_GEMM_AVX2 && cpu_simd_level() == SimdLevel::kAvx512;
  return true;
}

struct InitialChoice {
  Family family;
  std::string note;  // why the environment override was not followed, if it was not
};

const InitialChoice& initial_choice() {
  static const InitialChoice choice = [] {
    const SimdLevel level = simd_selected_level();
    const Family best = level == SimdLevel::kAvx512 ? kAvx512 : level == SimdLevel::kAvx2 ? kAvx2 : kPortable;
    const char* env = std::getenv("CNNKIT_GEMM_KERNEL");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "auto") == 0) return InitialChoice{best, ""};
    for (int f : {kPortable, kAvx2, kAvx512}) {
      if (std::strcmp(env, family_name(f)) != 0) continue;
      if (family_available(f)) return InitialChoice{static_cast<Family>(f), ""};
      return InitialChoice{best, std::string("; CNNKIT_GEMM_KERNEL=") + env + " ignored: not available on this CPU/build"};
    }
    return InitialChoice{best, std::string("; CNNKIT_GEMM_KERNEL=") + env +
                                   " ignored: expected portable, avx2, avx512 or auto"};
  }();
  return choice;
}

std::atomic<int> g_override{-1};  // -1: follow initial_choice()

Family current_family() {
  const int o = g_override.load(std::memory_order_relaxed);
  return o >= 0 ? static_cast<Family>(o) : initial_choice().family;
}

// CNNKIT_GEMM_BLOCKING="kc,mc,nc" (read once): fixed upper bounds instead of the cache formula.
const int64_t* blocking_override() {
  static const struct Override {
    bool set = false;
    int64_t v[3] = {0, 0, 0};
  } o = [] {
    Override r;
    const char* env = std::getenv("CNNKIT_GEMM_BLOCKING");
    long long kc = 0, mc = 0, nc = 0;
    if (env != nullptr && std::sscanf(env, "%lld,%lld,%lld", &kc, &mc, &nc) == 3 && kc > 0 && mc > 0 && nc > 0) {
      r.set = true;
      r.v[0] = kc, r.v[1] = mc, r.v[2] = nc;
    } else if (env != nullptr && *env != '\0') {
      std::fprintf(stderr, "cnnkit: warning: CNNKIT_GEMM_BLOCKING=%s ignored: expected three positive integers kc,mc,nc\n",
                   env);
    }
    return r;
  }();
  return o.set ? o.v : nullptr;
}

// A kernel table entry with its blocking computed from the cache sizes (see BlockingShares).
template <class T>
GemmMicroKernel<T> make_kernel(int family, int mr, int nr, decltype(GemmMicroKernel<T>::fn) fn, const char* name,
                               BlockingShares sh) {
  const CpuCaches& c = cpu_caches();
  const double s = sizeof(T);
  auto clamp = [](double v, int64_t lo, int64_t hi) { return std::clamp<int64_t>(static_cast<int64_t>(v), lo, hi); };
  int64_t kc = clamp(sh.l1 * double(c.l1d) / (nr * s) / 16.0 + 1e-9, 4, 64) * 16;
  int64_t mc = clamp(std::round(sh.l2 * double(c.l2) / (double(kc) * s) / mr), 1, 1024 / mr) * mr;
  int64_t nc = clamp(sh.l3 * double(c.l3) / double(c.l3_sharing) / (double(kc) * s) / nr, 16, 4096 / nr) * nr;
  if (const int64_t* o = blocking_override()) kc = o[0], mc = o[1], nc = o[2];
  return GemmMicroKernel<T>{mr, nr, fn, name, kc, mc, nc, family};
}

template <class T>
const GemmMicroKernel<T>& kernel_entry(int family);

template <>
const GemmMicroKernel<float>& kernel_entry<float>(int family) {
  static const GemmMicroKernel<float> table[kFamilies] = {
      make_kernel<float>(kPortable, 4, 8, &micro_kernel_portable<float, 4, 8>, "portable 4x8", kPortableSharesFloat),
#if CNNKIT_GEMM_AVX2
      make_kernel<float>(kAvx2, 6, 16, &micro_kernel_avx2<Avx2Float, 6>, "avx2 6x16", kAvx2SharesFloat),
      make_kernel<float>(kAvx512, avx512::kMR, 32, &avx512::micro_kernel<avx512::F32>, "avx512 12x32", kAvx512Shares),
#else
      make_kernel<float>(kPortable, 4, 8, &micro_kernel_portable<float, 4, 8>, "portable 4x8", kPortableSharesFloat),
      make_kernel<float>(kPortable, 4, 8, &micro_kernel_portable<float, 4, 8>, "portable 4x8", kPortableSharesFloat),
#endif
      make_kernel<float>(kPortable12x32, 12, 32, &micro_kernel_portable<float, 12, 32>, "portable-12x32 12x32",
                         BlockingShares{0.75, 0.5, 0.5}),
  };
  return table[family];
}

template <>
const GemmMicroKernel<double>& kernel_entry<double>(int family) {
  static const GemmMicroKernel<double> table[kFamilies] = {
      make_kernel<double>(kPortable, 4, 4, &micro_kernel_portable<double, 4, 4>, "portable 4x4", kPortableSharesDouble),
#if CNNKIT_GEMM_AVX2
      make_kernel<double>(kAvx2, 6, 8, &micro_kernel_avx2<Avx2Double, 6>, "avx2 6x8", kAvx2SharesDouble),
      make_kernel<double>(kAvx512, avx512::kMR, 16, &avx512::micro_kernel<avx512::F64>, "avx512 12x16", kAvx512Shares),
#else
      make_kernel<double>(kPortable, 4, 4, &micro_kernel_portable<double, 4, 4>, "portable 4x4", kPortableSharesDouble),
      make_kernel<double>(kPortable, 4, 4, &micro_kernel_portable<double, 4, 4>, "portable 4x4", kPortableSharesDouble),
#endif
      make_kernel<double>(kPortable12x32, 12, 16, &micro_kernel_portable<double, 12, 16>, "portable-12x32 12x16",
                          BlockingShares{0.75, 0.5, 0.5}),
  };
  return table[family];
}

template <class T>
const char* dtype_family() {
  return std::is_same_v<T, float> ? "gemm_float" : "gemm_double";
}

// The fixed problem of the self-check: M = 2 MR + 3 and N = 2 NR + 5 (full and edge tiles in both
// directions), K = 2 kc + 37 (three k blocks, the last accumulating onto the first), alpha -0.75,
// beta 0.5, B both in place (not transposed: the few-row direct path) and packed (transposed), with
// A transposed in the second case, through the same loop nest as every product (gemm_block).
// Values are small integers over 8, so every product and partial sum is exact in float (|sum| <
// 2^24 / 64): the kernel must agree with gemm_naive to rounding of the final alpha/beta step.
template <class T>
bool gemm_selfcheck(const GemmMicroKernel<T>& uk, std::string& detail) {
  const int64_t M = 2 * uk.mr + 3, N = 2 * uk.nr + 5, K = 2 * std::min<int64_t>(uk.kc, 64) + 37;
  GemmMicroKernel<T> k = uk;
  k.kc = std::min<int64_t>(uk.kc, 64);  // small k blocks, so that K spans three of them
  std::vector<T> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(K * N)), C0(static_cast<size_t>(M * N));
  for (size_t i = 0; i < A.size(); ++i) A[i] = T(int64_t(i * 7 % 17) - 8) / T(8);
  for (size_t i = 0; i < B.size(); ++i) B[i] = T(int64_t(i * 5 % 13) - 6) / T(8);
  for (size_t i = 0; i < C0.size(); ++i) C0[i] = T(int64_t(i * 3 % 11) - 5) / T(4);
  double worst = 0;
  for (int variant = 0; variant < 2; ++variant) {
    const bool trans = variant == 1;  // A (K, M) and B (N, K) stored transposed
    std::vector<T> a = A, b = B;
    if (trans) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t p = 0; p < K; ++p) a[p * M + i] = A[i * K + p];
      for (int64_t p = 0; p < K; ++p)
        for (int64_t j = 0; j < N; ++j) b[j * K + p] = B[p * N + j];
    }
    const int64_t lda = trans ? M : K, ldb = trans ? K : N;
    std::vector<T> got = C0, want = C0;
    gemm_block(k, trans, trans, 0, M, 0, N, K, T(-0.75), a.data(), lda, b.data(), ldb, T(0.5), got.data(), N);
    gemm_naive(trans, trans, M, N, K, T(-0.75), a.data(), lda, b.data(), ldb, T(0.5), want.data(), N);
    for (size_t i = 0; i < got.size(); ++i) {
      const double e = std::fabs(double(got[i]) - double(want[i]));
      if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
    }
  }
  const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-10;
  if (worst <= tol) return true;
  detail = "max abs error " + std::to_string(worst) + " on a " + std::to_string(M) + "x" + std::to_string(N) + "x" +
           std::to_string(K) + " product";
  return false;
}

// The kernel a dtype really uses for a requested family: the family itself once it passed its
// self-check, else (recursively) the next one down. Portable kernels are the reference: no check.
template <class T>
const GemmMicroKernel<T>& verified_kernel(int family) {
  static std::once_flag once[kFamilies];
  static const GemmMicroKernel<T>* resolved[kFamilies];
  std::call_once(once[family], [family] {
    const GemmMicroKernel<T>& uk = kernel_entry<T>(family);
    if (family != kAvx2 && family != kAvx512) {
      resolved[family] = &uk;
      return;
    }
    std::string detail;
    const std::string fam = dtype_family<T>();
    const bool forced = simd_selfcheck_forced_fail(fam.c_str()) ||
                        simd_selfcheck_forced_fail((fam + ":" + family_name(family)).c_str());
    if (forced) detail = "forced by CNNKIT_SIMD_SELFCHECK_FAIL";
    if (!forced && gemm_selfcheck(uk, detail)) {
      resolved[family] = &uk;
      return;
    }
    const int lower = family == kAvx512 ? kAvx2 : kPortable;
    const GemmMicroKernel<T>& fallback = verified_kernel<T>(lower);
    simd_record_fallback(std::string("self-check of the ") + uk.name + " " + fam + " kernel failed (" + detail +
                         "); " + fam + " uses " + fallback.name + " instead");
    resolved[family] = &fallback;
  });
  return *resolved[family];
}

}  // namespace

template <>
const GemmMicroKernel<float>& gemm_micro_kernel<float>() {
  return verified_kernel<float>(current_family());
}
template <>
const GemmMicroKernel<double>& gemm_micro_kernel<double>() {
  return verified_kernel<double>(current_family());
}

bool gemm_avx2_available() { return family_available(kAvx2); }
bool gemm_avx512_available() { return family_available(kAvx512); }

std::string gemm_kernel_name() {
  const GemmMicroKernel<float>& f = gemm_micro_kernel<float>();
  const GemmMicroKernel<double>& d = gemm_micro_kernel<double>();
  // The family the float kernel comes from first; a double kernel of another family (one of them
  // fell back after a failed self-check) is named in full.
  std::string name = family_name(f.family);
  name += " (float " + std::to_string(f.mr) + "x" + std::to_string(f.nr) + ", double ";
  if (d.family != f.family) name += std::string(family_name(d.family)) + " ";
  name += std::to_string(d.mr) + "x" + std::to_string(d.nr) + ")";
  if (f.family != current_family() || d.family != current_family())
    name += std::string("; ") + family_name(current_family()) + " failed its self-check";
  if (g_override.load() < 0) name += initial_choice().note;
  return name;
}

std::string gemm_blocking_info() {
  const GemmMicroKernel<float>& f = gemm_micro_kernel<float>();
  const GemmMicroKernel<double>& d = gemm_micro_kernel<double>();
  auto one = [](const char* t, int64_t kc, int64_t mc, int64_t nc) {
    return std::string(t) + " kc " + std::to_string(kc) + " mc " + std::to_string(mc) + " nc " + std::to_string(nc);
  };
  return one("float", f.kc, f.mc, f.nc) + "; " + one("double", d.kc, d.mc, d.nc) +
         (blocking_override() ? " (CNNKIT_GEMM_BLOCKING)" : " (from the cache sizes)");
}

void set_gemm_kernel(const std::string& name) {
  if (name == "auto") {
    g_override.store(-1);
    return;
  }
  for (int f = 0; f < kFamilies; ++f) {
    if (name != family_name(f)) continue;
    CNNKIT_CHECK(family_available(f), RuntimeError, "set_gemm_kernel: the ", name,
                 " kernel is not available here (needs an x86-64 GCC/Clang build and a CPU with ",
                 f == kAvx512 ? "AVX-512 F/BW/DQ/VL" : "AVX2 and FMA", "; this CPU: ",
                 cpu_simd_missing(f == kAvx512 ? SimdLevel::kAvx512 : SimdLevel::kAvx2), ")");
    g_override.store(f);
    return;
  }
  CNNKIT_CHECK(false, ValueError, "set_gemm_kernel: expected 'portable', 'avx2', 'avx512' or 'auto', got '", name, "'");
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const GemmMicroKernel<T>& uk = gemm_micro_kernel<T>();
  const int64_t mtiles = (M + uk.mr - 1) / uk.mr, ntiles = (N + uk.nr - 1) / uk.nr;

  // Thread grid tm x tn: as many blocks as threads (no more than there are tiles), choosing the
  // factorisation with the least packing traffic, i.e. the smallest M/tm + N/tn.
  int64_t threads = 1;
  if (!in_parallel_region() && M * N * K >= kParallelMinWork) threads = get_num_threads();
#ifdef _OPENMP
  // Large products whose B is packed: one team sharing the packed operands (gemm_team).
  const bool packs_b = trans_b || (mtiles > kDirectBRowTiles && K > kDirectBMaxK);
  if (threads > 1 && packs_b && M * N * K >= kTeamMinWork) {
    gemm_team(uk, static_cast<int>(threads), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  int64_t tm = 1, tn = 1;
  double best = -1;
  for (int64_t p = std::min<int64_t>(threads, mtiles * ntiles); p >= 1 && best < 0; --p) {
    for (int64_t a = 1; a <= p; ++a) {
      if (p % a != 0 || a > mtiles || p / a > ntiles) continue;
      const double cost = double(M) / a + double(N) / (p / a);
      if (best < 0 || cost < best) best = cost, tm = a, tn = p / a;
    }
  }
  if (tm * tn == 1) {
    gemm_block(uk, trans_a, trans_b, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  parallel_for(0, tm * tn, 0, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t bi = t / tn, bj = t % tn;
      const int64_t m0 = std::min(M, mtiles * bi / tm * uk.mr), m1 = std::min(M, mtiles * (bi + 1) / tm * uk.mr);
      const int64_t n0 = std::min(N, ntiles * bj / tn * uk.nr), n1 = std::min(N, ntiles * (bj + 1) / tn * uk.nr);
      if (m0 < m1 && n0 < n1)
        gemm_block(uk, trans_a, trans_b, m0, m1, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
  });
}

// The textbook definition, one dot product per element of C; no blocking, no threads.
template <class T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = T(0);
      for (int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * acc : alpha * acc + beta * c;
    }
  }
}

template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc, int64_t sc) {
  auto one = [&](int64_t i) {
    gemm<T>(trans_a, trans_b, M, N, K, T(1), A + i * sa, lda, B + i * sb, ldb, T(0), C + i * sc, ldc);
  };
  // Small matrices: one whole product per thread (the inner gemm sees the parallel region and stays
  // serial). Large ones: one after another, each using all threads.
  if (M * N * K < 16 * kParallelMinWork) {
    parallel_for(0, batch, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

template <class T>
void gemm_pack_rows(T* dst, const T* X, int64_t ld, int64_t n, int64_t K, int r) {
  pack_panel(false, dst, X, ld, K, n, r);
}

#define CNNKIT_INSTANTIATE_GEMM(T)                                                                          \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                        int64_t);                                                                           \
  template void gemm_naive<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                              T*, int64_t);                                                                 \
  template void gemm_batched<T>(bool, bool, int64_t, int64_t, int64_t, int64_t, const T*, int64_t, int64_t,    \
                                const T*, int64_t, int64_t, T*, int64_t, int64_t);                          \
  template void gemm_pack_rows<T>(T*, const T*, int64_t, int64_t, int64_t, int);
CNNKIT_INSTANTIATE_GEMM(float)
CNNKIT_INSTANTIATE_GEMM(double)
#undef CNNKIT_INSTANTIATE_GEMM

}  // namespace cnnkit
