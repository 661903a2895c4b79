#include "nn/pooling.hpp"

namespace xgrad::nn {

MaxPool1d::MaxPool1d(std::int64_t kernel_size, MaxPool1dOptions options) : kernel_size(kernel_size), options(options) {
  this->options.stride = options.stride.value_or(kernel_size);
  // Validate now rather than at the first forward.
  XGRAD_CHECK(kernel_size > 0 && *this->options.stride > 0 && options.dilation > 0,
              "MaxPool1d: kernel_size, stride and dilation must be positive, got {}, {}, {}", kernel_size,
              *this->options.stride, options.dilation);
  XGRAD_CHECK(options.padding >= 0 && options.padding <= kernel_size / 2,
              "MaxPool1d: padding should be at most half of kernel size, but got padding={} and kernel_size={}",
              options.padding, kernel_size);
}

Tensor MaxPool1d::forward(const Tensor& input) { return functional::max_pool1d(input, kernel_size, options); }

std::string MaxPool1d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}", kernel_size, *options.stride,
                     options.padding, options.dilation, options.ceil_mode ? "True" : "False");
}

AvgPool1d::AvgPool1d(std::int64_t kernel_size, AvgPool1dOptions options) : kernel_size(kernel_size), options(options) {
  this->options.stride = options.stride.value_or(kernel_size);
  XGRAD_CHECK(kernel_size > 0 && *this->options.stride > 0, "AvgPool1d: kernel_size and stride must be positive, got {}, {}",
              kernel_size, *this->options.stride);
  XGRAD_CHECK(options.padding >= 0 && options.padding <= kernel_size / 2,
              "AvgPool1d: pad should be at most half of kernel size, but got pad={} and kernel_size={}",
              options.padding, kernel_size);
}

Tensor AvgPool1d::forward(const Tensor& input) { return functional::avg_pool1d(input, kernel_size, options); }

std::string AvgPool1d::extra_repr() const {
  // PyTorch prints AvgPool1d's sizes as one-element tuples.
  return fmt::format("kernel_size=({},), stride=({},), padding=({},)", kernel_size, *options.stride, options.padding);
}

AdaptiveAvgPool1d::AdaptiveAvgPool1d(std::int64_t output_size) : output_size(output_size) {
  XGRAD_CHECK(output_size > 0, "AdaptiveAvgPool1d: output_size must be positive, got {}", output_size);
}

Tensor AdaptiveAvgPool1d::forward(const Tensor& input) { return functional::adaptive_avg_pool1d(input, output_size); }

std::string AdaptiveAvgPool1d::extra_repr() const { return fmt::format("output_size={}", output_size); }

}  // namespace xgrad::nn
