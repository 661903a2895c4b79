// Tensor hooks: register_hook on leaves and non-leaves, retain_grad, and
// post-accumulate-grad hooks; each handle's remove().
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/engine.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

TEST_CASE("hooks: a leaf hook sees the summed gradient once and can replace it") {
  Tensor x = from_values({1.0, 2.0});
  std::vector<std::vector<double>> seen;
  RemovableHandle handle = x.register_hook([&](const Tensor& g) {
    seen.push_back(values(g));
    return g * 10.0;
  });
  (x * 2.0 + x * 3.0).sum().backward();  // two edges into x: one call with 5
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == std::vector<double>{5.0, 5.0});
  CHECK(values(x.grad()) == std::vector<double>{50.0, 50.0});
  handle.remove();
  handle.remove();  // twice is harmless
  x.mutable_grad() = Tensor();
  (x * 2.0).sum().backward();
  CHECK(seen.size() == 1);
  CHECK(values(x.grad()) == std::vector<double>{2.0, 2.0});
}

TEST_CASE("hooks: a hook returning an undefined tensor keeps the gradient; hooks run in order") {
  Tensor x = from_values({1.0});
  std::vector<int> order;
  x.register_hook([&](const Tensor&) { order.push_back(1); return Tensor(); });
  x.register_hook([&](const Tensor& g) { order.push_back(2); return g + 1.0; });
  x.register_hook([&](const Tensor& g) { order.push_back(3); CHECK(values(g) == std::vector<double>{4.0}); return Tensor(); });
  (x * 3.0).sum().backward();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(values(x.grad()) == std::vector<double>{4.0});
}

TEST_CASE("hooks: a non-leaf hook changes what flows on to its producers") {
  Tensor x = from_values({1.0, 2.0});
  Tensor h = x * x;
  int calls = 0;
  RemovableHandle handle = h.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 0.5;
  });
  (h * 4.0).sum().backward({}, {.retain_graph = true});
  CHECK(calls == 1);
  CHECK(values(x.grad()) == std::vector<double>{4.0, 8.0});  // 4 * 0.5 * 2x
  handle.remove();
  x.mutable_grad() = Tensor();
  (h * 4.0).sum().backward();
  CHECK(calls == 1);
  CHECK(values(x.grad()) == std::vector<double>{8.0, 16.0});
}

TEST_CASE("hooks: a hook returning the wrong shape is a clear error") {
  Tensor x = from_values({1.0, 2.0});
  x.register_hook([](const Tensor&) { return ones({3}, {.dtype = kFloat64}); });
  CHECK_THROWS_WITH_AS((x * 2.0).sum().backward(),
                       "register_hook: a hook on a leaf returned a gradient of shape [3] (float64), expected shape [2] "
                       "(float64)",
                       Error);
  CHECK_THROWS_WITH_AS(from_values({1.0}, false).register_hook([](const Tensor& g) { return g; }),
                       doctest::Contains("does not require grad"), Error);
}

TEST_CASE("hooks: retain_grad keeps and accumulates a non-leaf's gradient") {
  Tensor x = from_values({1.0, 2.0});
  Tensor h = x * 3.0;
  CHECK_FALSE(h.retains_grad());
  h.retain_grad();
  CHECK(h.retains_grad());
  Tensor y = (h * h).sum();
  y.backward({}, {.retain_graph = true});
  CHECK(values(h.grad()) == std::vector<double>{6.0, 12.0});
  y.backward();
  CHECK(values(h.grad()) == std::vector<double>{12.0, 24.0});
  x.retain_grad();  // a no-op on leaves
  CHECK_FALSE(x.retains_grad());
  // As in PyTorch 1.13, a retained gradient is kept by grad() too, and under
  // create_graph it keeps its graph.
  Tensor k = x * 2.0;
  k.retain_grad();
  Tensor y2 = (k * k).sum();
  autograd::grad({y2}, {x}, {}, {.create_graph = true});
  CHECK(values(k.grad()) == std::vector<double>{4.0, 8.0});
  CHECK(k.grad().requires_grad());
  k.mutable_grad() = Tensor();  // its graph refers back to k: a cycle, as in PyTorch, so break it
}

