#include "distributed/sampler.hpp"

#include <random>

#include "core/error.hpp"
#include "distributed/runtime.hpp"

namespace xgrad::distributed {

DistributedSampler::DistributedSampler(std::int64_t size, DistributedSamplerOptions options)
    : dataset_size_(size), options_(options) {
  XGRAD_CHECK(size >= 0, "DistributedSampler: the data set size must be >= 0, got {}", size);
  num_replicas_ = options.num_replicas ? *options.num_replicas : world_size();
  rank_ = options.rank ? *options.rank : distributed::rank();
  XGRAD_CHECK(num_replicas_ >= 1, "DistributedSampler: num_replicas must be >= 1, got {}", num_replicas_);
  XGRAD_CHECK(rank_ >= 0 && rank_ < num_replicas_,
              "DistributedSampler: Invalid rank {}, rank should be in the interval [0, {}]", rank_, num_replicas_ - 1);
  // PyTorch: with drop_last and a size that does not divide, ceil((size - R) / R); else ceil(size / R).
  const std::int64_t replicas = num_replicas_;
  if (options.drop_last && size % replicas != 0) {
    num_samples_ = (size - replicas + replicas - 1) / replicas;
    if (size < replicas) num_samples_ = 0;
  } else {
    num_samples_ = (size + replicas - 1) / replicas;
  }
  compute_indices();
}

void DistributedSampler::set_epoch(std::int64_t epoch) {
  epoch_ = epoch;
  compute_indices();
}

void DistributedSampler::compute_indices() {
  std::vector<std::int64_t> all;
  if (options_.shuffle) {
    std::mt19937_64 generator(options_.seed + static_cast<std::uint64_t>(epoch_));
    all = data::random_permutation(dataset_size_, generator);
  } else {
    all = data::SequentialSampler(dataset_size_).order();
  }
  const std::int64_t total = total_size();
  std::vector<std::int64_t> padded;
  padded.reserve(static_cast<std::size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) padded.push_back(all[static_cast<std::size_t>(i % dataset_size_)]);
  indices_.clear();
  for (std::int64_t i = rank_; i < total; i += num_replicas_) indices_.push_back(padded[static_cast<std::size_t>(i)]);
}

}  // namespace xgrad::distributed
