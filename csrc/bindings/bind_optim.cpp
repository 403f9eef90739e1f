#include "bindings/bindings.h"

namespace cnnkit {
void bind_optim(py::module_& m) { (void)m; }
}  // namespace cnnkit
