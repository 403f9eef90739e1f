// 2-D convolution (cross-correlation, as in PyTorch) on the CPU, NCHW, contiguous tensors:
//   inp (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC) or null, out (N, OC, OH, OW)
//   out[n, o, y, x] = bias[o] + sum_{c, kh, kw} inp[n, g*C/groups + c, y*SH - PH + kh*DH, x*SW - PW + kw*DW]
//                                              * weight[o, c, kh, kw],   g = o / (OC/groups)
// Forward *writes* out; backward *writes* (=) dinp, dweight, dbias (each may be null to skip it).
//
// Fast path: im2col + GEMM (ops/im2col.h, ops/gemm.h), in chunks of images (conv2d.cpp).
// Naive path: direct loops, the test oracle, accumulating in double.
#pragma once
#include <cstdint>

namespace cnnkit {

struct Conv2dParams {
  int64_t N, C, H, W;   // input
  int64_t OC, KH, KW;   // weight (OC, C/groups, KH, KW)
  int64_t SH, SW;       // stride
  int64_t PH, PW;       // padding
  int64_t DH, DW;       // dilation
  int64_t groups;
  int64_t OH, OW;       // output size (core/shape.h window_out_size)
};

template <class T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);

template <class T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dParams& p);

template <class T>
void conv2d_forward_naive(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);

template <class T>
void conv2d_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                           const Conv2dParams& p);

}  // namespace cnnkit
