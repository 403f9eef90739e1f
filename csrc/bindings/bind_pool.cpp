#include "bindings/bindings.h"

namespace cnnkit {
void bind_pool(py::module_& m) { (void)m; }
}  // namespace cnnkit
