#include "bindings/bindings.h"

namespace cnnkit {
void bind_reduce(py::module_& m) { (void)m; }
}  // namespace cnnkit
