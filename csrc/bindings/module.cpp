// The cnnkit._C extension: the Tensor type, its views and copies, NumPy interop, configuration,
// and (through bind_<family>) every op family. Errors thrown by the core become Python exceptions
// here: ValueError, TypeError, IndexError, MemoryError, RuntimeError.
#include <pybind11/numpy.h>

#include <cstring>

#include "bindings/bindings.h"
#include "core/config.h"
#include "core/cpu_allocator.h"
#include "core/cuda_backend.h"
#include "core/pinned.h"
#include "core/shape.h"
#include "build_info.h"
#include "core/parallel.h"
#include "ops/simd.h"

namespace cnnkit {
namespace {

DType dtype_from_numpy(const py::dtype& dt) {
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'f' && size == 2) return DType::Float16;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'i' && size == 4) return DType::Int32;
  if (kind == 'i' && size == 2) return DType::Int16;
  if (kind == 'i' && size == 1) return DType::Int8;
  if (kind == 'b') return DType::Bool;
  if (kind == 'u' && size == 1) return DType::UInt8;
  throw TypeError(str("can't convert np.ndarray of type numpy.", std::string(py::str(dt)),
                      ". The only supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, "
                      "and bool."));
}

const char* numpy_format(DType dt) {
  switch (dt) {
    case DType::Float32: return "f";
    case DType::Float64: return "d";
    case DType::Int64: return "q";
    case DType::Bool: return "?";
    case DType::UInt8: return "B";
    case DType::Int32: return "i";
    case DType::Int16: return "h";
    case DType::Int8: return "b";
    case DType::Float16: return "e";
    case DType::BFloat16: break;  // NumPy has no bfloat16 (the buffer protocol refuses it)
  }
  return "";
}

// Shares the memory of a NumPy array when its layout is one we can describe (element-aligned,
// native byte order); the storage keeps a reference to the array alive. Otherwise copies.
Tensor from_numpy(py::array arr) {
  const DType dt = dtype_from_numpy(arr.dtype());
  const auto isz = static_cast<py::ssize_t>(dtype_size(dt));
  bool shareable = arr.dtype().byteorder() != '>' && arr.writeable();
  Shape shape, strides;
  int64_t min_off = 0;
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    shape.push_back(arr.shape(i));
    const py::ssize_t s = arr.strides(i);
    if (s % isz != 0) shareable = false;
    strides.push_back(s / isz);
    if (s < 0 && arr.shape(i) > 0) min_off += (arr.shape(i) - 1) * (s / isz);
  }
  if (shareable && reinterpret_cast<uintptr_t>(arr.data()) % isz == 0) {
    // Negative strides: the storage starts at the lowest address, the offset points at element 0.
    char* base = const_cast<char*>(static_cast<const char*>(arr.data())) + min_off * isz;
    int64_t max_off = 0;
    for (size_t i = 0; i < shape.size(); ++i)
      if (strides[i] > 0 && shape[i] > 0) max_off += (shape[i] - 1) * strides[i];
    const int64_t span = shape_numel(shape) == 0 ? 0 : max_off - min_off + 1;
    auto* keep = new py::object(arr);
    auto storage = Storage::wrap(base, static_cast<size_t>(span) * isz, Device::cpu(), [keep](void*) {
      py::gil_scoped_acquire gil;
      delete keep;
    });
    return Tensor(storage, shape, strides, -min_off, dt);
  }
  py::array c = py::array::ensure(arr, py::array::c_style | py::array::forcecast);
  Tensor t = Tensor::empty(shape, dt);
  if (t.numel()) std::memcpy(t.data_ptr(), c.data(), t.numel() * isz);
  return t;
}

