// The functional forms of xgrad's training layers and losses, with PyTorch's
// semantics (torch.nn.functional). Each is one dedicated loop over raw pointers
// with its backward beside it in training_ops.cpp: these run on every step of
// a training loop. Each is twice differentiable (autograd::grad with
// create_graph), with respect to every input but loss targets that are class
// indices. Shapes: N batch, C channels/classes, L length.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/tensor.hpp"

namespace xgrad::nn::functional {

// y = x W^T + b.  input: (*, in_features), weight: (out_features, in_features),
// bias: (out_features) or undefined  ->  (*, out_features).
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());

struct MaxPool1dOptions {
  std::optional<std::int64_t> stride = std::nullopt;  // default: kernel_size
  std::int64_t padding = 0;            // implicit -inf on both sides, at most kernel_size / 2
  std::int64_t dilation = 1;
  bool ceil_mode = false;              // ceil instead of floor for the output length
};
// input: (N, C, L) or (C, L)  ->  (N, C, L_out) or (C, L_out) with
// L_out = floor_or_ceil((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1.
// The gradient goes to the (first) largest element of each window; NaN wins (the window's last
// NaN, as PyTorch).
Tensor max_pool1d(const Tensor& input, std::int64_t kernel_size, MaxPool1dOptions options = {});

struct AvgPool1dOptions {
  std::optional<std::int64_t> stride = std::nullopt;  // default: kernel_size
  std::int64_t padding = 0;            // zero padding on both sides, at most kernel_size / 2
  bool ceil_mode = false;
  bool count_include_pad = true;       // divide by the window size including padding
};
// input: (N, C, L) or (C, L)  ->  (N, C, L_out) or (C, L_out).
Tensor avg_pool1d(const Tensor& input, std::int64_t kernel_size, AvgPool1dOptions options = {});

// Averages PyTorch's adaptive windows [floor(i L / out), ceil((i+1) L / out)).
// input: (N, C, L) or (C, L)  ->  (N, C, output_size) or (C, output_size).
// adaptive_avg_pool1d(x, 1) is global average pooling.
Tensor adaptive_avg_pool1d(const Tensor& input, std::int64_t output_size);

struct BatchNormOptions {
  bool training = false;  // normalize with batch statistics (and update the running ones)
  double momentum = 0.1;  // running = (1 - momentum) running + momentum batch_statistic
  double eps = 1e-5;
};
// input: (N, C) or (N, C, L); running_mean, running_var, weight, bias: (C) or
// undefined. In training (or without running statistics) each channel is
// normalized with its batch mean and biased variance, and running_mean /
// running_var (when defined) are updated in place, the variance UNBIASED
// (n / (n - 1)), as PyTorch. Otherwise the running statistics are used.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), BatchNormOptions options = {});

// Zeroes each element with probability p and scales the others by 1 / (1 - p)
// when training; the identity otherwise. p must be in [0, 1].
Tensor dropout(const Tensor& input, double p = 0.5, bool training = true);

// Numerically stable log(softmax(input)) along dim (max subtracted first).
Tensor log_softmax(const Tensor& input, std::int64_t dim);
Tensor softmax(const Tensor& input, std::int64_t dim);

// "mean" (the default), "sum" or "none" (one loss per element / sample).
struct LossOptions {
  std::string reduction = "mean";
};

// torch.nn.functional.nll_loss's keyword arguments, in its order.
struct NLLLossOptions {
  Tensor weight;                     // (C) class weights, or undefined for all ones; never gets a gradient
  std::int64_t ignore_index = -100;  // samples with this target count neither in the loss nor in the mean
  std::string reduction = "mean";    // "mean" divides by the summed weights of the counted samples
};

// torch.nn.functional.cross_entropy's keyword arguments, in its order.
struct CrossEntropyLossOptions {
  Tensor weight;                     // (C) class weights, or undefined for all ones
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
