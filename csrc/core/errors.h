// Typed errors of the C++ core. The binding layer translates them to Python exceptions:
//   ValueError -> ValueError, TypeError -> TypeError, IndexError -> IndexError,
//   OutOfMemory -> MemoryError, RuntimeError and anything else derived from std::exception -> RuntimeError.
// Messages name the op and the expected vs actual shapes/dtypes/devices.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cnnkit {

struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct OutOfMemory : std::runtime_error { using std::runtime_error::runtime_error; };
// A CUDA allocation that failed even after the cache was emptied: cnnkit.cuda.OutOfMemoryError,
// a RuntimeError subclass in Python as in PyTorch.
struct CudaOutOfMemory : RuntimeError { using RuntimeError::RuntimeError; };

// "[2, 3, 4]" — the way shapes are printed in every message.
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// str(a, b, c): concatenates anything streamable (and shapes) into a message.
inline void str_append(std::ostringstream&) {}
template <class T, class... R>
void str_append(std::ostringstream& os, const T& v, const R&... rest);
template <class... R>
void str_append(std::ostringstream& os, const std::vector<int64_t>& v, const R&... rest) {
  os << shape_str(v);
  str_append(os, rest...);
}
template <class T, class... R>
void str_append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  str_append(os, rest...);
}
template <class... A>
std::string str(const A&... args) {
  std::ostringstream os;
  str_append(os, args...);
  return os.str();
}

}  // namespace cnnkit

// CNNKIT_CHECK(cond, ValueError, "conv2d: expected ", a, " got ", b)
#define CNNKIT_CHECK(cond, ErrType, ...)                        \
  do {                                                          \
    if (!(cond)) throw ::cnnkit::ErrType(::cnnkit::str(__VA_ARGS__)); \
  } while (0)
