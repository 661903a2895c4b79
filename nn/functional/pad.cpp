// functional::pad1d: zero, reflect, replicate and circular padding of the last
// dimension. Every non-zero mode is one table, source[j] = the input position
// that output position j copies; the forward gathers through it and the
// backward scatters (adds) back through it, so the two cannot disagree.
#include <algorithm>
#include <new>
#include <vector>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"
#include "nn/functional.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;

namespace {

// The input position that output position j (of length + left + right) copies.
std::vector<std::int64_t> source_positions(std::int64_t length, std::int64_t left, std::int64_t right,
                                           std::string_view mode) {
  std::vector<std::int64_t> source(static_cast<std::size_t>(length + left + right));  // sum checked by the caller
  for (std::int64_t j = 0; j < static_cast<std::int64_t>(source.size()); ++j) {
    const std::int64_t i = j - left;  // position relative to the unpadded input
    if (mode == "reflect") {
      // mirror at the first and last element: -1 -> 1, length -> length - 2
      source[j] = i < 0 ? -i : (i >= length ? 2 * (length - 1) - i : i);
    } else if (mode == "replicate") {
      source[j] = std::clamp<std::int64_t>(i, 0, length - 1);
    } else {  // circular
      source[j] = ((i % length) + length) % length;
    }
  }
  return source;
}

}  // namespace

Tensor pad1d(const Tensor& input, std::int64_t left, std::int64_t right, std::string_view mode) {
  XGRAD_CHECK(input.defined(), "pad1d: the input is an undefined tensor");
  XGRAD_CHECK(mode == "zeros" || mode == "constant" || mode == "reflect" || mode == "replicate" || mode == "circular",
              "pad1d: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got '{}'", mode);
  XGRAD_CHECK(input.dim() >= 1, "pad1d: expected an input with at least one dimension, got a 0-dim tensor");
  XGRAD_CHECK(left >= 0 && right >= 0, "pad1d: padding must be non-negative, got ({}, {})", left, right);
  if (mode == "zeros" || mode == "constant") return pad(input, {left, right});

  const std::int64_t length = input.size(-1);
  XGRAD_CHECK(length > 0, "pad1d: {} padding needs a non-empty last dimension, got input {}", mode, input.shape());
  XGRAD_CHECK(mode != "reflect" || (left < length && right < length),
              "pad1d: reflect padding ({}, {}) must be less than the input length {} (input {})", left, right, length,
              input.shape());
  XGRAD_CHECK(mode != "circular" || (left <= length && right <= length),
              "pad1d: circular padding ({}, {}) must be at most the input length {} (input {}); it would wrap around "
              "more than once",
              left, right, length, input.shape());

  // Sizes first, checked, and the output allocated (make_tensor bounds it) before the table of
  // one entry per output position: an absurd padding is an xgrad::Error, not a huge vector.
  const std::int64_t out_length =
      checked_add(checked_add(length, left, "pad1d", "length + left"), right, "pad1d", "length + left + right");
  const std::int64_t rows = input.numel() / length;
  Shape out_shape = input.shape();
  out_shape.back() = out_length;
  Tensor out = make_tensor(out_shape, input.dtype(), "pad1d");
  std::vector<std::int64_t> source;  // not needed (nor made) when there are no rows
  try {
    if (rows > 0) source = source_positions(length, left, right, mode);
  } catch (const std::bad_alloc&) {
    fail("pad1d: out of memory for the {} source positions of {} padding ({}, {}) of input {}", out_length, mode, left,
         right, input.shape());
  }
  dispatch(input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* in = input.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < out_length; ++j) o[r * out_length + j] = in[r * length + source[j]];
  });
  return record("Pad1dBackward", out, {input},
                [source, shape = input.shape(), length, out_length, rows](const Tensor& g, const NeedsGrad&) {
                  // out[r, j] = in[r, source[j]], so d/d in[r, i] collects every g[r, j] with source[j] == i
                  Tensor grad = zeros(shape, {.dtype = g.dtype()});
                  dispatch(g.dtype(), [&](auto zero) {
                    using T = decltype(zero);
                    const T* go = g.data_ptr<T>();
                    T* gi = grad.data_ptr<T>();
                    for (std::int64_t r = 0; r < rows; ++r)
                      for (std::int64_t j = 0; j < out_length; ++j) gi[r * length + source[j]] += go[r * out_length + j];
                  });
                  return std::vector<Tensor>{grad};
                });
}

}  // namespace xgrad::nn::functional
