// Data sets: what a DataLoader reads samples from (torch.utils.data.Dataset, TensorDataset).
//
//   data::TensorDataset dataset({signals, labels});      // signals (N, C, L), labels (N,) int64
//   std::vector<Tensor> sample = dataset.get(3);          // {signals[3], labels[3]}
//
// A sample is a list of tensors, its fields; a DataLoader batches each field by stacking it
// along a new first dim, so every sample of a data set has the same fields of the same shapes.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::data {

// A data set of size() samples, read by index. A DataLoader with num_workers > 0 calls get()
// and get_batch() from several threads at once, so they must not change shared state (they are
// const; a data set that draws random numbers, e.g. for augmentation, draws them from a
// generator of its own per call).
class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::int64_t size() const = 0;
  // The sample at `index` in [0, size()): one tensor per field.
  virtual std::vector<Tensor> get(std::int64_t index) const = 0;
  // The samples at `indices` as one batch: field f is the stack of every sample's field f
  // (torch.stack, along a new dim 0), so it has indices.size() rows and keeps its dtype.
  // Override it when a data set can assemble a batch faster than sample by sample.
  virtual std::vector<Tensor> get_batch(const std::vector<std::int64_t>& indices) const;
};

// Samples are the rows of its tensors (torch.utils.data.TensorDataset): get(i) is
// {tensors[0][i], tensors[1][i], ...}. Every tensor must have the same size in dim 0.
class TensorDataset : public Dataset {
 public:
  explicit TensorDataset(std::vector<Tensor> tensors);

  std::int64_t size() const override { return size_; }
  std::vector<Tensor> get(std::int64_t index) const override;
  // One index_select per field rather than a stack of rows.
  std::vector<Tensor> get_batch(const std::vector<std::int64_t>& indices) const override;
  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
  std::int64_t size_ = 0;
};

}  // namespace xgrad::data
