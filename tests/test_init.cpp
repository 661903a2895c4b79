// nn::init: PyTorch's formulas and errors, and Conv1d's default initialization
// U(-sqrt(k), sqrt(k)), k = groups / (in_channels * kernel_size), checked by bound and by statistics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "core/random.hpp"
#include "nn/conv1d.hpp"
#include "nn/init.hpp"
#include "support/testing.hpp"

using namespace xgrad;

namespace {

using xgrad::testing::contains;
using xgrad::testing::error_of;

std::vector<double> values(const Tensor& t) {
  const Tensor d = t.detach().to(kFloat64);
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// Checks that `draws` look like U(-bound, bound): inside the bound, extremes near
// it, mean near 0, variance near bound^2 / 3, and ten equal bins evenly filled.
// The statistical tolerances are five standard errors (a false failure is < 1e-5 likely).
void check_uniform(const std::vector<double>& draws, double bound) {
  const double n = static_cast<double>(draws.size());
  REQUIRE(n >= 1000);
  const auto [lowest, highest] = std::minmax_element(draws.begin(), draws.end());
  CHECK(*lowest >= -bound);
  CHECK(*highest <= bound);
  // No draw in the outer 15/n of a side's width has probability (1 - 15/n)^n ~ e^-15.
  CHECK(*lowest < -bound * (1 - 30 / n));
  CHECK(*highest > bound * (1 - 30 / n));
  double mean = 0, second = 0;
  for (double x : draws) {
    mean += x;
    second += x * x;
  }
  mean /= n;
  second /= n;
  CHECK(std::abs(mean) < 5 * bound / std::sqrt(3 * n));
  const double variance = bound * bound / 3;              // of U(-b, b)
  const double variance_se = bound * bound * std::sqrt(4.0 / 45.0 / n);  // sd of x^2 is b^2 sqrt(4/45)
  CHECK(std::abs(second - variance) < 5 * variance_se);
  std::vector<double> bins(10, 0);
  for (double x : draws) bins[std::min<std::size_t>(9, static_cast<std::size_t>((x + bound) / (2 * bound) * 10))] += 1;
  for (double count : bins) CHECK(std::abs(count - n / 10) < 5 * std::sqrt(n * 0.1 * 0.9));
}

}  // namespace

TEST_CASE("init: calculate_gain and calculate_fan_in_and_fan_out follow PyTorch") {
  using nn::init::calculate_gain;
  CHECK(calculate_gain("linear") == 1.0);
  CHECK(calculate_gain("conv1d") == 1.0);
  CHECK(calculate_gain("sigmoid") == 1.0);
  CHECK(calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK(calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(calculate_gain("leaky_relu") == doctest::Approx(1.4141428569978354));
  CHECK(calculate_gain("leaky_relu", 0.2) == doctest::Approx(1.3867504905630728));
  CHECK(calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK(calculate_gain("selu") == 0.75);
  CHECK(error_of([] { calculate_gain("swish"); }) == "nn::init::calculate_gain: unsupported nonlinearity 'swish'");

  const auto [fan_in, fan_out] = nn::init::calculate_fan_in_and_fan_out(empty({5, 3, 4, 2}));
  CHECK(fan_in == 24);
  CHECK(fan_out == 40);
  CHECK(error_of([] { nn::init::calculate_fan_in_and_fan_out(empty({3})); }).find("fewer than 2 dimensions") !=
        std::string::npos);
  CHECK(error_of([] { nn::init::kaiming_uniform_(empty({3, 4}), 0, "fan_avg"); }).find("mode 'fan_avg'") !=
        std::string::npos);
  CHECK(error_of([] { nn::init::uniform_(Tensor()); }).find("undefined") != std::string::npos);
}

TEST_CASE("init: Conv1d draws weight and bias from U(-sqrt(k), sqrt(k)) for several groups") {
  manual_seed(11);
  const std::int64_t in_channels = 8, kernel_size = 5;
  for (std::int64_t groups : {1, 2, 4, 8}) {
    for (Dtype dtype : {kFloat32, kFloat64}) {
      INFO("groups ", groups, " ", dtype);
      nn::Conv1d m(in_channels, 512, kernel_size, {.groups = groups, .dtype = dtype});
      CHECK(m.weight.shape() == Shape{512, in_channels / groups, kernel_size});
      CHECK(m.bias.shape() == Shape{512});
      const double bound = std::sqrt(static_cast<double>(groups) / static_cast<double>(in_channels * kernel_size));
      check_uniform(values(m.weight), bound);
      const std::vector<double> bias = values(m.bias);
      CHECK(*std::max_element(bias.begin(), bias.end()) <= bound);
      CHECK(*std::min_element(bias.begin(), bias.end()) >= -bound);
    }
  }
  // The bias alone, with enough draws for the statistics.
  nn::Conv1d wide(2, 4000, 3, {.groups = 2});
  check_uniform(values(wide.bias), std::sqrt(2.0 / 6.0));
}

TEST_CASE("init: the same seed gives the same weights") {
  manual_seed(42);
  nn::Conv1d a(4, 6, 3, {.groups = 2});
  manual_seed(42);
  nn::Conv1d b(4, 6, 3, {.groups = 2});
  nn::Conv1d c(4, 6, 3, {.groups = 2});
  CHECK(values(a.weight) == values(b.weight));
  CHECK(values(a.bias) == values(b.bias));
  CHECK(values(a.weight) != values(c.weight));
}

TEST_CASE("init: in-place fills and the kaiming / xavier formulas") {
  manual_seed(12);
  Tensor t = empty({3, 4});
  CHECK(values(nn::init::constant_(t, 2.5)) == std::vector<double>(12, 2.5));
  CHECK(values(nn::init::zeros_(t)) == std::vector<double>(12, 0.0));
  CHECK(values(nn::init::ones_(t)) == std::vector<double>(12, 1.0));
  CHECK(values(t) == std::vector<double>(12, 1.0));  // in place: the caller's handle sees it

  // A parameter (requires_grad leaf) can be initialized: init runs under NoGradGuard.
  Tensor p = empty({200, 30, 3}, {.requires_grad = true});
  nn::init::kaiming_uniform_(p);  // a = 0, fan_in = 90, leaky_relu: gain sqrt(2 / (1 + 0)) = sqrt(2)
  CHECK_FALSE(p.grad_fn());
  check_uniform(values(p), std::sqrt(2.0) * std::sqrt(3.0 / 90.0));
  nn::init::kaiming_uniform_(p, 0, "fan_out", "relu");  // fan_out = 600
  check_uniform(values(p), std::sqrt(2.0) * std::sqrt(3.0 / 600.0));
  nn::init::xavier_uniform_(p, 2.0);  // gain * sqrt(6 / (fan_in + fan_out))
  check_uniform(values(p), 2.0 * std::sqrt(6.0 / 690.0));
  nn::init::uniform_(p, -0.25, 0.25);
  check_uniform(values(p), 0.25);

  auto sample_std = [](const std::vector<double>& x) {
    double mean = 0, second = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (double v : x) second += (v - mean) * (v - mean);
    return std::sqrt(second / static_cast<double>(x.size()));
  };
  nn::init::kaiming_normal_(p, 0, "fan_in", "relu");  // std = sqrt(2) / sqrt(90)
  CHECK(sample_std(values(p)) == doctest::Approx(std::sqrt(2.0 / 90.0)).epsilon(0.03));
  nn::init::xavier_normal_(p);  // std = sqrt(2 / 690)
  CHECK(sample_std(values(p)) == doctest::Approx(std::sqrt(2.0 / 690.0)).epsilon(0.03));
  nn::init::normal_(p, 1.0, 0.5);
  CHECK(sample_std(values(p)) == doctest::Approx(0.5).epsilon(0.03));

  // A zero-sized dimension: kaiming leaves the tensor alone, like PyTorch (which warns).
  Tensor none = empty({0, 3});
  CHECK(nn::init::kaiming_uniform_(none).numel() == 0);
}
