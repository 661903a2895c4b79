// from_xarray / to_xarray, both dtypes and any xarray layout. The only test TU
// that includes xtensor (its templates are heavy to compile).
#include <doctest/doctest.h>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include <xgrad.hpp>

using namespace xgrad;

TEST_CASE("xtensor interop: float and double round trips") {
  const xt::xarray<float> f = {{1.5f, -2.0f, 3.25f}, {4.0f, 5.0f, -6.5f}};
  const Tensor tf = from_xarray(f);
  CHECK(tf.dtype() == kFloat32);
  CHECK(tf.shape() == Shape{2, 3});
  CHECK_FALSE(tf.requires_grad());
  CHECK(tf.to_xarray<float>() == f);
  CHECK(tf.to_xarray<double>() == xt::xarray<double>(xt::cast<double>(f)));

  const xt::xarray<double> d = {0.1, 0.2, 0.3};
  const Tensor td = from_xarray(d, /*requires_grad=*/true);
  CHECK(td.dtype() == kFloat64);
  CHECK(td.requires_grad());
  CHECK(td.is_leaf());
  CHECK(td.to_xarray<double>() == d);
  // Converted to float on the way out, like static_cast.
  CHECK(td.to_xarray<float>() == xt::xarray<float>{0.1f, 0.2f, 0.3f});
  CHECK(from_xarray(xt::xarray<double>{2.9, -2.9}).to_xarray<std::int64_t>() == xt::xarray<std::int64_t>{2, -2});
}

TEST_CASE("xtensor interop: 0-dim and empty arrays") {
  const xt::xarray<double> scalar = 4.5;
  const Tensor s = from_xarray(scalar);
  CHECK(s.shape().empty());
  CHECK(s.item<double>() == 4.5);
  CHECK(s.to_xarray<double>()() == 4.5);
  const xt::xarray<float> empty = xt::zeros<float>({2, 0});
  const Tensor e = from_xarray(empty);
  CHECK(e.shape() == Shape{2, 0});
  CHECK(e.to_xarray<float>().shape() == empty.shape());
}

TEST_CASE("xtensor interop: column-major and non-contiguous inputs land row-major") {
  xt::xarray<double, xt::layout_type::column_major> column_major = {{1, 2, 3}, {4, 5, 6}};
  // from_xarray takes row-major xarrays; a column-major one converts on the way in.
  const Tensor c = from_xarray(xt::xarray<double>(column_major));
  CHECK(c.to_xarray<double>() == xt::xarray<double>{{1, 2, 3}, {4, 5, 6}});
  const xt::xarray<double> base = xt::arange<double>(12.0).reshape({3, 4});
  const Tensor t = from_xarray(xt::xarray<double>(xt::transpose(base)));
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.to_xarray<double>() == xt::xarray<double>(xt::transpose(base)));
  CHECK(t.to_xarray<double>()(1, 2) == 9.0);
  const Tensor strided = from_xarray(xt::xarray<double>(xt::view(base, xt::all(), xt::range(0, 4, 2))));
  CHECK(strided.to_xarray<double>() == xt::xarray<double>{{0, 2}, {4, 6}, {8, 10}});
  // A dynamic-layout xarray holding column-major data.
  xt::xarray<float, xt::layout_type::dynamic> dynamic({2, 2}, xt::layout_type::column_major);
  dynamic(0, 0) = 1;
  dynamic(0, 1) = 2;
  dynamic(1, 0) = 3;
  dynamic(1, 1) = 4;
  CHECK(from_xarray(xt::xarray<float>(dynamic)).to_xarray<float>() == xt::xarray<float>{{1, 2}, {3, 4}});
}

TEST_CASE("xtensor interop: gradients come back as xarrays") {
  Tensor x = from_xarray(xt::xarray<double>{{1, 2}, {3, 4}}, true);
  (x * x).sum().backward();
  CHECK(x.grad().to_xarray<double>() == xt::xarray<double>{{2, 4}, {6, 8}});
}
