// nn::functional: the stateless forms of the layers, like torch.nn.functional. This header
// declares conv1d and pad1d and includes the others, one header per topic (nn/functional/*.hpp).
//
//   Tensor y = nn::functional::conv1d(x, w, b, {.stride = 2, .padding = "same"});
//
// Also the small option types that Conv1d and conv1d share: a number or a
// one-element tuple (IntOrTuple1), and a padding (number, tuple, "valid", "same").
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"
#include "nn/functional/batch_norm.hpp"
#include "nn/functional/dropout.hpp"
#include "nn/functional/linear.hpp"
#include "nn/functional/loss.hpp"
#include "nn/functional/pooling.hpp"
#include "nn/functional/softmax.hpp"

namespace xgrad::nn {

// A size given as a number (3) or a one-element tuple ({3}), like PyTorch's
// `int or tuple`. A tuple of another length is kept as given and reported by
// the validation of the layer or function that reads it, which names the option.
struct IntOrTuple1 {
  template <std::integral I>
    requires(!std::same_as<I, bool> && !std::same_as<I, char>)  // a bool or 'x' is a typo, not a size
  IntOrTuple1(I value) : values{static_cast<std::int64_t>(value)} {}  // NOLINT: implicit, like PyTorch's int
  IntOrTuple1(std::initializer_list<std::int64_t> tuple) : values(tuple) {}
  std::vector<std::int64_t> values;
};

// Padding: a number (1), a one-element tuple ({1}), "valid" (no padding) or
// "same" (output length = input length, stride 1 only). Any other string or
// tuple length is reported by validation. The integral constructor is a
// template so that `{.padding = 0}` picks it over the const char* one.
struct Padding {
  template <std::integral I>
    requires(!std::same_as<I, bool> && !std::same_as<I, char>)  // a bool or 'x' is a typo, not a size
  Padding(I value) : values{static_cast<std::int64_t>(value)} {}  // NOLINT
  Padding(std::initializer_list<std::int64_t> tuple) : values(tuple) {}
  Padding(const char* mode) : name(mode ? mode : "(null)"), is_string(true) {}  // NOLINT
  Padding(std::string mode) : name(std::move(mode)), is_string(true) {}         // NOLINT
  Padding(std::string_view mode) : name(mode), is_string(true) {}               // NOLINT

  std::vector<std::int64_t> values;  // when given as a number or tuple
  std::string name;                  // when given as a string
  bool is_string = false;
};

}  // namespace xgrad::nn

namespace xgrad::nn::functional {

// Options of functional::conv1d (torch.nn.functional.conv1d's keyword arguments).
struct Conv1dFuncOptions {
  IntOrTuple1 stride = 1;
  Padding padding = 0;  // implicit zero padding on both sides
  IntOrTuple1 dilation = 1;
  std::int64_t groups = 1;
};

// 1-D cross-correlation, as torch.nn.functional.conv1d:
//   input  (N, C_in, L) or unbatched (C_in, L)
//   weight (C_out, C_in / groups, K)
//   bias   (C_out), or an undefined Tensor for none
//   output (N, C_out, L_out) or (C_out, L_out), L_out = floor((L + 2p - d(K-1) - 1)/s + 1).
// Differentiable in input, weight and bias to any order (its backward is itself
// convolutions); only the gradients that are needed are computed.
// Every invalid option, shape or dtype throws xgrad::Error with the values in the message.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv1dFuncOptions& options = {});

// Pads the last dimension of `input` (any rank >= 1) by `left` and `right`
// elements, like torch.nn.functional.pad(input, (left, right), mode):
//   "zeros" / "constant": zeros;   "reflect": mirror without repeating the edge
//   (needs left, right < length); "replicate": repeat the edge value;
//   "circular": wrap around (needs left, right <= length). Differentiable to any order.
Tensor pad1d(const Tensor& input, std::int64_t left, std::int64_t right, std::string_view mode);

namespace detail {
// Test hook: run conv1d through the reference kernels (plain loops) instead of
// the fast ones, so that tests can check the whole op on both. Default: false.
void set_conv1d_use_reference(bool use_reference);
bool conv1d_use_reference();

// Validated scalar options of a 1-D convolution: conv1d resolves them on every call,
// nn::Conv1d once at construction; both then make the same detail::conv1d call.
struct Conv1dParams {
  std::int64_t stride = 1, dilation = 1, groups = 1;
  std::int64_t pad_left = 0, pad_right = 0;  // "same" with an odd total pads the right one more
  std::string padding_mode = "zeros";        // nn::Conv1d's: "zeros", "reflect", "replicate" or "circular"
};
// Reads stride, padding, dilation and groups for a kernel of `kernel_size`;
// appends a sentence to `problems` for each invalid one.
Conv1dParams resolve_conv1d_params(const IntOrTuple1& stride, const Padding& padding, const IntOrTuple1& dilation,
                                   std::int64_t groups, std::int64_t kernel_size, std::vector<std::string>& problems);
// The convolution with resolved options: checks the tensors (shapes, dtypes, the kernel
// fitting the padded input), pads by params.padding_mode unless "zeros", then runs the op.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv1dParams& params);
// "3" from {3}; the whole tuple "(3, 3)" otherwise (for messages).
std::string tuple_string(const std::vector<std::int64_t>& values);
}  // namespace detail

}  // namespace xgrad::nn::functional
