// Reductions on long inputs: sums accumulate in double in a fixed order (the same result at any
// thread count), and sum's gradient fills the input's shape. The small-shape values and gradients
// of every reduction are in the gradcheck table and the parity fixtures.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.hpp"
#include "support/testing.hpp"

using namespace xgrad;
using testing::from_values;
using testing::values;

namespace {

// Runs fn at 1 and at 2 threads, then restores the caller's thread count.
template <class F>
void at_one_and_two_threads(F fn) {
  const int saved = get_num_threads();
  set_num_threads(1);
  fn(1);
  set_num_threads(2);
  fn(2);
  set_num_threads(saved);
}

// Uniform [0, 1) values rounded to float32 (xorshift64, fixed seed). Over 10^5 of them a float32
// running total drifts by about 6e-6 of the sum; double accumulation stays within one rounding.
std::vector<double> uniform_floats(std::int64_t n) {
  std::vector<double> data(static_cast<std::size_t>(n));
  std::uint64_t state = 88172645463325252ull;
  for (double& value : data) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    value = static_cast<double>(static_cast<float>(double(state >> 11) * 0x1p-53));
  }
  return data;
}

double exact_sum(const std::vector<double>& data, std::size_t begin, std::size_t end) {
  long double total = 0;
  for (std::size_t i = begin; i < end; ++i) total += data[i];
  return static_cast<double>(total);
}

}  // namespace

TEST_CASE("sum: a long float32 sum accumulates in double, bitwise the same at 1 and 2 threads") {
  const std::int64_t n = 5 * 8192 * 3 + 13;  // many blocks, a partial last one, a tail shorter than 8
  const std::vector<double> data = uniform_floats(n);
  const Tensor x = from_values(data, false, kFloat32);
  const double expected = exact_sum(data, 0, data.size());
  std::vector<double> results;
  at_one_and_two_threads([&](int threads) {
    const Tensor total = x.sum();
    CHECK(total.dtype() == kFloat32);
    CHECK(total.dim() == 0);
    const double got = values(total)[0];
    INFO("threads ", threads, ": sum ", got, ", exact ", expected);
    CHECK(std::abs(got - expected) <= 1e-7 * expected);  // one float32 rounding of the result
    results.push_back(got);
  });
  CHECK(results[0] == results[1]);
}

TEST_CASE("sum: long rows summed over the last dim and over the first dim match the exact sums") {
  const std::int64_t rows = 3, length = 10007;
  const std::vector<double> data = uniform_floats(rows * length);
  const Tensor x = from_values(data, false, kFloat32).reshape({rows, length});
  const std::vector<double> by_row = values(x.sum({1}));
  REQUIRE(by_row.size() == 3);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double expected = exact_sum(data, r * length, (r + 1) * length);
    CHECK(std::abs(by_row[r] - expected) <= 1e-7 * expected);
  }
  const std::vector<double> by_column = values(x.sum({0}));
  REQUIRE(by_column.size() == static_cast<std::size_t>(length));
  for (std::int64_t c = 0; c < length; c += 997) {
    const double expected = double(float(data[c] + data[length + c] + data[2 * length + c]));
    CHECK(by_column[c] == doctest::Approx(expected).epsilon(1e-7));
  }
}

TEST_CASE("sum: the gradient of a long sum is ones of the input's shape, at 1 and 2 threads") {
  at_one_and_two_threads([](int threads) {
    INFO("threads ", threads);
    Tensor x = zeros({7, 3, 4099}, {.requires_grad = true});
    (x.sum() * 2.5).backward();
    REQUIRE(x.grad().shape() == Shape{7, 3, 4099});
    const std::vector<double> grad = values(x.grad());
    CHECK(std::count(grad.begin(), grad.end(), 2.5) == static_cast<std::ptrdiff_t>(grad.size()));
  });
}

TEST_CASE("broadcast_to: one value fills any shape, a row repeats") {
  const Tensor one = from_values({-3.5}, false).reshape({1, 1});
  const std::vector<double> filled = values(broadcast_to(one, {5, 20011}));
  CHECK(std::count(filled.begin(), filled.end(), -3.5) == 5 * 20011);
  const Tensor row = from_values({1, 2, 3}, false);
  CHECK(values(broadcast_to(row, {2, 3})) == std::vector<double>{1, 2, 3, 1, 2, 3});
}
