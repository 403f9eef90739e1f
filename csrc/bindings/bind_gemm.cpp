// _C.gemm, _C.gemm_naive, _C.bmm, and the kernel selection (_C.gemm_kernel_name, _C.set_gemm_kernel,
// _C.gemm_avx2_available, _C.gemm_avx512_available, _C.gemm_blocking): validation and operand layout, then ops/gemm.h.
//
// Operands may have any strides. A matrix whose columns are unit-stride is used in place (its row
// stride becomes the BLAS leading dimension); a matrix whose rows are unit-stride (a transposed view
// of a row-major matrix) is used in place with its transpose flag flipped; anything else is copied
// to a contiguous matrix first. The output c is written in place when its columns are unit-stride,
// its rows do not overlap and it shares no storage with a or b; otherwise the product goes through a
// contiguous temporary that is copied back into c. gemm writes c = alpha*op(a)op(b) + beta*c
// (beta = 1 accumulates); without c the result is a new tensor.
// Devices: a, b and c must be on one device (check_same_device); the result is allocated there and
// the CPU kernels or their CUDA twins (ops/gemm_cuda.h, only with CNNKIT_WITH_CUDA) compute it.
#include <optional>

#include "bindings/bindings.h"
#include "ops/gemm.h"
#ifdef CNNKIT_WITH_CUDA
#include "ops/gemm_cuda.h"
#endif

