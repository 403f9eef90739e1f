// Small AVX2+FMA vector-math helpers for the memory-bound CPU kernels (activations, softmax,
// losses, pooling, elementwise). No kernel lives here, so backward semantics (= or +=) do not apply.
//
// The library is compiled for baseline x86-64 (no -march flags: one wheel runs on any CPU), so
// plain loops vectorise to SSE2 only. Functions marked CNNKIT_AVX2 are compiled for AVX2+FMA by a
// function attribute (as csrc/ops/gemm.cpp does) and may be called only when simd_avx2() is true:
// the selected SIMD level (below) is avx2 or avx512 (CNNKIT_SIMD=portable turns them off; read
// once at first use; tests run both paths). Elsewhere (aarch64,
// MSVC, other compilers) CNNKIT_HAVE_AVX2 is 0 and only the portable loops are compiled.
//
// Vector exp (exp256): the algorithm of the scalar vexp in activation.h (Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, Cephes' degree-6 polynomial for exp(r) (S. Moshier, Cephes Math
// Library, expf.c), 2^n applied as two normal factors so results underflow gradually), evaluated
// with FMAs. Measured against double-precision std::exp over [-104, 89] (2^24 evenly spaced points
// plus every float in [-1, 1] step 2^-20): max error 2 ulp (tests/test_activation.py checks
// <= 3 ulp over the whole range). NaN propagates, exp(-inf) = 0, exp(+inf) = inf.
// Vector tanh (tanh256): Cephes tanhf: |x| < 0.625 an odd degree-11 polynomial, else
// 1 - 2 / (exp(2|x|) + 1) with the sign of x; max error 3 ulp against double std::tanh.
#pragma once
#include <cstdint>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define CNNKIT_HAVE_AVX2 1
#include <immintrin.h>
#define CNNKIT_AVX2 __attribute__((target("avx2,fma")))
// __m256 arguments/returns of CNNKIT_AVX2 functions: GCC warns that the ABI differs from a build
// without AVX; these functions are only ever called from other AVX2 code, so it does not matter.
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define CNNKIT_HAVE_AVX2 0
#define CNNKIT_AVX2
#endif

#include <string>
#include <vector>

namespace cnnkit {

// ---- SIMD level ------------------------------------------------------------------------------
// One level for the whole CPU, ordered portable < avx2 < avx512, decided once at first use:
//   portable  baseline code (SSE2 on x86-64, whatever the compiler vectorises elsewhere);
//   avx2      the CPU reports AVX2 and FMA (cpuid leaf 7 / leaf 1) and the OS saves the YMM state
//             (CPUID.1:ECX.OSXSAVE and XCR0 bits 1-2, read with xgetbv);
//   avx512    avx2, plus AVX-512 F, BW, DQ and VL, and the OS saves the opmask / ZMM state too
//             (XCR0 bits 5-7).
// cpuid alone is not enough: an OS (or hypervisor) that does not save the wider registers across
// context switches makes those instructions fault or corrupt data, which is what xgetbv reports.
// CNNKIT_SIMD=avx512|avx2|portable|auto forces a level; a level the CPU lacks falls back to the
// best one it has, with a one-line warning on stderr (simd_selection_note says why).
enum class SimdLevel : int { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

const char* simd_level_name(SimdLevel level);  // "portable", "avx2", "avx512"
SimdLevel cpu_simd_level();                   // the best level this CPU, OS and build support
std::string cpu_simd_missing(SimdLevel level);  // why the CPU lacks `level` ("" when it has it)
SimdLevel simd_selected_level();              // the level in use (cpu_simd_level unless CNNKIT_SIMD)
std::string simd_selection_note();            // why CNNKIT_SIMD was not followed, "" when it was

// ---- Self-check ------------------------------------------------------------------------------
// Each SIMD kernel family is checked against the portable code the first time it is selected above
// portable (gemm.cpp for gemm_float / gemm_double, simd.cpp for the vector-math family "vecmath");
// on a mismatch the family drops one level. CNNKIT_SIMD_SELFCHECK_FAIL=<family>[,<family>...]
// (or "all") makes the named checks fail on purpose: for testing the fallback on a healthy CPU.
bool simd_selfcheck_forced_fail(const char* family);
// Prints "cnnkit: RuntimeWarning: ..." on stderr and keeps the message for simd_fallbacks().
void simd_record_fallback(const std::string& message);
std::vector<std::string> simd_fallbacks();    // the self-check fallbacks so far, in order

// ---- Cache sizes -----------------------------------------------------------------------------
// Data-cache sizes in bytes, read once: cpuid leaf 4 (Intel) or 0x8000001D (AMD, Hygon) first,
// then sysconf(_SC_LEVEL1_DCACHE_SIZE...), then /sys/devices/system/cpu/cpu0/cache; a size none of
// them gives takes a common default (32 KiB L1d, 1 MiB L2, 2 MiB of L3 per core). l3_sharing: the
// logical CPUs sharing one L3 (1 when unknown); the gemm blocking uses l3 / l3_sharing.
struct CpuCaches {
  int64_t l1d, l2, l3;
  int64_t l3_sharing;
  std::string source;  // "cpuid", "sysconf", "sysfs" or "default" (the first that gave the L1d)
};
const CpuCaches& cpu_caches();

// True when the AVX2+FMA code paths of the memory-bound kernels may run: the selected level is at
// least avx2 and the vecmath self-check passed.
bool simd_avx2();

// v[i] = exp(v[i]) for i in [0, n) with exp256; call only when simd_avx2() (activation.h's
// vexp_inplace does the dispatch).
void vexp_inplace_avx2(float* v, int64_t n);
// v[i] = tanh(v[i]) with tanh256 (out-of-place: out may equal inp); same condition.
void vtanh_avx2(float* out, const float* inp, int64_t n);

#if CNNKIT_HAVE_AVX2
namespace simd {

CNNKIT_AVX2 inline __m256 exp256(__m256 x) {
  // Clamp with NaN passing through: max/min return their second operand when either is NaN.
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
  const __m256 shift = _mm256_set1_ps(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), shift);
  const __m256 n = _mm256_sub_ps(t, shift);
  const __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

CNNKIT_AVX2 inline __m256 tanh256(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  // Large |x|: 1 - 2 / (exp(2|x|) + 1); exp saturates to a finite value, so this tends to 1.
  const __m256 e = exp256(_mm256_add_ps(ax, ax));
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
  // Small |x|: x + x * z * P(z), z = x^2 (NaN lands here and propagates).
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 is_big = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_GE_OQ);
  return _mm256_blendv_ps(small, big, is_big);
}

// Horizontal reductions of one register.
CNNKIT_AVX2 inline float hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
CNNKIT_AVX2 inline double hsum256d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Loads / stores of the first n < 8 lanes (tails), the other lanes read as `fill`.
CNNKIT_AVX2 inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
CNNKIT_AVX2 inline __m256 load_tail(const float* p, int64_t n, float fill) {
  const __m256i m = tail_mask(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
CNNKIT_AVX2 inline void store_tail(float* p, int64_t n, __m256 v) { _mm256_maskstore_ps(p, tail_mask(n), v); }

}  // namespace simd
#endif

}  // namespace cnnkit
