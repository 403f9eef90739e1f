// Element types and devices, and the dispatch macros that turn a runtime dtype into a template
// argument `scalar_t` (the same idea as PyTorch's AT_DISPATCH_*).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"

namespace cnnkit {

enum class DType : int8_t { Float32 = 0, Float64 = 1, Int64 = 2, Bool = 3, UInt8 = 4 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::UInt8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::UInt8: return "uint8";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

enum class DeviceType : int8_t { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = -1;  // -1 on the CPU
  static Device cpu() { return Device{}; }
  static Device cuda(int i = 0) { return Device{DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const {
    return type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
  }
};

}  // namespace cnnkit

// Floating dtypes only (kernels with float math).
#define CNNKIT_DISPATCH_FLOATING(DT, NAME, ...)                                                 \
  [&] {                                                                                         \
    switch (DT) {                                                                               \
      case ::cnnkit::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }         \
      default:                                                                                  \
        throw ::cnnkit::TypeError(::cnnkit::str(NAME, ": expected a float32 or float64 tensor, got ", \
                                                ::cnnkit::dtype_name(DT)));                     \
    }                                                                                           \
  }()

// Every dtype (copies, comparisons, elementwise on integers).
#define CNNKIT_DISPATCH_ALL(DT, NAME, ...)                                                      \
  [&] {                                                                                         \
    switch (DT) {                                                                               \
      case ::cnnkit::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }         \
      case ::cnnkit::DType::Int64: { using scalar_t = int64_t; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Bool: { using scalar_t = bool; return __VA_ARGS__(); }              \
      case ::cnnkit::DType::UInt8: { using scalar_t = uint8_t; return __VA_ARGS__(); }          \
    }                                                                                           \
    throw ::cnnkit::TypeError(::cnnkit::str(NAME, ": unsupported dtype"));                      \
  }()
