// Higher-order gradients: backward with create_graph, autograd::grad, and
// gradgradcheck itself (that it passes on right second derivatives and fails on
// wrong ones).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

TEST_CASE("higher order: grad twice gives the second derivative") {
  Tensor x = from_values({0.5, -1.5, 2.0});
  Tensor y = (x * x * x).sum();
  Tensor dy = autograd::grad({y}, {x}, {}, {.create_graph = true})[0];
  CHECK(dy.requires_grad());
  CHECK(values(dy) == std::vector<double>{0.75, 6.75, 12.0});  // 3x^2
  Tensor d2 = autograd::grad({dy.sum()}, {x})[0];
  CHECK(values(d2) == std::vector<double>{3.0, -9.0, 12.0});  // 6x
  CHECK_FALSE(d2.requires_grad());
  CHECK_FALSE(x.grad().defined());  // grad() never accumulates
}

TEST_CASE("higher order: backward with create_graph makes .grad() differentiable") {
  Tensor x = from_values({1.0, 2.0});
  (x.pow(3.0).sum()).backward({}, {.create_graph = true});
  Tensor g = x.grad();
  REQUIRE(g.requires_grad());
  CHECK(values(g) == std::vector<double>{3.0, 12.0});
  x.mutable_grad() = Tensor();  // break the parameter -> gradient -> graph cycle
  g.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{6.0, 12.0});
  x.mutable_grad() = Tensor();
}

TEST_CASE("higher order: create_graph retains the graph by default, plain backward does not") {
  Tensor x = from_values({1.0, 2.0});
  Tensor y = (x.exp() * x).sum();
  std::vector<Tensor> first = autograd::grad({y}, {x}, {}, {.create_graph = true});
  std::vector<Tensor> again = autograd::grad({y}, {x});  // the graph is still there
  CHECK(values(first[0]) == values(again[0]));
  CHECK_THROWS_WITH_AS(autograd::grad({y}, {x}), doctest::Contains("backward through the graph a second time"), Error);
}

TEST_CASE("higher order: grad checks its inputs") {
  Tensor x = from_values({1.0, 2.0});
  Tensor unused = from_values({3.0});
  Tensor y = (x * x).sum();
  CHECK_THROWS_WITH_AS(autograd::grad({y}, {unused}, {}, {.retain_graph = true}),
                       "grad: input 0 (shape [1]) was not used to compute the outputs; pass {.allow_unused = true} to "
                       "get an undefined tensor for it",
                       Error);
  std::vector<Tensor> grads = autograd::grad({y}, {x, unused}, {}, {.retain_graph = true, .allow_unused = true});
  CHECK(values(grads[0]) == std::vector<double>{2.0, 4.0});
  CHECK_FALSE(grads[1].defined());
  CHECK_THROWS_WITH_AS(autograd::grad({y}, {from_values({1.0}, false)}), doctest::Contains("does not require grad"),
                       Error);
  CHECK_THROWS_WITH_AS(autograd::grad({y}, {}), doctest::Contains("no inputs"), Error);
  CHECK_THROWS_WITH_AS(autograd::grad({y}, {x, x}), doctest::Contains("appears twice"), Error);
}

TEST_CASE("higher order: grad with respect to a non-leaf and with output gradients") {
  Tensor x = from_values({1.0, 2.0});
  Tensor h = x * 3.0;
  Tensor y = h * h;
  Tensor v = from_values({1.0, -1.0}, false);
  std::vector<Tensor> grads = autograd::grad({y}, {h, x}, {v});
  CHECK(values(grads[0]) == std::vector<double>{6.0, -12.0});   // 2h * v
  CHECK(values(grads[1]) == std::vector<double>{18.0, -36.0});  // 2h * v * 3
}

