#include <doctest/doctest.h>

#include <xgrad.hpp>

using namespace xgrad;

TEST_CASE("smoke: mul/add backward") {
  Tensor x = from_xarray(xt::xarray<double>{1.0, 2.0, 3.0}, true);
  Tensor w = from_xarray(xt::xarray<double>{0.5}, true);
  Tensor y = (x * w + 1.0).sum();
  y.backward();
  CHECK(y.item<double>() == doctest::Approx(6.0));
  CHECK(x.grad().to_xarray<double>() == xt::xarray<double>{0.5, 0.5, 0.5});
  CHECK(w.grad().item<double>() == doctest::Approx(6.0));
}
