// Internal: Python's repr of a float ("0.1", "1e-05", "0.0"), for module reprs
// that must read exactly like PyTorch's.
#pragma once

#include <string>

#include <fmt/format.h>

namespace xgrad::nn::detail {

inline std::string python_float(double value) {
  std::string text = fmt::format("{}", value);  // shortest round-trip, like Python
  if (text.find_first_of(".en") == std::string::npos) text += ".0";  // "0" -> "0.0"; "1e-05", "inf", "nan" stay
  return text;
}

}  // namespace xgrad::nn::detail
