// nn::init: parameter initialization with PyTorch's formulas (torch.nn.init).
// Every function fills the tensor in place under NoGradGuard, draws from the
// global generator (reproducible under manual_seed) and returns the same handle:
//
//   nn::init::kaiming_uniform_(conv.weight, std::sqrt(5.0));   // Conv1d's default
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "core/tensor.hpp"

namespace xgrad::nn::init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where
// the receptive field is the product of the dims after the first two. Needs >= 2 dims.
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

// The recommended gain for a nonlinearity: "linear", "conv1d", "conv2d", "conv3d",
// "conv_transpose1d/2d/3d", "sigmoid" -> 1; "tanh" -> 5/3; "relu" -> sqrt(2);
// "leaky_relu" -> sqrt(2 / (1 + slope^2)) with slope = param (default 0.01); "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

Tensor uniform_(Tensor tensor, double low = 0.0, double high = 1.0);  // U(low, high)
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0);   // N(mean, std^2)
Tensor constant_(Tensor tensor, double value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

// He et al. (2015). With fan = fan_in or fan_out (mode) and gain = calculate_gain(nonlinearity, a):
//   kaiming_uniform_: U(-bound, bound), bound = gain * sqrt(3 / fan)
//   kaiming_normal_:  N(0, std^2),      std   = gain / sqrt(fan)
// A tensor with a zero-sized dimension is left unchanged (PyTorch warns and does the same).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu");
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu");

// Glorot and Bengio (2010), std = gain * sqrt(2 / (fan_in + fan_out)):
//   xavier_uniform_: U(-sqrt(3) std, sqrt(3) std);   xavier_normal_: N(0, std^2)
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);

}  // namespace xgrad::nn::init
