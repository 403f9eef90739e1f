// 2-D max and average pooling on the CPU (NCHW, contiguous), fixed-window and adaptive. The binding
// flattens (N, C) into `planes` and computes the output size with core/shape.h; kernels assume valid
// arguments.
// Backward WRITES (=) its output: dinp is zero-filled, then every window's gradient is added into it
// (the adaptive 1x1 average backward writes g / (H*W) directly).
#pragma once
#include <cstdint>

namespace cnnkit {

// Window geometry shared by the pooling kernels (one struct instead of twelve int arguments).
struct Pool2dParams {
  int64_t planes = 0;            // N * C
  int64_t H = 0, W = 0;          // input plane
  int64_t OH = 0, OW = 0;        // output plane
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// out, indices (planes, OH, OW); inp (planes, H, W). indices[o] = h * W + w of the max within
// its plane (PyTorch's convention). Padding acts as -inf; a NaN in the window wins (the last one).
template <class scalar_t>
void max_pool2d_forward(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p);

// dinp (planes, H, W) = sum over outputs o of dout[o] at indices[o]. indices must lie in [0, H*W).
// Needs only the plane geometry (planes, H, W, OH, OW) of p, so it is also adaptive max-pool's
// backward.
template <class scalar_t>
void max_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p);

// out (planes, OH, OW); inp (planes, H, W). Dilation is 1. divisor_override 0 means "none".
template <class scalar_t>
void avg_pool2d_forward(scalar_t* out, const scalar_t* inp, const Pool2dParams& p, bool count_include_pad,
                        int64_t divisor_override);

// dinp (planes, H, W); dout (planes, OH, OW).
template <class scalar_t>
void avg_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p, bool count_include_pad,
                         int64_t divisor_override);

// ---- adaptive pooling (torch.nn.AdaptiveAvgPool2d / AdaptiveMaxPool2d) -----------------------------
// Only planes, H, W, OH, OW of Pool2dParams are used (OH or OW may be 0: empty output). Output (oh, ow) pools input rows
// [floor(oh*H/OH), ceil((oh+1)*H/OH)) and columns [floor(ow*W/OW), ceil((ow+1)*W/OW)) (PyTorch's rule;
// windows are never empty and may overlap by one row/column when OH does not divide H).

// out (planes, OH, OW) = window sum / kh / kw (PyTorch's two divisions). OH = OW = 1 takes a
// vectorisable plane mean, sum / (H*W) as torch's mean, equal to the generic result up to rounding.
template <class scalar_t>
void adaptive_avg_pool2d_forward(scalar_t* out, const scalar_t* inp, const Pool2dParams& p);

// dinp (planes, H, W) = sum over the windows containing each input of dout / kh / kw.
template <class scalar_t>
void adaptive_avg_pool2d_backward(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p);

// out, indices (planes, OH, OW); indices[o] = h * W + w within the plane; the first maximum in
// row-major order wins, a NaN wins over numbers (the last NaN).
template <class scalar_t>
void adaptive_max_pool2d_forward(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p);

// Its backward is max_pool2d_backward (the same scatter of dout at the indices).

// Plain-loop references of the three kernels above and of that backward (single-threaded, no fast
// path), for the tests.
template <class scalar_t>
void adaptive_avg_pool2d_forward_naive(scalar_t* out, const scalar_t* inp, const Pool2dParams& p);
template <class scalar_t>
void adaptive_avg_pool2d_backward_naive(scalar_t* dinp, const scalar_t* dout, const Pool2dParams& p);
template <class scalar_t>
void adaptive_max_pool2d_forward_naive(scalar_t* out, int64_t* indices, const scalar_t* inp, const Pool2dParams& p);
template <class scalar_t>
void adaptive_max_pool2d_backward_naive(scalar_t* dinp, const scalar_t* dout, const int64_t* indices,
                                        const Pool2dParams& p);

// ---- max unpooling (torch.nn.functional.max_unpool2d) ----------------------------------------------
// Pool2dParams' planes, H, W (the pooled input) and OH, OW (the unpooled output) are used.
// out (planes, OH, OW) = 0, then out[plane][indices[i]] = inp[i] for every input value i of the plane
// (indices in [0, OH*OW), checked by the binding). When several values share an index the FIRST in
// memory order wins on the CPU (torch's CPU result in the cases we compared); they come from
// overlapping max-pool windows and hold the same value in practice.
template <class scalar_t>
void max_unpool2d_forward(scalar_t* out, const scalar_t* inp, const int64_t* indices, const Pool2dParams& p);

// dinp (planes, H, W): dinp[i] = dout[plane][indices[i]] (a gather; written once each).
template <class scalar_t>
void max_unpool2d_backward(scalar_t* dinp, const scalar_t* dout, const int64_t* indices, const Pool2dParams& p);

}  // namespace cnnkit
