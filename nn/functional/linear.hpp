// torch.nn.functional.linear: a fused matmul plus bias, twice differentiable.
#pragma once

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

// y = x W^T + b.  input: (*, in_features), weight: (out_features, in_features),
// bias: (out_features) or undefined  ->  (*, out_features).
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace xgrad::nn::functional
