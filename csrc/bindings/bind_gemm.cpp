#include "bindings/bindings.h"

namespace cnnkit {
void bind_gemm(py::module_& m) { (void)m; }
}  // namespace cnnkit
