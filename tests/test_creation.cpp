// Creation functions, the global generator, and in-place updates.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::values;

TEST_CASE("creation: shapes, dtypes and requires_grad options") {
  const std::vector<std::function<Tensor(const Shape&, TensorOptions)>> makers = {
      [](const Shape& s, TensorOptions o) { return zeros(s, o); },
      [](const Shape& s, TensorOptions o) { return ones(s, o); },
      [](const Shape& s, TensorOptions o) { return full(s, 2.5, o); },
      [](const Shape& s, TensorOptions o) { return empty(s, o); },
      [](const Shape& s, TensorOptions o) { return rand(s, o); },
      [](const Shape& s, TensorOptions o) { return randn(s, o); },
  };
  for (std::size_t i = 0; i < makers.size(); ++i) {
    CAPTURE(i);
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{3}, Shape{2, 0, 4}, Shape{2, 3, 4}}) {
      const Tensor a = makers[i](shape, {});
      CHECK(a.shape() == shape);
      CHECK(a.dim() == static_cast<std::int64_t>(shape.size()));
      CHECK(a.numel() == std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>()));
      CHECK(a.dtype() == kFloat32);
      CHECK_FALSE(a.requires_grad());
      CHECK(a.is_leaf());
      CHECK(a.device() == Device("cpu"));
      const Tensor b = makers[i](shape, {.dtype = kFloat64, .requires_grad = true});
      CHECK(b.dtype() == kFloat64);
      CHECK(b.requires_grad());
      CHECK(b.is_leaf());
      CHECK_FALSE(b.grad().defined());
    }
  }
  CHECK(values(zeros({2, 2})) == std::vector<double>(4, 0.0));
  CHECK(values(ones({3}, {.dtype = kFloat64})) == std::vector<double>(3, 1.0));
  CHECK(values(full({2}, -1.25)) == std::vector<double>{-1.25, -1.25});
  CHECK(scalar_tensor(4.5).shape().empty());
  CHECK(scalar_tensor(4.5, {.dtype = kFloat64}).item<double>() == 4.5);
  const Tensor like = ones({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  CHECK(zeros_like(like).shape() == like.shape());
  CHECK(zeros_like(like).dtype() == kFloat64);
  CHECK_FALSE(ones_like(like).requires_grad());
  CHECK(values(ones_like(like)) == std::vector<double>(6, 1.0));
  CHECK(ones({2, 3}).size(-1) == 3);
  CHECK(ones({2, 3}).size(0) == 2);
}

TEST_CASE("creation: manual_seed makes random draws reproducible") {
  for (Dtype dtype : {kFloat32, kFloat64}) {
    manual_seed(123);
    const std::vector<double> a = values(rand({50}, {.dtype = dtype})), b = values(randn({51}, {.dtype = dtype}));
    manual_seed(123);
    CHECK(values(rand({50}, {.dtype = dtype})) == a);
    CHECK(values(randn({51}, {.dtype = dtype})) == b);
    manual_seed(124);
    CHECK(values(rand({50}, {.dtype = dtype})) != a);
    CHECK(values(randn({51}, {.dtype = dtype})) != b);
  }
  // uniform_ and normal_ draw from the same generator.
  manual_seed(9);
  const std::vector<double> u = values(empty({10}).uniform_(-2, 3));
  manual_seed(9);
  CHECK(values(empty({10}).uniform_(-2, 3)) == u);
  // Consecutive draws differ.
  manual_seed(9);
  CHECK(values(rand({10})) != values(rand({10})));
}

TEST_CASE("creation: rand is in 0 <= x < 1, randn has mean 0 and variance 1") {
  manual_seed(0);
  for (Dtype dtype : {kFloat32, kFloat64}) {
    const std::vector<double> u = values(rand({100000}, {.dtype = dtype}));
    CHECK(*std::min_element(u.begin(), u.end()) >= 0.0);
    CHECK(*std::max_element(u.begin(), u.end()) < 1.0);
    const double mean_u = std::accumulate(u.begin(), u.end(), 0.0) / u.size();
    CHECK(mean_u == doctest::Approx(0.5).epsilon(0.01));
    const std::vector<double> n = values(randn({100001}, {.dtype = dtype}));  // odd: Box-Muller's last pair
    double mean = std::accumulate(n.begin(), n.end(), 0.0) / n.size(), var = 0;
    for (double x : n) var += (x - mean) * (x - mean);
    var /= n.size() - 1;
    CHECK(std::abs(mean) < 0.02);
    CHECK(var == doctest::Approx(1.0).epsilon(0.02));
    CHECK(std::all_of(n.begin(), n.end(), [](double x) { return std::isfinite(x); }));
  }
}

TEST_CASE("creation: arange variants") {
  CHECK(values(arange(5)) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(values(arange(2, 5)) == std::vector<double>{2, 3, 4});
  CHECK(values(arange(1, 2, 0.25)) == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(values(arange(5, 0, -2)) == std::vector<double>{5, 3, 1});
  CHECK(values(arange(0.5)) == std::vector<double>{0});
  CHECK(arange(0).numel() == 0);
  CHECK(arange(3, 1).numel() == 0);  // empty, like torch.arange(3, 1)
  CHECK(arange(0, 1, 0.1).numel() == 10);
  const Tensor d = arange(0, 3, 1, {.dtype = kFloat64, .requires_grad = true});
  CHECK(d.dtype() == kFloat64);
  CHECK(d.requires_grad());
  CHECK(arange(4).dtype() == kFloat32);
}

TEST_CASE("in-place: copy_ broadcasts and converts dtype, outside the graph") {
  Tensor t = zeros({2, 3});
  t.copy_(testing::from_values({1, 2, 3}, false));
  CHECK(values(t) == std::vector<double>{1, 2, 3, 1, 2, 3});
  t.copy_(full({2, 1}, 7.0, {.dtype = kFloat64}));  // float64 -> float32, broadcast over columns
  CHECK(t.dtype() == kFloat32);
  CHECK(values(t) == std::vector<double>(6, 7.0));
  t.copy_(scalar_tensor(0.1, {.dtype = kFloat64}));
  CHECK(values(t) == std::vector<double>(6, static_cast<double>(0.1f)));
  // Copy from a source that requires grad: no graph is recorded on the target.
  Tensor src = ones({2, 3}, {.requires_grad = true});
  t.copy_(src * 2.0);
  CHECK_FALSE(t.requires_grad());
  CHECK(values(t) == std::vector<double>(6, 2.0));
  // Copy from itself (shared storage) and from an overlapping reshape.
  Tensor r = arange(6).reshape({2, 3});
  r.copy_(r.reshape({2, 3}).flatten().reshape({2, 3}));
  CHECK(values(r) == std::vector<double>{0, 1, 2, 3, 4, 5});
  Tensor row = arange(3);
  Tensor m = arange(6).reshape({2, 3});
  m.copy_(m.narrow(0, 1, 1));  // broadcast a row of m over m
  CHECK(values(m) == std::vector<double>{3, 4, 5, 3, 4, 5});
  CHECK(values(row) == std::vector<double>{0, 1, 2});
  // Detached views share storage: copy_ through one is seen by the other.
  Tensor base = zeros({4});
  Tensor view = base.detach();
  view.copy_(ones({4}));
  CHECK(values(base) == std::vector<double>(4, 1.0));
  // Returns *this for chaining.
  CHECK(&t.copy_(ones({3})) == &t);
}

TEST_CASE("in-place: zero_, fill_, uniform_, and under NoGradGuard on parameters") {
  Tensor t = ones({3, 2}, {.dtype = kFloat64});
  CHECK(values(t.fill_(3.5)) == std::vector<double>(6, 3.5));
  CHECK(values(t.zero_()) == std::vector<double>(6, 0.0));
  manual_seed(1);
  for (Dtype dtype : {kFloat32, kFloat64}) {
    Tensor u = empty({10000}, {.dtype = dtype});
    u.uniform_(-0.5, 0.25);
    const std::vector<double> uv = values(u);
    CHECK(*std::min_element(uv.begin(), uv.end()) >= -0.5);
    CHECK(*std::max_element(uv.begin(), uv.end()) < 0.25);
    CHECK(*std::min_element(uv.begin(), uv.end()) < -0.49);
    CHECK(*std::max_element(uv.begin(), uv.end()) > 0.24);
  }
  // A degenerate range is allowed and constant.
  CHECK(values(empty({3}).uniform_(2, 2)) == std::vector<double>(3, 2.0));
  // A narrow float32 range near a large value never returns `high`.
  Tensor narrow_range = empty({1000});
  narrow_range.uniform_(1.0, 1.0 + 1e-7);
  for (double x : values(narrow_range)) CHECK(x < 1.0 + 1e-7);
  // Parameters are updated in place under NoGradGuard (optimizers, nn::init).
  Tensor w = zeros({4}, {.requires_grad = true});
  {
    NoGradGuard no_grad;
    w.uniform_(-1, 1);
    w.fill_(0.5);
    w.copy_(full({4}, 0.25));
    w.zero_();
  }
  CHECK(w.requires_grad());
  CHECK(w.is_leaf());
}

TEST_CASE("conversions: to(dtype) and clone") {
  Tensor a = testing::from_values({1.5, -2.0, 1.0 / 3.0}, false);
  CHECK(a.to(kFloat64).impl() == a.impl());  // already float64: the same tensor
  Tensor f = a.to(kFloat32);
  CHECK(f.dtype() == kFloat32);
  CHECK(values(f) == std::vector<double>{1.5, -2.0, static_cast<double>(1.0f / 3.0f)});
  Tensor c = a.clone();
  CHECK(c.impl()->storage != a.impl()->storage);
  CHECK(values(c) == values(a));
  c.fill_(0);
  CHECK(values(a)[0] == 1.5);
  CHECK(values(zeros({0}).clone()).empty());
}

TEST_CASE("shapes: slice clamps like Python and takes any positive step") {
  const Tensor t = arange(5);
  CHECK(values(t.slice(0, 1, 100)) == std::vector<double>{1, 2, 3, 4});
  CHECK(values(t.slice(0, -2, 5)) == std::vector<double>{3, 4});
  CHECK(values(t.slice(0, -100, 2)) == std::vector<double>{0, 1});
  CHECK(t.slice(0, 4, 2).numel() == 0);
  CHECK(values(t.slice(0, 0, 5, 2)) == std::vector<double>{0, 2, 4});
  CHECK(values(t.slice(0, 1, 5, std::numeric_limits<std::int64_t>::max())) == std::vector<double>{1});
  CHECK(values(t.slice(0, 0, std::numeric_limits<std::int64_t>::max(), 4)) == std::vector<double>{0, 4});
}
