// What the distributed tests train: a small float64 Conv1d + Linear model (no
// BatchNorm, so K ranks with batch B must match one process with batch K * B),
// deterministic global batches, and the single-process reference run.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <xgrad.hpp>
#include <xgrad_distributed.hpp>

namespace xgrad::testing::distributed_training {

namespace dist = xgrad::distributed;

constexpr std::int64_t kGlobalBatch = 6;  // divisible by 1, 2 and 3 processes
constexpr std::int64_t kChannels = 2, kLength = 10, kOutputs = 3;

struct Net : nn::Module {
  std::shared_ptr<nn::Conv1d> conv = register_module("conv", std::make_shared<nn::Conv1d>(kChannels, 4, 3));
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4 * (kLength - 2), kOutputs));
  Tensor forward(const Tensor& x) override { return fc->forward(conv->forward(x).relu().flatten(1)); }
  std::string type_name() const override { return "Net"; }
};

// The model every run starts from when seeded with `seed` (DDP replaces the
// other ranks' parameters with rank 0's).
inline std::shared_ptr<Net> make_net(std::uint64_t seed) {
  manual_seed(seed);
  auto net = std::make_shared<Net>();
  net->to(kFloat64);
  return net;
}

inline optim::SGDOptions sgd_options() { return {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}; }

struct Batch {
  Tensor input, target;
};

// Step `step`'s global batch, the same on every rank and in the reference.
inline Batch global_batch(int step, std::int64_t micro = 0) {
  manual_seed(1000 + static_cast<std::uint64_t>(step) * 16 + static_cast<std::uint64_t>(micro));
  Tensor input = randn({kGlobalBatch, kChannels, kLength}, {.dtype = kFloat64});
  Tensor target = randn({kGlobalBatch, kOutputs}, {.dtype = kFloat64});
  return {input, target};
}

// This rank's share of a global batch: rows [rank * B, (rank + 1) * B).
inline Batch shard(const Batch& batch, int rank, int world) {
  const std::int64_t b = kGlobalBatch / world;
  return {batch.input.narrow(0, rank * b, b), batch.target.narrow(0, rank * b, b)};
}

inline Tensor loss_of(nn::Module& model, const Batch& batch) {
  return nn::functional::mse_loss(model(batch.input), batch.target);
}

// All parameters, flattened into one float64 tensor.
inline Tensor flat_parameters(const nn::Module& model) {
  std::vector<Tensor> parts;
  for (const Tensor& p : model.parameters()) parts.push_back(p.detach().reshape({p.numel()}));
  return cat(parts);
}

// True when every rank's parameters are bitwise equal to rank 0's (collective).
inline bool replicas_identical(const nn::Module& model) {
  Tensor all = dist::all_gather(flat_parameters(model));
  const std::int64_t n = all.size(1);
  const double* data = all.data_ptr<double>();
  for (std::int64_t r = 1; r < all.size(0); ++r) {
    if (std::memcmp(data, data + r * n, static_cast<std::size_t>(n) * sizeof(double)) != 0) return false;
  }
  return true;
}

// One process, global batches, steps [first, last): what K ranks must reproduce.
inline void train_reference(nn::Module& model, optim::SGD& optimizer, int first, int last) {
  for (int step = first; step < last; ++step) {
    optimizer.zero_grad();
    loss_of(model, global_batch(step)).backward();
    optimizer.step();
  }
}

}  // namespace xgrad::testing::distributed_training
