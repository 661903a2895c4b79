#include "data/dataloader.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "core/error.hpp"

namespace xgrad::data {

namespace detail {

// One epoch: its order and, with workers, the threads that assemble its batches. Batch k may be
// assembled once the consumer has taken every batch before k - capacity, so at most `capacity`
// batches are in flight or waiting; results are kept by batch number and handed out in order.
struct Epoch {
  struct Result {
    Batch batch;
    std::string error;  // set when assembling the batch threw
  };

  std::shared_ptr<const Dataset> dataset;
  std::vector<std::int64_t> order;
  std::int64_t batch_size = 1;
  std::int64_t num_batches = 0;
  std::int64_t position = 0;  // the batch the iterator is on
  Batch current;

  std::mutex mutex;
  std::condition_variable ready;  // a result arrived, or stopping
  std::condition_variable space;  // the consumer took a batch, or stopping
  std::map<std::int64_t, Result> results;
  std::int64_t assigned = 0;  // batches handed to workers so far
  std::int64_t taken = 0;     // batches the consumer has taken
  std::int64_t capacity = 0;
  bool stopping = false;
  bool loader_gone = false;
  std::vector<std::thread> workers;
  std::mutex join_mutex;

  ~Epoch() { stop(false); }

  std::int64_t batch_length(std::int64_t k) const {
    return std::min<std::int64_t>(batch_size, static_cast<std::int64_t>(order.size()) - k * batch_size);
  }

  Result assemble(std::int64_t k) const {
    Result result;
    try {
      const auto first = order.begin() + k * batch_size;
      result.batch = dataset->get_batch(std::vector<std::int64_t>(first, first + batch_length(k)));
    } catch (const std::exception& error) {
      result.error = error.what();
    } catch (...) {
      result.error = "an exception that is not a std::exception";
    }
    return result;
  }

  void start_workers(int count, int prefetch_factor) {
    capacity = static_cast<std::int64_t>(count) * prefetch_factor;
    for (int w = 0; w < count; ++w) {
      try {
        workers.emplace_back([this] { work(); });
      } catch (const std::system_error&) {
        break;  // the system refused more threads: run with the ones that started
      }
    }
  }

  void work() {
    std::unique_lock lock(mutex);
    for (;;) {
      space.wait(lock, [&] { return stopping || assigned >= num_batches || assigned < taken + capacity; });
      if (stopping || assigned >= num_batches) return;
      const std::int64_t k = assigned++;
      lock.unlock();
      Result result = assemble(k);
      lock.lock();
      results.emplace(k, std::move(result));
      ready.notify_all();
    }
  }

  // Batch k (the next one in order): from the workers, or assembled here without them.
  Result take(std::int64_t k) {
    if (workers.empty()) {
      {
        std::lock_guard lock(mutex);
        if (loader_gone) return {{}, "the DataLoader was destroyed during the epoch"};
      }
      return assemble(k);
    }
    std::unique_lock lock(mutex);
    ready.wait(lock, [&] { return stopping || results.count(k) != 0; });
    if (stopping) return {{}, "the DataLoader was destroyed during the epoch"};
    auto node = results.extract(k);
    taken = k + 1;
    space.notify_all();
    return std::move(node.mapped());
  }

  // Loads batch `position` into `current`; a batch that failed leaves `current` empty and throws
  // (the iterator stays on it, so ++ goes on with the next batch).
  void advance() {
    current.clear();
    if (position >= num_batches) return;
    Result result = take(position);
    if (!result.error.empty()) {
      fail("DataLoader: batch {} of {} (positions {}..{} of the epoch's order) failed: {}", position, num_batches,
           position * batch_size, position * batch_size + batch_length(position) - 1, result.error);
    }
    current = std::move(result.batch);
  }

