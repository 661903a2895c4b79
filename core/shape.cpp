#include "core/shape.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace xgrad {

std::int64_t checked_numel(const Shape& shape, std::string_view op) {
  std::int64_t count = 1;
  for (std::int64_t extent : shape) {
    XGRAD_CHECK(extent >= 0, "{}: shape {} has a negative dimension", op, shape);
  }
  // The product of the non-zero extents must fit too (it bounds the strides), even
  // when a zero extent makes the tensor empty: [0, 2^62, 2^62] is refused.
  bool empty = false;
  for (std::int64_t extent : shape) {
    if (extent == 0) {
      empty = true;
      continue;
    }
    XGRAD_CHECK(!__builtin_mul_overflow(count, extent, &count),
                "{}: shape {} has more elements than a 64-bit count can hold", op, shape);
  }
  return empty ? 0 : count;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view op, std::string_view what) {
  std::int64_t result = 0;
  XGRAD_CHECK(!__builtin_add_overflow(a, b, &result), "{}: {} = {} + {} does not fit in a 64-bit size", op, what, a, b);
  return result;
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view op, std::string_view what) {
  std::int64_t result = 0;
  XGRAD_CHECK(!__builtin_mul_overflow(a, b, &result), "{}: {} = {} * {} does not fit in a 64-bit size", op, what, a, b);
  return result;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (std::int64_t i = static_cast<std::int64_t>(shape.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * std::max<std::int64_t>(shape[i + 1], 1);
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    XGRAD_CHECK(da == db || da == 1 || db == 1,
                "{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})", op, a, b,
                i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, std::string_view op) {
  const std::int64_t lo = rank == 0 ? -1 : -rank;
  const std::int64_t hi = rank == 0 ? 0 : rank - 1;
  XGRAD_CHECK(dim >= lo && dim <= hi, "{}: dimension {} is out of range for a tensor of rank {} (expected {} to {})",
              op, dim, rank, lo, hi);
  return dim < 0 ? dim + std::max<std::int64_t>(rank, 1) : dim;
}

}  // namespace xgrad
