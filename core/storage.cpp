#include "core/storage.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <variant>
#include <vector>

#include <xtensor/xstorage.hpp>

namespace xgrad {

namespace {

// Large buffers are recycled instead of returned to the system. A training step allocates the
// same sizes every step (activations, gradients), and a fresh block from mmap costs a page fault
// plus the kernel's zero-fill on every 4 KiB page at first touch: for the flagship model that
// was a tenth of the step. Released blocks wait in per-size free lists (sizes rounded up to whole
// pages) and are handed out again to a request of the same size. Peak memory stays at the live
// peak: a request that finds no block of its size first returns every waiting block to the
// system, so memory held for sizes nobody asks for any more never adds to a new allocation.
// Small buffers go straight to malloc, whose own free lists serve them well.
class BlockCache {
 public:
  static constexpr std::size_t min_bytes = std::size_t{1} << 18;  // below: plain aligned_alloc
  static constexpr std::size_t alignment = 64;                     // a cache line; AVX-512 aligned loads

  void* allocate(std::size_t bytes) {
    bytes = round_up(bytes);
    if (bytes >= min_bytes) {
      std::vector<void*> stale;
      {
        std::lock_guard lock(mutex_);
        if (auto it = free_.find(bytes); it != free_.end() && !it->second.empty()) {
          void* block = it->second.back();
          it->second.pop_back();
          cached_bytes_ -= bytes;
          return block;
        }
        for (auto& [size, blocks] : free_) stale.insert(stale.end(), blocks.begin(), blocks.end());
        free_.clear();
        cached_bytes_ = 0;
      }
      for (void* block : stale) std::free(block);
    }
    void* block = std::aligned_alloc(alignment, bytes);
    if (!block) throw std::bad_alloc();
    return block;
  }

  void release(void* block, std::size_t bytes) {
    bytes = round_up(bytes);
    if (bytes >= min_bytes) {
      std::lock_guard lock(mutex_);
      free_[bytes].push_back(block);
      cached_bytes_ += bytes;
      return;
    }
    std::free(block);
  }

 private:
  static std::size_t round_up(std::size_t bytes) {
    const std::size_t unit = bytes >= min_bytes ? 4096 : alignment;
    return (bytes + unit - 1) / unit * unit;
  }

  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_bytes_ = 0;
};

// Never destroyed: tensors in static objects may be released after main returns.
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();
  return *cache;
}

// The allocator of the xtensor containers below: 64-byte aligned, recycled through BlockCache.
template <class T>
struct CachingAllocator {
  using value_type = T;
  CachingAllocator() = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) {}
  T* allocate(std::size_t count) { return static_cast<T*>(block_cache().allocate(count * sizeof(T))); }
  void deallocate(T* block, std::size_t count) { block_cache().release(block, count * sizeof(T)); }
  template <class U>
  bool operator==(const CachingAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CachingAllocator<U>&) const { return false; }
};

}  // namespace

template <class T>
using AlignedVector = xt::uvector<T, CachingAllocator<T>>;

struct Storage::Buffer {
  std::variant<AlignedVector<float>, AlignedVector<double>, AlignedVector<std::int64_t>, AlignedVector<bool>> values;
};

Storage::Storage(Dtype dtype, std::int64_t numel) : numel_(numel), dtype_(dtype) {
  // Allocate at least one element so data() is never null, even for empty tensors.
  const auto count = static_cast<std::size_t>(numel > 0 ? numel : 1);
  buffer_ = std::make_unique<Buffer>();
  dispatch_all(dtype, [&](auto zero) { data_ = buffer_->values.emplace<AlignedVector<decltype(zero)>>(count).data(); });
}

Storage::~Storage() = default;

}  // namespace xgrad
