#include "nn/conv1d.hpp"

#include <cmath>

#include "core/creation.hpp"
#include "nn/init.hpp"

namespace xgrad::nn {

Conv1d::Conv1d(std::int64_t in_channels, std::int64_t out_channels, IntOrTuple1 kernel_size, Conv1dOptions options)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_option_(std::move(kernel_size)),
      options_(std::move(options)) {
  reset();
}

void Conv1d::reset() {
  // Collect every problem first, so one error names them all (stricter than
  // PyTorch, which accepts stride 0 or negative padding and fails in forward).
  std::vector<std::string> problems;
  if (in_channels_ <= 0) problems.push_back(fmt::format("in_channels must be positive, got {}", in_channels_));
  if (out_channels_ <= 0) problems.push_back(fmt::format("out_channels must be positive, got {}", out_channels_));
  kernel_size_ = 1;
  if (kernel_size_option_.values.size() != 1) {
    problems.push_back(fmt::format("kernel_size must be a number or a one-element tuple, got {}",
                                   functional::detail::tuple_string(kernel_size_option_.values)));
  } else if (kernel_size_option_.values[0] <= 0) {
    problems.push_back(fmt::format("kernel_size must be positive, got {}", kernel_size_option_.values[0]));
  } else {
    kernel_size_ = kernel_size_option_.values[0];
  }
  params_ = functional::detail::resolve_conv1d_params(options_.stride, options_.padding, options_.dilation,
                                                      options_.groups, kernel_size_, problems);
  if (options_.groups > 0) {
    if (in_channels_ > 0 && in_channels_ % options_.groups != 0)
      problems.push_back(fmt::format("in_channels={} must be divisible by groups={}", in_channels_, options_.groups));
    if (out_channels_ > 0 && out_channels_ % options_.groups != 0)
      problems.push_back(fmt::format("out_channels={} must be divisible by groups={}", out_channels_, options_.groups));
  }
  const std::string& mode = options_.padding_mode;
  if (mode != "zeros" && mode != "reflect" && mode != "replicate" && mode != "circular")
    problems.push_back(fmt::format("padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got '{}'", mode));
  if (options_.dtype != kFloat32 && options_.dtype != kFloat64)
    problems.push_back(fmt::format("dtype must be float32 or float64, got dtype code {}",
                                   static_cast<int>(options_.dtype)));
  XGRAD_CHECK(problems.empty(), "Conv1d({}, {}, kernel_size={}): {}", in_channels_, out_channels_,
              functional::detail::tuple_string(kernel_size_option_.values), fmt::join(problems, "; "));
  params_.padding_mode = mode;

  const Shape weight_shape = {out_channels_, in_channels_ / params_.groups, kernel_size_};
  const TensorOptions tensor_options{.dtype = options_.dtype, .device = options_.device};
  // Replace the registered tensors when reset() runs again, so names keep their order.
  auto install = [this](const std::string& name, Tensor tensor) -> Tensor {
    if (Tensor* existing = find_parameter(name)) {
      if (tensor.defined()) tensor.requires_grad_(true);
      *existing = tensor;
      return tensor;
    }
    return register_parameter(name, tensor);
  };
  // Valid options can still ask for more memory than there is (say kernel_size = 2^40): say which
  // module and which parameter, rather than only the allocator's "empty: ...".
  auto allocate = [&](const char* name, const Shape& shape) {
    try {
      return empty(shape, tensor_options);
    } catch (const Error& e) {
      fail("Conv1d({}, {}, kernel_size={}): cannot allocate its {} of shape {}: {}", in_channels_, out_channels_,
           functional::detail::tuple_string(kernel_size_option_.values), name, shape, e.what());
    }
  };
  weight = install("weight", allocate("weight", weight_shape));
  bias = install("bias", options_.bias ? allocate("bias", {out_channels_}) : Tensor());
  reset_parameters();
}

void Conv1d::reset_parameters() {
  // kaiming_uniform_ with a = sqrt(5): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in)
  // = 1 / sqrt(fan_in) = sqrt(groups / (in_channels * kernel_size)), the bound of the reference.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(weight);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv1d::forward(const Tensor& input) { return functional::detail::conv1d(input, weight, bias, params_); }

std::string Conv1d::extra_repr() const {
  // PyTorch's Conv format: tuples as "(3,)", strings bare (padding=same), and
  // only the options that differ from their defaults.
  std::string out = fmt::format("{}, {}, kernel_size=({},), stride=({},)", in_channels_, out_channels_, kernel_size_,
                                params_.stride);
  if (options_.padding.is_string) {
    out += fmt::format(", padding={}", options_.padding.name);
  } else if (options_.padding.values[0] != 0) {
    out += fmt::format(", padding=({},)", options_.padding.values[0]);
  }
  if (params_.dilation != 1) out += fmt::format(", dilation=({},)", params_.dilation);
  if (params_.groups != 1) out += fmt::format(", groups={}", params_.groups);
  if (!bias.defined()) out += ", bias=False";
  if (options_.padding_mode != "zeros") out += fmt::format(", padding_mode={}", options_.padding_mode);
  return out;
}

}  // namespace xgrad::nn
