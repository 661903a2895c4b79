// gradcheck itself: how it treats a dtype round trip and how it reports a wrong gradient. Every
// op's gradcheck and gradgradcheck run from the op table (tests/test_op_table.cpp).
#include <doctest/doctest.h>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using In = std::vector<Tensor>;

TEST_CASE("gradcheck: to(float32) and back passes the gradient through, converted") {
  manual_seed(3);
  Tensor x = testing::make_input({2, 3}, {});
  // The function rounds to float32, so finite differences are noisy: a wide eps.
  const auto result = autograd::gradcheck([](const In& in) { return in[0].to(kFloat32).to(kFloat64) * 3.0; }, {x},
                                          {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4});
  CHECK_MESSAGE(result.passed, result.message);
  Tensor y = x.to(kFloat32);
  CHECK(y.dtype() == kFloat32);
  CHECK(y.grad_fn_name() == "ToCopyBackward");
  y.sum().backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == kFloat64);
  CHECK(testing::values(x.grad()) == std::vector<double>(6, 1.0));
}

TEST_CASE("gradcheck: reports the worst element when a gradient is wrong") {
  // A deliberately wrong backward: x.detach() * x has gradient x, but d(x^2)/dx = 2x.
  manual_seed(5);
  Tensor x = testing::make_input({3}, {.low = 0.5, .high = 1.0});
  const auto result = autograd::gradcheck([](const In& in) { return in[0].detach() * in[0]; }, {x});
  CHECK_FALSE(result.passed);
  CHECK(result.input == 0);
  CHECK(result.input_index >= 0);
  CHECK(result.numerical == doctest::Approx(2 * result.analytical).epsilon(1e-4));
  CHECK(result.message.find("gradcheck failed") != std::string::npos);
  CHECK_THROWS_AS(autograd::gradcheck([](const In& in) { return in[0].detach() * in[0]; }, {x}, {.raise = true}),
                  Error);
  // float32 inputs are refused with a message that says why.
  Tensor f = rand({2}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(autograd::gradcheck([](const In& in) { return in[0]; }, {f}), doctest::Contains("float64"),
                       Error);
}
