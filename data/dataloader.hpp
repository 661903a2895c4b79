// DataLoader: batches of a data set, in a range-for (torch.utils.data.DataLoader).
//
//   data::TensorDataset dataset({signals, labels});
//   for (std::vector<Tensor>& batch : data::DataLoader(dataset, {.batch_size = 32, .shuffle = true,
//                                                                .seed = 0, .num_workers = 1})) {
//     Tensor x = batch[0], y = batch[1];                    // (32, C, L) float32, (32,) int64
//   }
//
// A batch holds one tensor per field of the data set's samples: the samples stacked along a new
// dim 0 (Dataset::get_batch), dtype kept. Each range-for is one epoch:
// - the order: options.sampler's order() when given, else a permutation drawn from the loader's
//   own generator when shuffling (seeded by .seed; its state advances every epoch, so the same
//   seed gives the same sequence of epochs and every epoch a new order), else 0..size-1;
// - batches of batch_size consecutive indices of that order; the last one shorter, or left out
//   with drop_last;
// - num_workers > 0: that many threads assemble the next batches while the loop body runs (at
//   most num_workers * prefetch_factor batches ahead), handed out in order, so the batches are
//   exactly those of num_workers = 0. A batch whose assembly threw is an xgrad::Error when the
//   loop reaches it, naming the batch and the original message. Leaving the loop early, or
//   destroying the loader, stops and joins the threads.
// One range-for at a time per loader: iterating it from two threads at once is not supported.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/tensor.hpp"
#include "data/dataset.hpp"
#include "data/sampler.hpp"

namespace xgrad::data {

using Batch = std::vector<Tensor>;

struct DataLoaderOptions {
  std::int64_t batch_size = 1;                      // samples per batch, >= 1
  bool shuffle = false;                             // a new random order every epoch
  bool drop_last = false;                           // leave out a last batch shorter than batch_size
  std::optional<std::uint64_t> seed = std::nullopt;  // shuffle's generator; unset: drawn from xgrad's (manual_seed)
  int num_workers = 0;                              // threads assembling batches ahead; 0 = in the loop itself
  int prefetch_factor = 2;                          // batches each worker may assemble ahead, >= 1
  Sampler* sampler = nullptr;                       // the order of each epoch (not owned); excludes shuffle
};

namespace detail {
struct Epoch;
}

class DataLoader {
 public:
  // Reads `dataset`, which must outlive the loader.
  DataLoader(const Dataset& dataset, DataLoaderOptions options = {});
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  // Takes a temporary data set over: DataLoader(TensorDataset({x, y}), {...}).
  template <std::derived_from<Dataset> D>
    requires(!std::is_lvalue_reference_v<D>)
  DataLoader(D&& dataset, DataLoaderOptions options = {})
      : DataLoader(std::shared_ptr<const Dataset>(std::make_shared<D>(std::move(dataset))), options) {}
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;
  // Stops and joins the workers of an epoch still being read; its iterator then throws.
  ~DataLoader();

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    Iterator() = default;
    Iterator(Iterator&&) noexcept = default;
    Iterator& operator=(Iterator&&) noexcept;
    ~Iterator();  // stops and joins this epoch's workers

    Batch& operator*() const;
    Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.done(); }

   private:
    friend class DataLoader;
    explicit Iterator(std::shared_ptr<detail::Epoch> epoch);
    bool done() const;
    std::shared_ptr<detail::Epoch> epoch_;
  };

  // Starts an epoch: draws its order and positions on its first batch (an epoch without batches
  // is already at end()).
  Iterator begin();
  std::default_sentinel_t end() const { return {}; }

  // Batches per epoch (PyTorch's len(loader)).
  std::int64_t size() const;
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::unique_ptr<Sampler> own_sampler_;  // sequential or random when options_.sampler is unset
  Sampler* sampler_ = nullptr;
  std::vector<std::weak_ptr<detail::Epoch>> epochs_;  // to stop on destruction
};

}  // namespace xgrad::data
