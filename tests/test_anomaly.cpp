// Anomaly detection: the first op whose forward or backward produces NaN/Inf
// throws xgrad::Error naming the op and where it was recorded.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/anomaly.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/module.hpp"

using namespace xgrad;

namespace {
struct Scaled : nn::Module {
  Tensor scale = register_parameter("scale", ones({1}));
  Tensor forward(const Tensor& x) override { return log(x * scale); }
  std::string type_name() const override { return "Scaled"; }
};
}  // namespace

TEST_CASE("anomaly: off by default, NaN flows through without an error") {
  CHECK_FALSE(autograd::is_anomaly_enabled());
  Tensor x = full({3}, -1.0, {.requires_grad = true});
  Tensor y = log(x).sum();
  CHECK(std::isnan(y.item<double>()));
  CHECK_NOTHROW(y.backward());
}

TEST_CASE("anomaly: a NaN forward output names the op and the module it ran in") {
  autograd::DetectAnomalyGuard guard;
  Scaled module;
  Tensor x = full({2}, -2.0);
  CHECK_THROWS_WITH_AS(module(x), doctest::Contains("LogBackward"), Error);
  CHECK_THROWS_WITH_AS(module(x), doctest::Contains("recorded in Scaled"), Error);
  CHECK_THROWS_WITH_AS(module(x), doctest::Contains("NaN"), Error);
}

TEST_CASE("anomaly: an Inf gradient in backward names the backward op") {
  Tensor x = zeros({2}, {.requires_grad = true});
  Tensor y;
  {
    // sqrt(0) = 0 is finite; its gradient 1/(2*0) is Inf.
    autograd::DetectAnomalyGuard guard;
    y = sqrt(x).sum();
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("SqrtBackward"), Error);
  }
  CHECK_FALSE(autograd::is_anomaly_enabled());
}

TEST_CASE("anomaly: finite computations are untouched") {
  autograd::DetectAnomalyGuard guard;
  Tensor x = full({4}, 2.0, {.requires_grad = true});
  Tensor y = (x * x).sum();
  y.backward();
  CHECK(x.grad().sum().item<double>() == doctest::Approx(16.0));
}
