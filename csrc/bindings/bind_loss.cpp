#include "bindings/bindings.h"

namespace cnnkit {
void bind_loss(py::module_& m) { (void)m; }
}  // namespace cnnkit
