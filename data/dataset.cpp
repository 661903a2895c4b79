#include "data/dataset.hpp"

#include <string>

#include "core/creation.hpp"
#include "core/error.hpp"
#include "ops/ops.hpp"

namespace xgrad::data {

std::vector<Tensor> Dataset::get_batch(const std::vector<std::int64_t>& indices) const {
  XGRAD_CHECK(!indices.empty(), "Dataset::get_batch: a batch needs at least one index");
  std::vector<std::vector<Tensor>> fields;
  for (std::size_t i = 0; i < indices.size(); ++i) {
    std::vector<Tensor> sample = get(indices[i]);
    if (i == 0) fields.resize(sample.size());
    XGRAD_CHECK(sample.size() == fields.size(),
                "Dataset::get_batch: every sample must have the same number of fields, but sample {} has {} and "
                "sample {} has {}",
                indices[0], fields.size(), indices[i], sample.size());
    for (std::size_t f = 0; f < sample.size(); ++f) fields[f].push_back(std::move(sample[f]));
  }
  std::vector<Tensor> batch;
  batch.reserve(fields.size());
  for (const std::vector<Tensor>& field : fields) batch.push_back(stack(field, 0));
  return batch;
}

namespace {

std::string shapes_of(const std::vector<Tensor>& tensors) {
  std::string out;
  for (const Tensor& t : tensors) out += (out.empty() ? "" : ", ") + fmt::format("{}", t.shape());
  return out;
}

}  // namespace

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  XGRAD_CHECK(!tensors_.empty(), "TensorDataset: needs at least one tensor");
  for (const Tensor& t : tensors_) {
    XGRAD_CHECK(t.defined(), "TensorDataset: tensor {} of {} is undefined", &t - tensors_.data(), tensors_.size());
    XGRAD_CHECK(t.dim() >= 1 && t.size(0) == tensors_[0].size(0),
                "TensorDataset: every tensor must have the same size in dim 0 (one row per sample), got shapes {}",
                shapes_of(tensors_));
  }
  size_ = tensors_[0].size(0);
}

std::vector<Tensor> TensorDataset::get(std::int64_t index) const {
  XGRAD_CHECK(index >= 0 && index < size_, "TensorDataset: index {} is out of range for a data set of size {}", index,
              size_);
  std::vector<Tensor> sample;
  sample.reserve(tensors_.size());
  for (const Tensor& t : tensors_) sample.push_back(t.narrow(0, index, 1).squeeze(0));
  return sample;
}

std::vector<Tensor> TensorDataset::get_batch(const std::vector<std::int64_t>& indices) const {
  XGRAD_CHECK(!indices.empty(), "TensorDataset::get_batch: a batch needs at least one index");
  Tensor index = empty({static_cast<std::int64_t>(indices.size())}, {.dtype = kInt64});
  std::int64_t* out = index.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < indices.size(); ++i) {
    XGRAD_CHECK(indices[i] >= 0 && indices[i] < size_,
                "TensorDataset: index {} is out of range for a data set of size {}", indices[i], size_);
    out[i] = indices[i];
  }
  std::vector<Tensor> batch;
  batch.reserve(tensors_.size());
  for (const Tensor& t : tensors_) batch.push_back(index_select(t, 0, index));
  return batch;
}

}  // namespace xgrad::data
