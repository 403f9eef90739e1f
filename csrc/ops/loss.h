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
//
// Pointwise losses (l1, smooth_l1, huber, bce, bce_with_logits, kl_div, soft_margin): one kernel
// family over n aligned elements input[i], target[i] (optional weight[i], pos_weight[i], already
// broadcast to n by the caller), fused with the reduction; 'mean' divides by n. The elementwise
// formulas live once below (pointwise_loss_value / pointwise_loss_grad), shared by the CPU and the
// CUDA twin, and follow PyTorch's (aten/src/ATen/native/Loss.cpp, BinaryCrossEntropy.cpp).
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define CNNKIT_LOSS_HD __host__ __device__
#else
#define CNNKIT_LOSS_HD
#endif

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

enum class PointwiseLoss : int {
  L1,             // |x - y|
  SmoothL1,       // |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta    (param = beta > 0)
  Huber,          // |d| < delta ? 0.5 d^2 : delta (|d| - 0.5 delta)  (param = delta > 0)
  BCE,            // -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100))
  BCEWithLogits,  // w ((1 - y) x - (1 + (pw - 1) y) log_sigmoid(x))
  KLDiv,          // xlogy(y, y) - y x
  KLDivLogTarget, // exp(y) (y - x)
  SoftMargin,     // log1p(exp(-y x))
};

// One element's loss, in scalar_t as PyTorch evaluates it. w, pw: the element's weight and
// pos_weight (1 when absent).
template <class T>
CNNKIT_LOSS_HD inline T pointwise_loss_value(PointwiseLoss op, T x, T y, T w, T pw, T param) {
  using std::abs;
  using std::exp;
  using std::log;
  using std::log1p;
  const T d = x - y;
  switch (op) {
    case PointwiseLoss::L1: return abs(d);
    case PointwiseLoss::SmoothL1: return abs(d) < param ? T(0.5) * d * d / param : abs(d) - T(0.5) * param;
    case PointwiseLoss::Huber: return abs(d) < param ? T(0.5) * d * d : param * (abs(d) - T(0.5) * param);
    case PointwiseLoss::BCE: {
      const T lx = log(x) > T(-100) ? log(x) : T(-100);
      const T l1x = log1p(-x) > T(-100) ? log1p(-x) : T(-100);
      return w * ((y - T(1)) * l1x - y * lx);
    }
    case PointwiseLoss::BCEWithLogits: {
      const T log_sig = (x < T(0) ? x : T(0)) - log1p(exp(-abs(x)));  // log(sigmoid(x)), stable
      return w * ((T(1) - y) * x - (T(1) + (pw - T(1)) * y) * log_sig);
    }
    case PointwiseLoss::KLDiv: return (y == T(0) ? T(0) : y * log(y)) - y * x;
    case PointwiseLoss::KLDivLogTarget: return exp(y) * (y - x);
    case PointwiseLoss::SoftMargin: return log1p(exp(-y * x));
  }
  return T(0);
}

// d loss / d x (*gx) and d loss / d y (*gy) of one element, each times g (the incoming gradient
// already divided by n for 'mean'). gy may be nullptr.
template <class T>
CNNKIT_LOSS_HD inline void pointwise_loss_grad(PointwiseLoss op, T x, T y, T w, T pw, T param, T g, T* gx, T* gy) {
  using std::exp;
  using std::log;
  using std::log1p;
  const T d = x - y;
  T dx = T(0), dy = T(0);
  switch (op) {
    case PointwiseLoss::L1: dx = (d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0))) * g; dy = -dx; break;
    case PointwiseLoss::SmoothL1:
      dx = d < -param ? -g : (d > param ? g : d * g / param);
      dy = -dx;
      break;
    case PointwiseLoss::Huber:
      dx = d < -param ? -g * param : (d > param ? g * param : d * g);
      dy = -dx;
      break;
    case PointwiseLoss::BCE: {
      const T denom = (T(1) - x) * x > T(1e-12) ? (T(1) - x) * x : T(1e-12);  // PyTorch's EPSILON
      dx = g * (x - y) / denom * w;
      dy = g * (log1p(-x) - log(x)) * w;
      break;
    }
    case PointwiseLoss::BCEWithLogits: {
      const T sig = T(1) / (T(1) + exp(-x));
      const T log_sig = (x < T(0) ? x : T(0)) - log1p(exp(-(x < T(0) ? -x : x)));
      const T pt = pw * y;
      dx = ((pt + T(1) - y) * sig - pt) * g * w;
      dy = (-x - (pw - T(1)) * log_sig) * g * w;
      break;
    }
    case PointwiseLoss::KLDiv:
      dx = -y * g;
      // d/dy of xlogy(y, y) - y x: log(y) + 1 - x; PyTorch's autograd gives NaN at y == 0 (0/0).
      dy = (y == T(0) ? static_cast<T>(NAN) : log(y) + T(1) - x) * g;
      break;
    case PointwiseLoss::KLDivLogTarget: dx = -exp(y) * g; dy = exp(y) * (y - x + T(1)) * g; break;
    case PointwiseLoss::SoftMargin: {
      const T z = exp(-y * x);
      dx = -y * z / (T(1) + z) * g;
      dy = -x * z / (T(1) + z) * g;
      break;
    }
  }
  *gx = dx;
  if (gy) *gy = dy;
}

// out: n values for Reduction::None, else one (sum in double; 'mean' divides by n).
// weight, pos_weight: n values or nullptr (1).
template <class scalar_t>
void pointwise_loss_forward(scalar_t* out, const scalar_t* input, const scalar_t* target, const scalar_t* weight,
                            const scalar_t* pos_weight, int64_t n, PointwiseLoss op, double param, Reduction r);

// dinput (n), dtarget (n or nullptr); dloss: n values for Reduction::None, else one.
template <class scalar_t>
void pointwise_loss_backward(scalar_t* dinput, scalar_t* dtarget, const scalar_t* dloss, const scalar_t* input,
                             const scalar_t* target, const scalar_t* weight, const scalar_t* pos_weight, int64_t n,
                             PointwiseLoss op, double param, Reduction r);

// Naive reference of pointwise_loss_forward: one serial loop, double sum (the test oracle).
template <class scalar_t>
void pointwise_loss_forward_naive(scalar_t* out, const scalar_t* input, const scalar_t* target,
                                  const scalar_t* weight, const scalar_t* pos_weight, int64_t n, PointwiseLoss op,
                                  double param, Reduction r);

}  // namespace cnnkit
