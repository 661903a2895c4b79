// nn::Linear: y = x W^T + b, as torch.nn.Linear.
//
//   nn::Linear fc(128, 10);                      // Linear(in_features=128, out_features=10, bias=True)
//   Tensor logits = fc(features);                // (N, 128) -> (N, 10); any leading dims
#pragma once

#include <cstdint>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

struct LinearOptions {
  bool bias = true;          // learn an additive bias
  Dtype dtype = kFloat32;    // of weight and bias
};

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, LinearOptions options = {});

  // input: (*, in_features) -> (*, out_features)
  Tensor forward(const Tensor& input) override;
  // PyTorch's init: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))
  // (kaiming_uniform_ with a = sqrt(5) for the weight), from the global generator.
  void reset_parameters();

  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  std::int64_t in_features, out_features;
  Tensor& weight;  // (out_features, in_features)
  Tensor& bias;    // (out_features); undefined when options.bias is false
};

}  // namespace xgrad::nn
