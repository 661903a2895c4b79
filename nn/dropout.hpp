// nn::Dropout, as torch.nn.Dropout: in training, zeroes each element with
// probability p (drawn from the global generator, so manual_seed makes it
// reproducible) and scales the rest by 1 / (1 - p); the identity in eval.
#pragma once

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);  // p in [0, 1], else xgrad::Error
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  double p;
};

}  // namespace xgrad::nn
