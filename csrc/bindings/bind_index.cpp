#include "bindings/bindings.h"

namespace cnnkit {
void bind_index(py::module_& m) { (void)m; }
}  // namespace cnnkit
