// torch.nn.functional.batch_norm for (N, C) and (N, C, L) inputs, twice differentiable.
#pragma once

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

struct BatchNormOptions {
  bool training = false;  // normalize with batch statistics (and update the running ones)
  double momentum = 0.1;  // running = (1 - momentum) running + momentum batch_statistic
  double eps = 1e-5;
};
// input: (N, C) or (N, C, L); running_mean, running_var, weight, bias: (C) or
// undefined. In training (or without running statistics) each channel is
// normalized with its batch mean and biased variance, and running_mean /
// running_var (when defined) are updated in place, the variance UNBIASED
// (n / (n - 1)), as PyTorch. Otherwise the running statistics are used.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), BatchNormOptions options = {});

}  // namespace xgrad::nn::functional
