// Elementwise activations, CUDA twin of activation.cpp. Backward WRITES (=) dinp.
//
// Thread mapping: one grid-stride loop per kernel, thread t of the grid handling elements
// t, t + G, t + 2G, ... (G = gridDim * blockDim), so consecutive threads touch consecutive
// addresses (coalesced) and any n works with a bounded grid (blocks_for). Each element is written by
// exactly one thread. The loop bodies are the CPU formulas (activation.h) with one functor per op:
//   relu:        x < 0 ? 0 : x                 (NaN passes)       drelu = out <= 0 ? 0 : dout
//   leaky_relu:  x > 0 ? x : x * slope                            dleaky = x > 0 ? dout : dout * slope
//   sigmoid:     1 / (1 + exp(-x))                                dsig = dout * (1 - out) * out
//   tanh:        tanh(x)                                          dtanh = dout * (1 - out^2), 1 - out^2
//                                                                 rounded once as on the CPU
// Numerics: the CPU's float sigmoid uses its own vexp (<= 2 ulp); here expf (CUDA's, <= 2 ulp), so
// float sigmoid/tanh may differ from the CPU in the last bit or two. relu/leaky_relu and all the
// backwards perform the same roundings as the CPU and match it exactly.
// The parametrised family runs the functors of activation_functors.h (the CPU's expressions; libm
// vs CUDA math may differ in the last ulp). prelu's weight gradient: one block per channel sums
// its (outer, inner) terms in double with the fixed-order block_sum (no atomics, deterministic).
#include "core/cuda_utils.cuh"
#include "ops/activation_cuda.h"
#include "ops/nn_cuda_common.cuh"

namespace cnnkit {

namespace {

// out[i] = f(a[i]) for i in [0, n).
template <class scalar_t, class F>
__global__ void unary_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ a, int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = f(a[i]);
}

// out[i] = f(a[i], b[i]) for i in [0, n).
template <class scalar_t, class F>
__global__ void binary_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ a,
                              const scalar_t* __restrict__ b, int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = f(a[i], b[i]);
}

template <class scalar_t, class F>
void launch_unary(scalar_t* out, const scalar_t* a, int64_t n, int device, F f, const char* op) {
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  unary_kernel<scalar_t, F><<<blocks_for(n), kThreadsPerBlock>>>(out, a, n, f);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t, class F>
void launch_binary(scalar_t* out, const scalar_t* a, const scalar_t* b, int64_t n, int device, F f, const char* op) {
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  binary_kernel<scalar_t, F><<<blocks_for(n), kThreadsPerBlock>>>(out, a, b, n, f);
  CNNKIT_CUDA_KERNEL_CHECK(op);
}

template <class scalar_t>
struct ReluF {
  __device__ scalar_t operator()(scalar_t x) const { return x < scalar_t(0) ? scalar_t(0) : x; }
};
template <class scalar_t>
struct ReluBackF {  // (dout, out)
  __device__ scalar_t operator()(scalar_t g, scalar_t y) const { return y <= scalar_t(0) ? scalar_t(0) : g; }
};
template <class scalar_t>
struct LeakyF {
  scalar_t s;
  __device__ scalar_t operator()(scalar_t x) const { return x > scalar_t(0) ? x : x * s; }
};
template <class scalar_t>
struct LeakyBackF {  // (dout, inp)
  scalar_t s;
  __device__ scalar_t operator()(scalar_t g, scalar_t x) const { return x > scalar_t(0) ? g : g * s; }
};
template <class scalar_t>
struct SigmoidF {  // exp(-x) overflows to inf for very negative x: the result is 0, never NaN
  __device__ scalar_t operator()(scalar_t x) const { return scalar_t(1) / (scalar_t(1) + exp(-x)); }
};
template <class scalar_t>
struct SigmoidBackF {  // (dout, out); products only, nothing for nvcc to contract into an fma
  __device__ scalar_t operator()(scalar_t g, scalar_t y) const { return g * (scalar_t(1) - y) * y; }
};
template <class scalar_t>
struct TanhF {
  __device__ scalar_t operator()(scalar_t x) const { return tanh(x); }
};

// 1 - y^2 rounded once, as the CPU twin: for float the product is exact in double; for double an fma.
__device__ __forceinline__ float one_minus_sq(float y) {
  return static_cast<float>(1.0 - static_cast<double>(y) * static_cast<double>(y));
}
__device__ __forceinline__ double one_minus_sq(double y) { return fma(-y, y, 1.0); }

template <class scalar_t>
struct TanhBackF {  // (dout, out)
  __device__ scalar_t operator()(scalar_t g, scalar_t y) const { return g * one_minus_sq(y); }
};

// Adapters from an activation functor to the unary/binary kernels' callables.
template <class Op>
struct FwdOf {
  Op op;
  template <class T>
  __device__ T operator()(T x) const { return op.fwd(x); }
};
template <class Op>
struct BwdOf {  // (dout, inp)
  Op op;
  template <class T>
  __device__ T operator()(T g, T x) const { return op.bwd(g, x); }
};

// out, inp (outer, C, inner); weight (C,)
template <class scalar_t>
__global__ void prelu_forward_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ inp,
                                     const scalar_t* __restrict__ weight, int64_t n, int64_t C, int64_t inner) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t x = inp[i], w = weight[(i / inner) % C];
    out[i] = x > scalar_t(0) ? x : w * x;
  }
}

