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
// sees strides, and pads edge slivers with zeros so it always runs a full MR x NR tile; edge tiles
// of C go through a small scratch tile and only the valid part is written back.
//
// Threads: C is cut into a tm x tn grid of blocks (tm * tn <= threads, boundaries on MR/NR tile
// edges), one block per thread, each thread running the serial loop nest above with its own packing
// buffers. Panels shared by two blocks are packed twice; that costs O((M+N)K) against O(MNK/threads)
// of arithmetic and needs no synchronisation. Every C element is produced by the same sequence of
// operations whatever the grid (k order and kc blocking are global), so results do not depend on the
// number of threads.
#include "ops/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"
#include "core/parallel.h"

namespace cnnkit {

// ---------------------------------------------------------------------------------------------
// Scratch memory
// ---------------------------------------------------------------------------------------------
template <class T>
ScratchBuffer<T>::~ScratchBuffer() {
  std::free(ptr_);
}

template <class T>
void ScratchBuffer<T>::reset(size_t n) {
  if (n <= size_ && ptr_ != nullptr) return;
  std::free(ptr_);
  ptr_ = nullptr;
  size_ = 0;
  // aligned_alloc needs a size that is a multiple of the alignment.
  const size_t bytes = ((std::max<size_t>(n, 1) * sizeof(T) + 63) / 64) * 64;
  ptr_ = static_cast<T*>(std::aligned_alloc(64, bytes));
  CNNKIT_CHECK(ptr_ != nullptr, OutOfMemory, "cnnkit: CPU out of memory: tried to allocate ", bytes,
               " bytes of scratch space");
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
void micro_kernel_portable(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                           int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    T bk[NR];
    for (int j = 0; j < NR; ++j) bk[j] = b[k * NR + j];
    for (int i = 0; i < MR; ++i) {
      const T ai = a[k * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  if (beta == T(0)) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j];
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
  }
}

// Cache blocking (upper bounds). kc: a B sliver (kc x NR) plus an A sliver (kc x MR) fit in a
// 32 KiB L1 with room to spare (256 x (8 + 4) floats = 12 KiB). mc: the packed A block (mc x kc)
// fits in a 512 KiB L2 (96 x 256 floats = 96 KiB; doubles 192 KiB). nc: the packed B panel
// (kc x nc) is 2 MiB of floats, a share of the L3. mc and nc are rounded down to multiples of MR
// and NR at run time.
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 96;
constexpr int64_t kNC = 2048;

// Largest register tile a micro-kernel may use (the edge-tile scratch lives on the stack); 16 x 32
// covers AVX-512 float tiles (e.g. 14 x 32) with room to spare.
constexpr int kMaxTileElems = 16 * 32;

// Below this many multiply-adds a gemm runs on one thread: an OpenMP fork/join costs a few
// microseconds, as much as a 64^3 product.
constexpr int64_t kParallelMinWork = int64_t(1) << 18;

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Packs rows [i0, i0+mb) x cols [p0, p0+kb) of op(A) into MR-tall slivers: sliver s holds
// dst[s*kb*MR + k*MR + i] = op(A)(i0 + s*MR + i, p0 + k), rows beyond mb set to zero.
template <class T>
void pack_a(T* dst, const T* A, int64_t lda, bool trans_a, int64_t i0, int64_t p0, int64_t mb, int64_t kb, int MR) {
  for (int64_t s = 0; s * MR < mb; ++s) {
    T* d = dst + s * kb * MR;
    const int64_t rows = std::min<int64_t>(MR, mb - s * MR);
    const int64_t r0 = i0 + s * MR;
    if (trans_a) {
      // A is stored (K, M): one k gives MR consecutive elements.
      for (int64_t k = 0; k < kb; ++k) {
        const T* src = A + (p0 + k) * lda + r0;
        for (int64_t i = 0; i < rows; ++i) d[k * MR + i] = src[i];
        for (int64_t i = rows; i < MR; ++i) d[k * MR + i] = T(0);
      }
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        const T* src = A + (r0 + i) * lda + p0;
        for (int64_t k = 0; k < kb; ++k) d[k * MR + i] = src[k];
      }
      for (int64_t i = rows; i < MR; ++i)
        for (int64_t k = 0; k < kb; ++k) d[k * MR + i] = T(0);
    }
  }
}

// Packs rows [p0, p0+kb) x cols [j0, j0+nb) of op(B) into NR-wide slivers:
// dst[s*kb*NR + k*NR + j] = op(B)(p0 + k, j0 + s*NR + j), columns beyond nb set to zero.
template <class T>
void pack_b(T* dst, const T* B, int64_t ldb, bool trans_b, int64_t p0, int64_t j0, int64_t kb, int64_t nb, int NR) {
  for (int64_t s = 0; s * NR < nb; ++s) {
    T* d = dst + s * kb * NR;
    const int64_t cols = std::min<int64_t>(NR, nb - s * NR);
    const int64_t c0 = j0 + s * NR;
    if (trans_b) {
      // B is stored (N, K): column j of op(B) is row j of B.
      for (int64_t j = 0; j < cols; ++j) {
        const T* src = B + (c0 + j) * ldb + p0;
        for (int64_t k = 0; k < kb; ++k) d[k * NR + j] = src[k];
      }
      for (int64_t j = cols; j < NR; ++j)
        for (int64_t k = 0; k < kb; ++k) d[k * NR + j] = T(0);
    } else {
      for (int64_t k = 0; k < kb; ++k) {
        const T* src = B + (p0 + k) * ldb + c0;
        for (int64_t j = 0; j < cols; ++j) d[k * NR + j] = src[j];
        for (int64_t j = cols; j < NR; ++j) d[k * NR + j] = T(0);
      }
    }
  }
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

// The serial loop nest over the block rows [m0, m1) x cols [n0, n1) of C.
template <class T>
void gemm_block(const GemmMicroKernel<T>& uk, bool trans_a, bool trans_b, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                int64_t ldc) {
  const int MR = uk.mr, NR = uk.nr;
  const int64_t mc = std::max<int64_t>(MR, kMC / MR * MR);
  const int64_t nc = std::max<int64_t>(NR, kNC / NR * NR);
  // K is split into equal blocks of at most kKC (576 -> 3 x 192 rather than 256 + 256 + 64), so no
  // block is a short one that pays the C load/store of a whole pass for a few rank-1 updates.
  const int64_t kblocks = (K + kKC - 1) / kKC;
  const int64_t kc = (K + kblocks - 1) / kblocks;
  const int64_t mspan = m1 - m0, nspan = n1 - n0;
  const int64_t mb_max = std::min(mc, (mspan + MR - 1) / MR * MR);
  const int64_t nb_max = std::min(nc, (nspan + NR - 1) / NR * NR);
  const int64_t kb_max = std::min(kc, K);
  PackBuffers<T>& buf = thread_pack_buffers<T>();
  buf.a.reset(static_cast<size_t>(mb_max * kb_max));
  buf.b.reset(static_cast<size_t>(nb_max * kb_max));
  T* Ap = buf.a.data();
  T* Bp = buf.b.data();
  T tile[kMaxTileElems];  // scratch for edge tiles

  for (int64_t jc = n0; jc < n1; jc += nc) {
    const int64_t nb = std::min(nc, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kb = std::min(kc, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);  // later k blocks accumulate onto the first
      pack_b(Bp, B, ldb, trans_b, pc, jc, kb, nb, NR);
      for (int64_t ic = m0; ic < m1; ic += mc) {
        const int64_t mb = std::min(mc, m1 - ic);
        pack_a(Ap, A, lda, trans_a, ic, pc, mb, kb, MR);
        for (int64_t jr = 0; jr < nb; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nb - jr);
          const T* bs = Bp + jr * kb;
          for (int64_t ir = 0; ir < mb; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mb - ir);
            const T* as = Ap + ir * kb;
            T* c = C + (ic + ir) * ldc + (jc + jr);
            if (mr == MR && nr == NR) {
              uk.fn(kb, as, bs, c, ldc, alpha, beta_k);
            } else {
              uk.fn(kb, as, bs, tile, NR, T(1), T(0));
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) {
                  T& cij = c[i * ldc + j];
                  cij = beta_k == T(0) ? alpha * tile[i * NR + j] : alpha * tile[i * NR + j] + beta_k * cij;
                }
            }
          }
        }
      }
    }
  }
}

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