namespace cnnkit {
namespace {

// ---- Device dispatch: the CPU kernels (ops/gemm.h) or their CUDA twins (ops/gemm_cuda.h) -------
// Operands and output are on `dev` (checked by the entry points with check_same_device).
template <class T>
void run_gemm(const char* op, bool naive, const Device& dev, bool trans_a, bool trans_b, int64_t M, int64_t N,
              int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (dev.is_cpu()) {
    (naive ? &gemm_naive<T> : &gemm<T>)(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#ifdef CNNKIT_WITH_CUDA
  (naive ? &gemm_naive_cuda<T> : &gemm_cuda<T>)(dev.index, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                                                C, ldc);
#else
  throw_no_cuda(op);
#endif
}

template <class T>
void run_gemm_batched(const char* op, const Device& dev, bool trans_a, bool trans_b, int64_t batch, int64_t M,
                      int64_t N, int64_t K, const T* A, int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb,
                      T* C, int64_t ldc, int64_t sc) {
  if (dev.is_cpu()) {
    gemm_batched<T>(trans_a, trans_b, batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
    return;
  }
#ifdef CNNKIT_WITH_CUDA
  gemm_batched_cuda<T>(dev.index, trans_a, trans_b, batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
#else
  throw_no_cuda(op);
#endif
}

// A 2-D tensor seen as a BLAS operand op(M) (rows x cols as seen by the product).
struct Operand {
  Tensor t;      // keeps the data alive (a contiguous copy when the layout needed one)
  bool trans;    // the stored matrix is op(M)^T
  int64_t ld;    // row stride of the stored matrix
};

// Strides of size-1 dimensions are meaningless (any value is legal); normalise them so the layout
// tests below only look at strides that are actually used.
Operand as_operand(const Tensor& t, bool trans) {
  const int64_t r = t.size(0), c = t.size(1);
  const int64_t s0 = r == 1 ? c : t.stride(0), s1 = c == 1 ? 1 : t.stride(1);
  if (s1 == 1) return {t, trans, s0};
  if (s0 == 1 && r > 1) return {t, !trans, t.stride(1)};
  Tensor cont = t.contiguous();
  return {cont, trans, c};
}

// op(M)'s shape given M's stored shape.
std::pair<int64_t, int64_t> op_shape(const Tensor& t, bool trans) {
  return trans ? std::make_pair(t.size(1), t.size(0)) : std::make_pair(t.size(0), t.size(1));
}

bool writable_in_place(const Tensor& c, const Tensor& a, const Tensor& b) {
  const int64_t r = c.size(0), n = c.size(1);
  const int64_t s0 = r == 1 ? n : c.stride(0), s1 = n == 1 ? 1 : c.stride(1);
  return s1 == 1 && s0 >= n && c.storage() != a.storage() && c.storage() != b.storage();
}

template <bool kNaive>
Tensor gemm_entry(const char* op, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha,
                  double beta, std::optional<Tensor> c) {
  check_ndim(op, "a", a, 2);
  check_ndim(op, "b", b, 2);
  check_same_device(op, "a", a, "b", b);
  check_floating(op, "a", a);
  check_same_dtype(op, "a", a, "b", b);
  const auto [M, K] = op_shape(a, trans_a);
  const auto [K2, N] = op_shape(b, trans_b);
  CNNKIT_CHECK(K == K2, ValueError, op, ": inner dimensions do not match: op(a) has shape ", Shape{M, K},
               " and op(b) has shape ", Shape{K2, N}, " (a ", a.shape(), ", trans_a=", trans_a, "; b ", b.shape(),
               ", trans_b=", trans_b, ")");
  Tensor out;
  if (c.has_value()) {
    check_ndim(op, "c", *c, 2);
    check_same_device(op, "a", a, "c", *c);
    check_same_dtype(op, "a", a, "c", *c);
    check_shape(op, "c", *c, Shape{M, N});
    out = *c;
  } else {
    out = Tensor::empty({M, N}, a.dtype(), a.device());
    beta = 0.0;
  }
  if (M == 0 || N == 0) return out;

  const Operand A = as_operand(a, trans_a), B = as_operand(b, trans_b);
  const bool direct = writable_in_place(out, a, b);
  // Through a temporary: it starts as a copy of c only when beta reads c.
  Tensor dst = direct ? out : (beta != 0.0 ? out.clone() : Tensor::empty({M, N}, a.dtype(), a.device()));
  const int64_t ldc = M == 1 ? N : dst.stride(0);
  CNNKIT_DISPATCH_FLOATING(a.dtype(), op, [&] {
    run_gemm<scalar_t>(op, kNaive, a.device(), A.trans, B.trans, M, N, K, static_cast<scalar_t>(alpha),
                       A.t.template data<scalar_t>(), A.ld, B.t.template data<scalar_t>(), B.ld,
                       static_cast<scalar_t>(beta), dst.template data<scalar_t>(), ldc);
  });
  if (!direct) out.copy_(dst);
  return out;
}

// (B, M, K) @ (B, K, N) -> (B, M, N); each matrix described like a gemm operand, the batch dimension
// by its own stride (0 for a matrix broadcast over the batch).
Tensor bmm(const Tensor& a, const Tensor& b) {
  const char* op = "bmm";
  check_ndim(op, "a", a, 3);
  check_ndim(op, "b", b, 3);
  check_same_device(op, "a", a, "b", b);
  check_floating(op, "a", a);
  check_same_dtype(op, "a", a, "b", b);
  CNNKIT_CHECK(a.size(0) == b.size(0), ValueError, op, ": expected a and b to have the same batch size, got a ",
               a.shape(), " and b ", b.shape());
  CNNKIT_CHECK(a.size(2) == b.size(1), ValueError, op, ": inner dimensions do not match: a ", a.shape(), " and b ",
               b.shape(), " (expected b.shape[1] == a.shape[2])");
  const int64_t batch = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  Tensor out = Tensor::empty({batch, M, N}, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  // The per-matrix layout test needs the same layout for every batch entry, which strides guarantee.
  auto operand = [](const Tensor& t, int64_t& batch_stride) {
    Operand o = as_operand(t.select(0, 0), false);
    if (o.t.storage() == t.storage() && o.t.data_ptr() == t.data_ptr()) {
      batch_stride = t.size(0) == 1 ? 0 : t.stride(0);
      return Operand{t, o.trans, o.ld};
    }
    Tensor cont = t.contiguous();
    batch_stride = t.size(1) * t.size(2);
    return Operand{cont, false, t.size(2)};
  };
  int64_t sa = 0, sb = 0;
  const Operand A = operand(a, sa), B = operand(b, sb);
  CNNKIT_DISPATCH_FLOATING(a.dtype(), op, [&] {
    run_gemm_batched<scalar_t>(op, a.device(), A.trans, B.trans, batch, M, N, K, A.t.template data<scalar_t>(), A.ld,
                               sa, B.t.template data<scalar_t>(), B.ld, sb, out.template data<scalar_t>(), N, M * N);
  });
  return out;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def(
      "gemm",
      [](const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta,
         std::optional<Tensor> c) { return gemm_entry<false>("gemm", a, b, trans_a, trans_b, alpha, beta, c); },
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
      py::arg("beta") = 0.0, py::arg("c") = py::none(),
      "C = alpha * op(a) @ op(b) + beta * C, cache-blocked; c (if given) is written in place and returned");
  m.def(
      "gemm_naive",
      [](const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta,
         std::optional<Tensor> c) { return gemm_entry<true>("gemm_naive", a, b, trans_a, trans_b, alpha, beta, c); },
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0,
      py::arg("beta") = 0.0, py::arg("c") = py::none(), "gemm by the plain triple loop (reference)");
  m.def("bmm", &bmm, py::arg("a"), py::arg("b"), "(B, M, K) @ (B, K, N) -> (B, M, N)");
  m.def("gemm_kernel_name", &gemm_kernel_name,
        "the micro-kernel family gemm uses now, e.g. 'avx512 (float 12x32, double 12x16)' or 'portable (...)'");
  m.def("gemm_blocking", &gemm_blocking_info, "the kc/mc/nc cache blocking of the kernels in use");
  m.def("set_gemm_kernel", &set_gemm_kernel, py::arg("name"),
        "select the gemm micro-kernel family: 'portable', 'avx2', 'avx512' or 'auto' (the choice made at first use "
        "from the SIMD level and CNNKIT_GEMM_KERNEL); 'portable-12x32' (tests: the avx512 tile shape on any CPU)");
  m.def("gemm_avx2_available", &gemm_avx2_available,
        "whether the AVX2+FMA gemm kernel is compiled in and supported by this CPU");
  m.def("gemm_avx512_available", &gemm_avx512_available,
        "whether the AVX-512 gemm kernel is compiled in and supported by this CPU and OS");
}

}  // namespace cnnkit
