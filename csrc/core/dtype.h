// Element types and devices, and the dispatch macros that turn a runtime dtype into a template
// argument `scalar_t` (the same idea as PyTorch's AT_DISPATCH_*).
//
// float16 and bfloat16 are storage types: `Half` and `BFloat16` hold the 16 bits and convert
// to/from float with round-to-nearest-even (core/half.h). Kernels never compute in them; the
// Python layer upcasts half tensors to float32 around every compute op (autograd Function.apply)
// and casts the result back. Only copies/casts, fills and item() dispatch over them
// (CNNKIT_DISPATCH_STORAGE); CNNKIT_DISPATCH_ALL (integer, bool and float32/float64 kernels) and
// CNNKIT_DISPATCH_FLOATING (float32/float64 kernels) reject them with a TypeError.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/half.h"

namespace cnnkit {

// Values are part of the binary contract with the Python layer (cnnkit._C.DType); append only.
enum class DType : int8_t {
  Float32 = 0, Float64 = 1, Int64 = 2, Bool = 3, UInt8 = 4,
  Int32 = 5, Int16 = 6, Int8 = 7, Float16 = 8, BFloat16 = 9
};

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::UInt8: return 1;
    case DType::Int32: return 4;
    case DType::Int16: return 2;
    case DType::Int8: return 1;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
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
    case DType::Int32: return "int32";
    case DType::Int16: return "int16";
    case DType::Int8: return "int8";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "?";
}

// The dtypes floating kernels compute in (float32, float64). The half types are floating point
// (is_floating_point_type) but are never handed to a kernel.
inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }
inline bool is_half_type(DType t) { return t == DType::Float16 || t == DType::BFloat16; }
inline bool is_floating_point_type(DType t) { return is_floating(t) || is_half_type(t); }

// The end of a kernel's dtype error for a half-type tensor (which no kernel computes in).
inline const char* half_hint(DType t) {
  return is_half_type(t) ? " (float16/bfloat16 are storage types in cnnkit: convert with .float() first)" : "";
}

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
                                                ::cnnkit::dtype_name(DT), ::cnnkit::half_hint(DT))); \
    }                                                                                           \
  }()

// Every dtype kernels compute in: float32, float64, the integers and bool (comparisons,
// elementwise on integers, reductions, indexing). Not the half types.
#define CNNKIT_DISPATCH_ALL(DT, NAME, ...)                                                      \
  [&] {                                                                                         \
    switch (DT) {                                                                               \
      case ::cnnkit::DType::Float32: { using scalar_t = float; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Float64: { using scalar_t = double; return __VA_ARGS__(); }         \
      case ::cnnkit::DType::Int64: { using scalar_t = int64_t; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Int32: { using scalar_t = int32_t; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Int16: { using scalar_t = int16_t; return __VA_ARGS__(); }          \
      case ::cnnkit::DType::Int8: { using scalar_t = int8_t; return __VA_ARGS__(); }            \
      case ::cnnkit::DType::Bool: { using scalar_t = bool; return __VA_ARGS__(); }              \
      case ::cnnkit::DType::UInt8: { using scalar_t = uint8_t; return __VA_ARGS__(); }          \
      default: break;                                                                           \
    }                                                                                           \
    throw ::cnnkit::TypeError(::cnnkit::str(NAME, ": unsupported dtype ", ::cnnkit::dtype_name(DT), \
                                            ::cnnkit::half_hint(DT)));                          \
  }()

// Every dtype including the 16-bit float storage types: copies with conversion, fill, item().
#define CNNKIT_DISPATCH_STORAGE(DT, NAME, ...)                                                  \
  [&] {                                                                                         \
    switch (DT) {                                                                               \
      case ::cnnkit::DType::Float16: { using scalar_t = ::cnnkit::Half; return __VA_ARGS__(); } \
      case ::cnnkit::DType::BFloat16: { using scalar_t = ::cnnkit::BFloat16; return __VA_ARGS__(); } \
      default: return CNNKIT_DISPATCH_ALL(DT, NAME, __VA_ARGS__);                               \
    }                                                                                           \
  }()
