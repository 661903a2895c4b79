// torch.nn.functional's 1-D pooling: max, average and adaptive average, each a dedicated loop
// with its backward beside it, twice differentiable. Shapes: N batch, C channels, L length.
#pragma once

#include <cstdint>
#include <optional>

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

struct MaxPool1dOptions {
  std::optional<std::int64_t> stride = std::nullopt;  // default: kernel_size
  std::int64_t padding = 0;            // implicit -inf on both sides, at most kernel_size / 2
  std::int64_t dilation = 1;
  bool ceil_mode = false;              // ceil instead of floor for the output length
};
// input: (N, C, L) or (C, L)  ->  (N, C, L_out) or (C, L_out) with
// L_out = floor_or_ceil((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1.
// The gradient goes to the (first) largest element of each window; NaN wins (the window's last
// NaN, as PyTorch).
Tensor max_pool1d(const Tensor& input, std::int64_t kernel_size, MaxPool1dOptions options = {});

struct AvgPool1dOptions {
  std::optional<std::int64_t> stride = std::nullopt;  // default: kernel_size
  std::int64_t padding = 0;            // zero padding on both sides, at most kernel_size / 2
  bool ceil_mode = false;
  bool count_include_pad = true;       // divide by the window size including padding
};
// input: (N, C, L) or (C, L)  ->  (N, C, L_out) or (C, L_out).
Tensor avg_pool1d(const Tensor& input, std::int64_t kernel_size, AvgPool1dOptions options = {});

// Averages PyTorch's adaptive windows [floor(i L / out), ceil((i+1) L / out)).
// input: (N, C, L) or (C, L)  ->  (N, C, output_size) or (C, output_size).
// adaptive_avg_pool1d(x, 1) is global average pooling.
Tensor adaptive_avg_pool1d(const Tensor& input, std::int64_t output_size);

}  // namespace xgrad::nn::functional