TEST_CASE("higher order: a Hessian-vector product of a small network matches finite differences") {
  manual_seed(3);
  Tensor w = randn({4, 3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor x = randn({5, 4}, {.dtype = kFloat64});
  Tensor v = randn({4, 3}, {.dtype = kFloat64});
  auto loss_of = [&](const Tensor& weight) { return x.matmul(weight).tanh().pow(2.0).sum(); };
  Tensor g = autograd::grad({loss_of(w)}, {w}, {}, {.create_graph = true})[0];
  Tensor hv = autograd::grad({(g * v).sum()}, {w})[0];
  // (grad(w + eps v) - grad(w - eps v)) / (2 eps)
  const double eps = 1e-6;
  auto grad_at = [&](const Tensor& point) {
    Tensor p = point.detach().clone().requires_grad_();
    return autograd::grad({loss_of(p)}, {p})[0];
  };
  Tensor numerical = (grad_at(w.detach() + v * eps) - grad_at(w.detach() - v * eps)) / (2 * eps);
  CHECK_CLOSE(hv, numerical, 1e-6, 1e-6);
}

TEST_CASE("gradgradcheck: passes on right second derivatives") {
  Tensor a = from_values({0.3, -0.7, 1.1});
  Tensor b = from_values({0.9, 0.4, -0.2});
  auto fn = [](const std::vector<Tensor>& in) { return (in[0] * in[1]).tanh() + in[0].exp() * in[1] / (in[1] * in[1] + 1.0); };
  const auto result = autograd::gradgradcheck(fn, {a, b});
  CHECK_MESSAGE(result.passed, result.message);
  CHECK(result.message.rfind("gradgradcheck passed", 0) == 0);
}

namespace {
// An op with a right first derivative whose backward is not recorded under
// create_graph: its second derivative silently comes out as zero.
Tensor cube_with_flat_backward(const Tensor& a) {
  Tensor out = [&] {
    NoGradGuard no_grad;
    return a * a * a;
  }();
  return autograd::record("CubeBackward", out, {a},
                          [a = autograd::SavedTensor(a)](const Tensor& g, const autograd::NeedsGrad&) {
                            NoGradGuard no_grad;  // wrong on purpose: hides the backward from create_graph
                            const Tensor x = a;
                            return std::vector<Tensor>{g * x * x * 3.0};
                          });
}
}  // namespace

TEST_CASE("gradgradcheck: catches a backward that is not differentiable") {
  Tensor a = from_values({0.5, -1.2});
  auto fn = [](const std::vector<Tensor>& in) { return cube_with_flat_backward(in[0]); };
  CHECK(autograd::gradcheck(fn, {a}).passed);
  const auto result = autograd::gradgradcheck(fn, {a});
  CHECK_FALSE(result.passed);
  CHECK(result.message.rfind("gradgradcheck failed", 0) == 0);
  CHECK_THROWS_AS(autograd::gradgradcheck(fn, {a}, {.raise = true}), Error);
}

TEST_CASE("gradgradcheck: ops whose second derivative is zero almost everywhere pass") {
  Tensor a = from_values({0.5, -1.2, 2.0, -0.3});
  CHECK(autograd::gradgradcheck([](const std::vector<Tensor>& in) { return in[0].relu(); }, {a}).passed);
  CHECK(autograd::gradgradcheck([](const std::vector<Tensor>& in) { return in[0].abs(); }, {a}).passed);
  CHECK(autograd::gradgradcheck([](const std::vector<Tensor>& in) { return std::get<0>(in[0].reshape({2, 2}).max(1)); },
                                {a})
            .passed);
  CHECK(autograd::gradgradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -1.0, 1.0); }, {a}).passed);
}

TEST_CASE("gradgradcheck: validates its inputs") {
  auto fn = [](const std::vector<Tensor>& in) { return in[0] * 2.0; };
  CHECK_THROWS_WITH_AS(autograd::gradgradcheck(fn, {ones({2})}), doctest::Contains("float64"), Error);
  CHECK_THROWS_WITH_AS(autograd::gradgradcheck(fn, {ones({2}, {.dtype = kFloat64})}),
                       doctest::Contains("no input requires grad"), Error);
  CHECK_THROWS_WITH_AS(autograd::gradgradcheck(fn, {}), doctest::Contains("at least one input"), Error);
}
