// 2-D convolution (cross-correlation, as in PyTorch) on the CPU, NCHW, contiguous tensors:
//   inp (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC) or null, out (N, OC, OH, OW)
//   out[n, o, y, x] = bias[o] + sum_{c, kh, kw} inp[n, g*C/groups + c, y*SH - PH + kh*DH, x*SW - PW + kw*DW]
//                                              * weight[o, c, kh, kw],   g = o / (OC/groups)
// Forward *writes* out; backward *writes* (=) dinp, dweight, dbias (each may be null to skip it).
//
// Fast paths (conv2d.cpp): im2col + GEMM (ops/im2col.h, ops/gemm.h), in chunks of images; and, for
// depthwise convolutions (groups == C > 1, OC = C * multiplier), direct loops over (n, c) planes
// (conv2d_depthwise_*). conv2d_forward / conv2d_backward pick the depthwise kernels when
// conv2d_is_depthwise(p), else im2col + GEMM; the _im2col / _depthwise entry points force one.
// Naive path: direct loops, the test oracle, accumulating in double.
//
// Transposed convolution (conv_transpose2d_*) reuses these kernels: with p describing the conv2d
// whose input gradient the transposed convolution is (p.N, p.C = C_out, p.H/W = the transposed
// output size, p.OC = C_in, p.OH/OW = the transposed input size, weight (C_in, C_out/groups, KH, KW)
// = conv2d's (OC, C/groups, KH, KW)):
//   out  (N, C_out, H, W)   = conv2d input gradient of dout := inp (N, C_in, OH, OW)      (+ bias)
//   dinp (N, C_in, OH, OW)  = conv2d forward of dout (no bias)
//   dweight                 = conv2d weight gradient with input := dout, grad_output := inp
//   dbias[c]                = sum of dout[:, c]
// p.OH may be smaller than window_out_size(p.H, ...) (output_padding >= stride, allowed when it is
// below the dilation): the last rows/columns of the transposed output then receive only the bias.
// Forward and backward *write* (=) their outputs.
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

// Forced algorithms (tests and benchmarks keep the grouped im2col path as the depthwise reference).
template <class T>
void conv2d_forward_im2col(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);
template <class T>
void conv2d_backward_im2col(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                            const Conv2dParams& p);

// Depthwise: groups == C > 1 (one input channel per group), any channel multiplier OC / C.
inline bool conv2d_is_depthwise(const Conv2dParams& p) { return p.groups == p.C && p.C > 1; }
template <class T>
void conv2d_depthwise_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);
template <class T>
void conv2d_depthwise_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const Conv2dParams& p);

// Transposed convolution (see above): inp (N, p.OC, p.OH, p.OW), weight (p.OC, p.C/groups, KH, KW),
// bias (p.C) or null, out (N, p.C, p.H, p.W).
template <class T>
void conv_transpose2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);
template <class T>
void conv_transpose2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const Conv2dParams& p);

template <class T>
void conv2d_forward_naive(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p);

template <class T>
void conv2d_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                           const Conv2dParams& p);

}  // namespace cnnkit
