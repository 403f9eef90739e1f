// The "lines" of scatter_ / scatter_add_, shared by the CPU (index.cpp) and CUDA (index.cu) kernels:
// one line per coordinate tuple of the index without `dim`. A line's destinations are disjoint
// from every other line's, so lines run in parallel (one task / one thread per line) and each
// applies its duplicates in index order.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ops/elementwise.h"

namespace cnnkit {

// s without its dimension `dim` (a 0-d shape stays 0-d).
inline Shape drop_dim(const Shape& s, int64_t dim) {
  Shape r = s;
  if (!r.empty()) r.erase(r.begin() + dim);
  return r;
}

// The lines of an index: a plan over out / index / src with `dim` dropped, each line `len` long
// with strides os / is / ss along `dim`.
struct ScatterLines {
  int64_t len, os, is, ss;
  StridedPlan<3> plan;
};

inline ScatterLines scatter_lines(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const bool scalar = index.dim() == 0;  // a 0-d index is one line of length 1
  const int64_t len = scalar ? 1 : index.shape()[dim];
  const int64_t os = scalar ? 0 : out.strides()[dim];
  const int64_t is = scalar ? 0 : index.strides()[dim];
  const int64_t ss = scalar ? 0 : src.strides()[dim];
  return {len, os, is, ss,
          make_plan<3>(drop_dim(index.shape(), dim),
                       {drop_dim(out.strides(), dim), drop_dim(index.strides(), dim), drop_dim(src.strides(), dim)},
                       true)};
}

}  // namespace cnnkit
