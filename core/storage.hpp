// Storage: the flat buffer behind tensors. The memory is an xtensor container
// (xt::uvector with a 64-byte aligned xsimd allocator, so kernels can use aligned
// AVX-512 loads); this header keeps xtensor out of every file that includes it.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.hpp"

namespace xgrad {

class Storage {
 public:
  // Uninitialized storage for `numel` elements of `dtype`.
  Storage(Dtype dtype, std::int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Dtype dtype() const { return dtype_; }
  std::int64_t numel() const { return numel_; }
  void* data() { return data_; }
  const void* data() const { return data_; }

 private:
  struct Buffer;
  std::unique_ptr<Buffer> buffer_;
  void* data_ = nullptr;
  std::int64_t numel_ = 0;
  Dtype dtype_;
};

}  // namespace xgrad