TEST_CASE("hooks: retain_grad is a hook in registration order (PyTorch 1.13)") {
  Tensor x = from_values({1.0, 1.0});
  Tensor h = x * x;
  h.retain_grad();
  h.register_hook([](const Tensor& g) { return g * 2.0; });
  (h * 3.0).sum().backward();
  CHECK(values(h.grad()) == std::vector<double>{3.0, 3.0});
  CHECK(values(x.grad()) == std::vector<double>{12.0, 12.0});
  Tensor k = x * x;
  k.register_hook([](const Tensor& g) { return g * 2.0; });
  k.retain_grad();
  k.retain_grad();  // once is enough
  (k * 3.0).sum().backward();
  CHECK(values(k.grad()) == std::vector<double>{6.0, 6.0});
}

TEST_CASE("hooks: a post-accumulate-grad hook runs once per backward after .grad() is updated") {
  Tensor w = from_values({1.0, 2.0});
  std::vector<std::vector<double>> seen;
  RemovableHandle handle = w.register_post_accumulate_grad_hook([&](Tensor& leaf) { seen.push_back(values(leaf.grad())); });
  (w * w).sum().backward();
  (w * 3.0 + w).sum().backward();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<double>{2.0, 4.0});
  CHECK(seen[1] == std::vector<double>{6.0, 8.0});  // after accumulation: 2x + 4
  handle.remove();
  (w * 1.0).sum().backward();
  CHECK(seen.size() == 2);
  Tensor h = w * 2.0;
  CHECK_THROWS_WITH_AS(h.register_post_accumulate_grad_hook([](Tensor&) {}),
                       "register_post_accumulate_grad_hook: only leaf tensors that require grad accumulate a gradient; "
                       "this one was made by MulBackward",
                       Error);
}

TEST_CASE("hooks: a post-accumulate-grad hook fires as soon as its leaf is final") {
  // Two leaves in sequence: the first layer's leaf is final before the second's producers run.
  Tensor a = from_values({1.0});
  Tensor b = from_values({2.0});
  std::vector<char> order;
  a.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back('a'); });
  b.register_post_accumulate_grad_hook([&](Tensor&) { order.push_back('b'); });
  Tensor h = (b * 3.0).tanh();  // b's edge is far from the root
  (h * a).sum().backward();
  CHECK(order == std::vector<char>{'a', 'b'});
}

TEST_CASE("hooks: a handle outliving its tensor does nothing on remove") {
  RemovableHandle handle;
  {
    Tensor x = from_values({1.0});
    handle = x.register_hook([](const Tensor& g) { return g; });
    Tensor h = x * 2.0;
    RemovableHandle inner = h.register_hook([](const Tensor& g) { return g; });
    h = Tensor();
    inner.remove();
  }
  handle.remove();
  CHECK(true);
}

TEST_CASE("hooks: queue_callback runs once the whole pass is done, in order, and only inside a pass") {
  Tensor a = from_values({1.0});
  Tensor b = from_values({2.0});
  std::vector<std::string> events;
  a.register_post_accumulate_grad_hook([&](Tensor&) {
    events.push_back("a");
    autograd::queue_callback([&] {
      // Every leaf is final here: b's gradient is already accumulated.
      events.push_back(fmt::format("first b={}", b.grad().defined() ? values(b.grad())[0] : -1.0));
      autograd::queue_callback([&] { events.push_back("queued by a callback"); });
    });
    autograd::queue_callback([&] { events.push_back("second"); });
  });
  b.register_post_accumulate_grad_hook([&](Tensor&) { events.push_back("b"); });
  ((b * 3.0).tanh() * a).sum().backward();
  CHECK(events == std::vector<std::string>{"a", "b", fmt::format("first b={}", values(b.grad())[0]), "second",
                                           "queued by a callback"});
  CHECK_THROWS_WITH_AS(autograd::queue_callback([] {}),
                       doctest::Contains("queue_callback: no backward pass is running on this thread"), Error);
  // A callback's exception ends backward() with it; the next pass starts clean.
  a.mutable_grad() = Tensor();
  RemovableHandle thrower = a.register_post_accumulate_grad_hook(
      [](Tensor&) { autograd::queue_callback([] { fail("callback: failed on purpose"); }); });
  events.clear();
  CHECK_THROWS_WITH_AS((a * 2.0).sum().backward(), "callback: failed on purpose", Error);
  thrower.remove();
  events.clear();
  b.mutable_grad() = Tensor();
  (a * 2.0).sum().backward();
  CHECK(events == std::vector<std::string>{"a", "first b=-1", "second", "queued by a callback"});
}
