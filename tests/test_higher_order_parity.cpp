// PyTorch parity of higher-order gradients through Conv1d: a gradient penalty
// (the squared input gradient, backpropagated into the weights and biases) and a
// second derivative by calling grad twice, against tests/fixtures/higher_order/
// (written by tests/fixtures/generate_higher_order.py), on both kernel families.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include <xgrad.hpp>

using namespace xgrad;

namespace {

Tensor fixture(const std::string& name) {
  return load_npy(std::string(XGRAD_FIXTURES_DIR) + "/higher_order/" + name + ".npy");
}

// float64 end to end: 1e-10 of the largest expected value leaves room for
// summation order only.
constexpr double kRelativeTolerance = 1e-10;

// Largest |actual - expected| over the largest |expected|; infinite on a shape
// mismatch, an undefined tensor or a NaN.
double relative_error(const Tensor& actual, const Tensor& expected) {
  if (!actual.defined() || actual.shape() != expected.shape()) return INFINITY;
  const Tensor a = actual.detach().to(kFloat64), e = expected.to(kFloat64);
  double error = 0, scale = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double difference = std::abs(a.data_ptr<double>()[i] - e.data_ptr<double>()[i]);
    error = std::isnan(difference) ? INFINITY : std::max(error, difference);
    scale = std::max(scale, std::abs(e.data_ptr<double>()[i]));
  }
  return error / scale;
}

#define CHECK_MATCHES(actual, name)                                              \
  do {                                                                           \
    const double error = relative_error((actual), fixture(name));                \
    INFO(name, ": relative error ", error);                                      \
    CHECK(error <= kRelativeTolerance);                                          \
  } while (false)

// Conv1d(3, 4, 3, padding=1) -> tanh -> Conv1d(4, 2, 3, stride=2, dilation=1), weights from the fixtures.
struct Net {
  nn::Conv1d conv1{3, 4, 3, {.padding = 1, .dtype = kFloat64}};
  nn::Conv1d conv2{4, 2, 3, {.stride = 2, .dilation = 1, .dtype = kFloat64}};
  Net() {
    NoGradGuard no_grad;
    conv1.weight.copy_(fixture("w1"));
    conv1.bias.copy_(fixture("b1"));
    conv2.weight.copy_(fixture("w2"));
    conv2.bias.copy_(fixture("b2"));
  }
  Tensor operator()(const Tensor& x) { return conv2(conv1(x).tanh()); }
};

}  // namespace

TEST_CASE("higher order parity: a gradient penalty through two Conv1d layers matches PyTorch") {
  for (bool reference : {false, true}) {
    const std::string kernels = reference ? "reference kernels" : "fast kernels";
    INFO(kernels);
    nn::functional::detail::set_conv1d_use_reference(reference);
    Net net;
    const Tensor x = fixture("x").requires_grad_(true);
    const Tensor out = net(x);
    CHECK_MATCHES(out, "out");
    const Tensor gx = autograd::grad({out.sum()}, {x}, {}, {.create_graph = true})[0];
    CHECK_MATCHES(gx, "gx");
    REQUIRE(gx.requires_grad());
    const Tensor gp = (gx * gx).sum();
    CHECK_MATCHES(gp, "gp");
    gp.backward();
    CHECK_MATCHES(x.grad(), "gp_grad_x");
    CHECK_MATCHES(net.conv1.weight.grad(), "gp_grad_w1");
    CHECK_MATCHES(net.conv1.bias.grad(), "gp_grad_b1");
    CHECK_MATCHES(net.conv2.weight.grad(), "gp_grad_w2");
    // d sum(net(x)) / dx does not depend on the last bias: PyTorch leaves its grad None.
    CHECK_FALSE(net.conv2.bias.grad().defined());
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}

TEST_CASE("higher order parity: grad twice through two Conv1d layers matches PyTorch") {
  for (bool reference : {false, true}) {
    const std::string kernels = reference ? "reference kernels" : "fast kernels";
    INFO(kernels);
    nn::functional::detail::set_conv1d_use_reference(reference);
    Net net;
    const Tensor x = fixture("x").requires_grad_(true);
    const Tensor gx = autograd::grad({net(x).sum()}, {x}, {}, {.create_graph = true})[0];
    const std::vector<Tensor> second = autograd::grad({(gx * fixture("v")).sum()},
                                                      {x, net.conv1.weight, net.conv1.bias, net.conv2.weight});
    CHECK_MATCHES(second[0], "hvp_x");
    CHECK_MATCHES(second[1], "hvp_w1");
    CHECK_MATCHES(second[2], "hvp_b1");
    CHECK_MATCHES(second[3], "hvp_w2");
    for (const Tensor& leaf : {x, net.conv1.weight, net.conv1.bias, net.conv2.weight}) {
      CHECK_FALSE(leaf.grad().defined());  // grad never accumulates
    }
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}
