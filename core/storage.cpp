#include "core/storage.hpp"

#include <variant>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>
#include <xtensor/xstorage.hpp>

namespace xgrad {

template <class T>
using AlignedVector = xt::uvector<T, xsimd::aligned_allocator<T, 64>>;

struct Storage::Buffer {
  std::variant<AlignedVector<float>, AlignedVector<double>> values;
};

Storage::Storage(Dtype dtype, std::int64_t numel) : numel_(numel), dtype_(dtype) {
  // Allocate at least one element so data() is never null, even for empty tensors.
  const auto count = static_cast<std::size_t>(numel > 0 ? numel : 1);
  buffer_ = std::make_unique<Buffer>();
  if (dtype == Dtype::Float32) {
    data_ = buffer_->values.emplace<AlignedVector<float>>(count).data();
  } else {
    data_ = buffer_->values.emplace<AlignedVector<double>>(count).data();
  }
}

Storage::~Storage() = default;

}  // namespace xgrad
