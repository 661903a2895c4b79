// Internal: the data movement of a permutation, below the graph, so core's readers
// (load_npy's Fortran order) and the recorded permute op share one loop.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::detail {

// A contiguous copy of `a` with dim i of the result taken from dim order[i] of `a`.
// `order` must be a permutation of 0..a.dim()-1 (the caller validated it); not recorded.
Tensor permute_values(const Tensor& a, const std::vector<std::int64_t>& order);

}  // namespace xgrad::detail