// "cpu", "cuda", "cuda:1" -> Device ("cuda" alone means the current device).
Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s.rfind("cuda", 0) == 0) {
    int index = -1;  // -1: the current device
    if (s.size() > 4) {
      CNNKIT_CHECK(s[4] == ':' && s.size() > 5, RuntimeError, "Invalid device string: '", s, "'");
      try {
        index = std::stoi(s.substr(5));
      } catch (const std::exception&) {
        throw RuntimeError(str("Invalid device string: '", s, "'"));
      }
    }
#ifdef CNNKIT_WITH_CUDA
    const int n = cuda_device_count();
    if (n == 0) {
      const std::string why = cuda_device_count_error();
      throw RuntimeError(str("Found no NVIDIA driver or CUDA device on your system. Please check that you have an "
                             "NVIDIA GPU and installed a driver",
                             why.empty() ? std::string() : str(" (cudaGetDeviceCount failed: ", why, ")")));
    }
    if (index < 0) index = cuda_current_device();
    CNNKIT_CHECK(index < n, RuntimeError, "CUDA error: invalid device ordinal ", index, " (", n,
                 " device(s) visible)");
    return Device::cuda(index);
#else
    throw RuntimeError("cnnkit was built without CUDA support (nvcc was not found at build time)");
#endif
  }
  throw RuntimeError(str("Expected one of cpu, cuda device type at start of device string: ", s));
}

py::object item(const Tensor& t) {
  CNNKIT_CHECK(t.numel() == 1, RuntimeError, "a Tensor with ", t.numel(),
               " elements cannot be converted to Scalar");
  Tensor c = t.to_device(Device::cpu()).contiguous();
  switch (t.dtype()) {
    case DType::Float32: return py::float_(*c.data<float>());
    case DType::Float64: return py::float_(*c.data<double>());
    case DType::Int64: return py::int_(*c.data<int64_t>());
    case DType::Bool: return py::bool_(*c.data<bool>());
    case DType::UInt8: return py::int_(*c.data<uint8_t>());
    case DType::Int32: return py::int_(*c.data<int32_t>());
    case DType::Int16: return py::int_(*c.data<int16_t>());
    case DType::Int8: return py::int_(*c.data<int8_t>());
    case DType::Float16: return py::float_(static_cast<float>(*c.data<Half>()));
    case DType::BFloat16: return py::float_(static_cast<float>(*c.data<BFloat16>()));
  }
  return py::none();
}

}  // namespace
}  // namespace cnnkit

