// DistributedSampler: PyTorch's shard rules (padding by wrapping, equal and
// disjoint shards, rank r takes positions r::num_replicas), a permutation per
// epoch that every rank computes alike.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include <xgrad.hpp>
#include <xgrad_distributed.hpp>

#include "support/testing.hpp"

using namespace xgrad;
namespace dist = xgrad::distributed;
using testing::contains;
using testing::error_of;

namespace {

using Shards = std::vector<std::vector<std::int64_t>>;

Shards all_shards(std::int64_t size, int replicas, bool shuffle, bool drop_last, std::int64_t epoch = 0,
                  std::uint64_t seed = 7) {
  Shards shards;
  for (int r = 0; r < replicas; ++r) {
    dist::DistributedSampler sampler(size, {.num_replicas = replicas, .rank = r, .shuffle = shuffle, .seed = seed,
                                            .drop_last = drop_last});
    sampler.set_epoch(epoch);
    shards.emplace_back(sampler.begin(), sampler.end());
    CHECK(sampler.indices() == shards.back());
    CHECK(static_cast<std::int64_t>(shards.back().size()) == sampler.size());
  }
  return shards;
}

// PyTorch's rule, written out: the first `total` entries of the (cyclically
// repeated) order, rank r at positions r, r + R, ...
Shards expected_shards(const std::vector<std::int64_t>& order, int replicas, bool drop_last) {
  const auto n = static_cast<std::int64_t>(order.size());
  const std::int64_t per_rank = drop_last && n % replicas != 0 ? (n < replicas ? 0 : (n - replicas + replicas - 1) / replicas)
                                                                : (n + replicas - 1) / replicas;
  Shards shards(static_cast<std::size_t>(replicas));
  for (std::int64_t position = 0; position < per_rank * replicas; ++position) {
    shards[static_cast<std::size_t>(position % replicas)].push_back(order[static_cast<std::size_t>(position % n)]);
  }
  return shards;
}

// The order a rank's shards imply: position p is shard p % R, entry p / R.
std::vector<std::int64_t> interleave(const Shards& shards) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < shards.front().size(); ++i) {
    for (const auto& shard : shards) out.push_back(shard[i]);
  }
  return out;
}

}  // namespace

