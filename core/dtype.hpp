// Runtime element types: float32 (the default), float64, int64 (labels,
// indices, counters) and bool (masks). Only the floating types take part in
// autograd: int64 and bool tensors never require grad.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xgrad {

enum class Dtype : std::uint8_t { Float32, Float64, Int64, Bool };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kBool = Dtype::Bool;

constexpr std::string_view dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return "float32";
    case Dtype::Float64: return "float64";
    case Dtype::Int64: return "int64";
    case Dtype::Bool: return "bool";
  }
  return "unknown";
}

constexpr std::size_t element_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32: return sizeof(float);
    case Dtype::Float64: return sizeof(double);
    case Dtype::Int64: return sizeof(std::int64_t);
    case Dtype::Bool: return sizeof(bool);
  }
  return 0;
}

constexpr bool is_floating_point(Dtype dtype) { return dtype == Dtype::Float32 || dtype == Dtype::Float64; }

template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t> ||
                    std::is_same_v<T, bool>,
                "xgrad tensors hold float, double, std::int64_t or bool");
  if constexpr (std::is_same_v<T, float>) return Dtype::Float32;
  if constexpr (std::is_same_v<T, double>) return Dtype::Float64;
  if constexpr (std::is_same_v<T, std::int64_t>) return Dtype::Int64;
  return Dtype::Bool;
}

// Converts one element between the C++ types behind the dtypes, as PyTorch does:
// to bool, nonzero (and NaN) is true; floating to int64 truncates toward zero,
// and NaN or a value out of int64's range gives INT64_MIN (what PyTorch's x86
// conversion gives; a plain static_cast would be undefined behaviour).
template <class To, class From>
constexpr To convert(From value) {
  if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_same_v<To, std::int64_t> && std::is_floating_point_v<From>) {
    constexpr double limit = 9223372036854775808.0;  // 2^63
    const double v = static_cast<double>(value);
    if (!(v >= -limit && v < limit)) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(v);
  } else {
    return static_cast<To>(value);
  }
}

// Calls fn with a type tag for a floating-point `dtype`: a value of its C++ type
// (float or double) that only carries the type and is never read, so generic code
// reads `dispatch(dtype, [&](auto tag) { using T = decltype(tag); ... })`.
// For float-only kernels: an int64 or bool dtype is an xgrad::Error. Ops check
// their inputs first (naming themselves); this is the backstop.
template <class Fn>
decltype(auto) dispatch(Dtype dtype, Fn&& fn) {
  if (dtype == Dtype::Float32) return fn(float{});
  XGRAD_CHECK(dtype == Dtype::Float64,
              "expected a floating-point tensor (float32 or float64), got {}: this op computes in floating point; "
              "convert it first with .to(kFloat32)",
              dtype_name(dtype));
  return fn(double{});
}

// Like dispatch, over all four dtypes (float, double, std::int64_t, bool): for
// kernels that hold for every element type (copies, comparisons, shape ops).
template <class Fn>
decltype(auto) dispatch_all(Dtype dtype, Fn&& fn) {
  switch (dtype) {
    case Dtype::Float32: return fn(float{});
    case Dtype::Float64: return fn(double{});
    case Dtype::Int64: return fn(std::int64_t{});
    case Dtype::Bool: break;
  }
  return fn(bool{});
}

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Dtype> : fmt::formatter<std::string_view> {
  auto format(xgrad::Dtype dtype, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::dtype_name(dtype), ctx);
  }
};
