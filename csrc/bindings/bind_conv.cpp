#include "bindings/bindings.h"

namespace cnnkit {
void bind_conv(py::module_& m) { (void)m; }
}  // namespace cnnkit
