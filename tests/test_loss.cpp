// Losses through the public API: target validation, numerical stability, modules.
#include <doctest/doctest.h>

#include <cmath>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/functional.hpp"
#include "nn/loss.hpp"

using namespace xgrad;
namespace F = xgrad::nn::functional;

namespace {
Tensor values(std::vector<float> v) {
  Tensor t = empty({static_cast<std::int64_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t.data_ptr<float>()[i] = v[i];
  return t;
}

// Class indices: int64, as PyTorch.
Tensor indices(std::vector<std::int64_t> v) {
  Tensor t = empty({static_cast<std::int64_t>(v.size())}, {.dtype = kInt64});
  for (std::size_t i = 0; i < v.size(); ++i) t.data_ptr<std::int64_t>()[i] = v[i];
  return t;
}
}  // namespace

TEST_CASE("cross_entropy validates class-index targets") {
  const Tensor logits = randn({2, 3});
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 3})),
                       doctest::Contains("Target 3 is out of bounds: expected a class index in [0, 3) (at index 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, -1})),
                       doctest::Contains("Target -1 is out of bounds: expected a class index in [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(F::nll_loss(logits, indices({7, 0})),
                       doctest::Contains("nll_loss: Target 7 is out of bounds: expected a class index in [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 1, 2})), doctest::Contains("target must have shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 1}), {.reduction = "average"}),
                       doctest::Contains("reduction must be"), Error);
  CHECK_NOTHROW(F::cross_entropy(logits, indices({0, 2})));
}

TEST_CASE("class-index targets must be int64") {
  const Tensor logits = randn({2, 3});
  for (const Tensor& target : {values({0, 1}), values({0, 1}).to(kFloat64), indices({0, 1}).to(kBool)}) {
    INFO(target.dtype());
    const std::string expected = "cross_entropy: class-index targets must be int64 (kInt64), got a " +
                                 std::string(dtype_name(target.dtype())) + " target of shape [2]";
    CHECK_THROWS_WITH_AS(F::cross_entropy(logits, target), doctest::Contains(expected.c_str()), Error);
    CHECK_THROWS_WITH_AS(F::nll_loss(logits, target), doctest::Contains("nll_loss: class-index targets must be int64"),
                         Error);
  }
}

TEST_CASE("loss options are validated with their values") {
  const Tensor logits = randn({2, 3});
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 1}), {.weight = ones({2})}),
                       doctest::Contains("cross_entropy: weight tensor should be defined either for all 3 classes or no "
                                         "classes but got weight tensor of shape: [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(F::nll_loss(logits, indices({0, 1}), {.weight = ones({3}, {.dtype = kFloat64})}),
                       doctest::Contains("nll_loss: weight is float64 but the input is float32"), Error);
  CHECK_THROWS_WITH_AS(F::nll_loss(logits, indices({0, 1}), {.weight = ones({3}, {.requires_grad = true})}),
                       doctest::Contains("nll_loss: weight requires grad, but the loss is not differentiable"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 1}), {.label_smoothing = 1.5}),
                       doctest::Contains("cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, indices({0, 1}), {.label_smoothing = -0.1}),
                       doctest::Contains("label_smoothing must be between 0.0 and 1.0, got -0.1"), Error);
  const Tensor probabilities = F::softmax(randn({2, 3}), 1);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, probabilities, {.ignore_index = 1}),
                       doctest::Contains("cross_entropy: ignore_index is not supported for class-probability targets"),
                       Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(logits, probabilities.to(kFloat64)),
                       doctest::Contains("cross_entropy: target is float64 but the input is float32"), Error);
  CHECK_THROWS_WITH_AS(F::cross_entropy(indices({0, 1}), indices({0})),
                       doctest::Contains("cross_entropy: input must be float32 or float64"), Error);
  CHECK_NOTHROW(F::cross_entropy(logits, probabilities, {.ignore_index = -1}));
}

