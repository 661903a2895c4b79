// torch.nn.functional.softmax and log_softmax along one dim, twice differentiable.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

// Numerically stable log(softmax(input)) along dim (max subtracted first).
Tensor log_softmax(const Tensor& input, std::int64_t dim);
Tensor softmax(const Tensor& input, std::int64_t dim);

}  // namespace xgrad::nn::functional
