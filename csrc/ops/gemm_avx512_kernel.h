// AVX-512F GEMM micro-kernels, float 12 x 32 and double 12 x 16, with the contract of
// GemmMicroKernel (ops/gemm.h): C[0:mr, 0:nr] = alpha * sum_k a[k*12 + i] * b[k*ldbk + j] + beta * C
// for a packed 12-tall A sliver and a B sliver of row stride ldbk; beta == 0 does not read C; nothing
// beyond row mr or column nr of C, and no column of B beyond nr, is touched.
//
// Standalone on purpose (it needs only <cstdint> and the intrinsics), so that a test can compile it
// against SIMDe's portable AVX-512 (tests/test_avx512_emulated.py: define CNNKIT_AVX512_EMULATED and
// include <simde/x86/avx512.h> with SIMDE_ENABLE_NATIVE_ALIASES first; CNNKIT_TARGET_AVX512 then
// expands to nothing) and check it on a CPU without AVX-512. In the library (gemm.cpp) the functions
// are compiled for AVX-512 by a function target attribute only, so the rest of the library stays
// baseline x86-64 and one wheel runs on every CPU; gemm.cpp calls them only at the avx512 SIMD level.
//
// Register tile: 32 zmm registers. float 12 rows x 2 vectors of 16 = 24 accumulators, plus 2 for
// the B row of the current k and 1 for the broadcast A element = 27 (room for the compiler's
// temporaries, so nothing spills; 14 x 32 = 31 leaves none). Per k: 2 B loads, 12 broadcasts of A
// (vbroadcastss from memory, on the load ports) and 24 independent FMAs. Two 512-bit FMA units with
// a 4-cycle latency need 8 accumulators in flight; 24 keeps both busy while the 14 loads per 24 FMAs
// fit the 2 load ports. This is the shape BLIS uses on Skylake-X (its 32 x 12, column-major). double
// 12 x 16 is the same layout in 8-wide vectors. Right-edge tiles (nr < NR) load B and load/store C
// through __mmask16 / __mmask8 lane masks instead of scalar tails; tiles with nr <= W use one vector
// per row, and edge rows (mr < 12) are their own instantiations, so edge tiles cost their own size.
#pragma once
#include <cstdint>

