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

}  // namespace cnnkit