template <class scalar_t>
__global__ void prelu_dinp_kernel(scalar_t* __restrict__ dinp, const scalar_t* __restrict__ dout,
                                  const scalar_t* __restrict__ inp, const scalar_t* __restrict__ weight, int64_t n,
                                  int64_t C, int64_t inner) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const scalar_t x = inp[i], g = dout[i], w = weight[(i / inner) % C];
    dinp[i] = x > scalar_t(0) ? g : w * g;
  }
}

// Block c (grid-striding over channels) sums (x > 0 ? 0 : x * dout) over its outer*inner elements.
template <class scalar_t>
__global__ void prelu_dweight_kernel(scalar_t* __restrict__ dweight, const scalar_t* __restrict__ dout,
                                     const scalar_t* __restrict__ inp, int64_t outer, int64_t C, int64_t inner) {
  const int64_t per = outer * inner;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0.0;
    for (int64_t k = threadIdx.x; k < per; k += blockDim.x) {
      const int64_t i = ((k / inner) * C + c) * inner + k % inner;
      const scalar_t x = inp[i];
      s += x > scalar_t(0) ? 0.0 : static_cast<double>(x * dout[i]);
    }
    s = nncuda::block_sum(s);
    if (threadIdx.x == 0) dweight[c] = static_cast<scalar_t>(s);
  }
}

}  // namespace

template <class scalar_t>
void pointwise_act_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, PointwiseAct act,
                                const ActParams& params, int device) {
  visit_act<scalar_t>(act, params, [&](const auto op) {
    launch_unary(out, inp, n, device, FwdOf<decltype(op)>{op}, "activation_forward");
  });
}
template <class scalar_t>
void pointwise_act_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, int64_t n,
                                 PointwiseAct act, const ActParams& params, int device) {
  visit_act<scalar_t>(act, params, [&](const auto op) {
    launch_binary(dinp, dout, inp, n, device, BwdOf<decltype(op)>{op}, "activation_backward");
  });
}

template <class scalar_t>
void prelu_forward_cuda(scalar_t* out, const scalar_t* inp, const scalar_t* weight, int64_t outer, int64_t C,
                        int64_t inner, int device) {
  const int64_t n = outer * C * inner;
  if (n <= 0) return;
  CudaDeviceGuard guard(device);
  prelu_forward_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(out, inp, weight, n, C, inner);
  CNNKIT_CUDA_KERNEL_CHECK("prelu");
}

