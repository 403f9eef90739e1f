// The arguments of one optimizer update, shared by the CPU kernels (optim.cpp) and their CUDA twins
// (optim.cu): the arrays, and the hyperparameters rounded to scalar_t once, on the host, as PyTorch's
// kernels see them (step-dependent scalars are computed in double first: torch computes them as Python
// floats). Both twins build their arguments with the *_args functions below, so they start from the
// same roundings. Internal header: included by optim.cpp (after its fp-contract=off pragma) and optim.cu.
// An optional array may be nullptr; its flag (amsgrad, centered, has_momentum) is then off.
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/optim.h"

namespace cnnkit {
// Internal linkage: each of the two files gets its own copy, compiled with its own flags.
namespace {
// SGD: param, grad, buf (touched only when has_momentum).
template <class scalar_t>
struct SgdArgs {
  scalar_t *p, *buf;
  const scalar_t* g;
  scalar_t neg_lr, momentum, one_minus_damp, wd;
  bool has_wd, has_momentum, nesterov, maximize, first_step;
};

// Adam / AdamW: vmax (max_exp_avg_sq) touched only when amsgrad.
template <class scalar_t>
struct AdamArgs {
  scalar_t *p, *m, *v, *vmax;
  const scalar_t* g;
  scalar_t wd, decay, w1, w1m1, beta2, omb2, bc2_sqrt, eps, neg_step_size;
  bool has_wd, decoupled, w1_small, amsgrad, maximize;
};

// The fields Adam, NAdam and RAdam have in common (arrays, weight decay, moment weights, eps).
template <class scalar_t, class Args, class Params>
void fill_adam_family(Args& a, scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                      const Params& h) {
  using T = scalar_t;
  a.p = param;
  a.g = grad;
  a.m = exp_avg;
  a.v = exp_avg_sq;
  a.has_wd = h.weight_decay != 0.0;
  a.decoupled = h.decoupled_weight_decay;
  a.wd = static_cast<T>(h.weight_decay);
  a.decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
  a.w1 = static_cast<T>(1.0 - h.beta1);
  a.w1m1 = a.w1 - T(1);
  a.w1_small = std::abs(a.w1) < T(0.5);
  a.beta2 = static_cast<T>(h.beta2);
  a.omb2 = static_cast<T>(1.0 - h.beta2);
  a.eps = static_cast<T>(h.eps);
  a.maximize = h.maximize;
}

// RMSprop: ga (grad_avg) touched only when centered, buf only when has_momentum.
template <class scalar_t>
struct RmspropArgs {
  scalar_t *p, *sq, *ga, *buf;
  const scalar_t* g;
  scalar_t wd, alpha, oma, oma_m1, eps, momentum, neg_lr;
  bool has_wd, centered, oma_small, has_momentum, maximize;
};

template <class scalar_t>
struct AdagradArgs {
  scalar_t *p, *sum;
  const scalar_t* g;
  scalar_t wd, eps, neg_clr;
  bool has_wd, maximize;
};

template <class scalar_t>
struct AdadeltaArgs {
  scalar_t *p, *sq, *acc;
  const scalar_t* g;
  scalar_t wd, rho, omr, eps, neg_lr;
  bool has_wd, maximize;
};

// Adamax: u is exp_inf.
template <class scalar_t>
struct AdamaxArgs {
  scalar_t *p, *m, *u;
  const scalar_t* g;
  scalar_t wd, w1, w1m1, beta2, eps, neg_clr;
  bool has_wd, w1_small, maximize;
};

// NAdam and RAdam share the moment updates with Adam; `decay` is 1 - lr * weight_decay (decoupled decay).
template <class scalar_t>
struct NadamArgs {
  scalar_t *p, *m, *v;
  const scalar_t* g;
  scalar_t wd, decay, w1, w1m1, beta2, omb2, eps, bc2, coef_grad, coef_avg;
  bool has_wd, decoupled, w1_small, maximize;
};

template <class scalar_t>
struct RadamArgs {
  scalar_t *p, *m, *v;
  const scalar_t* g;
  scalar_t wd, decay, w1, w1m1, beta2, omb2, eps, bc1, bc2_sqrt, lr, rect;
  bool has_wd, decoupled, w1_small, rectified, maximize;
};

template <class scalar_t>
SgdArgs<scalar_t> sgd_args(scalar_t* param, const scalar_t* grad, scalar_t* buf, const SgdParams& h) {
  SgdArgs<scalar_t> a;
  a.p = param;
  a.g = grad;
  a.buf = buf;
  a.neg_lr = static_cast<scalar_t>(-h.lr);
  a.momentum = static_cast<scalar_t>(h.momentum);
  a.one_minus_damp = static_cast<scalar_t>(1.0 - h.dampening);
  a.wd = static_cast<scalar_t>(h.weight_decay);
  a.has_wd = h.weight_decay != 0.0;
  a.has_momentum = h.momentum != 0.0 && buf != nullptr;
  a.nesterov = h.nesterov;
  a.maximize = h.maximize;
  a.first_step = h.first_step;
  return a;
}

template <class scalar_t>
AdamArgs<scalar_t> adam_args(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                             scalar_t* max_exp_avg_sq, const AdamParams& h) {
  using T = scalar_t;
  AdamArgs<T> a;
  fill_adam_family(a, param, grad, exp_avg, exp_avg_sq, h);
  a.vmax = max_exp_avg_sq;
  // torch: bias corrections, step size and sqrt(bias_correction2) are Python floats (double).
  const double bc1 = 1.0 - std::pow(h.beta1, h.step);
  const double bc2 = 1.0 - std::pow(h.beta2, h.step);
  a.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  a.neg_step_size = static_cast<T>(-(h.lr / bc1));
  a.amsgrad = h.amsgrad && max_exp_avg_sq != nullptr;
  return a;
}

template <class scalar_t>
RmspropArgs<scalar_t> rmsprop_args(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                                   scalar_t* momentum_buffer, const RmspropParams& h) {
  using T = scalar_t;
  RmspropArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sq = square_avg;
  a.ga = grad_avg;
  a.buf = momentum_buffer;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.alpha = static_cast<T>(h.alpha);
  a.oma = static_cast<T>(1.0 - h.alpha);
  a.oma_m1 = a.oma - T(1);
  a.oma_small = std::abs(a.oma) < T(0.5);
  a.eps = static_cast<T>(h.eps);
  a.momentum = static_cast<T>(h.momentum);
  a.neg_lr = static_cast<T>(-h.lr);
  a.centered = h.centered && grad_avg != nullptr;
  a.has_momentum = h.momentum > 0.0 && momentum_buffer != nullptr;
  a.maximize = h.maximize;
  return a;
}

template <class scalar_t>
AdagradArgs<scalar_t> adagrad_args(scalar_t* param, const scalar_t* grad, scalar_t* sum, const AdagradParams& h) {
  using T = scalar_t;
  AdagradArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sum = sum;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.eps = static_cast<T>(h.eps);
  a.neg_clr = static_cast<T>(-h.clr);
  a.maximize = h.maximize;
  return a;
}

template <class scalar_t>
AdadeltaArgs<scalar_t> adadelta_args(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta,
                                     const AdadeltaParams& h) {
  using T = scalar_t;
  AdadeltaArgs<T> a;
  a.p = param;
  a.g = grad;
  a.sq = square_avg;
  a.acc = acc_delta;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.rho = static_cast<T>(h.rho);
  a.omr = static_cast<T>(1.0 - h.rho);
  a.eps = static_cast<T>(h.eps);
  a.neg_lr = static_cast<T>(-h.lr);
  a.maximize = h.maximize;
  return a;
}

template <class scalar_t>
AdamaxArgs<scalar_t> adamax_args(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf,
                                 const AdamaxParams& h) {
  using T = scalar_t;
  AdamaxArgs<T> a;
  a.p = param;
  a.g = grad;
  a.m = exp_avg;
  a.u = exp_inf;
  a.has_wd = h.weight_decay != 0.0;
  a.wd = static_cast<T>(h.weight_decay);
  a.w1 = static_cast<T>(1.0 - h.beta1);
  a.w1m1 = a.w1 - T(1);
  a.w1_small = std::abs(a.w1) < T(0.5);
  a.beta2 = static_cast<T>(h.beta2);
  a.eps = static_cast<T>(h.eps);
  a.neg_clr = static_cast<T>(-(h.lr / (1.0 - std::pow(h.beta1, h.step))));
  a.maximize = h.maximize;
  return a;
}

template <class scalar_t>
NadamArgs<scalar_t> nadam_args(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                               const NadamParams& h) {
  using T = scalar_t;
  NadamArgs<T> a;
  fill_adam_family(a, param, grad, exp_avg, exp_avg_sq, h);
  a.bc2 = static_cast<T>(h.bias_correction2);
  a.coef_grad = static_cast<T>(h.coef_grad);
  a.coef_avg = static_cast<T>(h.coef_avg);
  return a;
}

template <class scalar_t>
RadamArgs<scalar_t> radam_args(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                               const RadamParams& h) {
  using T = scalar_t;
  RadamArgs<T> a;
  fill_adam_family(a, param, grad, exp_avg, exp_avg_sq, h);
  a.bc1 = static_cast<T>(h.bias_correction1);
  a.bc2_sqrt = static_cast<T>(h.bc2_sqrt);
  a.lr = static_cast<T>(h.lr);
  a.rect = static_cast<T>(h.rect);
  a.rectified = h.rectified;
  return a;
}

}  // namespace
}  // namespace cnnkit
