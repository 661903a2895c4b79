// nn::BatchNorm1d, as torch.nn.BatchNorm1d: per-channel normalization of
// (N, C) or (N, C, L) inputs with batch statistics in training (updating the
// running ones, the variance unbiased) and running statistics in eval.
//
//   nn::BatchNorm1d bn(32);                                  // eps=1e-05, momentum=0.1
//   nn::BatchNorm1d bn2(32, {.momentum = std::nullopt});     // cumulative moving average
#pragma once

#include <cstdint>
#include <optional>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

struct BatchNorm1dOptions {
  double eps = 1e-5;                     // added to the variance
  std::optional<double> momentum = 0.1;  // running-statistics factor; nullopt: cumulative average
  bool affine = true;                    // learn weight (ones) and bias (zeros)
  bool track_running_stats = true;       // keep running_mean / running_var / num_batches_tracked
  Dtype dtype = kFloat32;
};

class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(std::int64_t num_features, BatchNorm1dOptions options = {});

  // input: (N, C) or (N, C, L) with C = num_features; same shape out.
  Tensor forward(const Tensor& input) override;
  // Running statistics back to mean 0, variance 1, count 0.
  void reset_running_stats();
  // reset_running_stats(), weight to ones and bias to zeros.
  void reset_parameters();

  std::string type_name() const override { return "BatchNorm1d"; }
  std::string extra_repr() const override;

  std::int64_t num_features;
  BatchNorm1dOptions options;
  Tensor& weight;               // (C), undefined unless affine
  Tensor& bias;                 // (C), undefined unless affine
  Tensor& running_mean;         // (C) buffer, undefined unless track_running_stats
  Tensor& running_var;          // (C) buffer
  // 0-dim int64 buffer counting training batches (as PyTorch's; Module::to keeps it int64).
  Tensor& num_batches_tracked;
};

}  // namespace xgrad::nn
