#include "nn/linear.hpp"

#include <cmath>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "nn/functional/linear.hpp"

namespace xgrad::nn {

namespace {
std::int64_t checked_features(std::int64_t features, const char* what) {
  XGRAD_CHECK(features >= 0, "Linear: {} must be non-negative, got {}", what, features);
  return features;
}
}  // namespace

Linear::Linear(std::int64_t in, std::int64_t out, LinearOptions options)
    : in_features(checked_features(in, "in_features")),
      out_features(checked_features(out, "out_features")),
      weight(register_parameter("weight", empty({out, in}, {.dtype = options.dtype}))),
      bias(register_parameter("bias", options.bias ? empty({out}, {.dtype = options.dtype}) : Tensor())) {
  reset_parameters();
}

void Linear::reset_parameters() {
  // The integrator may route this through nn::init (kaiming_uniform_(a=sqrt(5))
  // gives the same bound, 1/sqrt(fan_in)).
  NoGradGuard no_grad;
  const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
  weight.uniform_(-bound, bound);
  if (bias.defined()) bias.uniform_(-bound, bound);
}

Tensor Linear::forward(const Tensor& input) { return functional::linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features,
                     bias.defined() ? "True" : "False");
}

}  // namespace xgrad::nn
