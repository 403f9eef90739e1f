// CUDA im2col / col2im, the twins of ops/im2col.h (same layouts, Im2colGeometry, device pointers).
// im2col *writes* every element of its columns; col2im *writes* (=) the image (each pixel the sum of
// the column entries that read it, zero where no window touches it).
// Plain C++ declarations for the bindings; `device` is the CUDA device the pointers live on.
//
// The batched forms handle `nimg` consecutive images (C*H*W elements each) at once: image i's
// OH*OW columns start at column i*OH*OW of the column matrix (row stride ldcols >= nimg*OH*OW),
// the chunk layout conv2d's batched GEMMs use. The single-image forms are nimg = 1.
#pragma once
#include <cstdint>

#include "ops/im2col.h"

namespace cnnkit {

template <class T>
void im2col_cuda(int device, T* cols, int64_t ldcols, const T* im, const Im2colGeometry& g);

template <class T>
void col2im_cuda(int device, T* im, const T* cols, int64_t ldcols, const Im2colGeometry& g);

template <class T>
void im2col_batched_cuda(int device, T* cols, int64_t ldcols, const T* im, int64_t nimg, const Im2colGeometry& g);

template <class T>
void col2im_batched_cuda(int device, T* im, const T* cols, int64_t ldcols, int64_t nimg, const Im2colGeometry& g);

}  // namespace cnnkit
