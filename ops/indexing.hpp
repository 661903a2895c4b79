// The index types of Tensor::index, spelled as LibTorch spells them
// (torch::indexing): Python's t[1:, None, ..., mask] is
//
//   using namespace xgrad::indexing;
//   t.index({Slice(1, None), None, Ellipsis, mask})
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace xgrad::indexing {

// Python's None: as an index, a new dim of size 1; in a Slice, "from the start" / "to the end".
inline constexpr std::nullopt_t None = std::nullopt;

struct EllipsisIndexType {};
// Python's ...: as many full slices as the dims the other indices leave unnamed.
inline constexpr EllipsisIndexType Ellipsis{};

// Python's start:stop:step; a missing (None) start or stop means the whole
// extent, and step must be positive (as in PyTorch).
class Slice {
 public:
  Slice(std::optional<std::int64_t> start = None, std::optional<std::int64_t> stop = None,
        std::optional<std::int64_t> step = None)
      : start_(start.value_or(0)),
        stop_(stop.value_or(std::numeric_limits<std::int64_t>::max())),
        step_(step.value_or(1)) {}
  std::int64_t start() const { return start_; }
  std::int64_t stop() const { return stop_; }
  std::int64_t step() const { return step_; }

 private:
  std::int64_t start_, stop_, step_;
};

class TensorIndex {
 public:
  enum class Kind : std::uint8_t { NoneIndex, EllipsisIndex, Integer, Slice, Tensor };

  TensorIndex(std::nullopt_t) : kind_(Kind::NoneIndex) {}                // NOLINT: implicit, like LibTorch's
  TensorIndex(EllipsisIndexType) : kind_(Kind::EllipsisIndex) {}         // NOLINT
  TensorIndex(const char* text) : kind_(Kind::EllipsisIndex) {           // NOLINT: "..."
    XGRAD_CHECK(text != nullptr && std::string_view(text) == "...",
                "index: the only string index is \"...\" (Ellipsis), got \"{}\"", text ? text : "(null)");
  }
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  TensorIndex(I integer) : kind_(Kind::Integer), integer_(static_cast<std::int64_t>(integer)) {}  // NOLINT
  TensorIndex(Slice slice) : kind_(Kind::Slice), slice_(slice) {}         // NOLINT
  TensorIndex(xgrad::Tensor tensor) : kind_(Kind::Tensor), tensor_(std::move(tensor)) {}  // NOLINT

  Kind kind() const { return kind_; }
  std::int64_t integer() const { return integer_; }
  const Slice& slice() const { return slice_; }
  const xgrad::Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  std::int64_t integer_ = 0;
  Slice slice_;
  xgrad::Tensor tensor_;
};

}  // namespace xgrad::indexing
