// Autograd behaviour: accumulation, grad mode, detach, retain_graph, graph
// shapes (shared values, diamonds, very long chains, very wide fan-out).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

namespace {
// ASan/UBSan builds are ~10x slower; the long-graph tests scale down there but
// keep their full size in normal builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::int64_t kSanitizerScale = 10;
#else
constexpr std::int64_t kSanitizerScale = 1;
#endif
}  // namespace

TEST_CASE("autograd: gradients accumulate across backward calls") {
  Tensor x = from_values({1.0, 2.0, 3.0});
  for (int call = 1; call <= 3; ++call) {
    (x * x).sum().backward();
    CHECK(values(x.grad()) == std::vector<double>{2.0 * call, 4.0 * call, 6.0 * call});
  }
  x.mutable_grad() = Tensor();  // zero_grad(set_to_none)
  (x * 3.0).sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{3, 3, 3});
}

TEST_CASE("autograd: leaves that got no gradient keep an undefined grad") {
  Tensor a = ones({2}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = ones({2}, {.dtype = kFloat64, .requires_grad = true});
  Tensor c = ones({2}, {.dtype = kFloat64});  // does not require grad
  Tensor unused = ones({2}, {.dtype = kFloat64, .requires_grad = true});
  (a * c + b.detach()).sum().backward();
  CHECK(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(unused.grad().defined());
  // A branch whose gradient is not needed is not computed either.
  Tensor d = ones({2}, {.dtype = kFloat64, .requires_grad = true});
  Tensor e = d * 2.0;
  (a * c).sum().backward();
  CHECK_FALSE(d.grad().defined());
  CHECK(e.requires_grad());
}

TEST_CASE("autograd: NoGradGuard nests and restores") {
  CHECK(autograd::is_grad_enabled());
  Tensor x = ones({2}, {.requires_grad = true});
  {
    NoGradGuard outer;
    CHECK_FALSE(autograd::is_grad_enabled());
    {
      NoGradGuard inner;
      CHECK_FALSE(autograd::is_grad_enabled());
    }
    CHECK_FALSE(autograd::is_grad_enabled());  // the inner guard restored "off", not "on"
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(autograd::is_grad_enabled());
  CHECK((x * 2.0).requires_grad());
  // A guard restores the mode even when the scope is left by an exception.
  try {
    NoGradGuard guard;
    throw Error("leaving");
  } catch (const Error&) {
  }
  CHECK(autograd::is_grad_enabled());
}

TEST_CASE("autograd: grad mode is per thread") {
  Tensor x = ones({3}, {.requires_grad = true});
  NoGradGuard no_grad;
  bool other_enabled = false, other_records = false;
  std::thread worker([&] {
    other_enabled = autograd::is_grad_enabled();
    Tensor y = (x * 2.0).sum();
    other_records = y.requires_grad();
    y.backward();
  });
  worker.join();
  CHECK_FALSE(autograd::is_grad_enabled());
  CHECK(other_enabled);
  CHECK(other_records);
  CHECK(values(x.grad()) == std::vector<double>{2, 2, 2});
  CHECK_FALSE((x * 2.0).requires_grad());
}

TEST_CASE("autograd: detach shares data and cuts the graph") {
  Tensor x = from_values({1.0, 2.0});
  Tensor y = x * 3.0;
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.grad_fn() == nullptr);
  CHECK(d.impl()->storage == y.impl()->storage);  // no copy, like PyTorch
  Tensor z = (d * x).sum();
  z.backward();
  CHECK(values(x.grad()) == std::vector<double>{3.0, 6.0});  // d treated as a constant
  CHECK(y.requires_grad());  // the original is unchanged
}

TEST_CASE("autograd: requires_grad_ on leaves") {
  Tensor x = ones({2});
  CHECK_FALSE(x.requires_grad());
  CHECK_FALSE((x * 2.0).requires_grad());
  CHECK(&x.requires_grad_() == &x);
  CHECK(x.requires_grad());
  Tensor y = x * 2.0;
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn_name() == "MulBackward");
  x.requires_grad_(false);
  CHECK_FALSE((x * 2.0).requires_grad());
  y.requires_grad_(true);  // allowed: it already requires grad
}

TEST_CASE("autograd: retain_graph allows another backward") {
  Tensor x = from_values({1.0, -2.0});
  Tensor loss = (x.exp() * x).sum();
  loss.backward({}, {.retain_graph = true});
  const std::vector<double> once = values(x.grad());
  loss.backward({}, {.retain_graph = true});
  loss.backward();  // the last one frees
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(values(x.grad())[i] == doctest::Approx(3 * once[i]));
  CHECK_THROWS_AS(loss.backward(), Error);
}

TEST_CASE("autograd: backward frees the saved tensors") {
  Tensor x = from_values({1.0, 2.0});
  Tensor y = (x * x).sum();
  CHECK(x.impl_ptr().use_count() > 1);  // MulBackward saved x twice
  y.backward();
  CHECK(x.impl()->storage.use_count() == 1);
}

TEST_CASE("autograd: a value used twice gets both gradients") {
  Tensor x = from_values({1.5, -2.0, 3.0});
  (x * x).sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{3.0, -4.0, 6.0});
  Tensor w = from_values({2.0});
  (w + w + w).sum().backward();
  CHECK(w.grad().item<double>() == 3.0);
}

TEST_CASE("autograd: diamond graphs") {
  // x -> a = 2x, b = x^2 -> y = a * b = 2x^3, dy/dx = 6x^2
  Tensor x = from_values({1.0, 2.0, -3.0});
  Tensor a = x * 2.0;
  Tensor b = x.pow(2.0);
  (a * b).sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{6.0, 24.0, 54.0});
  // A diamond over an intermediate, with unequal path lengths:
  // h = x + 1; y = h * exp(h) + h^2 (one path through exp, one straight).
  Tensor u = from_values({0.5});
  Tensor h = u + 1.0;
  (h * h.exp() + h.pow(2.0)).sum().backward();
  const double hv = 1.5;
  CHECK(u.grad().item<double>() == doctest::Approx(std::exp(hv) * (1 + hv) + 2 * hv));
}

