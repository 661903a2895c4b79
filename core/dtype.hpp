// Runtime element types: float32 (the default) and float64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

namespace xgrad {

enum class Dtype : std::uint8_t { Float32, Float64 };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;

constexpr std::string_view dtype_name(Dtype dtype) {
  return dtype == Dtype::Float32 ? "float32" : "float64";
}

constexpr std::size_t element_size(Dtype dtype) {
  return dtype == Dtype::Float32 ? sizeof(float) : sizeof(double);
}

template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "xgrad tensors hold float or double");
  return std::is_same_v<T, float> ? Dtype::Float32 : Dtype::Float64;
}

// Calls fn with a value of the C++ type behind `dtype` (0.0f or 0.0), so that
// generic code reads `dispatch(dtype, [&](auto zero) { using T = decltype(zero); ... })`.
template <class Fn>
decltype(auto) dispatch(Dtype dtype, Fn&& fn) {
  if (dtype == Dtype::Float32) {
    return fn(float{});
  }
  return fn(double{});
}

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Dtype> : fmt::formatter<std::string_view> {
  auto format(xgrad::Dtype dtype, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::dtype_name(dtype), ctx);
  }
};
