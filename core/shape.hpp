// Shapes and the arithmetic on them that every op needs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace xgrad {

using Shape = std::vector<std::int64_t>;

// Number of elements; throws xgrad::Error naming `op` for a negative extent or a
// count that overflows 64 bits (an error, never a huge allocation).
std::int64_t checked_numel(const Shape& shape, std::string_view op);

// Size arithmetic on user integers (kernel sizes, paddings, shapes): a + b and a * b, or an
// xgrad::Error "<op>: <what> = <a> + <b> does not fit in a 64-bit size" when the result
// overflows. Every size computed from user input goes through these before any loop or
// allocation uses it, so absurd values are errors rather than wrapped sizes.
std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view op, std::string_view what);
std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view op, std::string_view what);

// Row-major strides, in elements.
Shape contiguous_strides(const Shape& shape);

// NumPy broadcasting of two shapes; throws xgrad::Error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// Maps a possibly negative dim into [0, rank); throws naming `op` when out of range. A 0-dim
// tensor accepts -1 and 0 (as PyTorch's reductions do) and gets 0 back, which is NOT an index
// into its empty shape: callers that index the shape must handle rank 0 first.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, std::string_view op);

}  // namespace xgrad
