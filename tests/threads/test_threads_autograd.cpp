// Autograd from several threads at once: gradient accumulation into one shared
// leaf is locked (as PyTorch's), and leaf hooks may be registered, run and
// removed while other threads backward through the same leaf.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "autograd/engine.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::values;

namespace {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kSteps = 100;
#else
constexpr int kSteps = 1000;
#endif
}  // namespace

TEST_CASE("threads: two threads backward into one shared leaf, every gradient is accumulated") {
  Tensor w = zeros({4}, {.dtype = kFloat64, .requires_grad = true});
  std::atomic<int> post_hook_calls{0};
  w.register_post_accumulate_grad_hook([&](Tensor&) { post_hook_calls.fetch_add(1, std::memory_order_relaxed); });
  auto work = [&w](double scale) {
    // Small integers: every partial sum is exact, whatever the interleaving.
    Tensor x = full({4}, scale, {.dtype = kFloat64});
    for (int step = 0; step < kSteps; ++step) (w * x).sum().backward();
  };
  std::thread first(work, 1.0), second(work, 2.0);
  first.join();
  second.join();
  CHECK(values(w.grad()) == std::vector<double>(4, 3.0 * kSteps));
  CHECK(post_hook_calls.load() == 2 * kSteps);
}

TEST_CASE("threads: hooks registered and removed while another thread backwards through the leaf") {
  Tensor w = ones({3}, {.dtype = kFloat64, .requires_grad = true});
  std::atomic<bool> started{false}, done{false};
  std::atomic<int> hook_calls{0};
  std::thread trainer([&] {
    while (!started.load()) std::this_thread::yield();  // overlap with the registering loop
    Tensor x = full({3}, 2.0, {.dtype = kFloat64});
    for (int step = 0; step < kSteps; ++step) (w * x).sum().backward();
    done = true;
  });
  int registered = 0;
  do {
    RemovableHandle grad_hook = w.register_hook([&](const Tensor&) {
      hook_calls.fetch_add(1, std::memory_order_relaxed);
      return Tensor();  // keep the gradient
    });
    RemovableHandle post_hook = w.register_post_accumulate_grad_hook([](Tensor&) {});
    grad_hook.remove();
    post_hook.remove();
    ++registered;
    started = true;
  } while (!done.load());
  trainer.join();
  // Hooks that keep the gradient change nothing: every step's 2 is there.
  CHECK(values(w.grad()) == std::vector<double>(3, 2.0 * kSteps));
  CHECK(registered > 0);
  CHECK(hook_calls.load() <= kSteps);
}

TEST_CASE("threads: retain_grad and non-leaf hooks on graphs built per thread") {
  auto work = [](double scale, std::vector<double>* out) {
    Tensor x = full({2}, scale, {.dtype = kFloat64, .requires_grad = true});
    for (int step = 0; step < kSteps / 10; ++step) {
      Tensor h = x * x;
      h.retain_grad();
      h.register_hook([](const Tensor& g) { return g * 2.0; });
      (h * 3.0).sum().backward();
      *out = values(h.grad());
    }
  };
  std::vector<double> a, b;
  std::thread first(work, 1.0, &a), second(work, 2.0, &b);
  first.join();
  second.join();
  // retain_grad came first, so it keeps the gradient before the hook doubles it.
  CHECK(a == std::vector<double>{3.0, 3.0});
  CHECK(b == std::vector<double>{3.0, 3.0});
}