PYBIND11_MODULE(_C, m) {
  using namespace cnnkit;
  m.doc() = "cnnkit's compiled core: tensors and CPU/CUDA kernels";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  // Registered after the general translator, so it is tried first (pybind11 tries the newest first).
  py::register_exception<CudaOutOfMemory>(m, "CudaOutOfMemoryError", PyExc_RuntimeError);

  py::enum_<DType>(m, "DType")
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int64", DType::Int64)
      .value("bool", DType::Bool)
      .value("uint8", DType::UInt8)
      .value("int32", DType::Int32)
      .value("int16", DType::Int16)
      .value("int8", DType::Int8)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16);

  py::class_<Tensor>(m, "Tensor", py::buffer_protocol())
      .def_buffer([](const Tensor& t) -> py::buffer_info {
        check_cpu("numpy", t);
        CNNKIT_CHECK(t.dtype() != DType::BFloat16, TypeError, "Got unsupported ScalarType BFloat16");
        std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
        std::vector<py::ssize_t> strides;
        for (int64_t s : t.strides()) strides.push_back(s * static_cast<int64_t>(t.itemsize()));
        return py::buffer_info(t.data_ptr(), static_cast<py::ssize_t>(t.itemsize()), numpy_format(t.dtype()),
                               t.dim(), shape, strides);
      })
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("strides", [](const Tensor& t) { return py::tuple(py::cast(t.strides())); })
      .def_property_readonly("offset", &Tensor::offset)
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("is_half", [](const Tensor& t) { return is_half_type(t.dtype()); })
      .def_property_readonly("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def_property_readonly("storage_ptr",
                             [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->ptr.get()); })
      .def_property_readonly("storage_nbytes", [](const Tensor& t) { return t.storage()->nbytes; })
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("as_strided", &Tensor::as_strided)
      .def("view", &Tensor::view)
      .def("reshape", &Tensor::reshape)
      .def("permute", &Tensor::permute)
      .def("transpose", &Tensor::transpose)
      .def("squeeze", py::overload_cast<>(&Tensor::squeeze, py::const_))
      .def("squeeze", py::overload_cast<int64_t>(&Tensor::squeeze, py::const_))
      .def("unsqueeze", &Tensor::unsqueeze)
      .def("expand", &Tensor::expand)
      .def("slice", &Tensor::slice)
      .def("select", &Tensor::select)
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone)
      .def("to", &Tensor::to)
      .def("view_dtype", &Tensor::view_dtype)
      .def("to_device",
           [](const Tensor& t, const std::string& d, bool non_blocking) {
             return non_blocking ? to_device_non_blocking(t, parse_device(d)) : t.to_device(parse_device(d));
           },
           py::arg("device"), py::arg("non_blocking") = false)
      .def("copy_",
           [](Tensor& t, const Tensor& src, bool non_blocking) {
             if (non_blocking) copy_non_blocking(t, src);
             else t.copy_(src);
           },
           py::arg("src"), py::arg("non_blocking") = false)
      .def("is_pinned", [](const Tensor& t) { return is_pinned(t); })
      .def("pin_memory", [](const Tensor& t) { return pin_memory(t); }, py::call_guard<py::gil_scoped_release>())
      .def("fill_", &Tensor::fill_)
      .def("item", &item);

  m.def("empty", [](const Shape& s, DType dt, const std::string& d) { return Tensor::empty(s, dt, parse_device(d)); },
        py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu");
  m.def("zeros", [](const Shape& s, DType dt, const std::string& d) { return Tensor::zeros(s, dt, parse_device(d)); },
        py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu");
  m.def("full",
        [](const Shape& s, double v, DType dt, const std::string& d) { return Tensor::full(s, v, dt, parse_device(d)); },
        py::arg("shape"), py::arg("value"), py::arg("dtype"), py::arg("device") = "cpu");
  m.def("resolve_device", [](const std::string& d) { return parse_device(d).str(); },
        "canonical device string ('cuda' -> 'cuda:<current>'); RuntimeError when it is unusable");
  m.def("from_numpy", &from_numpy, "Tensor sharing the array's memory when possible, else a copy");
  // The overflow-checked shape arithmetic of core/shape.h, for Python code that builds tensors
  // outside _C.empty (NumPy-generated data) or computes a numel (Size.numel).
  m.def("shape_numel", [](const Shape& s) { return checked_numel(s); },
        "numel of a shape; RuntimeError 'numel: integer multiplication overflow' past int64");
  m.def("contiguous_nbytes", [](const Shape& s, size_t itemsize) { return contiguous_nbytes(s, itemsize); },
        "bytes of a dense tensor; RuntimeError 'Storage size calculation overflowed' past int64");
  m.def("broadcast_shapes", [](const Shape& a, const Shape& b) { return broadcast_shapes("broadcast_shapes", a, b); });

  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    CNNKIT_CHECK(n >= 1, ValueError, "set_num_threads: expected a positive number of threads, got ", n);
    set_num_threads(n);
  });
  // The CPU caching allocator (core/cpu_allocator.h), behind cnnkit.cpu.memory_*(). Plain keys
  // (bytes and counts), plus torch.cuda.memory_stats()'s names for the four byte figures.
  m.def("cpu_memory_stats", [] {
    const CpuMemoryStats st = cpu_memory_stats();
    py::dict out;
    out["allocated"] = st.allocated;
    out["peak_allocated"] = st.peak_allocated;
    out["cached"] = st.cached;
    out["reserved"] = st.reserved;
    out["peak_reserved"] = st.peak_reserved;
    out["num_system_allocs"] = st.num_system_allocs;
    out["num_system_frees"] = st.num_system_frees;
    out["num_cache_hits"] = st.num_cache_hits;
    out["num_small_allocs"] = st.num_small_allocs;
    out["num_alloc_retries"] = st.num_alloc_retries;
    out["num_ooms"] = st.num_ooms;
    out["cache_limit"] = st.cache_limit;
    out["small_threshold"] = st.small_threshold;
    out["caching_enabled"] = st.caching_enabled;
    out["allocated_bytes.all.current"] = st.allocated;
    out["allocated_bytes.all.peak"] = st.peak_allocated;
    out["reserved_bytes.all.current"] = st.reserved;
    out["reserved_bytes.all.peak"] = st.peak_reserved;
    return out;
  });
  m.def("cpu_reset_peak_memory_stats", &cpu_reset_peak_memory_stats);
  m.def("cpu_empty_cache", &cpu_empty_cache);
  m.def("_cpu_allocator_stress", [](int threads, int iters) {
    CNNKIT_CHECK(threads >= 1 && threads <= 64 && iters >= 0, ValueError,
                 "_cpu_allocator_stress: expected 1..64 threads and iters >= 0, got ", threads, ", ", iters);
    py::gil_scoped_release release;
    return cpu_allocator_stress(threads, iters);
  });
  m.def("simd_level", &simd_level);
  // The SIMD dispatch (ops/simd.h): what the CPU supports, why a level is missing, the self-check
  // fallbacks so far, and the cache sizes the gemm blocking is computed from.
  m.def("cpu_simd_level", [] { return std::string(simd_level_name(cpu_simd_level())); });
  m.def("cpu_simd_missing", [](const std::string& level) {
    SimdLevel l = SimdLevel::kPortable;
    if (level == "avx512") l = SimdLevel::kAvx512;
    else if (level == "avx2") l = SimdLevel::kAvx2;
    else CNNKIT_CHECK(level == "portable", ValueError, "cpu_simd_missing: expected 'avx512', 'avx2' or 'portable', got '", level, "'");
    return cpu_simd_missing(l);
  });
  m.def("simd_fallbacks", &simd_fallbacks);
  m.def("cpu_cache_sizes", [] {
    const CpuCaches& c = cpu_caches();
    py::dict out;
    out["L1d"] = c.l1d;
    out["L2"] = c.l2;
    out["L3"] = c.l3;
    out["L3_shared_by"] = c.l3_sharing;
    out["source"] = c.source;
    return out;
  });
  m.def("cuda_compiled", &cuda_compiled);
  m.def("cuda_architectures", &cuda_architectures);
  m.def("cuda_runtime_version", &cuda_runtime_version);
  m.def("cuda_driver_version", &cuda_driver_version);
  m.def("cuda_device_count", &cuda_device_count);
  m.def("cuda_device_count_error", &cuda_device_count_error);
  m.def("cuda_device_name", &cuda_device_name);
