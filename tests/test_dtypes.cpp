// int64 and bool tensors: creation, conversion, printing, item, .npy files, and
// the rule that they never require grad. Expected values are PyTorch 1.13's.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <limits>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using doctest::Contains;
using testing::values;

TEST_CASE("dtypes: int64 and bool creation") {
  CHECK(dtype_name(kInt64) == "int64");
  CHECK(dtype_name(kBool) == "bool");
  CHECK(element_size(kInt64) == 8);
  CHECK(element_size(kBool) == 1);
  CHECK(!is_floating_point(kInt64));
  CHECK(is_floating_point(kFloat64));

  Tensor z = zeros({2, 3}, {.dtype = kInt64});
  CHECK(z.dtype() == kInt64);
  CHECK(values(z) == std::vector<double>(6, 0.0));
  CHECK(values(ones({3}, {.dtype = kBool})) == std::vector<double>{1, 1, 1});
  // full converts as PyTorch: 2.5 -> 2 in int64, nonzero -> true in bool.
  CHECK(values(full({2}, 2.5, {.dtype = kInt64})) == std::vector<double>{2, 2});
  CHECK(values(full({2}, -2.7, {.dtype = kInt64})) == std::vector<double>{-2, -2});
  CHECK(values(full({2}, 0.5, {.dtype = kBool})) == std::vector<double>{1, 1});
  CHECK(values(full({1}, 0.0, {.dtype = kBool})) == std::vector<double>{0});
  CHECK(values(arange(5, {.dtype = kInt64})) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(values(arange(0.5, 3, 1, {.dtype = kInt64})) == std::vector<double>{0, 1, 2});  // torch.arange(0.5, 3, dtype=long)
  CHECK(values(empty({4}, {.dtype = kBool})) == std::vector<double>(4, 0.0));  // bools start false: garbage is no bool
  CHECK(zeros_like(z).dtype() == kInt64);
  CHECK(scalar_tensor(7, {.dtype = kInt64}).item<std::int64_t>() == 7);
  Tensor big = full({}, 0.0, {.dtype = kInt64});
  big.data_ptr<std::int64_t>()[0] = std::numeric_limits<std::int64_t>::max();
  CHECK(big.item<std::int64_t>() == std::numeric_limits<std::int64_t>::max());  // exact, not through double
}

TEST_CASE("dtypes: int64 and bool never require grad") {
  CHECK_THROWS_WITH_AS(zeros({2}, {.dtype = kInt64, .requires_grad = true}),
                       Contains("zeros: only floating-point tensors can require gradients"), Error);
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = kBool, .requires_grad = true}), Contains("dtype bool"), Error);
  CHECK_THROWS_WITH_AS(arange(3, {.dtype = kInt64, .requires_grad = true}), Contains("arange"), Error);
  Tensor labels = zeros({2}, {.dtype = kInt64});
  CHECK_THROWS_WITH_AS(labels.requires_grad_(), Contains("requires_grad_: only floating-point tensors"), Error);
  CHECK_NOTHROW(labels.requires_grad_(false));
  CHECK_FALSE(labels.requires_grad());
  CHECK_THROWS_WITH_AS(rand({2}, {.dtype = kInt64}), Contains("rand: random values need a floating-point dtype"), Error);
  CHECK_THROWS_WITH_AS(randn({2}, {.dtype = kBool}), Contains("randn"), Error);
  CHECK_THROWS_WITH_AS(labels.uniform_(0, 1), Contains("uniform_: random values need a floating-point tensor"), Error);
  CHECK_THROWS_WITH_AS(labels.normal_(), Contains("normal_"), Error);
  // An op whose output is int64 or bool is never recorded, even from inputs that require grad.
  Tensor x = testing::from_values({1.5, -2.0, 3.0});
  Tensor as_int = x.to(kInt64);
  CHECK_FALSE(as_int.requires_grad());
  CHECK(as_int.grad_fn() == nullptr);
  CHECK_FALSE((x > 0).requires_grad());
  CHECK_FALSE(x.argmax().requires_grad());
}

TEST_CASE("dtypes: to() between all four, as PyTorch converts") {
  Tensor f = testing::from_values({2.7, -2.7, 0.0, -0.0, 0.5}, false);
  CHECK(values(f.to(kInt64)) == std::vector<double>{2, -2, 0, 0, 0});  // truncation toward zero
  CHECK(values(f.to(kBool)) == std::vector<double>{1, 1, 0, 0, 1});     // nonzero is true
  Tensor special = testing::from_values({std::nan(""), 1e30, -1e30, 9.3e18}, false);
  const double int64_min = static_cast<double>(std::numeric_limits<std::int64_t>::min());
  // NaN and out-of-range values give INT64_MIN, as PyTorch on x86 (never undefined behaviour).
  CHECK(values(special.to(kInt64)) == std::vector<double>(4, int64_min));
  CHECK(values(special.to(kBool))[0] == 1.0);  // NaN is nonzero
  Tensor i = testing::int64_values({-3, 0, 5});
  CHECK(values(i.to(kFloat32)) == std::vector<double>{-3, 0, 5});
  CHECK(i.to(kFloat64).dtype() == kFloat64);
  CHECK(values(i.to(kBool)) == std::vector<double>{1, 0, 1});
  Tensor b = testing::bool_values({true, false});
  CHECK(values(b.to(kInt64)) == std::vector<double>{1, 0});
  CHECK(values(b.to(kFloat32)) == std::vector<double>{1, 0});
  CHECK(b.to(kBool).impl() == b.impl());  // already that dtype: the same tensor
  // copy_ converts too.
  Tensor target = zeros({3}, {.dtype = kInt64});
  target.copy_(testing::from_values({1.9, -1.9, 7}, false));
  CHECK(values(target) == std::vector<double>{1, -1, 7});
  // A conversion from float that requires grad to int64 and back has no gradient path.
  Tensor x = testing::from_values({1.0, 2.0});
  Tensor back = x.to(kInt64).to(kFloat64);
  CHECK_FALSE(back.requires_grad());
}

