// Loss modules, as torch.nn: call them with (input, target).
//
//   nn::CrossEntropyLoss criterion;            // reduction "mean"
//   Tensor loss = criterion(logits, labels);   // logits (N, C), labels (N) class indices as floats
#pragma once

#include "core/tensor.hpp"
#include "nn/functional/training_ops.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

using LossOptions = functional::LossOptions;
using ClassificationLossOptions = functional::ClassificationLossOptions;

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
  explicit CrossEntropyLoss(ClassificationLossOptions loss_options = {}) : options(std::move(loss_options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return functional::cross_entropy(input, target, options); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "CrossEntropyLoss"; }
  ClassificationLossOptions options;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(ClassificationLossOptions loss_options = {}) : options(std::move(loss_options)) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return functional::nll_loss(input, target, options); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  std::string type_name() const override { return "NLLLoss"; }
  ClassificationLossOptions options;
};

}  // namespace xgrad::nn
