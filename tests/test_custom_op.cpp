// User-defined differentiable ops through the public API: record + SavedTensor
// give first and second derivatives, version checks, and errors that name the
// user's op.
#include <doctest/doctest.h>

#include <string>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

namespace {
// softplus(x) = log(1 + e^x), forward and backward side by side.
Tensor softplus(const Tensor& x) {
  Tensor y = [&] {
    NoGradGuard no_grad;
    return (x.exp() + 1.0).log();
  }();
  return autograd::record("SoftplusBackward", y, {x},
                          [x = autograd::SavedTensor(x)](const Tensor& grad, const autograd::NeedsGrad&) {
                            // d/dx log(1 + e^x) = sigmoid(x)
                            return std::vector<Tensor>{grad * x.get().sigmoid()};
                          });
}

// An op whose backward is `bad`, named at run time.
Tensor with_backward(const Tensor& x, const std::string& name, autograd::BackwardFn bad) {
  Tensor y = [&] {
    NoGradGuard no_grad;
    return x * 2.0;
  }();
  return autograd::record(name, y, {x}, std::move(bad));
}
}  // namespace

TEST_CASE("custom op: softplus passes gradcheck and gradgradcheck") {
  Tensor x = from_values({-2.0, -0.5, 0.0, 0.7, 3.0});
  auto fn = [](const std::vector<Tensor>& in) { return softplus(in[0]); };
  const auto first = autograd::gradcheck(fn, {x});
  CHECK_MESSAGE(first.passed, first.message);
  const auto second = autograd::gradgradcheck(fn, {x});
  CHECK_MESSAGE(second.passed, second.message);
  Tensor y = softplus(x);
  CHECK(y.grad_fn_name() == "SoftplusBackward");
}

TEST_CASE("custom op: an op name built at run time is owned by the node") {
  Tensor x = from_values({1.0});
  Tensor y;
  {
    std::string name = std::string("My") + "Custom" + "Backward";
    y = with_backward(x, name, [](const Tensor& g, const autograd::NeedsGrad&) { return std::vector<Tensor>{g * 2.0}; });
    name.assign(name.size(), 'x');
  }
  CHECK(y.grad_fn_name() == "MyCustomBackward");
  CHECK(to_string(y).find("grad_fn=<MyCustomBackward>") != std::string::npos);
}

TEST_CASE("custom op: mistakes in a user's backward name the user's op") {
  Tensor x = from_values({1.0, 2.0});
  auto two = [](const Tensor& g, const autograd::NeedsGrad&) { return std::vector<Tensor>{g, g}; };
  CHECK_THROWS_WITH_AS(with_backward(x, "TwoBackward", two).sum().backward(),
                       "TwoBackward: backward returned 2 gradients for 1 inputs", Error);
  auto shape = [](const Tensor&, const autograd::NeedsGrad&) { return std::vector<Tensor>{ones({3}, {.dtype = kFloat64})}; };
  CHECK_THROWS_WITH_AS(with_backward(x, "ShapeBackward", shape).sum().backward(),
                       "ShapeBackward: backward returned a gradient of shape [3] for input 0, which has shape [2]", Error);
  auto dtype = [](const Tensor& g, const autograd::NeedsGrad&) { return std::vector<Tensor>{g.to(kFloat32)}; };
  CHECK_THROWS_WITH_AS(with_backward(x, "DtypeBackward", dtype).sum().backward(),
                       "DtypeBackward: backward returned a float32 gradient for input 0, which is float64 (shape [2])",
                       Error);
  // A forward computed with recording on: the output already has a grad_fn.
  CHECK_THROWS_WITH_AS(autograd::record("LateBackward", x * 2.0, {x},
                                        [](const Tensor& g, const autograd::NeedsGrad&) { return std::vector<Tensor>{g}; }),
                       doctest::Contains("LateBackward: the output was already recorded by MulBackward"), Error);
  CHECK_THROWS_WITH_AS(autograd::record("EmptyBackward", ones({1}), {x}, nullptr),
                       "EmptyBackward: the backward function is empty", Error);
}

TEST_CASE("custom op: its saved tensors are version-checked") {
  Tensor x = from_values({0.5, 1.5});
  Tensor y = softplus(x).sum();
  {
    NoGradGuard no_grad;
    x.fill_(3.0);
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("SoftplusBackward: input 0 (float64 [2]), saved for backward at "
                                                       "version 0, was modified in place (now version 1) by fill_"),
                       Error);
}

TEST_CASE("custom op: a saved output is attached to its node under create_graph") {
  // exp saves its output; its second derivative needs the output's own graph.
  Tensor x = from_values({0.3, -0.4});
  Tensor g = autograd::grad({x.exp().sum()}, {x}, {}, {.create_graph = true})[0];
  Tensor h = autograd::grad({g.sum()}, {x})[0];
  CHECK_CLOSE(h, x.detach().exp(), 1e-15, 0.0);
}
