// Batch normalisation, CPU (PyTorch's native_batch_norm / native_batch_norm_backward semantics).
// Backward WRITES (=) dinp, dweight and dbias (each may be nullptr to skip it).
//
// Layout (contiguous): inp / out / dout / dinp (N, C, S) with S the product of the dims after C
// (1 for an (N, C) input); per-channel vectors weight, bias, running_mean, running_var, save_mean,
// save_invstd, dweight, dbias of length C. weight and bias may be nullptr (weight 1, bias 0);
// running_mean / running_var may be nullptr in training (nothing is tracked then).
// Per channel c, with M = N*S values x:
//   training: mean = sum(x)/M, var = sum((x-mean)^2)/M (biased), invstd = 1/sqrt(var+eps);
//             running_mean = (1-momentum)*running_mean + momentum*mean,
//             running_var  = (1-momentum)*running_var  + momentum*var*M/(M-1)  (unbiased; M == 1
//             gives NaN/inf, as in PyTorch, whose F.batch_norm refuses M == 1 before this point);
//   eval:     mean = running_mean, invstd = 1/sqrt(running_var+eps);
//   out = (x - mean) * invstd * weight + bias. save_mean / save_invstd receive mean and invstd
//   in both modes (the backward takes them instead of the running statistics, which a later
//   training step may change).
// Backward, with g = dout, xhat = (x-mean)*invstd, sum_g = sum(g), sum_gx = sum(g*(x-mean)):
//   dbias = sum_g, dweight = sum_gx * invstd,
//   training: dinp = (g - sum_g/M - (x-mean) * invstd^2 * sum_gx/M) * invstd * weight
//   eval:     dinp = g * invstd * weight
// M == 0 (an empty batch): out is empty, mean 0 and invstd 1/sqrt(eps) are saved, the running
// statistics are left unchanged, dweight and dbias are 0.
#pragma once
#include <cstdint>

namespace cnnkit {

struct BatchNormDims {
  int64_t N = 1, C = 1, S = 1;
};

template <class T>
void batch_norm_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                              const T* weight, const T* bias, const BatchNormDims& d, double momentum, double eps);

template <class T>
void batch_norm_forward_eval(T* out, T* save_mean, T* save_invstd, const T* inp, const T* running_mean,
                             const T* running_var, const T* weight, const T* bias, const BatchNormDims& d,
                             double eps);

template <class T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training);

// Independent references (plain serial loops, two-pass statistics in long double): the test
// oracle of the fast kernels above. Same arguments and semantics; `training` selects the mode
// (running_mean / running_var are read in eval and updated in training when not null).
template <class T>
void batch_norm_forward_naive(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                              const T* weight, const T* bias, const BatchNormDims& d, bool training, double momentum,
                              double eps);

template <class T>
void batch_norm_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                               const T* save_mean, const T* save_invstd, const BatchNormDims& d, bool training);

}  // namespace cnnkit
