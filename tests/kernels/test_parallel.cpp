// parallel_for: every index visited exactly once, exceptions reach the caller, nested calls run
// serially, and thread counts are validated.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace {

// Restores the thread count a test changed.
struct ThreadCountGuard {
  int saved = xgrad::get_num_threads();
  ~ThreadCountGuard() { xgrad::set_num_threads(saved); }
};

}  // namespace

TEST_CASE("parallel_for covers 0..n exactly once in contiguous chunks") {
  ThreadCountGuard guard;
  for (int threads : {1, 2, 3, 8}) {
    xgrad::set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 7, 100, 10007}) {
      for (int64_t grain : {1, 3, 1000}) {
        std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
        std::atomic<int> chunks{0};
        xgrad::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          CHECK(begin < end);
          chunks.fetch_add(1);
          for (int64_t i = begin; i < end; ++i) visits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (auto& v : visits) CHECK(v.load() == 1);
        CHECK(chunks.load() <= 4 * threads);  // up to 4 per thread, claimed dynamically
        if (threads == 1 || n < 2 * grain) CHECK(chunks.load() <= 1);
        if (n > 0) CHECK(chunks.load() <= std::max<int64_t>(n / grain, 1));  // each at least `grain` items
      }
    }
  }
}

TEST_CASE("parallel_for rethrows an exception thrown by fn in the caller") {
  ThreadCountGuard guard;
  for (int threads : {1, 2}) {
    xgrad::set_num_threads(threads);
    CHECK_THROWS_AS(xgrad::parallel_for(100, 1,
                                        [](int64_t begin, int64_t) {
                                          if (begin >= 0) throw std::runtime_error("boom");
                                        }),
                    std::runtime_error);
    // The pool still works afterwards.
    std::atomic<int64_t> sum{0};
    xgrad::parallel_for(100, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum += i;
    });
    CHECK(sum.load() == 4950);
  }
}

TEST_CASE("nested parallel_for calls run serially and still cover everything") {
  ThreadCountGuard guard;
  xgrad::set_num_threads(2);
  std::atomic<int64_t> sum{0};
  xgrad::parallel_for(10, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int inner_chunks = 0;
      xgrad::parallel_for(100, 1, [&](int64_t b, int64_t e) {
        ++inner_chunks;  // serial, so no race
        for (int64_t j = b; j < e; ++j) sum += i * 100 + j;
      });
      CHECK(inner_chunks == 1);
    }
  });
  CHECK(sum.load() == 999 * 1000 / 2);
}

TEST_CASE("set_num_threads rejects non-positive counts") {
  ThreadCountGuard guard;
  CHECK_THROWS_WITH_AS(xgrad::set_num_threads(0), "set_num_threads: expected a positive thread count (at most 1024), got 0",
                       xgrad::Error);
  CHECK_THROWS_AS(xgrad::set_num_threads(-3), xgrad::Error);
  xgrad::set_num_threads(3);
  CHECK(xgrad::get_num_threads() == 3);
}
