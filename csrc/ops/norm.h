// Row normalisation on the CPU: the kernel behind group_norm, layer_norm and instance_norm
// (training statistics), PyTorch's native_group_norm / native_layer_norm semantics.
// Backward WRITES (=) dinp, dweight and dbias (each may be nullptr to skip it).
//
// Layout (contiguous): inp / out / dout / dinp are R rows of D = CPG * S values. Row r belongs to
// group g = r % G; its values are CPG consecutive "channels" of S values each, and the affine
// vectors weight / bias / dweight / dbias (length G * CPG, optional) are indexed by the channel
// c = g * CPG + j / S of the row's value j:
//   group_norm    (N, C, *):  R = N*G,  G = num_groups, CPG = C/G, S = prod(spatial)
//   instance_norm (N, C, *):  R = N*C,  G = C,          CPG = 1,   S = prod(spatial)
//   layer_norm    (*, D):     R = numel/D, G = 1,       CPG = D,   S = 1 (one weight per element)
// Per row, with the D values x: mean = sum(x)/D, var = sum((x-mean)^2)/D (biased),
// rstd = 1/sqrt(var + eps); out = (x - mean) * rstd * weight[c] + bias[c]. mean and rstd (R,)
// are saved for the backward; var_out (R,), when not null, receives the biased variance
// (instance_norm's running statistics need it). D == 0 gives mean 0 and rstd 1/sqrt(eps).
// Backward, with wg = dout * weight[c], xhat = (x - mean) * rstd, per row A = sum(wg),
// B = sum(wg * (x - mean)):
//   dinp = rstd * (wg - A/D - (x - mean) * rstd^2 * B/D),
//   dweight[c] = sum over the rows of group c/CPG and channel c's values of dout * xhat,
//   dbias[c] = sum of dout over the same values.

#pragma once
#include <cstdint>

namespace cnnkit {

struct RowNormDims {
  int64_t R = 0;    // rows
  int64_t G = 1;    // groups (row r is in group r % G)
  int64_t CPG = 1;  // channels per group (per row)
  int64_t S = 1;    // values per channel
  int64_t D() const { return CPG * S; }
  int64_t channels() const { return G * CPG; }
};

template <class T>
void row_norm_forward(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                      const RowNormDims& d, double eps);

template <class T>
void row_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                       const T* rstd, const RowNormDims& d);

// Plain serial references (two-pass statistics in long double): the test oracles. Same semantics.
template <class T>
void row_norm_forward_naive(T* out, T* mean, T* rstd, T* var_out, const T* inp, const T* weight, const T* bias,
                            const RowNormDims& d, double eps);
template <class T>
void row_norm_backward_naive(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                             const T* mean, const T* rstd, const RowNormDims& d);

}  // namespace cnnkit