  // Ends the workers: each finishes the batch it is assembling and leaves.
  void stop(bool by_loader) {
    std::lock_guard join_lock(join_mutex);
    {
      std::lock_guard lock(mutex);
      stopping = stopping || !workers.empty() || by_loader;
      loader_gone = loader_gone || by_loader;
    }
    space.notify_all();
    ready.notify_all();
    for (std::thread& worker : workers) worker.join();
    workers.clear();
  }
};

}  // namespace detail

namespace {

std::shared_ptr<const Dataset> checked(std::shared_ptr<const Dataset> dataset) {
  XGRAD_CHECK(dataset != nullptr, "DataLoader: the data set is null");
  return dataset;
}

}  // namespace

DataLoader::DataLoader(const Dataset& dataset, DataLoaderOptions options)
    : DataLoader(std::shared_ptr<const Dataset>(&dataset, [](const Dataset*) {}), options) {}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(checked(std::move(dataset))), options_(options) {
  XGRAD_CHECK(options_.batch_size >= 1, "DataLoader: batch_size should be a positive integer value, but got batch_size={}",
              options_.batch_size);
  XGRAD_CHECK(options_.num_workers >= 0,
              "DataLoader: num_workers option should be non-negative, got {}; use num_workers=0 to assemble batches "
              "in the loop itself",
              options_.num_workers);
  XGRAD_CHECK(options_.prefetch_factor >= 1, "DataLoader: prefetch_factor must be >= 1, got {}",
              options_.prefetch_factor);
  XGRAD_CHECK(!(options_.sampler != nullptr && options_.shuffle),
              "DataLoader: sampler option is mutually exclusive with shuffle (the sampler decides the order)");
  if (options_.sampler != nullptr) {
    sampler_ = options_.sampler;
  } else if (options_.shuffle) {
    own_sampler_ = std::make_unique<RandomSampler>(dataset_->size(), RandomSamplerOptions{.seed = options_.seed});
  } else {
    own_sampler_ = std::make_unique<SequentialSampler>(dataset_->size());
  }
  if (sampler_ == nullptr) sampler_ = own_sampler_.get();
}

DataLoader::~DataLoader() {
  for (const std::weak_ptr<detail::Epoch>& weak : epochs_) {
    if (std::shared_ptr<detail::Epoch> epoch = weak.lock()) epoch->stop(true);
  }
}

std::int64_t DataLoader::size() const {
  const std::int64_t samples = sampler_->size();
  return options_.drop_last ? samples / options_.batch_size : (samples + options_.batch_size - 1) / options_.batch_size;
}

DataLoader::Iterator DataLoader::begin() {
  std::erase_if(epochs_, [](const std::weak_ptr<detail::Epoch>& weak) { return weak.expired(); });
  auto epoch = std::make_shared<detail::Epoch>();
  epoch->dataset = dataset_;
  epoch->order = sampler_->order();
  epoch->batch_size = options_.batch_size;
  const auto samples = static_cast<std::int64_t>(epoch->order.size());
  epoch->num_batches = options_.drop_last ? samples / options_.batch_size
                                          : (samples + options_.batch_size - 1) / options_.batch_size;
  if (options_.num_workers > 0 && epoch->num_batches > 0) {
    epoch->start_workers(static_cast<int>(std::min<std::int64_t>(options_.num_workers, epoch->num_batches)),
                         options_.prefetch_factor);
  }
  epochs_.push_back(epoch);
  Iterator it(epoch);
  epoch->advance();
  return it;
}

DataLoader::Iterator::Iterator(std::shared_ptr<detail::Epoch> epoch) : epoch_(std::move(epoch)) {}

DataLoader::Iterator& DataLoader::Iterator::operator=(Iterator&& other) noexcept {
  if (this != &other) {
    if (epoch_) epoch_->stop(false);
    epoch_ = std::move(other.epoch_);
  }
  return *this;
}

DataLoader::Iterator::~Iterator() {
  if (epoch_) epoch_->stop(false);
}

Batch& DataLoader::Iterator::operator*() const {
  XGRAD_CHECK(!done(), "DataLoader: dereferenced an iterator at the end of the epoch");
  return epoch_->current;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  XGRAD_CHECK(!done(), "DataLoader: advanced an iterator past the end of the epoch");
  ++epoch_->position;
  epoch_->advance();
  return *this;
}

bool DataLoader::Iterator::done() const { return epoch_ == nullptr || epoch_->position >= epoch_->num_batches; }

}  // namespace xgrad::data
