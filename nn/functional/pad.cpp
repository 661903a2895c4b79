// functional::pad1d: zero, reflect, replicate and circular padding of the last
// dimension. Every non-zero mode is one table, source[j] = the input position
// that output position j copies; the forward gathers through it and the
// backward scatters (adds) back through it, so the two cannot disagree.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/functional.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;

namespace {

// source[j]: the input position that output position j copies (shared by a
// pad's forward and every backward built from it).
// The table lives in malloc'd memory, so an impossible size is std::bad_alloc (an xgrad::Error
// below) in every build: AddressSanitizer's operator new aborts instead of throwing.
template <class T>
struct MallocAllocator {
  using value_type = T;
  MallocAllocator() = default;
  template <class U>
  MallocAllocator(const MallocAllocator<U>&) {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    void* p = std::malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  friend bool operator==(const MallocAllocator&, const MallocAllocator&) { return true; }
};
using Positions = std::vector<std::int64_t, MallocAllocator<std::int64_t>>;
using Source = std::shared_ptr<const Positions>;

// The input position that output position j (of length + left + right) copies.
Positions source_positions(std::int64_t length, std::int64_t left, std::int64_t right,
                                           std::string_view mode) {
  Positions source(static_cast<std::size_t>(length + left + right));
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

// out[r, j] = in[r, source[j]] over the rows r of the leading dimensions. Its
// backward is the scatter below, and the scatter's backward is this gather again:
// the two are each other's adjoint, so pad1d has derivatives of every order.
Tensor pad1d_gather(const Tensor& input, const Source& source);

// The adjoint of the gather: grad_input[r, i] = sum of g[r, j] over source[j] == i.
// Linear in g, so it is recorded (only under create_graph) with the gather as its backward.
Tensor pad1d_scatter(const Tensor& g, const Source& source, std::int64_t length) {
  const std::int64_t out_length = static_cast<std::int64_t>(source->size());
  const std::int64_t rows = g.numel() / out_length;
  Shape shape = g.shape();
  shape.back() = length;
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* go = g.data_ptr<T>();
    T* gi = grad.data_ptr<T>();
    const std::int64_t* from = source->data();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < out_length; ++j) gi[r * length + from[j]] += go[r * out_length + j];
  });
  if (!autograd::is_grad_enabled() || !g.requires_grad()) return grad;  // no graph to record
  return record("Pad1dBackwardBackward", grad, {g}, [source](const Tensor& gg, const NeedsGrad&) {
    // the adjoint of the scatter gathers each position back
    return std::vector<Tensor>{pad1d_gather(gg, source)};
  });
}

Tensor pad1d_gather(const Tensor& input, const Source& source) {
  const std::int64_t length = input.size(-1);
  const std::int64_t out_length = static_cast<std::int64_t>(source->size());
  const std::int64_t rows = input.numel() / length;
  Shape out_shape = input.shape();
  out_shape.back() = out_length;
  Tensor out = make_uninitialized(out_shape, input.dtype(), "pad1d");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data_ptr<T>();
    T* o = out.data_ptr<T>();
    const std::int64_t* from = source->data();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < out_length; ++j) o[r * out_length + j] = in[r * length + from[j]];
  });
  if (!autograd::is_grad_enabled() || !input.requires_grad()) return out;  // no graph to record
  return record("Pad1dBackward", out, {input}, [source, length](const Tensor& g, const NeedsGrad&) {
    // out[r, j] = in[r, source[j]], so d/d in[r, i] collects every g[r, j] with source[j] == i
    return std::vector<Tensor>{pad1d_scatter(g, source, length)};
  });
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

  // Sizes first, checked and bounded before the table of one entry per output
  // position is built: an absurd padding is an xgrad::Error, not a huge vector.
  const std::int64_t out_length =
      checked_add(checked_add(length, left, "pad1d", "length + left"), right, "pad1d", "length + left + right");
  Shape out_shape = input.shape();
  out_shape.back() = out_length;
  if (input.numel() == 0) {
    // Empty rows need no table: the result is empty whatever the width.
    return record("Pad1dBackward", make_uninitialized(out_shape, input.dtype(), "pad1d"), {input},
                  [shape = input.shape()](const Tensor& g, const NeedsGrad&) {
                    return std::vector<Tensor>{zeros(shape, {.dtype = g.dtype()})};  // nothing flows through nothing
                  });
  }
  const std::int64_t numel = checked_numel(out_shape, "pad1d");
  XGRAD_CHECK(numel <= (std::int64_t{1} << 40),
              "pad1d: {} padding ({}, {}) of input {} asks for {} elements, more than this build allows (2^40)", mode,
              left, right, input.shape(), numel);
  Source source;
  try {
    source = std::make_shared<const Positions>(source_positions(length, left, right, mode));
  } catch (const std::bad_alloc&) {
    fail("pad1d: out of memory for the {} source positions of {} padding ({}, {}) of input {}", out_length, mode, left,
         right, input.shape());
  }
  return pad1d_gather(input, source);
}

}  // namespace xgrad::nn::functional
