// Losses, CUDA twins of ops/loss.h: the same layouts ((N, C, S) scores / log-probabilities, (N, S)
// int64 class targets or (N, C, S) probability targets, optional (C,) weight), reductions and
// formulas, on contiguous device memory. Backward WRITES (=) its gradients.
// Differences of interface from the CPU twins: nll_loss_forward_cuda writes the total weight into a
// device scalar (no host synchronisation) instead of returning it, and nll_loss_backward_cuda reads
// it from one; `device` is the CUDA device index of the buffers.
// Plain C++ (no CUDA headers): the bindings include it under #ifdef CNNKIT_WITH_CUDA.
#pragma once
#include <cstdint>

#include "ops/loss.h"

namespace cnnkit {

// out: (N, S) for Reduction::None, else one value; total_weight_out: one scalar_t or nullptr.
template <class scalar_t>
void nll_loss_forward_cuda(scalar_t* out, scalar_t* total_weight_out, const scalar_t* logp, const int64_t* target,
                           const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r, int device);

// total_weight: one scalar_t in device memory (read only for Reduction::Mean).
template <class scalar_t>
void nll_loss_backward_cuda(scalar_t* dlogp, const scalar_t* dloss, const int64_t* target, const scalar_t* weight,
                            const LossDims& d, int64_t ignore_index, Reduction r, const scalar_t* total_weight,
                            int device);

template <class scalar_t>
void cross_entropy_forward_cuda(scalar_t* out, scalar_t* logp, const scalar_t* logits, const int64_t* target,
                                const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                                double label_smoothing, int device);

template <class scalar_t>
void cross_entropy_backward_cuda(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                 const int64_t* target, const scalar_t* weight, const LossDims& d,
                                 int64_t ignore_index, Reduction r, double label_smoothing, int device);

template <class scalar_t>
void cross_entropy_prob_forward_cuda(scalar_t* out, scalar_t* logp, const scalar_t* logits, const scalar_t* target,
                                     const scalar_t* weight, const LossDims& d, Reduction r, double label_smoothing,
                                     int device);

template <class scalar_t>
void cross_entropy_prob_backward_cuda(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                      const scalar_t* target, const scalar_t* weight, const LossDims& d, Reduction r,
                                      double label_smoothing, int device);

template <class scalar_t>
void mse_loss_forward_cuda(scalar_t* out, const scalar_t* input, const scalar_t* target, int64_t n, Reduction r,
                           int device);

// Either output may be nullptr when not needed.
template <class scalar_t>
void mse_loss_backward_cuda(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                            const scalar_t* target, int64_t n, Reduction r, int device);

// Pointwise losses (PointwiseLoss in ops/loss.h): same arguments as the CPU twins.
template <class scalar_t>
void pointwise_loss_forward_cuda(scalar_t* out, const scalar_t* input, const scalar_t* target,
                                 const scalar_t* weight, const scalar_t* pos_weight, int64_t n, PointwiseLoss op,
                                 double param, Reduction r, int device);

template <class scalar_t>
void pointwise_loss_backward_cuda(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                                  const scalar_t* target, const scalar_t* weight, const scalar_t* pos_weight,
                                  int64_t n, PointwiseLoss op, double param, Reduction r, int device);

// binary_cross_entropy's range check on the device: 0 when every input and target is in [0, 1],
// 1 when some input is not, 2 when only some target is not (NaN counts as outside). Synchronises.
template <class scalar_t>
int loss_bce_range_check_cuda(const scalar_t* input, const scalar_t* target, int64_t n, int device);

// Range check of class targets on the device: true when one of the n targets is neither
// ignore_index nor in [0, C); *bad_value then holds the first such target (memory order, as the
// CPU's sequential check reports it). Synchronises with the device.
bool loss_find_bad_target_cuda(const int64_t* target, int64_t n, int64_t C, int64_t ignore_index, int device,
                               int64_t* bad_value);

}  // namespace cnnkit
