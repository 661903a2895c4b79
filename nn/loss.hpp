// Loss modules, as torch.nn: call them with (input, target).
//
//   nn::CrossEntropyLoss criterion;            // reduction "mean"
//   Tensor loss = criterion(logits, labels);   // logits (N, C), labels (N) int64 class indices
#pragma once

#include "core/tensor.hpp"
#include "nn/functional/loss.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

using LossOptions = functional::LossOptions;
using NLLLossOptions = functional::NLLLossOptions;
using CrossEntropyLossOptions = functional::CrossEntropyLossOptions;

class MSELoss : public Module {
 public:
  explicit MSELoss(LossOptions loss_options = {}) : options(std::move(loss_options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return functional::mse_loss(input, target, options); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "MSELoss"; }
  LossOptions options;
};

class CrossEntropyLoss : public Module {
 public:
  // A class weight is a buffer, as in PyTorch: in state_dict() as "weight", converted by to().
  explicit CrossEntropyLoss(CrossEntropyLossOptions loss_options = {}) : options(std::move(loss_options)) {
    if (options.weight.defined()) register_buffer("weight", options.weight);
  }
  Tensor forward(const Tensor& input, const Tensor& target) {
    return functional::cross_entropy(input, target, options);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "CrossEntropyLoss"; }
  CrossEntropyLossOptions options;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(NLLLossOptions loss_options = {}) : options(std::move(loss_options)) {
    if (options.weight.defined()) register_buffer("weight", options.weight);
  }
  Tensor forward(const Tensor& input, const Tensor& target) { return functional::nll_loss(input, target, options); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "NLLLoss"; }
  NLLLossOptions options;
};

}  // namespace xgrad::nn
