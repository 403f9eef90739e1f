// Batch normalisation, CUDA twins of ops/batchnorm.h: the same layouts ((N, C, S) contiguous
// tensors, per-channel vectors of length C, each of weight / bias / running statistics / outputs
// of the backward optional as on the CPU), formulas and semantics, on device memory.
// Backward WRITES (=) dinp, dweight and dbias. `device` is the CUDA device index of the buffers.
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/batchnorm.h"

namespace cnnkit {

template <class T>
void batch_norm_forward_train_cuda(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                   const T* inp, const T* weight, const T* bias, const BatchNormDims& d,
                                   double momentum, double eps, int device);

template <class T>
void batch_norm_forward_eval_cuda(T* out, T* save_mean, T* save_invstd, const T* inp, const T* running_mean,
                                  const T* running_var, const T* weight, const T* bias, const BatchNormDims& d,
                                  double eps, int device);

template <class T>
void batch_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                              const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training,
                              int device);

}  // namespace cnnkit
