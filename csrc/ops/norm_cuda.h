// Row normalisation (group / layer / instance norm), CUDA twins of ops/norm.h: the same layout
// (R rows of D = CPG*S contiguous values, affine vectors of G*CPG channels, each optional),
// formulas and semantics, on device memory. Backward WRITES (=) dinp, dweight and dbias.
// `device` is the CUDA device index of the buffers. Plain C++ (no CUDA headers).
#pragma once
#include <cstdint>

#include "ops/norm.h"

namespace cnnkit {

template <class T>
void row_norm_forward_cuda(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                           const RowNormDims& d, double eps, int device);

template <class T>
void row_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                            const T* mean, const T* rstd, const RowNormDims& d, int device);

}  // namespace cnnkit
