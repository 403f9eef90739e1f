// CUDA 2-D convolution, the twin of ops/conv2d.h (same Conv2dParams, layouts and semantics; device
// pointers, contiguous NCHW):
//   inp (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC) or null, out (N, OC, OH, OW)
// Forward *writes* out; backward *writes* (=) dinp, dweight, dbias (each may be null to skip it).
// Plain C++ declarations for the bindings; `device` is the CUDA device the pointers live on.
//   conv2d_forward_cuda / conv2d_backward_cuda               depthwise kernels when conv2d_is_depthwise(p),
//                                                            else im2col + our CUDA GEMM (conv2d.cu)
//   conv2d_{forward,backward}_{im2col,depthwise}_cuda         one algorithm forced
//   conv_transpose2d_forward_cuda / _backward_cuda            as in ops/conv2d.h (conv2d kernels reused)
//   conv2d_forward_naive_cuda / conv2d_backward_naive_cuda   direct loops in double (reference)
#pragma once
#include <cstdint>

#include "ops/conv2d.h"

namespace cnnkit {

template <class T>
void conv2d_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);

template <class T>
void conv2d_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                          const Conv2dParams& p);

template <class T>
void conv2d_forward_im2col_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                const Conv2dParams& p);
template <class T>
void conv2d_backward_im2col_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                 const T* weight, const Conv2dParams& p);
template <class T>
void conv2d_depthwise_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                   const Conv2dParams& p);
template <class T>
void conv2d_depthwise_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                    const T* weight, const Conv2dParams& p);
template <class T>
void conv_transpose2d_forward_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                                   const Conv2dParams& p);
template <class T>
void conv_transpose2d_backward_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                    const T* weight, const Conv2dParams& p);

template <class T>
void conv2d_forward_naive_cuda(int device, T* out, const T* inp, const T* weight, const T* bias,
                               const Conv2dParams& p);

template <class T>
void conv2d_backward_naive_cuda(int device, T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                const T* weight, const Conv2dParams& p);

}  // namespace cnnkit
