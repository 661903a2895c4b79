// Storage: the flat buffer behind tensors. The memory is an xtensor container
// (xt::uvector with a 64-byte aligned xsimd allocator, so kernels can use aligned
// AVX-512 loads); this header keeps xtensor out of every file that includes it.
#pragma once

#include <atomic>
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

  // The version counter (PyTorch's): every in-place write to this storage bumps
  // it, so a tensor saved for backward can tell it was changed after it was saved.
  // Views and detached tensors share their base's storage, hence its counter.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // `op` names the writer ("fill_", "add_"); it must be a string literal.
  void bump_version(const char* op) {
    last_writer_.store(op, std::memory_order_relaxed);
    version_.fetch_add(1, std::memory_order_acq_rel);
  }
  const char* last_writer() const { return last_writer_.load(std::memory_order_relaxed); }

 private:
  struct Buffer;
  std::unique_ptr<Buffer> buffer_;
  void* data_ = nullptr;
  std::int64_t numel_ = 0;
  Dtype dtype_;
  std::atomic<std::uint64_t> version_{0};
  std::atomic<const char*> last_writer_{"an in-place op"};
};

}  // namespace xgrad
