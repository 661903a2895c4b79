// data::TensorDataset, samplers and data::DataLoader: order, batching, shuffling, worker threads,
// errors. Loops that run worker threads run in a forked child with a deadline, so a hang or a
// crash fails its test instead of the run.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include <xgrad.hpp>

#include "support/child_process.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::contains;
using testing::error_of;
using testing::int64_values;
using testing::values;

// A range-for needs no more, but standard algorithms over the loader need these.
static_assert(std::input_iterator<data::DataLoader::Iterator>);
static_assert(std::sentinel_for<std::default_sentinel_t, data::DataLoader::Iterator>);

namespace {

// Row i of x is {i, i + 0.5}; y[i] = 10 * i (int64): a batch says which samples it holds.
data::TensorDataset numbered(std::int64_t n) {
  Tensor x = empty({n, 2}, {.dtype = kFloat64});
  std::vector<std::int64_t> y(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    x.data_ptr<double>()[2 * i] = static_cast<double>(i);
    x.data_ptr<double>()[2 * i + 1] = static_cast<double>(i) + 0.5;
    y[static_cast<std::size_t>(i)] = 10 * i;
  }
  return data::TensorDataset({x, int64_values(y)});
}

// The sample indices of one batch of `numbered`, checked field against field.
std::vector<std::int64_t> indices_of(const data::Batch& batch) {
  REQUIRE(batch.size() == 2);
  REQUIRE(batch[0].dim() == 2);
  REQUIRE(batch[1].dtype() == kInt64);
  REQUIRE(batch[1].shape() == Shape{batch[0].size(0)});
  std::vector<std::int64_t> indices;
  const std::vector<double> x = values(batch[0]);
  for (std::int64_t r = 0; r < batch[0].size(0); ++r) {
    const auto index = static_cast<std::int64_t>(x[static_cast<std::size_t>(2 * r)]);
    CHECK(x[static_cast<std::size_t>(2 * r + 1)] == static_cast<double>(index) + 0.5);
    CHECK(batch[1].data_ptr<std::int64_t>()[r] == 10 * index);
    indices.push_back(index);
  }
  return indices;
}

using Epoch = std::vector<std::vector<std::int64_t>>;  // the sample indices of each batch

Epoch read_epoch(data::DataLoader& loader) {
  Epoch epoch;
  for (data::Batch& batch : loader) epoch.push_back(indices_of(batch));
  return epoch;
}

std::vector<std::int64_t> flatten(const Epoch& epoch) {
  std::vector<std::int64_t> out;
  for (const auto& batch : epoch) out.insert(out.end(), batch.begin(), batch.end());
  return out;
}

// Samples {i} (float64 scalar) and {2 * i} (int64 scalar) through the default get_batch; throws on
// `bad` indices; counts calls; sleeps a little on odd indices so that workers finish out of order.
struct ScalarDataset : data::Dataset {
  std::int64_t n;
  std::set<std::int64_t> bad;
  bool slow = false;
  mutable std::atomic<int> calls{0};
  explicit ScalarDataset(std::int64_t n, std::set<std::int64_t> bad = {}, bool slow = false)
      : n(n), bad(std::move(bad)), slow(slow) {}
  std::int64_t size() const override { return n; }
  std::vector<Tensor> get(std::int64_t index) const override {
    ++calls;
    if (bad.count(index) != 0) throw std::runtime_error("sample " + std::to_string(index) + " is unreadable");
    if (slow && index % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return {full({}, static_cast<double>(index), {.dtype = kFloat64}), full({}, 2 * index, {.dtype = kInt64})};
  }
};

// The first field of every batch, as lists of values.
Epoch scalar_epoch(data::DataLoader& loader) {
  Epoch epoch;
  for (data::Batch& batch : loader) {
    REQUIRE(batch.size() == 2);
    CHECK(batch[1].dtype() == kInt64);
    std::vector<std::int64_t> rows;
    for (double v : values(batch[0])) rows.push_back(static_cast<std::int64_t>(v));
    CHECK(values(batch[1]) == values(batch[0] * 2.0));
    epoch.push_back(rows);
  }
  return epoch;
}

struct FixedSampler : data::Sampler {
  std::vector<std::int64_t> indices;
  std::vector<std::int64_t> order() override { return indices; }
  std::int64_t size() const override { return static_cast<std::int64_t>(indices.size()); }
};

}  // namespace

TEST_CASE("data: TensorDataset gives rows of its tensors and checks their first dims") {
  data::TensorDataset dataset = numbered(5);
  CHECK(dataset.size() == 5);
  std::vector<Tensor> sample = dataset.get(3);
  REQUIRE(sample.size() == 2);
  CHECK(sample[0].shape() == Shape{2});
  CHECK(values(sample[0]) == std::vector<double>{3.0, 3.5});
  CHECK(sample[1].shape() == Shape{});
  CHECK(sample[1].dtype() == kInt64);
  CHECK(sample[1].item<std::int64_t>() == 30);

  const std::string mismatch = error_of([] { data::TensorDataset({zeros({4, 3}), zeros({5})}); });
  CHECK(contains(mismatch, "TensorDataset"));
  CHECK(contains(mismatch, "[4, 3], [5]"));
  CHECK(contains(error_of([] { data::TensorDataset({zeros({4}), ones({})}); }), "[4], []"));
  CHECK(contains(error_of([] { data::TensorDataset({}); }), "at least one tensor"));
  CHECK(contains(error_of([&] { dataset.get(5); }), "index 5 is out of range for a data set of size 5"));
  CHECK(contains(error_of([&] { dataset.get_batch({0, -1}); }), "index -1 is out of range"));
}

TEST_CASE("data: DataLoader batches in order, the last batch shorter, or dropped with drop_last") {
  data::TensorDataset dataset = numbered(10);
  data::DataLoader loader(dataset, {.batch_size = 3});
  CHECK(loader.size() == 4);
  CHECK(read_epoch(loader) == Epoch{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}});
  CHECK(read_epoch(loader) == Epoch{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}});  // the same every epoch

  data::DataLoader dropping(dataset, {.batch_size = 3, .drop_last = true});
  CHECK(dropping.size() == 3);
  CHECK(read_epoch(dropping) == Epoch{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}});

  data::DataLoader exact(dataset, {.batch_size = 5, .drop_last = true});
  CHECK(exact.size() == 2);
  CHECK(read_epoch(exact) == Epoch{{0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}});

  data::DataLoader single(dataset);  // batch_size 1: batches of one row, still with a batch dim
  CHECK(single.size() == 10);
  for (data::Batch& batch : single) CHECK(batch[0].shape() == Shape{1, 2});

  data::DataLoader too_big(dataset, {.batch_size = 64, .drop_last = true});
  CHECK(too_big.size() == 0);
  CHECK(read_epoch(too_big).empty());
  data::DataLoader empty_set(numbered(0), {.batch_size = 2});  // a temporary data set is kept alive
  CHECK(empty_set.size() == 0);
  CHECK(read_epoch(empty_set).empty());
}

