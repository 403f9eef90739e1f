// Optimizer update kernels, CPU. They update parameters and state IN PLACE.
#pragma once
#include <cstdint>

namespace cnnkit {

struct SgdParams {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  bool first_step = false;  // no momentum buffer yet: buf = g (torch.optim.SGD's `buf is None`)
};

// param, grad, buf (n,), contiguous; buf may be nullptr when momentum == 0. Per element, exactly
// torch.optim.SGD (single-tensor path):
//   g = maximize ? -grad : grad
//   if weight_decay != 0: g = g + weight_decay * param
//   if momentum != 0:     buf = first_step ? g : momentum * buf + (1 - dampening) * g
//                         g = nesterov ? g + momentum * buf : buf
//   param = param - lr * g
template <class scalar_t>
void sgd_step(scalar_t* param, const scalar_t* grad, scalar_t* buf, int64_t n, const SgdParams& h);

// The kernels below follow torch.optim's single-tensor code paths (foreach=False) op by op: every
// tensor op of torch rounds to scalar_t once, and so does the matching expression here, with the
// Python-float hyperparameters (and the step-dependent scalars torch computes as Python floats, in
// double on the host) rounded to scalar_t. ATen's lerp_ and add(alpha) are fused multiply-adds; its
// addcmul_/addcdiv_ (self + value * t1 * t2, self + value * t1 / t2) and mul_ are not.
// All arrays are contiguous, n elements, updated IN PLACE (param and every state array).

// Adam / AdamW (decoupled_weight_decay). step is the step count after this step's increment.
struct AdamParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, step = 1;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
};
// max_exp_avg_sq may be nullptr unless amsgrad. Per element:
//   g = maximize ? -grad : grad
//   weight_decay != 0:  decoupled ? param *= (1 - lr * wd) : g = g + wd * param
//   exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   v = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
//   param += -(lr / bc1) * exp_avg / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - beta_k ** step
template <class scalar_t>
void adam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
               scalar_t* max_exp_avg_sq, int64_t n, const AdamParams& h);

struct RmspropParams {
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};
// grad_avg may be nullptr unless centered, momentum_buffer unless momentum > 0. Per element:
//   g = maximize ? -grad : grad;  wd != 0: g = g + wd * param
//   square_avg = square_avg * alpha + (1 - alpha) * g * g
//   centered: grad_avg = lerp(grad_avg, g, 1 - alpha); avg = sqrt(square_avg - grad_avg^2) + eps
//   else:     avg = sqrt(square_avg) + eps
//   momentum > 0: buf = buf * momentum + g / avg; param = param - lr * buf
//   else:         param += -lr * g / avg
template <class scalar_t>
void rmsprop_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* grad_avg,
                  scalar_t* momentum_buffer, int64_t n, const RmspropParams& h);

// clr = lr / (1 + (step - 1) * lr_decay) is computed on the host, in double, by the caller.
struct AdagradParams {
  double clr = 0, eps = 0, weight_decay = 0;
  bool maximize = false;
};
// Per element: g = maximize ? -grad : grad;  wd != 0: g = g + wd * param
//   sum = sum + g * g;  param += -clr * g / (sqrt(sum) + eps)
template <class scalar_t>
void adagrad_step(scalar_t* param, const scalar_t* grad, scalar_t* sum, int64_t n, const AdagradParams& h);

struct AdadeltaParams {
  double lr = 0, rho = 0, eps = 0, weight_decay = 0;
  bool maximize = false;
};
// Per element: g = maximize ? -grad : grad;  wd != 0: g = g + wd * param
//   square_avg = square_avg * rho + (1 - rho) * g * g
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = acc_delta * rho + (1 - rho) * delta * delta;  param = param - lr * delta
template <class scalar_t>
void adadelta_step(scalar_t* param, const scalar_t* grad, scalar_t* square_avg, scalar_t* acc_delta, int64_t n,
                   const AdadeltaParams& h);

// Adamax. step as in AdamParams. Per element:
//   g = maximize ? -grad : grad;  wd != 0: g = g + wd * param
//   exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_inf = max(exp_inf * beta2, |g| + eps)
//   param += -(lr / (1 - beta1 ** step)) * exp_avg / exp_inf
struct AdamaxParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, step = 1;
  bool maximize = false;
};
template <class scalar_t>
void adamax_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_inf, int64_t n,
                 const AdamaxParams& h);

// NAdam. The step-dependent scalars come from the host (torch computes them as Python floats from
// step and the float32 mu_product state): bias_correction2 = 1 - beta2 ** step,
// coef_grad = -lr (1 - mu) / (1 - mu_product), coef_avg = -lr mu_next / (1 - mu_product * mu_next).
// Per element: g = maximize ? -grad : grad;  wd: decoupled ? param *= 1 - lr wd : g = g + wd param
//   exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) g g
//   denom = sqrt(exp_avg_sq / bias_correction2) + eps
//   param += coef_grad * g / denom;  param += coef_avg * exp_avg / denom
struct NadamParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, bias_correction2 = 1, coef_grad = 0, coef_avg = 0;
  bool maximize = false, decoupled_weight_decay = false;
};
template <class scalar_t>
void nadam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                const NadamParams& h);

// RAdam. Host scalars: bias_correction1, sqrt(bias_correction2) and the rectification term rect
// (rectified = rho_t > 5). Per element (weight decay and moments as NAdam):
//   m_hat = exp_avg / bias_correction1
//   rectified: param -= m_hat * lr * (1 / (sqrt(exp_avg_sq) + eps) * sqrt(bc2)) * rect
//   else:      param -= m_hat * lr
struct RadamParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, bias_correction1 = 1, bc2_sqrt = 1, rect = 0;
  bool rectified = false, maximize = false, decoupled_weight_decay = false;
};
template <class scalar_t>
void radam_step(scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq, int64_t n,
                const RadamParams& h);

}  // namespace cnnkit