template <class scalar_t>
void prelu_backward_cuda(scalar_t* dinp, scalar_t* dweight, const scalar_t* dout, const scalar_t* inp,
                         const scalar_t* weight, int64_t outer, int64_t C, int64_t inner, int device) {
  const int64_t n = outer * C * inner;
  CudaDeviceGuard guard(device);
  if (dinp && n > 0) {
    prelu_dinp_kernel<scalar_t><<<blocks_for(n), kThreadsPerBlock>>>(dinp, dout, inp, weight, n, C, inner);
    CNNKIT_CUDA_KERNEL_CHECK("prelu_backward");
  }
  if (dweight && C > 0) {
    const unsigned int blocks = static_cast<unsigned int>(C < 65535 ? C : 65535);
    prelu_dweight_kernel<scalar_t><<<blocks, kThreadsPerBlock>>>(dweight, dout, inp, outer, C, inner);
    CNNKIT_CUDA_KERNEL_CHECK("prelu_backward");
  }
}

template <class scalar_t>
void relu_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device) {
  launch_unary(out, inp, n, device, ReluF<scalar_t>{}, "relu");
}
template <class scalar_t>
void relu_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device) {
  launch_binary(dinp, dout, out, n, device, ReluBackF<scalar_t>{}, "relu_backward");
}
template <class scalar_t>
void leaky_relu_forward_cuda(scalar_t* out, const scalar_t* inp, double slope, int64_t n, int device) {
  launch_unary(out, inp, n, device, LeakyF<scalar_t>{static_cast<scalar_t>(slope)}, "leaky_relu");
}
template <class scalar_t>
void leaky_relu_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* inp, double slope, int64_t n,
                              int device) {
  launch_binary(dinp, dout, inp, n, device, LeakyBackF<scalar_t>{static_cast<scalar_t>(slope)}, "leaky_relu_backward");
}
template <class scalar_t>
void sigmoid_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device) {
  launch_unary(out, inp, n, device, SigmoidF<scalar_t>{}, "sigmoid");
}
template <class scalar_t>
void sigmoid_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device) {
  launch_binary(dinp, dout, out, n, device, SigmoidBackF<scalar_t>{}, "sigmoid_backward");
}
template <class scalar_t>
void tanh_forward_cuda(scalar_t* out, const scalar_t* inp, int64_t n, int device) {
  launch_unary(out, inp, n, device, TanhF<scalar_t>{}, "tanh");
}
template <class scalar_t>
void tanh_backward_cuda(scalar_t* dinp, const scalar_t* dout, const scalar_t* out, int64_t n, int device) {
  launch_binary(dinp, dout, out, n, device, TanhBackF<scalar_t>{}, "tanh_backward");
}

#define CNNKIT_INSTANTIATE_ACT_CUDA(T)                                                       \
  template void relu_forward_cuda<T>(T*, const T*, int64_t, int);                           \
  template void relu_backward_cuda<T>(T*, const T*, const T*, int64_t, int);                \
  template void leaky_relu_forward_cuda<T>(T*, const T*, double, int64_t, int);             \
  template void leaky_relu_backward_cuda<T>(T*, const T*, const T*, double, int64_t, int);  \
  template void sigmoid_forward_cuda<T>(T*, const T*, int64_t, int);                        \
  template void sigmoid_backward_cuda<T>(T*, const T*, const T*, int64_t, int);             \
  template void tanh_forward_cuda<T>(T*, const T*, int64_t, int);                           \
  template void tanh_backward_cuda<T>(T*, const T*, const T*, int64_t, int);                \
  template void pointwise_act_forward_cuda<T>(T*, const T*, int64_t, PointwiseAct, const ActParams&, int);  \
  template void pointwise_act_backward_cuda<T>(T*, const T*, const T*, int64_t, PointwiseAct, const ActParams&, \
                                               int);                                                        \
  template void prelu_forward_cuda<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, int);              \
  template void prelu_backward_cuda<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int);
CNNKIT_INSTANTIATE_ACT_CUDA(float)
CNNKIT_INSTANTIATE_ACT_CUDA(double)
#undef CNNKIT_INSTANTIATE_ACT_CUDA

}  // namespace cnnkit
