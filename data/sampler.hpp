// Samplers: the order in which a DataLoader visits a data set in one epoch
// (torch.utils.data.Sampler, SequentialSampler, RandomSampler).
//
//   data::RandomSampler sampler(dataset.size(), {.seed = 0});
//   data::DataLoader loader(dataset, {.batch_size = 32, .sampler = &sampler});
//
// distributed::DistributedSampler is a Sampler too (a shard of the data set per process).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace xgrad::data {

// The indices of one epoch. A DataLoader calls order() once at the start of every epoch (every
// range-for over it), so a sampler that shuffles gives a new order each time.
class Sampler {
 public:
  virtual ~Sampler() = default;
  // The indices to visit this epoch, in order.
  virtual std::vector<std::int64_t> order() = 0;
  // How many indices order() gives (PyTorch's len(sampler)).
  virtual std::int64_t size() const = 0;
};

// 0, 1, ..., size - 1.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(std::int64_t size);
  std::vector<std::int64_t> order() override;
  std::int64_t size() const override { return size_; }

 private:
  std::int64_t size_;
};

struct RandomSamplerOptions {
  // Seeds the sampler's own generator; unset: a seed drawn from xgrad's global generator, so
  // manual_seed() makes the run reproducible.
  std::optional<std::uint64_t> seed = std::nullopt;
};

// A random permutation of 0..size-1 per epoch, drawn from the sampler's generator, whose state
// advances with every epoch (PyTorch's RandomSampler with a generator): the same seed gives the
// same sequence of epochs.
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(std::int64_t size, RandomSamplerOptions options = {});
  std::vector<std::int64_t> order() override;
  std::int64_t size() const override { return size_; }

 private:
  std::int64_t size_;
  std::mt19937_64 generator_;
};

// 0..n-1 shuffled by Fisher-Yates (for i = n-1 down to 1, swap i with j uniform in [0, i]), j a
// 64-bit draw of `generator` reduced without bias by rejection. Written out rather than
// std::shuffle, whose algorithm differs between standard libraries, so that a seed gives the same
// order on every platform.
std::vector<std::int64_t> random_permutation(std::int64_t n, std::mt19937_64& generator);

}  // namespace xgrad::data
