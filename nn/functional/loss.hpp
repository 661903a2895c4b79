// torch.nn.functional's losses: mse_loss, nll_loss, cross_entropy, twice differentiable in every
// input but class-index targets. Shapes: N batch, C classes, d1... extra dims.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

// "mean" (the default), "sum" or "none" (one loss per element / sample).
struct LossOptions {
  std::string reduction = "mean";
};

// torch.nn.functional.nll_loss's keyword arguments, in its order.
struct NLLLossOptions {
  Tensor weight = Tensor();          // (C) class weights, or undefined for all ones; never gets a gradient
  std::int64_t ignore_index = -100;  // samples with this target count neither in the loss nor in the mean
  std::string reduction = "mean";    // "mean" divides by the summed weights of the counted samples
};

// torch.nn.functional.cross_entropy's keyword arguments, in its order.
struct CrossEntropyLossOptions {
  Tensor weight = Tensor();          // (C) class weights, or undefined for all ones
  std::int64_t ignore_index = -100;  // class-index targets only
  std::string reduction = "mean";
  double label_smoothing = 0.0;      // in [0, 1]: the target mixed with the uniform distribution
};

// (input - target)^2, reduced. input and target have the same shape.
Tensor mse_loss(const Tensor& input, const Tensor& target, LossOptions options = {});

// Negative log likelihood of log-probabilities: loss_i = -weight[t_i] input[i, t_i].
// input: (N, C), (N, C, d1, ...) or (C), float; target: int64 class indices of shape (N),
// (N, d1, ...) or (), each in [0, C) or ignore_index. "mean" divides by the sum of the
// weights of the non-ignored targets (their number without weight), as PyTorch.
Tensor nll_loss(const Tensor& input, const Tensor& target, NLLLossOptions options = {});

// Cross entropy of logits, as PyTorch 1.13. input: logits (N, C), (N, C, d1, ...) or (C). target:
//   - int64 class indices as nll_loss: nll_loss(log_softmax(input, 1), target), fused (one pass,
//     stable for any logits); with label_smoothing s, (1 - s) times that plus s / C times
//     sum_k weight_k (-log_softmax_k), reduced with the same weights-sum denominator.
//   - class probabilities: a float tensor of the input's shape and dtype, differentiable;
//     loss_i = -sum_k weight_k q_ik log_softmax_ik with q = (1 - s) target + s / C; "mean"
//     divides by the number of samples; ignore_index must stay negative.
// A float target of another shape is an error: class indices are int64.
Tensor cross_entropy(const Tensor& input, const Tensor& target, CrossEntropyLossOptions options = {});

}  // namespace xgrad::nn::functional
