// Losses, CPU: negative log-likelihood, cross-entropy (fused log-softmax + NLL, class-index or
// class-probability targets, label smoothing) and mean squared error. Backward WRITES (=) its
// gradients.
//
// Layouts (contiguous): scores/log-probabilities (N, C, S) with S the product of the spatial dims
// (1 for (N, C) input; a 1-D (C,) input is N = S = 1); class targets (N, S) int64; probability
// targets (N, C, S); weight (C,) or nullptr. The binding checks shapes and that every target is
// ignore_index or in [0, C), so kernels index without checks.
// Reductions follow PyTorch: 'mean' divides by the total weight of the non-ignored targets
// (the number of samples N*S for probability targets); all targets ignored gives 0/0 = NaN.
// Sums accumulate in double, in fixed-size blocks, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace cnnkit {

enum class Reduction { None, Mean, Sum };

struct LossDims {
  int64_t N = 1, C = 1, S = 1;
};

// out: (N, S) for Reduction::None, else one value. logp (N, C, S). Returns the total weight:
// sum of weight[target] (or the count) over non-ignored targets.
template <class scalar_t>
double nll_loss_forward(scalar_t* out, const scalar_t* logp, const int64_t* target, const scalar_t* weight,
                        const LossDims& d, int64_t ignore_index, Reduction r);

// dlogp (N, C, S); dloss (N, S) for Reduction::None, else one value.
template <class scalar_t>
void nll_loss_backward(scalar_t* dlogp, const scalar_t* dloss, const int64_t* target, const scalar_t* weight,
                       const LossDims& d, int64_t ignore_index, Reduction r, double total_weight);

// out as nll_loss_forward; logp (N, C, S) receives log_softmax(logits) over C (saved for backward).
//   loss = (1 - ls) * nll(logp) + ls / C * smooth,  smooth = -sum_c weight[c] * logp[c]
// (the two terms reduced separately, as PyTorch does).
template <class scalar_t>
void cross_entropy_forward(scalar_t* out, scalar_t* logp, const scalar_t* logits, const int64_t* target,
                           const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                           double label_smoothing);

// dlogits (N, C, S) from the saved logp: dlogits = dlogp - softmax * sum_c dlogp.
template <class scalar_t>
void cross_entropy_backward(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp, const int64_t* target,
                            const scalar_t* weight, const LossDims& d, int64_t ignore_index, Reduction r,
                            double label_smoothing);

// Probability targets: loss = -sum_c weight[c] * t'[c] * logp[c], t' = t * (1 - ls) + ls / C.
template <class scalar_t>
void cross_entropy_prob_forward(scalar_t* out, scalar_t* logp, const scalar_t* logits, const scalar_t* target,
                                const scalar_t* weight, const LossDims& d, Reduction r, double label_smoothing);

template <class scalar_t>
void cross_entropy_prob_backward(scalar_t* dlogits, const scalar_t* dloss, const scalar_t* logp,
                                 const scalar_t* target, const scalar_t* weight, const LossDims& d, Reduction r,
                                 double label_smoothing);

// out: n values for Reduction::None, else one. (input - target)^2.
template <class scalar_t>
void mse_loss_forward(scalar_t* out, const scalar_t* input, const scalar_t* target, int64_t n, Reduction r);

// dinput = norm * (input - target) * dloss, norm = 2/n for 'mean' else 2; dtarget = -dinput.
// Either output may be nullptr when not needed.
template <class scalar_t>
void mse_loss_backward(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                       const scalar_t* target, int64_t n, Reduction r);

}  // namespace cnnkit
