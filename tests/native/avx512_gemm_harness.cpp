// Checks the AVX-512 GEMM micro-kernels of csrc/ops/gemm_avx512_kernel.h on any x86-64 or ARM CPU by
// compiling them against SIMDe's portable AVX-512 (tests/test_avx512_emulated.py builds and runs
// this). Every (mr, nr) tile shape, several kc, alpha/beta pairs (beta = 0 with NaN in C), packed
// (ldbk = NR) and in-place (ldbk > nr) B, against a plain loop in long double; C is surrounded by
// sentinels that must survive (nothing beyond row mr or column nr may be written).
// Prints "ok <float cases> <double cases>" and exits 0, or prints the first mismatches and exits 1.
#define SIMDE_ENABLE_NATIVE_ALIASES
// The parts of SIMDe's <simde/x86/avx512.h> the kernel uses (the whole header takes minutes to compile).
#include <simde/x86/avx512/fmadd.h>
#include <simde/x86/avx512/loadu.h>
#include <simde/x86/avx512/mul.h>
#include <simde/x86/avx512/set1.h>
#include <simde/x86/avx512/setzero.h>
#include <simde/x86/avx512/storeu.h>
#include <simde/x86/sse.h>
#define CNNKIT_AVX512_EMULATED 1
#include "ops/gemm_avx512_kernel.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

namespace {

unsigned g_state = 12345u;
double uniform() {  // deterministic values in [-1, 1)
  g_state = g_state * 1664525u + 1013904223u;
  return (g_state >> 8) * (1.0 / 8388608.0) - 1.0;
}

int g_failures = 0;

template <class S>
long run_cases(const char* name, double tol) {
  using T = typename S::T;
  constexpr int MR = cnnkit::avx512::kMR, NR = 2 * S::W;
  const int kcs[] = {1, 2, 5, 16, 67};
  const T alphas[] = {T(1), T(-0.75), T(1)}, betas[] = {T(0), T(0.5), T(1)};
  long cases = 0;
  for (int mr = 1; mr <= MR; ++mr)
    for (int nr = 1; nr <= NR; ++nr)
      for (int kc : kcs)
        for (int ab = 0; ab < 3; ++ab)
          for (int ldbk : {NR, NR + 5}) {
            const T alpha = alphas[ab], beta = betas[ab];
            std::vector<T> a(size_t(kc) * MR), b(size_t(kc) * ldbk + NR);
            for (auto& x : a) x = T(uniform());
            for (auto& x : b) x = T(uniform());
            const int ldc = NR + 3, rows = MR + 2;
            const T sentinel = T(1234.5);
            std::vector<T> c(size_t(rows) * ldc, sentinel), c0;
            for (int i = 0; i < mr; ++i)
              for (int j = 0; j < nr; ++j)
                c[size_t(i + 1) * ldc + j] = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : T(uniform());
            c0 = c;
            T* ct = c.data() + ldc;  // row 0 of the tile is row 1 of the buffer: row -1 is a sentinel row
            cnnkit::avx512::micro_kernel<S>(kc, a.data(), b.data(), ldbk, ct, ldc, alpha, beta, mr, nr);
            ++cases;
            for (int i = -1; i < rows - 1; ++i)
              for (int j = 0; j < ldc; ++j) {
                const T got = ct[i * ldc + j];
                long double want, scale = 1;
                if (i >= 0 && i < mr && j < nr) {
                  long double acc = 0, mag = 0;
                  for (int k = 0; k < kc; ++k) {
                    const long double t = (long double)a[size_t(k) * MR + i] * b[size_t(k) * ldbk + j];
                    acc += t;
                    mag += std::fabs((double)t);
                  }
                  const long double cold = c0[size_t(i + 1) * ldc + j];
                  want = alpha * acc + (beta == T(0) ? 0 : beta * cold);
                  scale = 1 + std::fabs((double)alpha) * mag + (beta == T(0) ? 0.0 : std::fabs((double)(beta * cold)));
                } else {
                  want = sentinel;  // outside the tile: untouched
                }
                const double err = std::fabs((double)((long double)got - want));
                if (!(err <= tol * (double)scale)) {
                  if (++g_failures <= 10)
                    std::printf("MISMATCH %s mr=%d nr=%d kc=%d ldbk=%d alpha=%g beta=%g at (%d,%d): got %.9g want %.9Lg (err %.3g, scale %.3g)\n",
                                name, mr, nr, kc, ldbk, (double)alpha, (double)beta, i, j, (double)got, want, err, (double)scale);
                }
              }
          }
  return cases;
}

}  // namespace

int main() {
  const long nf = run_cases<cnnkit::avx512::F32>("float", 1e-6);
  const long nd = run_cases<cnnkit::avx512::F64>("double", 1e-14);
  if (g_failures) {
    std::printf("FAILED %d elements\n", g_failures);
    return 1;
  }
  std::printf("ok %ld %ld\n", nf, nd);
  return 0;
}
