#include "bindings/bindings.h"

namespace cnnkit {
void bind_activation(py::module_& m) { (void)m; }
}  // namespace cnnkit
