// DistributedSampler: which samples of a data set each rank reads in an epoch
// (PyTorch's torch.utils.data.distributed.DistributedSampler, same rules).
//
//   distributed::DistributedSampler sampler(dataset_size, {.shuffle = true, .seed = 0});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     sampler.set_epoch(epoch);                 // a new permutation, the same on every rank
//     for (auto& batch : data::DataLoader(dataset, {.batch_size = 32, .sampler = &sampler})) { ... }
//   }
//
// It is a data::Sampler: a DataLoader given it reads this rank's shard (`for (std::int64_t index :
// sampler)` walks the shard directly).
//
// Rules (PyTorch's): the indices 0..size-1, permuted when shuffling, are
// padded by repeating them from the start until their count is a multiple of
// num_replicas (or, with drop_last, cut to the largest such multiple); rank r
// then takes positions r, r + num_replicas, r + 2 * num_replicas, ... So the
// shards are disjoint apart from the padding, all equally long (size()), and
// together cover every sample.
//
// The permutation: PyTorch's torch.randperm cannot be reproduced bit for bit,
// so xgrad uses its own, identical on every rank and machine:
// data::random_permutation (Fisher-Yates) driven by std::mt19937_64 seeded with
// seed + epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "data/sampler.hpp"

namespace xgrad::distributed {

struct DistributedSamplerOptions {
  std::optional<int> num_replicas = std::nullopt;  // default: world_size()
  std::optional<int> rank = std::nullopt;          // default: rank()
  bool shuffle = true;                             // a new permutation per epoch
  std::uint64_t seed = 0;                          // the same on every rank
  bool drop_last = false;                          // cut to a multiple of num_replicas instead of padding
};

class DistributedSampler : public data::Sampler {
 public:
  // `size`: the number of samples in the data set (>= 0). Reads rank and
  // world size from distributed::init() unless the options give them.
  explicit DistributedSampler(std::int64_t size, DistributedSamplerOptions options = {});

  // Selects the epoch's permutation (call it before each epoch when shuffling).
  void set_epoch(std::int64_t epoch);
  std::int64_t epoch() const { return epoch_; }

  // This rank's indices for the current epoch, in the order to visit them.
  const std::vector<std::int64_t>& indices() const { return indices_; }
  std::vector<std::int64_t>::const_iterator begin() const { return indices_.begin(); }
  std::vector<std::int64_t>::const_iterator end() const { return indices_.end(); }
  // data::Sampler: this rank's indices for the current epoch (a DataLoader reads them at the
  // start of each epoch, so set_epoch before the loop).
  std::vector<std::int64_t> order() override { return indices_; }
  // Samples per rank and epoch (PyTorch's len(sampler)); total_size() = size() * num_replicas().
  std::int64_t size() const override { return num_samples_; }
  std::int64_t total_size() const { return num_samples_ * num_replicas_; }
  int num_replicas() const { return num_replicas_; }
  int rank() const { return rank_; }

 private:
  void compute_indices();

  std::int64_t dataset_size_;
  DistributedSamplerOptions options_;
  int num_replicas_ = 1;
  int rank_ = 0;
  std::int64_t num_samples_ = 0;
  std::int64_t epoch_ = 0;
  std::vector<std::int64_t> indices_;
};

}  // namespace xgrad::distributed
