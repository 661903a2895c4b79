// nn::Conv1d: a 1-D convolution layer, like torch.nn.Conv1d.
//
//   nn::Conv1d m(16, 33, 3, {.stride = 2});       // Conv1d(16, 33, kernel_size=(3,), stride=(2,))
//   Tensor y = m(randn({20, 16, 50}));             // (20, 33, 24)
//
// Shapes: input (N, C_in, L) or unbatched (C_in, L); output (N, C_out, L_out) or
// (C_out, L_out) with L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride + 1).
#pragma once

#include <cstdint>
#include <string>

#include "core/device.hpp"
#include "core/dtype.hpp"
#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

// The keyword arguments of torch.nn.Conv1d, in its order (designated initializers
// must follow it): {.stride = 2, .padding = "same", .bias = false}.
struct Conv1dOptions {
  IntOrTuple1 stride = 1;              // a number or a one-element tuple
  Padding padding = 0;                 // a number, a one-element tuple, "valid" or "same" (stride 1 only)
  IntOrTuple1 dilation = 1;            // spacing between kernel taps
  std::int64_t groups = 1;             // blocked connections; divides in_channels and out_channels
  bool bias = true;                    // add a learnable bias
  std::string padding_mode = "zeros";  // "zeros", "reflect", "replicate" or "circular"
  Device device = Device("cpu");       // the only device of this build
  Dtype dtype = kFloat32;              // of weight and bias
};

class Conv1d : public Module {
 public:
  // Validates every option at once (one xgrad::Error listing all problems), then
  // creates and initializes weight and bias.
  Conv1d(std::int64_t in_channels, std::int64_t out_channels, IntOrTuple1 kernel_size, Conv1dOptions options = {});

  // input (N, C_in, L) or (C_in, L) -> output (N, C_out, L_out) or (C_out, L_out).
  Tensor forward(const Tensor& input) override;

  // Validates the options and (re)creates weight and bias with their shapes; then reset_parameters().
  void reset();
  // Draws weight and bias from U(-sqrt(k), sqrt(k)), k = groups / (in_channels * kernel_size),
  // as PyTorch: kaiming_uniform_(weight, a = sqrt(5)) and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  void reset_parameters();

  std::string type_name() const override { return "Conv1d"; }
  // "16, 33, kernel_size=(3,), stride=(2,)" plus every non-default option, as PyTorch prints it.
  std::string extra_repr() const override;

  const Conv1dOptions& options() const { return options_; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t stride() const { return params_.stride; }
  std::int64_t dilation() const { return params_.dilation; }
  std::int64_t groups() const { return params_.groups; }

  Tensor weight;  // (out_channels, in_channels / groups, kernel_size)
  Tensor bias;    // (out_channels), undefined when options.bias is false

 private:
  std::int64_t in_channels_, out_channels_, kernel_size_ = 1;
  IntOrTuple1 kernel_size_option_;
  Conv1dOptions options_;
  functional::detail::Conv1dParams params_;
};

}  // namespace xgrad::nn