// PyTorch: a mean over samples that are all ignored is 0/0.
TEST_CASE("cross_entropy and nll_loss give nan for a mean over no counted sample") {
  const Tensor logits = randn({2, 3});
  CHECK(std::isnan(F::cross_entropy(logits, indices({-100, -100})).item<double>()));
  CHECK(std::isnan(F::cross_entropy(logits, indices({-100, -100}), {.label_smoothing = 0.1}).item<double>()));
  CHECK(std::isnan(F::nll_loss(logits, indices({1, 1}), {.weight = values({1, 0, 1})}).item<double>()));
  CHECK(F::cross_entropy(logits, indices({-100, -100}), {.reduction = "sum"}).item<double>() == 0.0);
}

TEST_CASE("cross_entropy is stable for huge logits") {
  Tensor logits = empty({2, 3}, {.requires_grad = false});
  float* v = logits.data_ptr<float>();
  v[0] = 1e30f, v[1] = -1e30f, v[2] = 0;
  v[3] = 80000, v[4] = 80001, v[5] = 79999;
  logits.requires_grad_();
  Tensor loss = F::cross_entropy(logits, indices({0, 1}));
  CHECK(std::isfinite(loss.item<double>()));
  loss.backward();
  CHECK(std::isfinite(logits.grad().abs().sum().item<double>()));
  Tensor lsm = F::log_softmax(logits.detach(), 1);
  CHECK(std::isfinite(lsm.sum().item<double>()));
}

TEST_CASE("loss modules call the functional forms") {
  const Tensor logits = randn({4, 5}), target = indices({0, 4, 2, 1});
  nn::CrossEntropyLoss criterion;
  CHECK(criterion(logits, target).item<double>() == F::cross_entropy(logits, target).item<double>());
  nn::CrossEntropyLoss summed({.reduction = "sum"});
  CHECK(summed(logits, target).item<double>() == doctest::Approx(4 * criterion(logits, target).item<double>()));
  nn::NLLLoss nll;
  CHECK(nll(F::log_softmax(logits, 1), target).item<double>() ==
        doctest::Approx(criterion(logits, target).item<double>()).epsilon(1e-6));
  const Tensor weight = values({0.5, 2, 1, 1, 3});
  nn::CrossEntropyLoss weighted({.weight = weight, .ignore_index = 4, .label_smoothing = 0.2});
  CHECK(weighted(logits, target).item<double>() ==
        F::cross_entropy(logits, target, {.weight = weight, .ignore_index = 4, .label_smoothing = 0.2}).item<double>());
  CHECK(weighted(logits, target).item<double>() != criterion(logits, target).item<double>());
  nn::NLLLoss weighted_nll({.weight = weight, .reduction = "sum"});
  CHECK(weighted_nll(logits, target).item<double>() ==
        F::nll_loss(logits, target, {.weight = weight, .reduction = "sum"}).item<double>());
  nn::MSELoss mse;
  CHECK(mse(ones({2, 2}), zeros({2, 2})).item<double>() == 1.0);
  CHECK_THROWS_WITH_AS(mse(ones({2, 2}), zeros({2})), doctest::Contains("mse_loss: input shape [2, 2] and target shape [2]"),
                       Error);
}

TEST_CASE("a loss module's class weight is a buffer, as in PyTorch: in state_dict and converted by to()") {
  const Tensor logits = randn({4, 3}, {.dtype = kFloat64}), target = indices({0, 2, 1, 2});
  nn::CrossEntropyLoss plain;
  CHECK(plain.state_dict().empty());  // PyTorch: weight=None is no entry
  nn::CrossEntropyLoss weighted({.weight = values({0.5, 2, 1})});
  nn::StateDict state = weighted.state_dict();
  REQUIRE(state.size() == 1);
  CHECK(state[0].first == "weight");
  CHECK(state[0].second.dtype() == kFloat32);
  weighted.to(kFloat64);  // float64 logits now need a float64 weight
  CHECK(weighted.options.weight.dtype() == kFloat64);
  CHECK(weighted(logits, target).item<double>() ==
        F::cross_entropy(logits, target, {.weight = values({0.5, 2, 1}).to(kFloat64)}).item<double>());
  nn::NLLLoss nll({.weight = values({1, 1, 3})});
  REQUIRE(nll.named_buffers().size() == 1);
  CHECK(nll.named_buffers()[0].first == "weight");
}
