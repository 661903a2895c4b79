// torch.nn.functional.dropout, twice differentiable.
#pragma once

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

// Zeroes each element with probability p and scales the others by 1 / (1 - p)
// when training; the identity otherwise. p must be in [0, 1].
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true);

}  // namespace xgrad::nn::functional