TEST_SUITE("sampler") {

TEST_CASE("without shuffling, the shards are PyTorch's (values from torch 1.13)") {
  CHECK(all_shards(10, 3, false, false) == Shards{{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}});
  CHECK(all_shards(10, 3, false, true) == Shards{{0, 3, 6}, {1, 4, 7}, {2, 5, 8}});
  CHECK(all_shards(2, 3, false, false) == Shards{{0}, {1}, {0}});
  CHECK(all_shards(5, 4, false, true) == Shards{{0}, {1}, {2}, {3}});
  CHECK(all_shards(7, 2, false, false) == Shards{{0, 2, 4, 6}, {1, 3, 5, 0}});
  CHECK(all_shards(1, 3, false, false) == Shards{{0}, {0}, {0}});
  CHECK(all_shards(0, 2, false, false) == Shards{{}, {}});
}

TEST_CASE("with shuffling: one permutation per epoch, cut into PyTorch's shards") {
  for (std::int64_t size : {1, 2, 5, 10, 11, 13, 64}) {
    for (int replicas : {1, 2, 3, 4, 5}) {
      for (bool drop_last : {false, true}) {
        CAPTURE(size);
        CAPTURE(replicas);
        CAPTURE(drop_last);
        const Shards shards = all_shards(size, replicas, true, drop_last, 3);
        // Recover the permutation from the padded shards: the first `size` positions (or all, with drop_last).
        std::vector<std::int64_t> order = interleave(shards);
        std::vector<std::int64_t> permutation(order.begin(), order.begin() + std::min<std::int64_t>(size, order.size()));
        if (!drop_last) {
          std::vector<std::int64_t> sorted = permutation;
          std::sort(sorted.begin(), sorted.end());
          std::vector<std::int64_t> identity(static_cast<std::size_t>(size));
          for (std::int64_t i = 0; i < size; ++i) identity[static_cast<std::size_t>(i)] = i;
          CHECK(sorted == identity);  // every sample, once, before the padding
          CHECK(shards == expected_shards(permutation, replicas, drop_last));
        } else {
          CHECK(std::set<std::int64_t>(order.begin(), order.end()).size() == order.size());  // disjoint
          CHECK(static_cast<std::int64_t>(order.size()) == size / replicas * replicas);
        }
        for (const auto& shard : shards) CHECK(shard.size() == shards.front().size());
      }
    }
  }
}

TEST_CASE("the permutation depends on seed + epoch only, and changes with the epoch") {
  dist::DistributedSampler a(100, {.num_replicas = 1, .rank = 0, .seed = 5});
  dist::DistributedSampler b(100, {.num_replicas = 1, .rank = 0, .seed = 5});
  dist::DistributedSampler c(100, {.num_replicas = 1, .rank = 0, .seed = 6});
  CHECK(a.indices() == b.indices());
  CHECK(a.indices() != c.indices());
  a.set_epoch(1);
  CHECK(a.epoch() == 1);
  CHECK(a.indices() != b.indices());
  CHECK(a.indices() == c.indices());  // seed 5 + epoch 1 == seed 6 + epoch 0, as in PyTorch
  b.set_epoch(1);
  CHECK(a.indices() == b.indices());
  dist::DistributedSampler ordered(5, {.num_replicas = 1, .rank = 0, .shuffle = false});
  ordered.set_epoch(4);
  CHECK(ordered.indices() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("by default the sampler takes rank and world size from MPI, the ranks' shards tile the data set") {
  dist::init();
  dist::DistributedSampler sampler(23, {.seed = 11});
  sampler.set_epoch(2);
  CHECK(sampler.rank() == dist::rank());
  CHECK(sampler.num_replicas() == dist::world_size());
  std::vector<double> mine(sampler.begin(), sampler.end());
  Tensor all = dist::all_gather(testing::from_values(mine, false));
  Shards shards(static_cast<std::size_t>(dist::world_size()));
  for (int r = 0; r < dist::world_size(); ++r) {
    for (double v : testing::values(all.narrow(0, r, 1))) shards[static_cast<std::size_t>(r)].push_back(static_cast<std::int64_t>(v));
  }
  CHECK(shards == all_shards(23, dist::world_size(), true, false, 2, 11));
  std::set<std::int64_t> covered;
  for (const auto& shard : shards) covered.insert(shard.begin(), shard.end());
  CHECK(covered.size() == 23);
}

TEST_CASE("invalid sizes and ranks are errors, as in PyTorch") {
  CHECK(contains(error_of([] { dist::DistributedSampler s(10, {.num_replicas = 2, .rank = 2}); }),
                 "DistributedSampler: Invalid rank 2, rank should be in the interval [0, 1]"));
  CHECK(contains(error_of([] { dist::DistributedSampler s(-1, {.num_replicas = 1, .rank = 0}); }),
                 "DistributedSampler: the data set size must be >= 0, got -1"));
  CHECK(contains(error_of([] { dist::DistributedSampler s(3, {.num_replicas = 0, .rank = 0}); }),
                 "DistributedSampler: num_replicas must be >= 1, got 0"));
}

TEST_CASE("a DataLoader with a DistributedSampler reads this rank's shard: disjoint, equal, covering the data set") {
  dist::init();
  const std::int64_t n = 24;  // divisible by 2 and 3 ranks: no padding, so the shards are disjoint
  Tensor x = empty({n, 3}, {.dtype = kFloat64});
  for (std::int64_t i = 0; i < 3 * n; ++i) x.data_ptr<double>()[i] = static_cast<double>(i / 3);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  std::iota(labels.begin(), labels.end(), std::int64_t{100});
  data::TensorDataset dataset({x, testing::int64_values(labels)});
  dist::DistributedSampler sampler(n, {.shuffle = true, .seed = 3});
  data::DataLoader loader(dataset, {.batch_size = 5, .num_workers = 1, .sampler = &sampler});
  CHECK(loader.size() == (n / dist::world_size() + 4) / 5);
  std::vector<std::vector<std::int64_t>> epochs;
  for (int epoch = 0; epoch < 2; ++epoch) {
    sampler.set_epoch(epoch);
    std::vector<double> mine;
    for (data::Batch& batch : loader) {
      const std::vector<double> rows = testing::values(batch[0]);
      for (std::int64_t r = 0; r < batch[0].size(0); ++r) {
        mine.push_back(rows[static_cast<std::size_t>(3 * r)]);
        CHECK(batch[1].data_ptr<std::int64_t>()[r] == static_cast<std::int64_t>(mine.back()) + 100);
      }
    }
    CHECK(std::vector<std::int64_t>(mine.begin(), mine.end()) == sampler.indices());  // the sampler's order
    CHECK(static_cast<std::int64_t>(mine.size()) == n / dist::world_size());
    Tensor all = dist::all_gather(testing::from_values(mine, false));  // the same length on every rank
    std::vector<std::int64_t> every;
    for (double v : testing::values(all)) every.push_back(static_cast<std::int64_t>(v));
    epochs.push_back(every);
    std::ranges::sort(every);
    std::vector<std::int64_t> expected(static_cast<std::size_t>(n));
    std::iota(expected.begin(), expected.end(), std::int64_t{0});
    CHECK(every == expected);  // disjoint and covering: every sample exactly once over the ranks
  }
  CHECK(epochs[0] != epochs[1]);  // set_epoch gave the loader a new permutation
}

}  // TEST_SUITE("sampler")
