// data::DataLoader's worker threads under ThreadSanitizer: batches assembled by workers while the
// loop body trains, early breaks, a loader destroyed mid-epoch, a worker that throws.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using testing::contains;
using testing::values;

namespace {

// Sample i: a (1, 16) signal drawn from a generator of its own seeded by i (as an augmenting data
// set draws), and its label i % 3 (int64). Throws for index `bad`.
struct NoisyDataset : data::Dataset {
  std::int64_t n;
  std::int64_t bad = -1;
  mutable std::atomic<int> calls{0};
  explicit NoisyDataset(std::int64_t n, std::int64_t bad = -1) : n(n), bad(bad) {}
  std::int64_t size() const override { return n; }
  std::vector<Tensor> get(std::int64_t index) const override {
    ++calls;
    if (index == bad) throw std::runtime_error("sample " + std::to_string(index) + " is broken");
    std::mt19937_64 generator(static_cast<std::uint64_t>(index));
    std::normal_distribution<float> noise(0.0f, 1.0f);
    Tensor x = empty({1, 16});
    for (std::int64_t i = 0; i < 16; ++i) x.data_ptr<float>()[i] = noise(generator) + static_cast<float>(index % 3);
    return {x, full({}, index % 3, {.dtype = kInt64})};
  }
};

std::vector<std::vector<double>> read_all(data::DataLoader& loader) {
  std::vector<std::vector<double>> out;
  for (data::Batch& batch : loader) {
    out.push_back(values(batch[0]));
    out.push_back(values(batch[1]));
  }
  return out;
}

}  // namespace

TEST_CASE("threads: DataLoader workers assemble batches while the loop trains, same results as without") {
  NoisyDataset dataset(96);
  auto train = [&](int workers) {
    manual_seed(0);
    nn::Conv1d conv(1, 3, 16);
    optim::SGD optimizer(conv.parameters(), {.lr = 0.1});
    data::DataLoader loader(dataset, {.batch_size = 8, .shuffle = true, .seed = 1, .num_workers = workers});
    for (int epoch = 0; epoch < 2; ++epoch) {
      for (data::Batch& batch : loader) {
        Tensor logits = conv(batch[0]).flatten(1);
        Tensor loss = nn::functional::cross_entropy(logits, batch[1]);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
      }
    }
    return values(conv.weight);
  };
  const std::vector<double> expected = train(0);
  CHECK(train(1) == expected);
  CHECK(train(3) == expected);
}

TEST_CASE("threads: DataLoader epochs with workers, early breaks and new epochs reuse the loader safely") {
  NoisyDataset dataset(50);
  data::DataLoader reference(dataset, {.batch_size = 4, .shuffle = true, .seed = 2});
  data::DataLoader loader(dataset, {.batch_size = 4, .shuffle = true, .seed = 2, .num_workers = 2});
  CHECK(read_all(loader) == read_all(reference));
  for (int epoch = 0; epoch < 3; ++epoch) {  // break after `epoch` batches
    int seen = 0;
    for (data::Batch& batch : loader) {
      CHECK(batch[0].shape() == Shape{4, 1, 16});
      if (seen++ == epoch) break;
    }
    for (data::Batch& batch : reference) {
      (void)batch;
      break;
    }
  }
  CHECK(read_all(loader) == read_all(reference));  // both generators advanced alike
}

TEST_CASE("threads: a DataLoader destroyed mid-epoch joins its workers, and a worker's exception reaches the loop") {
  NoisyDataset dataset(200);
  auto loader = std::make_unique<data::DataLoader>(dataset, data::DataLoaderOptions{.batch_size = 2, .num_workers = 4});
  auto it = loader->begin();
  ++it;
  loader.reset();
  CHECK(contains(testing::error_of([&] { ++it; }), "destroyed during the epoch"));

  NoisyDataset failing(40, 13);
  data::DataLoader failing_loader(failing, {.batch_size = 4, .num_workers = 3});
  std::string message;
  int batches = 0;
  try {
    for (data::Batch& batch : failing_loader) {
      (void)batch;
      ++batches;
    }
  } catch (const Error& error) {
    message = error.what();
  }
  CHECK(batches == 3);
  CHECK(contains(message, "DataLoader: batch 3 of 10"));
  CHECK(contains(message, "sample 13 is broken"));
}
