// The engine's ordering: a node runs once every consumer has reported, whether or
// not it sent a gradient; random DAGs with fan-out and silent consumers are
// checked against finite differences.
#include <doctest/doctest.h>

#include <random>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "nn/functional.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

namespace {
// A consumer whose backward sends nothing ("zero") to its input, as the node
// contract allows. Its forward is constant in the input, so zero is exact.
Tensor silent(const Tensor& a) {
  Tensor out = ones(a.shape(), {.dtype = a.dtype()});
  return autograd::record("SilentBackward", out, {a},
                          [](const Tensor&, const autograd::NeedsGrad&) { return std::vector<Tensor>{Tensor()}; });
}
}  // namespace

TEST_CASE("engine: a consumer that sends no gradient does not stall its producer") {
  Tensor w = ones({1}, {.dtype = kFloat64, .requires_grad = true});
  Tensor x = zeros({1, 3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor h = w * 1.0;
  Tensor t = h * 0.0;  // computed in the graph, read by a consumer that sends it no gradient
  Tensor loss = nn::functional::cross_entropy(x, zeros({1}, {.dtype = kInt64})) + silent(t).sum() + h.sum();
  loss.backward();
  REQUIRE(w.grad().defined());
  CHECK(values(w.grad()) == std::vector<double>{1.0});  // PyTorch: tensor([1.])
  REQUIRE(x.grad().defined());
  CHECK(values(x.grad())[0] == doctest::Approx(-2.0 / 3.0));
}

TEST_CASE("engine: a backward that returns an undefined gradient still lets the producer run") {
  Tensor w = from_values({0.5, -1.0});
  Tensor h = w * 3.0;                       // feeds a silent consumer and a live path
  Tensor loss = (silent(h) * h).sum() + silent(h * 2.0).sum();
  loss.backward();
  REQUIRE(w.grad().defined());
  CHECK(values(w.grad()) == std::vector<double>{3.0, 3.0});
}

namespace {
// A random DAG over `leaves`: each new value applies a random op to one or two
// earlier values (so values fan out), some through consumers that send no
// gradient; the output sums a random subset. The same seed builds the same DAG.
Tensor random_dag(const std::vector<Tensor>& leaves, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(generator); };
  std::vector<Tensor> values = leaves;
  const int steps = 6 + static_cast<int>(pick(10));
  for (int step = 0; step < steps; ++step) {
    const Tensor& a = values[pick(values.size())];
    const Tensor& b = values[pick(values.size())];
    switch (pick(8)) {
      case 0: values.push_back(a + b); break;
      case 1: values.push_back(a * b); break;
      case 2: values.push_back(a - b * 0.5); break;
      case 3: values.push_back(a.tanh()); break;
      case 4: values.push_back(a.sigmoid() * b); break;
      case 5: values.push_back(silent(a) * b); break;  // a's producer also feeds other paths
      case 6: values.push_back(silent(a)); break;
      default: values.push_back(a * 1.5 + 0.25); break;
    }
  }
  Tensor out = values.back().sum();
  for (std::size_t i = 0; i + 1 < values.size(); ++i) {
    if (pick(3) == 0) out = out + values[i].sum() * 0.5;
  }
  return out;
}
}  // namespace

TEST_CASE("engine: random DAGs with fan-out and silent consumers match finite differences") {
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    CAPTURE(seed);
    manual_seed(seed);
    const std::vector<Tensor> leaves = {randn({3}, {.dtype = kFloat64, .requires_grad = true}),
                                        randn({3}, {.dtype = kFloat64, .requires_grad = true}),
                                        randn({3}, {.dtype = kFloat64, .requires_grad = true})};
    auto fn = [seed](const std::vector<Tensor>& in) { return random_dag(in, seed); };
    const auto result = autograd::gradcheck(fn, leaves);
    CHECK_MESSAGE(result.passed, result.message);
    // The same gradients through backward() into .grad() and through grad().
    Tensor out = fn(leaves);
    if (!out.requires_grad()) continue;
    const std::vector<Tensor> returned = autograd::grad({out}, leaves, {}, {.retain_graph = true, .allow_unused = true});
    out.backward();
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      CHECK(returned[i].defined() == leaves[i].grad().defined());
      if (returned[i].defined()) CHECK(values(returned[i]) == values(leaves[i].grad()));
    }
  }
}

TEST_CASE("engine: autograd::backward runs several roots in one pass") {
  Tensor x = from_values({1.0, 2.0});
  Tensor shared = x * x;
  autograd::backward({shared.sum(), (shared * 3.0).sum()});
  CHECK(values(x.grad()) == std::vector<double>{8.0, 16.0});  // (1 + 3) * 2x
  CHECK_THROWS_WITH_AS(autograd::backward({x * 2.0}, {}), doctest::Contains("implicitly created only for one-element"),
                       Error);
  CHECK_THROWS_WITH_AS(autograd::backward({x.sum(), x.sum()}, {ones({})}), doctest::Contains("got 1 gradients for 2 outputs"),
                       Error);
}

TEST_CASE("engine: two leaves never share one gradient buffer, and an exclusive gradient is not copied") {
  Tensor a = from_values({1.0, 2.0});
  Tensor b = from_values({3.0, 4.0});
  (a + b).sum().backward();  // AddBackward sends one tensor to both inputs
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK(a.grad().impl()->storage != b.grad().impl()->storage);
  a.mutable_grad().fill_(7.0);  // an optimizer may update one in place
  CHECK(values(b.grad()) == std::vector<double>{1.0, 1.0});
  // A caller's seed is never adopted either.
  Tensor c = from_values({5.0});
  Tensor seed = from_values({2.0}, false);
  c.backward(seed);
  CHECK(c.grad().impl()->storage != seed.impl()->storage);
}
