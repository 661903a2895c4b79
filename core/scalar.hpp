// Scalar: a number operand of a tensor op (`x + 1`, `x * 0.5`, `x > 0`) that
// remembers whether it was written as an integer, a bool or a floating-point
// number, because PyTorch's result dtype depends on it: an int64 tensor plus 1
// stays int64, plus 1.5 becomes float32 (LibTorch's at::Scalar).
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/dtype.hpp"

namespace xgrad {

class Scalar {
 public:
  enum class Kind : std::uint8_t { Floating, Integral, Boolean };

  template <class T>
    requires std::is_arithmetic_v<T>
  Scalar(T value) {  // NOLINT: implicit, like at::Scalar, so `x + 1` reads as it does in PyTorch
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::Boolean;
      integer_ = value ? 1 : 0;
      floating_ = integer_;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::Integral;
      integer_ = static_cast<std::int64_t>(value);
      floating_ = static_cast<double>(value);
    } else {
      kind_ = Kind::Floating;
      floating_ = static_cast<double>(value);
      integer_ = convert<std::int64_t>(floating_);
    }
  }

  Kind kind() const { return kind_; }
  bool is_floating_point() const { return kind_ == Kind::Floating; }
  double to_double() const { return floating_; }
  std::int64_t to_int64() const { return integer_; }

  // The value as the element type T of a tensor (converted as Tensor::to converts).
  template <class T>
  T to() const {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(floating_);
    } else if constexpr (std::is_same_v<T, bool>) {
      return kind_ == Kind::Floating ? floating_ != 0.0 : integer_ != 0;
    } else {
      return integer_;
    }
  }

 private:
  Kind kind_ = Kind::Floating;
  double floating_ = 0.0;
  std::int64_t integer_ = 0;
};

// PyTorch's result dtype of `tensor op scalar` (a scalar never widens a tensor of
// its own category): floating tensors keep their dtype; an int64 tensor stays
// int64 with an integer or bool scalar and becomes float32 with a floating one;
// a bool tensor stays bool with a bool scalar, becomes int64 with an integer one
// and float32 with a floating one.
constexpr Dtype result_type(Dtype tensor, Scalar::Kind scalar) {
  if (is_floating_point(tensor)) return tensor;
  if (scalar == Scalar::Kind::Floating) return kFloat32;
  if (tensor == kBool && scalar == Scalar::Kind::Integral) return kInt64;
  return tensor;
}

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Scalar> : fmt::formatter<double> {
  auto format(const xgrad::Scalar& scalar, fmt::format_context& ctx) const {
    if (scalar.is_floating_point()) return fmt::formatter<double>::format(scalar.to_double(), ctx);
    if (scalar.kind() == xgrad::Scalar::Kind::Boolean) return fmt::format_to(ctx.out(), "{}", scalar.to_int64() != 0);
    return fmt::format_to(ctx.out(), "{}", scalar.to_int64());
  }
};
