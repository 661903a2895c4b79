// Pooling over the last dim: MaxPool1d, AvgPool1d, AdaptiveAvgPool1d (global
// average pooling with output_size 1), as torch.nn. Input (N, C, L) or (C, L).
//
//   nn::MaxPool1d pool(4);                                   // stride defaults to kernel_size
//   nn::AvgPool1d avg(3, {.stride = 2, .padding = 1, .count_include_pad = false});
//   nn::AdaptiveAvgPool1d gap(1);                            // (N, C, L) -> (N, C, 1)
#pragma once

#include <cstdint>

#include "core/tensor.hpp"
#include "nn/functional/pooling.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

using MaxPool1dOptions = functional::MaxPool1dOptions;
using AvgPool1dOptions = functional::AvgPool1dOptions;

class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(std::int64_t kernel_size, MaxPool1dOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "MaxPool1d"; }
  std::string extra_repr() const override;
  std::int64_t kernel_size;
  MaxPool1dOptions options;  // options.stride is filled in (kernel_size when not given)
};

class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(std::int64_t kernel_size, AvgPool1dOptions options = {});
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "AvgPool1d"; }
  std::string extra_repr() const override;
  std::int64_t kernel_size;
  AvgPool1dOptions options;
};

class AdaptiveAvgPool1d : public Module {
 public:
  explicit AdaptiveAvgPool1d(std::int64_t output_size);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "AdaptiveAvgPool1d"; }
  std::string extra_repr() const override;
  std::int64_t output_size;
};

}  // namespace xgrad::nn
