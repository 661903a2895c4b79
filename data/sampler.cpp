#include "data/sampler.hpp"

#include <numeric>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"

namespace xgrad::data {

SequentialSampler::SequentialSampler(std::int64_t size) : size_(size) {
  XGRAD_CHECK(size >= 0, "SequentialSampler: the data set size must be >= 0, got {}", size);
}

std::vector<std::int64_t> SequentialSampler::order() {
  std::vector<std::int64_t> indices(static_cast<std::size_t>(size_));
  std::iota(indices.begin(), indices.end(), std::int64_t{0});
  return indices;
}

RandomSampler::RandomSampler(std::int64_t size, RandomSamplerOptions options)
    : size_(size), generator_(options.seed ? *options.seed : random::next_u64()) {
  XGRAD_CHECK(size >= 0, "RandomSampler: the data set size must be >= 0, got {}", size);
}

std::vector<std::int64_t> RandomSampler::order() { return random_permutation(size_, generator_); }

std::vector<std::int64_t> random_permutation(std::int64_t n, std::mt19937_64& generator) {
  XGRAD_CHECK(n >= 0, "random_permutation: n must be >= 0, got {}", n);
  std::vector<std::int64_t> indices(static_cast<std::size_t>(n));
  std::iota(indices.begin(), indices.end(), std::int64_t{0});
  for (std::uint64_t i = n > 1 ? static_cast<std::uint64_t>(n) - 1 : 0; i >= 1; --i) {
    const std::uint64_t bound = i + 1;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // draws below it are unbiased
    std::uint64_t draw = generator();
    while (draw >= limit) draw = generator();
    std::swap(indices[i], indices[draw % bound]);
  }
  return indices;
}

}  // namespace xgrad::data
