// im2col / col2im for one image (CPU): the lowering that turns a 2-D convolution into a GEMM
// (K. Chellapilla, S. Puri, P. Simard, "High performance convolutional neural networks for document
// processing", 2006; the layout Caffe and PyTorch's Im2Col use).
//
//   im (C, H, W), contiguous
//   cols (C*KH*KW, OH*OW) with row stride ldcols >= OH*OW: row (c*KH + kh)*KW + kw, column oh*OW + ow
//   holds im[c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW], or 0 where that falls in the padding.
//
// im2col *writes* every element of its OH*OW columns; col2im *writes* (=) the image: each pixel is
// the sum of all columns entries that read it (the adjoint of im2col), zero for pixels no window
// touches. OH and OW come from core/shape.h window_out_size; the caller has validated everything.
#pragma once
#include <cstdint>

namespace cnnkit {

struct Im2colGeometry {
  int64_t C, H, W;     // image
  int64_t KH, KW;      // kernel
  int64_t SH, SW;      // stride (> 0)
  int64_t PH, PW;      // zero padding; negative crops (conv2d's stride-1 input gradient uses that)
  int64_t DH, DW;      // dilation (> 0)
  int64_t OH, OW;      // output size (window_out_size)
  int64_t rows() const { return C * KH * KW; }
  int64_t cols() const { return OH * OW; }
};

template <class T>
void im2col(T* cols, int64_t ldcols, const T* im, const Im2colGeometry& g);

// The same column matrix cut into nr-wide column slivers, the packed-B layout of the GEMM
// micro-kernels (ops/gemm.h): packed[(s*K + r)*nr + j] = cols[r, s*nr + j] (K = rows()), zero for
// columns s*nr + j >= cols(). Writes (=) ceil(cols()/nr)*nr*K elements. scratch: room for
// im2col_packed_scratch(g, nr) elements. Serial: meant for threads that each handle their own images.
template <class T>
void im2col_packed(T* packed, int64_t nr, const T* im, const Im2colGeometry& g, T* scratch);
// Transposed: the rows interleaved into w-tall slivers (the packed-A layout, or packed B of
// cols^T): packed[(s*N + k)*w + i] = cols[s*w + i, k] (N = cols()), zero for rows s*w + i >= K.
// Writes ceil(K/w)*w*N elements; same scratch (with nr = w). Serial.
template <class T>
void im2col_packed_t(T* packed, int64_t w, const T* im, const Im2colGeometry& g, T* scratch);
int64_t im2col_packed_scratch(const Im2colGeometry& g, int64_t nr);

template <class T>
void col2im(T* im, const T* cols, int64_t ldcols, const Im2colGeometry& g);

}  // namespace cnnkit
