#include "nn/activation.hpp"

#include "ops/ops.hpp"
#include "nn/functional/softmax.hpp"

namespace xgrad::nn {

Tensor ReLU::forward(const Tensor& input) { return xgrad::relu(input); }
Tensor Tanh::forward(const Tensor& input) { return xgrad::tanh(input); }
Tensor Sigmoid::forward(const Tensor& input) { return xgrad::sigmoid(input); }

Tensor Softmax::forward(const Tensor& input) { return functional::softmax(input, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

Tensor LogSoftmax::forward(const Tensor& input) { return functional::log_softmax(input, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

}  // namespace xgrad::nn
