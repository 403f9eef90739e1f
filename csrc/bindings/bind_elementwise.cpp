#include "bindings/bindings.h"

namespace cnnkit {
void bind_elementwise(py::module_& m) { (void)m; }
}  // namespace cnnkit