TEST_CASE("dtypes: item<T>() on int64 and bool") {
  CHECK(full({}, 42, {.dtype = kInt64}).item<std::int64_t>() == 42);
  CHECK(full({}, 42, {.dtype = kInt64}).item<double>() == 42.0);
  CHECK(full({1}, 1, {.dtype = kBool}).item<bool>());
  CHECK(full({1}, 1, {.dtype = kBool}).item<int>() == 1);
  CHECK_FALSE(full({}, 0.0, {.dtype = kFloat32}).item<bool>());
  CHECK(full({}, 0.25, {.dtype = kFloat32}).item<bool>());
  CHECK(full({}, -3.9, {.dtype = kFloat64}).item<std::int64_t>() == -3);
  CHECK(full({}, -3.9, {.dtype = kFloat64}).item<int>() == -3);
  CHECK_THROWS_WITH_AS(zeros({2}, {.dtype = kInt64}).item<std::int64_t>(), Contains("item: expected a tensor with one element"),
                       Error);
  CHECK_THROWS_WITH_AS(zeros({2}, {.dtype = kInt64}).data_ptr<float>(), Contains("data_ptr: tensor holds int64, not float32"),
                       Error);
}

TEST_CASE("dtypes: printing int64 and bool as PyTorch does") {
  // torch.tensor([1, 2, 3]) -> tensor([1, 2, 3]); the int64 dtype is inferred, so not shown.
  CHECK(to_string(testing::int64_values({1, 2, 3})) == "tensor([1, 2, 3])");
  CHECK(to_string(testing::int64_values({1000000, 2, -3})) == "tensor([1000000,       2,      -3])");
  CHECK(to_string(testing::bool_values({true, false, true})) == "tensor([ True, False,  True])");
  CHECK(to_string(full({}, 5, {.dtype = kInt64})) == "tensor(5)");
  CHECK(to_string(full({}, 1, {.dtype = kBool})) == "tensor(True)");
  CHECK(to_string(zeros({0}, {.dtype = kInt64})) == "tensor([], dtype=int64)");
  CHECK(to_string(zeros({0}, {.dtype = kBool})) == "tensor([], dtype=bool)");
  CHECK(to_string(testing::bool_values({true, false}).reshape({2, 1})) == "tensor([[ True],\n        [False]])");
  // Summarized like floats: the first and last three.
  CHECK(to_string(arange(2000, {.dtype = kInt64})) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  CHECK(to_string(ones({2}, {.dtype = kFloat64})) == "tensor([1., 1.], dtype=float64)");  // unchanged for floats
}

TEST_CASE("dtypes: .npy files of int64 ('<i8') and bool ('|b1')") {
  const std::string dir = std::filesystem::temp_directory_path() / "xgrad_test_dtypes_npy";
  std::filesystem::create_directories(dir);
  Tensor i = testing::int64_values({-5, 0, std::numeric_limits<std::int64_t>::max()}).reshape({3, 1});
  save_npy(dir + "/i.npy", i);
  Tensor i2 = load_npy(dir + "/i.npy");
  CHECK(i2.dtype() == kInt64);
  CHECK(i2.shape() == Shape{3, 1});
  CHECK(i2.data_ptr<std::int64_t>()[2] == std::numeric_limits<std::int64_t>::max());
  CHECK(i2.data_ptr<std::int64_t>()[0] == -5);
  Tensor b = testing::bool_values({true, false, false, true});
  save_npy(dir + "/b.npy", b);
  Tensor b2 = load_npy(dir + "/b.npy");
  CHECK(b2.dtype() == kBool);
  CHECK(values(b2) == std::vector<double>{1, 0, 0, 1});
  // numpy's own int64 file (np.arange(4, dtype=np.int64)).
  Tensor fixture = testing::load_fixture("core/npy_int64");
  CHECK(fixture.dtype() == kInt64);
  CHECK(values(fixture) == std::vector<double>{0, 1, 2, 3});
  // A bool byte other than 0 or 1 reads as true (NumPy's rule), and is stored as a proper bool.
  {
    std::FILE* file = std::fopen((dir + "/b.npy").c_str(), "r+b");
    REQUIRE(file != nullptr);
    std::fseek(file, -1, SEEK_END);
    std::fputc(7, file);
    std::fclose(file);
  }
  Tensor odd = load_npy(dir + "/b.npy");
  CHECK(values(odd) == std::vector<double>{1, 0, 0, 1});
  CHECK(odd.to(kInt64).data_ptr<std::int64_t>()[3] == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("dtypes: xtensor interop for int64 and bool") {
  xt::xarray<std::int64_t> labels = {3, 1, 2};
  Tensor t = from_xarray(labels);
  CHECK(t.dtype() == kInt64);
  CHECK(t.to_xarray<std::int64_t>() == labels);
  xt::xarray<bool> mask = {true, false};
  CHECK(from_xarray(mask).dtype() == kBool);
  CHECK(testing::from_values({2.9, -1.5}, false).to_xarray<std::int64_t>() == xt::xarray<std::int64_t>{2, -1});
}
