// Graph shapes beyond tests/test_autograd.cpp: very long chains that mix
// broadcasting binary ops with leaves, chains of diamonds, retained long graphs,
// long graphs under anomaly detection, and very wide fan-out through slicing.
// Every one must backward with exact gradients and be freed without recursion.
#include <doctest/doctest.h>

#include <memory>

#include "autograd/anomaly.hpp"
#include "autograd/node.hpp"
#include "support/testing.hpp"
#include "test_reliability.hpp"

using namespace xgrad;
using testing::kSanitizerScale;
using testing::values;

TEST_CASE("reliability: a 1,000,000-node chain of broadcasting ops with leaves gives exact gradients") {
  // y <- y * w (w: a 0-dim leaf, broadcast), y <- y + b (b: a leaf like y), y <- -y twice.
  // With w = 1 and b = 0 every y equals x, so every gradient is an exact count.
  const std::int64_t steps = 250'000 / kSanitizerScale;  // four nodes per step
  Tensor x = testing::from_values({1.0, 2.0, 3.0});
  Tensor w = scalar_tensor(1.0, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = zeros({3}, {.dtype = kFloat64, .requires_grad = true});
  std::weak_ptr<autograd::Node> root_node;
  {
    Tensor y = x;
    for (std::int64_t i = 0; i < steps; ++i) {
      y = -(-(y * w + b));
    }
    CHECK(values(y) == std::vector<double>{1.0, 2.0, 3.0});
    root_node = y.grad_fn();
    y.sum().backward();
  }
  CHECK(root_node.expired());  // the whole chain is gone with its last handle
  CHECK(values(x.grad()) == std::vector<double>{1.0, 1.0, 1.0});
  // dL/dw sums y over every multiplication: steps * (1 + 2 + 3).
  CHECK(w.grad().item<double>() == 6.0 * static_cast<double>(steps));
  CHECK(values(b.grad()) == std::vector<double>(3, static_cast<double>(steps)));
}

TEST_CASE("reliability: a chain of 250,000 diamonds backwards exactly and frees without backward") {
  // Each step y <- (y + y) * 0.5: the add node reaches its producer along two edges.
  const std::int64_t steps = 250'000 / kSanitizerScale;
  Tensor x = scalar_tensor(3.0, {.dtype = kFloat64, .requires_grad = true});
  {
    Tensor y = x;
    for (std::int64_t i = 0; i < steps; ++i) y = (y + y) * 0.5;
    CHECK(y.item<double>() == 3.0);
    y.backward();
  }
  CHECK(x.grad().item<double>() == 1.0);
  std::weak_ptr<autograd::Node> first;
  {
    Tensor y = x;
    for (std::int64_t i = 0; i < steps; ++i) {
      y = (y + y) * 0.5;
      if (i == 0) first = y.grad_fn();
    }
  }  // never ran backward: the closures still hold their saved tensors
  CHECK(first.expired());
}

TEST_CASE("reliability: a long retained graph backwards twice, then a released one is a clear error") {
  const std::int64_t length = 300'000 / kSanitizerScale;
  Tensor x = scalar_tensor(2.0, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = x;
  for (std::int64_t i = 0; i < length; ++i) y = y * 1.0;
  y.backward({}, {.retain_graph = true});
  y.backward();
  CHECK(x.grad().item<double>() == 2.0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("second time"), Error);
  CHECK(x.grad().item<double>() == 2.0);  // the failed backward changed nothing
}

TEST_CASE("reliability: a long chain under detect_anomaly backwards and names the first bad op") {
  const std::int64_t length = 100'000 / kSanitizerScale;
  autograd::DetectAnomalyGuard guard;
  Tensor x = full({4}, 0.5, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = x;
  for (std::int64_t i = 0; i < length; ++i) y = y * 1.0 + 0.0;
  y.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>(4, 1.0));
  // The same chain ending in a log of a negative value fails at that op, not later.
  Tensor z = x;
  for (std::int64_t i = 0; i < length; ++i) z = z * 1.0;
  CHECK_THROWS_WITH_AS(log(z - 1.0), doctest::Contains("LogBackward"), Error);
}

TEST_CASE("reliability: a chain dropped while some intermediates are still held frees in any order") {
  const std::int64_t length = 200'000 / kSanitizerScale;
  Tensor x = ones({2}, {.requires_grad = true});
  std::vector<Tensor> held;
  std::weak_ptr<autograd::Node> last;
  {
    Tensor y = x;
    for (std::int64_t i = 0; i < length; ++i) {
      y = y + 1.0f;
      if (i % 1000 == 0) held.push_back(y);
    }
    last = y.grad_fn();
  }
  CHECK(last.expired());
  // Held intermediates keep their own prefix of the chain alive and usable.
  held.back().sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{1.0, 1.0});
  // Release from the oldest to the newest: each release frees one segment.
  for (Tensor& t : held) t = Tensor();
  held.clear();
}

TEST_CASE("reliability: one tensor sliced 100,000 times accumulates into the right elements") {
  const std::int64_t uses = 100'000 / kSanitizerScale;
  const std::int64_t width = 1000;
  Tensor x = zeros({width}, {.dtype = kFloat64, .requires_grad = true});
  Tensor h = x * 1.0;  // an intermediate, so the engine sums 100,000 gradients into one node
  Tensor acc = scalar_tensor(0.0, {.dtype = kFloat64});
  for (std::int64_t i = 0; i < uses; ++i) {
    const std::int64_t at = (i * 7) % width;
    acc = acc + h.narrow(0, at, 1).sum() * static_cast<double>(i % 3);
  }
  acc.backward();
  // Element j is used at every i with 7i = j (mod 1000), weighted by i mod 3.
  std::vector<double> expected(static_cast<std::size_t>(width), 0.0);
  for (std::int64_t i = 0; i < uses; ++i) expected[static_cast<std::size_t>((i * 7) % width)] += static_cast<double>(i % 3);
  CHECK(values(x.grad()) == expected);
}

TEST_CASE("reliability: a leaf used 100,000 times with broadcasting sums back to its shape") {
  const std::int64_t uses = 100'000 / kSanitizerScale;
  Tensor column = ones({3, 1}, {.dtype = kFloat64, .requires_grad = true});
  Tensor row = testing::from_values({1.0, 2.0, 4.0}).reshape({1, 3});
  std::vector<Tensor> parts;
  parts.reserve(static_cast<std::size_t>(uses));
  for (std::int64_t i = 0; i < uses; ++i) parts.push_back((column * row).sum().reshape({1}));
  cat(parts).sum().backward();
  // d/dcolumn[r] of sum(column * row) = sum(row) = 7, once per use.
  CHECK(values(column.grad()) == std::vector<double>(3, 7.0 * static_cast<double>(uses)));
  CHECK(column.grad().shape() == Shape{3, 1});
}