TEST_CASE("data: a data set without get_batch is batched by stacking its samples, dtypes kept") {
  ScalarDataset dataset(7);
  data::DataLoader loader(dataset, {.batch_size = 4});
  CHECK(scalar_epoch(loader) == Epoch{{0, 1, 2, 3}, {4, 5, 6}});
  for (data::Batch& batch : loader) {
    CHECK(batch[0].dtype() == kFloat64);
    CHECK(batch[0].dim() == 1);
  }

  struct Ragged : data::Dataset {
    std::int64_t size() const override { return 2; }
    std::vector<Tensor> get(std::int64_t index) const override {
      return index == 0 ? std::vector<Tensor>{zeros({2})} : std::vector<Tensor>{zeros({2}), zeros({2})};
    }
  };
  Ragged ragged;
  const std::string message = error_of([&] { data::DataLoader(ragged, {.batch_size = 2}).begin(); });
  CHECK(contains(message, "DataLoader: batch 0 of 1"));
  CHECK(contains(message, "every sample must have the same number of fields, but sample 0 has 1 and sample 1 has 2"));
}

TEST_CASE("data: shuffling is seeded: the same seed gives the same epochs, each epoch a new permutation") {
  data::TensorDataset dataset = numbered(20);
  auto epochs_of = [&](data::DataLoaderOptions options, int count) {
    data::DataLoader loader(dataset, options);
    std::vector<Epoch> epochs;
    for (int e = 0; e < count; ++e) epochs.push_back(read_epoch(loader));
    return epochs;
  };
  const std::vector<Epoch> a = epochs_of({.batch_size = 6, .shuffle = true, .seed = 3}, 3);
  const std::vector<Epoch> b = epochs_of({.batch_size = 6, .shuffle = true, .seed = 3}, 3);
  CHECK(a == b);
  std::vector<std::int64_t> sorted(20);
  std::iota(sorted.begin(), sorted.end(), 0);
  for (const Epoch& epoch : a) {
    REQUIRE(epoch.size() == 4);
    CHECK(epoch.back().size() == 2);
    std::vector<std::int64_t> all = flatten(epoch);
    CHECK(all != sorted);
    std::ranges::sort(all);
    CHECK(all == sorted);  // every sample once
  }
  CHECK(a[0] != a[1]);
  CHECK(a[1] != a[2]);
  CHECK(a != epochs_of({.batch_size = 6, .shuffle = true, .seed = 4}, 3));

  // Without a seed, xgrad's global generator seeds the loader: manual_seed makes it reproducible.
  manual_seed(11);
  const std::vector<Epoch> c = epochs_of({.batch_size = 6, .shuffle = true}, 2);
  manual_seed(11);
  CHECK(c == epochs_of({.batch_size = 6, .shuffle = true}, 2));

  // RandomSampler on its own: the same permutations as the loader with the same seed.
  data::RandomSampler sampler(20, {.seed = 3});
  CHECK(sampler.order() == flatten(a[0]));
  CHECK(sampler.order() == flatten(a[1]));
  CHECK(data::SequentialSampler(4).order() == std::vector<std::int64_t>{0, 1, 2, 3});
}

