// Losses through the public API: target validation, numerical stability, modules.
#include <doctest/doctest.h>

#include <cmath>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/functional/training_ops.hpp"
#include "nn/loss.hpp"

using namespace xgrad;
namespace F = xgrad::nn::functional;

namespace {
Tensor values(std::vector<float> v) {
  Tensor t = empty({static_cast<std::int64_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t.data_ptr<float>()[i] = v[i];
  return t;
}
}  // namespace

TEST_CASE("cross_entropy validates class-index targets") {
  const Tensor logits = randn({2, 3});
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, values({0, 3})),
                       doctest::Contains("Target 3 is out of bounds: expected a class index in [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, values({0, 1.5f})), doctest::Contains("must be whole numbers, got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, values({0, -1})), doctest::Contains("out of bounds"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, values({0, 1, 2})), doctest::Contains("target must have shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, values({0, 1}), {.reduction = "average"}),
                       doctest::Contains("reduction must be"), Error);
  CHECK_NOTHROW(F::cross_entropy(logits, values({0, 2})));
}

TEST_CASE("cross_entropy is stable for huge logits") {
  Tensor logits = empty({2, 3}, {.requires_grad = false});
  float* v = logits.data_ptr<float>();
  v[0] = 1e30f, v[1] = -1e30f, v[2] = 0;
  v[3] = 80000, v[4] = 80001, v[5] = 79999;
  logits.requires_grad_();
  Tensor loss = F::cross_entropy(logits, values({0, 1}));
  CHECK(std::isfinite(loss.item<double>()));
  loss.backward();
  CHECK(std::isfinite(logits.grad().abs().sum().item<double>()));
  Tensor lsm = F::log_softmax(logits.detach(), 1);
  CHECK(std::isfinite(lsm.sum().item<double>()));
}

TEST_CASE("loss modules call the functional forms") {
  const Tensor logits = randn({4, 5}), target = values({0, 4, 2, 1});
  nn::CrossEntropyLoss criterion;
  CHECK(criterion(logits, target).item<double>() == F::cross_entropy(logits, target).item<double>());
  nn::CrossEntropyLoss summed({.reduction = "sum"});
  CHECK(summed(logits, target).item<double>() == doctest::Approx(4 * criterion(logits, target).item<double>()));
  nn::NLLLoss nll;
  CHECK(nll(F::log_softmax(logits, 1), target).item<double>() ==
        doctest::Approx(criterion(logits, target).item<double>()).epsilon(1e-6));
  nn::MSELoss mse;
  CHECK(mse(ones({2, 2}), zeros({2, 2})).item<double>() == 1.0);
  CHECK_THROWS_WITH_AS(mse(ones({2, 2}), zeros({2})), doctest::Contains("mse_loss: input shape [2, 2] and target shape [2]"),
                       Error);
}
