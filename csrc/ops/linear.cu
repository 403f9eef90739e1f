// CUDA linear layer = three GEMMs (ops/gemm.cu), the twin of linear.cpp. Forward writes out;
// backward writes (=) dinp, dweight, dbias. No atomics.
//   out     (N, OUT)  = inp (N, IN) @ weight^T        rows pre-filled with bias, GEMM beta = 1
//   dinp    (N, IN)   = dout (N, OUT) @ weight (OUT, IN)
//   dweight (OUT, IN) = dout^T (OUT, N) @ inp (N, IN)   (transposes handled by the GEMM tile loads)
//   dbias   (OUT)     = column sums of dout, in double
// dbias thread mapping: one thread per column j (grid-stride), summing its N rows in order; at a
// fixed row, consecutive threads read consecutive addresses, so the loads are coalesced, and each
// sum has a fixed order (deterministic, as on the CPU).
#include "core/cuda_utils.cuh"
#include "ops/gemm_cuda.h"
#include "ops/linear_cuda.h"

namespace cnnkit {
namespace {

// out (N, OUT) rows = bias; one element per iteration.
template <class T>
__global__ void fill_rows_kernel(T* __restrict__ out, const T* __restrict__ bias, int64_t N, int64_t OUT) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < N * OUT;
       idx += int64_t(gridDim.x) * blockDim.x)
    out[idx] = bias[idx % OUT];
}

template <class T>
__global__ void column_sum_kernel(T* __restrict__ dbias, const T* __restrict__ dout, int64_t N, int64_t OUT) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < OUT; j += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n) acc += double(dout[n * OUT + j]);
    dbias[j] = static_cast<T>(acc);
  }
}

}  // namespace

template <class T>
void linear_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias, int64_t N, int64_t IN,
                         int64_t OUT) {
  if (N * OUT == 0) return;
  CudaDeviceGuard guard(device);
  if (bias != nullptr) {
    fill_rows_kernel<T><<<blocks_for(N * OUT), kThreadsPerBlock>>>(out, bias, N, OUT);
    CNNKIT_CUDA_KERNEL_CHECK("linear");
  }
  gemm_cuda<T>(device, false, true, N, OUT, IN, T(1), inp, IN, weight, IN, bias != nullptr ? T(1) : T(0), out, OUT);
}

template <class T>
void linear_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                          int64_t N, int64_t IN, int64_t OUT) {
  CudaDeviceGuard guard(device);
  if (dinp != nullptr) gemm_cuda<T>(device, false, false, N, IN, OUT, T(1), dout, OUT, weight, IN, T(0), dinp, IN);
  if (dweight != nullptr) gemm_cuda<T>(device, true, false, OUT, IN, N, T(1), dout, OUT, inp, IN, T(0), dweight, IN);
  if (dbias != nullptr && OUT > 0) {
    column_sum_kernel<T><<<blocks_for(OUT), kThreadsPerBlock>>>(dbias, dout, N, OUT);
    CNNKIT_CUDA_KERNEL_CHECK("linear_backward");
  }
}

template void linear_forward_cuda<float>(int, float*, const float*, const float*, const float*, int64_t, int64_t,
                                         int64_t);
template void linear_forward_cuda<double>(int, double*, const double*, const double*, const double*, int64_t,
                                          int64_t, int64_t);
template void linear_backward_cuda<float>(int, float*, float*, float*, const float*, const float*, const float*,
                                          int64_t, int64_t, int64_t);
template void linear_backward_cuda<double>(int, double*, double*, double*, const double*, const double*,
                                           const double*, int64_t, int64_t, int64_t);

}  // namespace cnnkit