TEST_CASE("data: a sampler gives the order and excludes shuffle") {
  data::TensorDataset dataset = numbered(6);
  FixedSampler sampler;
  sampler.indices = {5, 0, 3, 3, 1};
  data::DataLoader loader(dataset, {.batch_size = 2, .sampler = &sampler});
  CHECK(loader.size() == 3);
  CHECK(read_epoch(loader) == Epoch{{5, 0}, {3, 3}, {1}});
  sampler.indices = {2};  // read again at the start of every epoch
  CHECK(read_epoch(loader) == Epoch{{2}});
  sampler.indices = {6};
  CHECK(contains(error_of([&] { read_epoch(loader); }), "index 6 is out of range for a data set of size 6"));

  CHECK(error_of([&] { data::DataLoader(dataset, {.shuffle = true, .sampler = &sampler}); }) ==
        "DataLoader: sampler option is mutually exclusive with shuffle (the sampler decides the order)");
}

TEST_CASE("data: DataLoader options are validated") {
  data::TensorDataset dataset = numbered(4);
  CHECK(error_of([&] { data::DataLoader(dataset, {.batch_size = 0}); }) ==
        "DataLoader: batch_size should be a positive integer value, but got batch_size=0");
  CHECK(contains(error_of([&] { data::DataLoader(dataset, {.batch_size = -3}); }), "got batch_size=-3"));
  CHECK(contains(error_of([&] { data::DataLoader(dataset, {.num_workers = -1}); }),
                 "DataLoader: num_workers option should be non-negative, got -1"));
  CHECK(contains(error_of([&] { data::DataLoader(dataset, {.num_workers = 1, .prefetch_factor = 0}); }),
                 "prefetch_factor must be >= 1, got 0"));
  CHECK(error_of([] { data::DataLoader(std::shared_ptr<const data::Dataset>(), {}); }) ==
        "DataLoader: the data set is null");
  CHECK(contains(error_of([] { data::RandomSampler(-1); }), "size must be >= 0, got -1"));
  data::DataLoader loader(dataset, {.batch_size = 4});
  auto it = loader.begin();
  ++it;
  CHECK(it == loader.end());
  CHECK(contains(error_of([&] { ++it; }), "past the end of the epoch"));
  CHECK(contains(error_of([&] { *it; }), "at the end of the epoch"));
}