template <>
const GemmMicroKernel<float>& gemm_micro_kernel<float>() {
  static const GemmMicroKernel<float> k{4, 8, &micro_kernel_portable<float, 4, 8>, "portable 4x8"};
  return k;
}
template <>
const GemmMicroKernel<double>& gemm_micro_kernel<double>() {
  static const GemmMicroKernel<double> k{4, 4, &micro_kernel_portable<double, 4, 4>, "portable 4x4"};
  return k;
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
  CNNKIT_CHECK(uk.mr * uk.nr <= kMaxTileElems, RuntimeError, "gemm: micro-kernel ", uk.name, " has a ", uk.mr, "x",
               uk.nr, " tile, larger than the ", kMaxTileElems, " elements the driver supports");
  const int64_t mtiles = (M + uk.mr - 1) / uk.mr, ntiles = (N + uk.nr - 1) / uk.nr;

  // Thread grid tm x tn: as many blocks as threads (no more than there are tiles), choosing the
  // factorisation with the least packing traffic, i.e. the smallest M/tm + N/tn.
  int64_t threads = 1;
  if (!in_parallel_region() && M * N * K >= kParallelMinWork) threads = get_num_threads();
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

#define CNNKIT_INSTANTIATE_GEMM(T)                                                                          \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                        int64_t);                                                                           \
  template void gemm_naive<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                              T*, int64_t);                                                                 \
  template void gemm_batched<T>(bool, bool, int64_t, int64_t, int64_t, int64_t, const T*, int64_t, int64_t,    \
                                const T*, int64_t, int64_t, T*, int64_t, int64_t);
CNNKIT_INSTANTIATE_GEMM(float)
CNNKIT_INSTANTIATE_GEMM(double)
#undef CNNKIT_INSTANTIATE_GEMM

}  // namespace cnnkit
