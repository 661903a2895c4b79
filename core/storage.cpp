#include "core/storage.hpp"

#include "core/memory.hpp"

#include <malloc.h>

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
// pages) and are handed out again to a request of the same size. What the cache may hold is
// bounded, so that freeing memory gives it back:
//  - blocks above max_block_bytes (32 MiB, where glibc maps blocks on their own) go back to the
//    system at once: one such tensor freed must not keep its gigabytes resident;
//  - at most max_cached_bytes (256 MiB, more than a training step of the examples needs) wait;
//    a block that would exceed it is freed;
//  - a request that finds no block of its size first returns every waiting block to the system,
//    so memory held for sizes nobody asks for any more never adds to a new allocation;
//  - empty_cache() returns every waiting block and asks malloc to give back its free pages.
// Small buffers go straight to malloc, whose own free lists serve them well.
class BlockCache {
 public:
  static constexpr std::size_t min_bytes = std::size_t{1} << 18;        // below: plain aligned_alloc
  static constexpr std::size_t max_block_bytes = std::size_t{32} << 20;  // above: never cached
  static constexpr std::size_t max_cached_bytes = std::size_t{256} << 20;
  static constexpr std::size_t alignment = 64;                            // a cache line; AVX-512 aligned loads

  void* allocate(std::size_t bytes) {
    bytes = round_up(bytes);
    if (cacheable(bytes)) {
      std::vector<void*> stale;
      {
        std::lock_guard lock(mutex_);
        if (auto it = free_.find(bytes); it != free_.end() && !it->second.empty()) {
          void* block = it->second.back();
          it->second.pop_back();
          cached_bytes_ -= bytes;
          return block;
        }
        stale = take_all();
      }
      for (void* block : stale) std::free(block);
    }
    void* block = std::aligned_alloc(alignment, bytes);
    if (!block) throw std::bad_alloc();
    return block;
  }

  void release(void* block, std::size_t bytes) {
    bytes = round_up(bytes);
    if (cacheable(bytes)) {
      std::lock_guard lock(mutex_);
      if (cached_bytes_ + bytes <= max_cached_bytes) {
        free_[bytes].push_back(block);
        cached_bytes_ += bytes;
        return;
      }
    }
    std::free(block);
  }

  void empty() {
    std::vector<void*> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks = take_all();
    }
    for (void* block : blocks) std::free(block);
    // Blocks below glibc's mmap threshold went back to its heap: hand its free pages to the system.
    malloc_trim(0);
  }

  std::size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }

 private:
  static bool cacheable(std::size_t bytes) { return bytes >= min_bytes && bytes <= max_block_bytes; }

  static std::size_t round_up(std::size_t bytes) {
    const std::size_t unit = bytes >= min_bytes ? 4096 : alignment;
    return (bytes + unit - 1) / unit * unit;
  }

  // Every waiting block, removed from the lists (the caller frees them outside the lock).
  std::vector<void*> take_all() {
    std::vector<void*> blocks;
    for (auto& [size, list] : free_) blocks.insert(blocks.end(), list.begin(), list.end());
    free_.clear();
    cached_bytes_ = 0;
    return blocks;
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

void empty_cache() { block_cache().empty(); }

std::int64_t cached_bytes() { return static_cast<std::int64_t>(block_cache().cached_bytes()); }

template <class T>
using AlignedVector = xt::uvector<T, CachingAllocator<T>>;

struct Storage::Buffer {
  std::variant<AlignedVector<float>, AlignedVector<double>, AlignedVector<std::int64_t>, AlignedVector<bool>> values;
};

Storage::Storage(Dtype dtype, std::int64_t numel) : numel_(numel), dtype_(dtype) {
  // Allocate at least one element so data() is never null, even for empty tensors.
  const auto count = static_cast<std::size_t>(numel > 0 ? numel : 1);
  buffer_ = std::make_unique<Buffer>();
  dispatch_all(dtype, [&](auto tag) { data_ = buffer_->values.emplace<AlignedVector<decltype(tag)>>(count).data(); });
}

Storage::~Storage() = default;

}  // namespace xgrad
