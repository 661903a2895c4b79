// Helpers shared by the nn::functional op files (not part of the public API).
//
// The ops there are dedicated loops: forward, then the backward lambda right below it with the
// derivative it implements. Backward lambdas save inputs and outputs as SavedTensor (so an
// in-place change is an error, not a silent wrong gradient) plus what only the op sees (argmax
// indices, masks, batch statistics). A backward runs its fused loop, except under create_graph,
// where it is built from recorded ops so that it can be differentiated again.
#pragma once

#include <algorithm>
#include <cstdint>

#include "autograd/grad_mode.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"

namespace xgrad::nn::functional::detail {

// True inside a backward run with create_graph (the engine turns grad mode on
// only then): a backward must then compute with recorded ops, so that its result
// is differentiable; otherwise it runs its fused loop.
inline bool recording_backward() { return autograd::is_grad_enabled(); }

inline void check_input(const Tensor& t, const char* op, const char* what) {
  XGRAD_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* what) {
  XGRAD_CHECK(!b.defined() || a.dtype() == b.dtype(), "{}: {} is {} but the input is {}; convert one with .to()", op,
              what, b.dtype(), a.dtype());
}

// Rows of `row_elements` per parallel_for chunk: enough work (~32K elements) to pay for a wake-up.
inline std::int64_t rows_grain(std::int64_t row_elements) {
  return std::max<std::int64_t>(1, (std::int64_t{1} << 15) / std::max<std::int64_t>(row_elements, 1));
}

}  // namespace xgrad::nn::functional::detail
