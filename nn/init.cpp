#include "nn/init.hpp"

#include <cmath>

#include "autograd/grad_mode.hpp"

namespace xgrad::nn::init {

namespace {

void check_defined(const Tensor& tensor, const char* op) {
  XGRAD_CHECK(tensor.defined(), "nn::init::{}: the tensor is undefined", op);
}

bool has_zero_dim(const Tensor& tensor) {
  for (std::int64_t extent : tensor.shape())
    if (extent == 0) return true;
  return false;
}

std::int64_t fan_for_mode(const Tensor& tensor, const std::string& mode, const char* op) {
  XGRAD_CHECK(mode == "fan_in" || mode == "fan_out", "nn::init::{}: mode '{}' is not supported, use 'fan_in' or 'fan_out'",
              op, mode);
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  check_defined(tensor, "calculate_fan_in_and_fan_out");
  XGRAD_CHECK(tensor.dim() >= 2,
              "nn::init::calculate_fan_in_and_fan_out: fan in and fan out can not be computed for a tensor with fewer "
              "than 2 dimensions, got shape {}",
              tensor.shape());
  std::int64_t receptive_field = 1;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  for (const char* linear : {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                             "conv_transpose3d", "sigmoid"}) {
    if (nonlinearity == linear) return 1.0;
  }
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  fail("nn::init::calculate_gain: unsupported nonlinearity '{}'", nonlinearity);
}

Tensor uniform_(Tensor tensor, double low, double high) {
  check_defined(tensor, "uniform_");
  NoGradGuard no_grad;
  tensor.uniform_(low, high);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std) {
  check_defined(tensor, "normal_");
  NoGradGuard no_grad;
  tensor.normal_(mean, std);
  return tensor;
}

Tensor constant_(Tensor tensor, double value) {
  check_defined(tensor, "constant_");
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0.0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1.0); }

Tensor kaiming_uniform_(Tensor tensor, double a, const std::string& mode, const std::string& nonlinearity) {
  check_defined(tensor, "kaiming_uniform_");
  if (has_zero_dim(tensor)) return tensor;
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan_for_mode(tensor, mode, "kaiming_uniform_")));
  const double bound = std::sqrt(3.0) * std;  // U(-b, b) has variance b^2 / 3 = std^2
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor kaiming_normal_(Tensor tensor, double a, const std::string& mode, const std::string& nonlinearity) {
  check_defined(tensor, "kaiming_normal_");
  if (has_zero_dim(tensor)) return tensor;
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan_for_mode(tensor, mode, "kaiming_normal_")));
  return normal_(std::move(tensor), 0.0, std);
}

Tensor xavier_uniform_(Tensor tensor, double gain) {
  check_defined(tensor, "xavier_uniform_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor xavier_normal_(Tensor tensor, double gain) {
  check_defined(tensor, "xavier_normal_");
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(tensor), 0.0, std);
}

}  // namespace xgrad::nn::init