#ifndef CNNKIT_AVX512_EMULATED
#include <immintrin.h>
#define CNNKIT_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define CNNKIT_AVX512_MASK8 __mmask8
#define CNNKIT_AVX512_MASK16 __mmask16
#else
#define CNNKIT_TARGET_AVX512
#define CNNKIT_AVX512_MASK8 simde__mmask8  // SIMDe has no native alias for __mmask8
#define CNNKIT_AVX512_MASK16 simde__mmask16
#endif
// 512-bit arguments of these inline helpers: GCC warns that the ABI differs from a build without
// AVX-512; they are only called from other AVX-512 code, so it does not matter.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace cnnkit {
namespace avx512 {

constexpr int kMR = 12;  // rows of both tiles (the A sliver height)

#ifdef CNNKIT_AVX512_EMULATED
// SIMDe's masked loads read the whole vector and its masked stores (0.8) write zeros to the lanes
// that are masked off, where AVX-512 leaves memory untouched: the emulated build goes lane by lane
// instead, so the test sees exactly the memory the kernel's masks allow (and reads nothing else).
template <class T>
struct Lanes {
  T v[64 / sizeof(T)];
};
template <class T, class M>
inline Lanes<T> emulated_mload(M m, const T* p) {
  Lanes<T> t{};
  for (int j = 0; j < int(64 / sizeof(T)); ++j)
    if ((m >> j) & 1) t.v[j] = p[j];
  return t;
}
template <class T, class M, class V, class Store>
inline void emulated_mstore(T* p, M m, V v, Store store) {
  Lanes<T> t;
  store(t.v, v);
  for (int j = 0; j < int(64 / sizeof(T)); ++j)
    if ((m >> j) & 1) p[j] = t.v[j];
}
#endif

struct F32 {
  using T = float;
  using V = __m512;
  using M = CNNKIT_AVX512_MASK16;
  static constexpr int W = 16;
  static inline M mask(int n) { return n <= 0 ? M(0) : n >= W ? M(0xFFFF) : M((1u << n) - 1u); }
  CNNKIT_TARGET_AVX512 static inline V zero() { return _mm512_setzero_ps(); }
  CNNKIT_TARGET_AVX512 static inline V load(const T* p) { return _mm512_loadu_ps(p); }
#ifndef CNNKIT_AVX512_EMULATED
  CNNKIT_TARGET_AVX512 static inline V mload(M m, const T* p) { return _mm512_maskz_loadu_ps(m, p); }
  CNNKIT_TARGET_AVX512 static inline void mstore(T* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
#else
  static inline V mload(M m, const T* p) { return _mm512_loadu_ps(emulated_mload(m, p).v); }
  static inline void mstore(T* p, M m, V v) { emulated_mstore(p, m, v, [](T* q, V x) { _mm512_storeu_ps(q, x); }); }
#endif
  CNNKIT_TARGET_AVX512 static inline void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  CNNKIT_TARGET_AVX512 static inline V set1(T x) { return _mm512_set1_ps(x); }
  CNNKIT_TARGET_AVX512 static inline V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  CNNKIT_TARGET_AVX512 static inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
};

struct F64 {
  using T = double;
  using V = __m512d;
  using M = CNNKIT_AVX512_MASK8;
  static constexpr int W = 8;
  static inline M mask(int n) { return n <= 0 ? M(0) : n >= W ? M(0xFF) : M((1u << n) - 1u); }
  CNNKIT_TARGET_AVX512 static inline V zero() { return _mm512_setzero_pd(); }
  CNNKIT_TARGET_AVX512 static inline V load(const T* p) { return _mm512_loadu_pd(p); }
#ifndef CNNKIT_AVX512_EMULATED
  CNNKIT_TARGET_AVX512 static inline V mload(M m, const T* p) { return _mm512_maskz_loadu_pd(m, p); }
  CNNKIT_TARGET_AVX512 static inline void mstore(T* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
#else
  static inline V mload(M m, const T* p) { return _mm512_loadu_pd(emulated_mload(m, p).v); }
  static inline void mstore(T* p, M m, V v) { emulated_mstore(p, m, v, [](T* q, V x) { _mm512_storeu_pd(q, x); }); }
#endif
  CNNKIT_TARGET_AVX512 static inline void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  CNNKIT_TARGET_AVX512 static inline V set1(T x) { return _mm512_set1_pd(x); }
  CNNKIT_TARGET_AVX512 static inline V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  CNNKIT_TARGET_AVX512 static inline V mul(V a, V b) { return _mm512_mul_pd(a, b); }
};

// MRC rows x NV vectors (NV = 1: nr <= W, NV = 2: nr <= 2W) of a tile whose A sliver is kMR tall.
// PART: masked B loads and C accesses (nr < NV * W). The accumulators are indexed only with
// compile-time constants inside fully unrolled loops, so they stay in registers.
template <class S, int MRC, int NV, bool PART>
CNNKIT_TARGET_AVX512 void tile(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                               int64_t ldbk, typename S::T* __restrict c, int64_t ldc, typename S::T alpha,
                               typename S::T beta, int nr) {
  using T = typename S::T;
  using V = typename S::V;
  using M = typename S::M;
  constexpr int W = S::W;
  const M m0 = S::mask(PART ? nr : W), m1 = S::mask(PART ? nr - W : W);
  V acc[MRC][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MRC; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  // The C tile is needed after the loop: start fetching its rows now.
#pragma GCC unroll 16
  for (int i = 0; i < MRC; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + v * W), _MM_HINT_T0);
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
    bv[0] = PART ? S::mload(m0, b) : S::load(b);
    if constexpr (NV == 2) bv[1] = PART ? S::mload(m1, b + W) : S::load(b + W);
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i) {
      const V ai = S::set1(a[i]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += ldbk;
  }
  const V va = S::set1(alpha);
  const M ms[2] = {m0, m1};
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        T* p = c + i * ldc + v * W;
        if (PART)
          S::mstore(p, ms[v], S::mul(va, acc[i][v]));
        else
          S::store(p, S::mul(va, acc[i][v]));
      }
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MRC; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        T* p = c + i * ldc + v * W;
        if (PART)
          S::mstore(p, ms[v], S::fmadd(va, acc[i][v], S::mul(vb, S::mload(ms[v], p))));
        else
          S::store(p, S::fmadd(va, acc[i][v], S::mul(vb, S::load(p))));
      }
  }
}

template <class S>
using TileFn = void (*)(int64_t, const typename S::T*, const typename S::T*, int64_t, typename S::T*, int64_t,
                        typename S::T, typename S::T, int);

// Tables of the instantiations for mr = 1..kMR (index mr - 1).
template <class S, int NV, bool PART, int... I>
struct TileTable {
  static constexpr TileFn<S> fns[sizeof...(I)] = {&tile<S, I + 1, NV, PART>...};
};

template <class S, int NV, bool PART>
inline TileFn<S> tile_for(int mr) {
  using Table = TileTable<S, NV, PART, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11>;
  static_assert(sizeof(Table::fns) / sizeof(Table::fns[0]) == kMR, "one instantiation per row count");
  return Table::fns[mr - 1];
}

// The kernel entry (GemmMicroKernel::fn): full 12 x 2W tiles straight to their instantiation, edge
// tiles to the one for their row count and width. 1 <= mr <= kMR, 1 <= nr <= 2W.
template <class S>
void micro_kernel(int64_t kc, const typename S::T* a, const typename S::T* b, int64_t ldbk, typename S::T* c,
                  int64_t ldc, typename S::T alpha, typename S::T beta, int mr, int nr) {
  constexpr int W = S::W;
  if (mr == kMR && nr == 2 * W) return tile<S, kMR, 2, false>(kc, a, b, ldbk, c, ldc, alpha, beta, nr);
  if (nr == 2 * W) return tile_for<S, 2, false>(mr)(kc, a, b, ldbk, c, ldc, alpha, beta, nr);
  if (nr > W) return tile_for<S, 2, true>(mr)(kc, a, b, ldbk, c, ldc, alpha, beta, nr);
  return tile_for<S, 1, true>(mr)(kc, a, b, ldbk, c, ldc, alpha, beta, nr);
}

}  // namespace avx512
}  // namespace cnnkit