TEST_CASE("data: a failing sample is an xgrad::Error on its batch, and the epoch can go on") {
  for (int workers : {0, 2}) {
    CAPTURE(workers);
    const testing::ChildOutcome outcome = testing::run_in_child([workers] {
      ScalarDataset dataset(10, {4, 5});  // batches of 3: batch 1 holds 3, 4, 5
      data::DataLoader loader(dataset, {.batch_size = 3, .num_workers = workers});
      std::string report;
      auto it = loader.begin();
      report += fmt::format("first {};", values((*it)[0]));
      report += testing::describe_error([&] { ++it; }) + ";";
      ++it;  // past the failed batch
      report += fmt::format("then {};", values((*it)[0]));
      ++it;
      ++it;
      report += it == loader.end() ? "end" : "not at the end";
      return report;
    });
    CHECK_MESSAGE(outcome.finished, outcome.status);
    CHECK(contains(outcome.report, "first [0, 1, 2];"));
    CHECK(contains(outcome.report,
                   "xgrad::Error: DataLoader: batch 1 of 4 (positions 3..5 of the epoch's order) failed: sample 4 is "
                   "unreadable;"));
    CHECK(contains(outcome.report, "then [6, 7, 8];end"));
  }
}

TEST_CASE("data: worker threads give exactly the batches of num_workers = 0") {
  const testing::ChildOutcome outcome = testing::run_in_child([] {
    ScalarDataset slow(41, {}, /*slow=*/true);
    std::string report;
    for (bool drop_last : {false, true}) {
      data::DataLoader reference(slow, {.batch_size = 4, .shuffle = true, .drop_last = drop_last, .seed = 9});
      const std::vector<Epoch> expected = {scalar_epoch(reference), scalar_epoch(reference), scalar_epoch(reference)};
      for (int workers : {1, 2, 3, 16}) {
        data::DataLoader loader(slow, {.batch_size = 4, .shuffle = true, .drop_last = drop_last, .seed = 9,
                                       .num_workers = workers, .prefetch_factor = workers == 3 ? 1 : 2});
        const std::vector<Epoch> got = {scalar_epoch(loader), scalar_epoch(loader), scalar_epoch(loader)};
        report += fmt::format("{}{}:{} ", workers, drop_last ? "d" : "", got == expected ? "same" : "DIFFERENT");
      }
      report += fmt::format("batches {} ", expected[0].size());
    }
    return report;
  }, std::chrono::seconds(60));
  CHECK_MESSAGE(outcome.finished, outcome.status);
  CHECK(outcome.report == "1:same 2:same 3:same 16:same batches 11 1d:same 2d:same 3d:same 16d:same batches 10 ");
}

TEST_CASE("data: workers prefetch at most num_workers * prefetch_factor batches, and an early break stops them") {
  const testing::ChildOutcome outcome = testing::run_in_child([] {
    ScalarDataset dataset(1000);
    std::string report;
    {
      data::DataLoader loader(dataset, {.batch_size = 1, .num_workers = 2, .prefetch_factor = 2});
      for (data::Batch& batch : loader) {
        (void)batch;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the workers fill the queue meanwhile
        report += fmt::format("after one batch and a pause: {} samples read; ", dataset.calls.load());
        break;
      }
      report += fmt::format("after the break: {}; ", dataset.calls.load());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      report += fmt::format("later: {}", dataset.calls.load());
    }
    return report;
  });
  CHECK_MESSAGE(outcome.finished, outcome.status);
  // Batch 0 taken, so batches 1..4 (capacity 4) may be ready; none beyond; none after the break.
  CHECK(outcome.report == "after one batch and a pause: 5 samples read; after the break: 5; later: 5");
}

TEST_CASE("data: destroying the loader mid-epoch stops its workers, and its iterator then throws") {
  const testing::ChildOutcome outcome = testing::run_in_child([] {
    ScalarDataset dataset(500, {}, /*slow=*/true);
    auto loader = std::make_unique<data::DataLoader>(dataset, data::DataLoaderOptions{.batch_size = 2, .num_workers = 3});
    auto it = loader->begin();
    ++it;
    loader.reset();  // joins the workers
    const int calls = dataset.calls.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string report = calls == dataset.calls.load() ? "stopped; " : "still reading; ";
    report += testing::describe_error([&] { ++it; });
    return report;
  });
  CHECK_MESSAGE(outcome.finished, outcome.status);
  CHECK(outcome.report ==
        "stopped; xgrad::Error: DataLoader: batch 2 of 250 (positions 4..5 of the epoch's order) failed: the "
        "DataLoader was destroyed during the epoch");
}
