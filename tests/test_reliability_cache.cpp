// Freed memory goes back: a large tensor's buffer returns to the system when the tensor is freed,
// the cache of smaller buffers is bounded (256 MiB), and empty_cache() returns all of it. Resident
// memory is read from /proc/self/statm; ASan keeps freed chunks of up to 256 MiB in quarantine, so
// there the cache's own count stands for the resident memory of the smaller buffers.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "core/creation.hpp"
#include "core/memory.hpp"
#include "core/tensor.hpp"
#include "test_reliability.hpp"

using namespace xgrad;

namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;

double mib(std::int64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(kMiB); }

}  // namespace

TEST_CASE("memory: a freed 512 MiB tensor returns its memory to the system at once") {
  empty_cache();
  const std::int64_t cached_before = cached_bytes();
  const std::int64_t baseline = testing::resident_bytes();
  REQUIRE(baseline > 0);
  std::int64_t while_alive = 0;
  {
    const Tensor big = zeros({128 * kMiB});  // float32: 512 MiB, every page written
    while_alive = testing::resident_bytes();
  }
  const std::int64_t after = testing::resident_bytes();
  MESSAGE("resident: ", mib(baseline), " MiB, with the tensor ", mib(while_alive), " MiB, after freeing it ", mib(after),
          " MiB");
  CHECK(cached_bytes() == cached_before);  // too large to be cached
  // Also under ASan: a chunk this large bypasses its quarantine.
  CHECK(while_alive - baseline > 400 * kMiB);  // the measurement sees the tensor
  CHECK(after - baseline < 32 * kMiB);
}

TEST_CASE("memory: the buffer cache is bounded, reuses buffers, and empty_cache() returns them") {
  empty_cache();
  CHECK(cached_bytes() == 0);
  const std::int64_t baseline = testing::resident_bytes();
  {
    std::vector<Tensor> tensors;
    for (int i = 0; i < 24; ++i) tensors.push_back(zeros({4 * kMiB}));  // 24 x 16 MiB, cacheable sizes
  }
  const std::int64_t held = testing::resident_bytes();
  // 16 of the 24 buffers fit under the 256 MiB bound; the rest went back to the system.
  CHECK(cached_bytes() == 256 * kMiB);
  {
    const Tensor again = empty({4 * kMiB});  // the same size: served from the cache
    CHECK(cached_bytes() == 240 * kMiB);
  }
  CHECK(cached_bytes() == 256 * kMiB);
  empty_cache();
  CHECK(cached_bytes() == 0);
  const std::int64_t after = testing::resident_bytes();
  MESSAGE("resident: ", mib(baseline), " MiB; with the cache full ", mib(held), " MiB; after empty_cache() ", mib(after),
          " MiB");
  if (!testing::kSanitized) {
    CHECK(held - baseline > 200 * kMiB);   // the cache's buffers are resident...
    CHECK(held - baseline < 300 * kMiB);   // ...but no more than its bound (and some slack)
    CHECK(after - baseline < 32 * kMiB);   // and empty_cache() gave them back
  }
}

TEST_CASE("memory: a request of a new size first returns the cached buffers of other sizes") {
  empty_cache();
  { const Tensor a = zeros({kMiB}); }  // 4 MiB, cached when freed
  CHECK(cached_bytes() == 4 * kMiB);
  const Tensor b = zeros({kMiB / 2});  // 2 MiB: not in the cache, so the cache is emptied first
  CHECK(cached_bytes() == 0);
}