TEST_CASE("autograd: a 1,000,000-node chain backwards and is freed without overflowing the stack") {
  const std::int64_t length = 1'000'000 / kSanitizerScale;
  const auto start = std::chrono::steady_clock::now();
  Tensor x = scalar_tensor(1.0, {.dtype = kFloat64, .requires_grad = true});
  {
    Tensor y = x;
    for (std::int64_t i = 0; i < length; ++i) y = y + 0.0;
    y.backward();
  }  // the chain (already released by backward) is destroyed here
  CHECK(x.grad().item<double>() == 1.0);
  {
    // A chain that never ran backward (its closures still hold saved tensors).
    Tensor y = x;
    for (std::int64_t i = 0; i < length; ++i) y = y * 1.0;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("1e6-node chain: build + backward + free twice took ", seconds, " s");
}

TEST_CASE("autograd: a tensor used 100,000 times accumulates every use") {
  const std::int64_t uses = 100'000 / kSanitizerScale;
  // Fan-out from a leaf (100,000 edges into one .grad())...
  Tensor x = scalar_tensor(1.0, {.dtype = kFloat64, .requires_grad = true});
  std::vector<Tensor> terms;
  terms.reserve(static_cast<std::size_t>(uses));
  for (std::int64_t i = 0; i < uses; ++i) terms.push_back(x * 1.0);
  Tensor total = cat([&] {
    std::vector<Tensor> flat;
    for (const Tensor& t : terms) flat.push_back(t.reshape({1}));
    return flat;
  }());
  total.sum().backward();
  CHECK(x.grad().item<double>() == static_cast<double>(uses));
  // ... and from an intermediate node (100,000 gradients summed by the engine).
  Tensor w = scalar_tensor(1.0, {.dtype = kFloat64, .requires_grad = true});
  Tensor h = w * 2.0;
  Tensor acc = h;
  for (std::int64_t i = 1; i < uses; ++i) acc = acc + h;
  acc.backward();
  CHECK(w.grad().item<double>() == 2.0 * static_cast<double>(uses));
}

TEST_CASE("autograd: backward(grad) with a non-scalar output") {
  Tensor x = from_values({1.0, 2.0, 3.0, 4.0}).detach().reshape({2, 2}).requires_grad_();
  Tensor y = x * x;
  y.backward(testing::load_fixture("core/npy_c_f32").to(kFloat64).narrow(1, 0, 2));
  const std::vector<double> g = values(testing::load_fixture("core/npy_c_f32").to(kFloat64).narrow(1, 0, 2));
  const std::vector<double> xv = {1, 2, 3, 4};
  for (std::size_t i = 0; i < 4; ++i) CHECK(values(x.grad())[i] == doctest::Approx(2 * xv[i] * g[i]));
  // backward(grad) on a leaf itself accumulates grad.
  Tensor leaf = zeros({2}, {.requires_grad = true});
  leaf.backward(full({2}, 5.0));
  CHECK(values(leaf.grad()) == std::vector<double>{5, 5});
}

TEST_CASE("autograd: leaves never share one gradient buffer") {
  Tensor a = zeros({3}, {.requires_grad = true});
  Tensor b = zeros({3}, {.requires_grad = true});
  Tensor seed = ones({3});
  (a + b).backward(seed);
  a.mutable_grad().fill_(7.0);  // an optimizer may update a gradient in place
  CHECK(values(b.grad()) == std::vector<double>{1, 1, 1});
  CHECK(values(seed) == std::vector<double>{1, 1, 1});
  // Same through an intermediate that hands its gradient on unchanged.
  Tensor c = zeros({3}, {.requires_grad = true});
  Tensor seed2 = ones({3});
  (c.reshape({3}) * 1.0).backward(seed2);
  c.mutable_grad().fill_(4.0);
  CHECK(values(seed2) == std::vector<double>{1, 1, 1});
  Tensor d = zeros({3}, {.requires_grad = true});
  Tensor seed3 = ones({3});
  d.reshape({3}).backward(seed3);
  d.mutable_grad().fill_(4.0);
  CHECK(values(seed3) == std::vector<double>{1, 1, 1});
  // backward(grad) straight on a leaf: the caller's gradient is not adopted as .grad().
  Tensor e = zeros({3}, {.requires_grad = true});
  Tensor seed4 = ones({3});
  e.backward(seed4);
  e.mutable_grad().fill_(4.0);
  CHECK(values(seed4) == std::vector<double>{1, 1, 1});
  // An add node hands the same gradient to both inputs, and to a leaf used twice.
  Tensor f = zeros({3}, {.requires_grad = true});
  Tensor g = zeros({3}, {.requires_grad = true});
  (f * 1.0 + g).sum().backward();
  g.mutable_grad().fill_(9.0);
  CHECK(values(f.grad()) == std::vector<double>{1, 1, 1});
}

TEST_CASE("autograd: broadcast gradients are summed back to each input's shape") {
  Tensor a = ones({3, 1}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = ones({4}, {.dtype = kFloat64, .requires_grad = true});
  (a * b * 2.0).sum().backward();
  CHECK(a.grad().shape() == Shape{3, 1});
  CHECK(b.grad().shape() == Shape{4});
  CHECK(values(a.grad()) == std::vector<double>{8, 8, 8});
  CHECK(values(b.grad()) == std::vector<double>{6, 6, 6, 6});
}
