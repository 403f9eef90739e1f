// Each op family registers its Python entry points in its own file (bind_<family>.cpp), so that
// families can be written and reviewed independently. module.cpp calls every register function.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/checks.h"
#include "core/tensor.h"

// The CUDA branch of a binding: the call itself in a CUDA build, else a clear error.
#ifdef CNNKIT_WITH_CUDA
#define CNNKIT_CUDA_OR_THROW(op, ...) __VA_ARGS__
#else
#define CNNKIT_CUDA_OR_THROW(op, ...) throw_no_cuda(op)
#endif

namespace cnnkit {
namespace py = pybind11;

void bind_elementwise(py::module_& m);  // elementwise.cpp: unary/binary/broadcast/where/clamp
void bind_reduce(py::module_& m);       // reduce.cpp: sum/mean/max/min/argmax
void bind_index(py::module_& m);        // index.cpp: index_select/index_add/cat/gather
void bind_gemm(py::module_& m);         // gemm.cpp: gemm, gemm_naive, bmm
void bind_conv(py::module_& m);         // im2col.cpp, conv2d.cpp, linear.cpp
void bind_pool(py::module_& m);         // pool2d.cpp
void bind_activation(py::module_& m);   // activation.cpp, softmax.cpp
void bind_loss(py::module_& m);         // loss.cpp
void bind_optim(py::module_& m);        // optim.cpp
void bind_batchnorm(py::module_& m);    // batchnorm.cpp
void bind_sort(py::module_& m);         // sort.cpp: sort/topk
void bind_pad(py::module_& m);          // pad.cpp
void bind_norm(py::module_& m);         // norm.cpp: group/layer/instance norm
void bind_upsample(py::module_& m);     // upsample.cpp: nearest / linear interpolation
void bind_dropout(py::module_& m);      // dropout.cpp
void bind_grid_sample(py::module_& m);  // grid_sample.cpp: grid_sample forward / backward
}  // namespace cnnkit