#ifdef CNNKIT_WITH_CUDA
  m.def("cuda_memory_stats", [](int d) {
    const CudaMemoryStats st = cuda_memory_stats(d);
    py::dict out;
    out["allocated_bytes"] = st.allocated;
    out["peak_allocated_bytes"] = st.peak_allocated;
    out["reserved_bytes"] = st.reserved;
    out["num_mallocs"] = st.num_mallocs;
    return out;
  });
  m.def("cuda_reset_peak_memory_stats", &cuda_reset_peak_memory_stats);
  m.def("cuda_empty_cache", &cuda_empty_cache);
  m.def("cuda_current_device", &cuda_current_device);
  m.def("cuda_set_device", &cuda_set_device);
  m.def("cuda_synchronize", &cuda_synchronize);
  m.def("cuda_host_memory_stats", [] {
    const CudaHostMemoryStats st = cuda_host_memory_stats();
    py::dict out;
    out["allocated_bytes"] = st.allocated;
    out["cached_bytes"] = st.cached;
    out["reserved_bytes"] = st.reserved;
    out["num_host_allocs"] = st.num_host_allocs;
    out["num_cache_hits"] = st.num_cache_hits;
    out["num_deferred_frees"] = st.num_deferred_frees;
    out["pending_blocks"] = st.pending;
    return out;
  });
  m.def("cuda_host_empty_cache", &cuda_host_empty_cache);
  m.def("cuda_host_block_busy", [](const Tensor& t) { return is_pinned(t) && cuda_host_block_busy(t.storage()->ptr.get()); });
#endif
  m.attr("__version__") = CNNKIT_VERSION;
  m.attr("compiler") = CNNKIT_COMPILER;
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif

  bind_elementwise(m);
  bind_reduce(m);
  bind_index(m);
  bind_gemm(m);
  bind_conv(m);
  bind_pool(m);
  bind_activation(m);
  bind_loss(m);
  bind_optim(m);
  bind_batchnorm(m);
  bind_sort(m);
  bind_pad(m);
  bind_norm(m);
  bind_upsample(m);
  bind_dropout(m);
  bind_grid_sample(m);
}
