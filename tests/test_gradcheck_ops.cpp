// Every differentiable op, checked by autograd::gradcheck and gradgradcheck
// (float64, central differences) from ONE table: a row per op = name, function, input shapes,
// input domain. Adding an op is adding a row.
#include <doctest/doctest.h>

#include <functional>

#include "support/testing.hpp"

using namespace xgrad;
using testing::Domain;
using testing::OpCase;
using In = std::vector<Tensor>;

namespace {

// Away from non-differentiable points and singularities.
const Domain kAny{};                                           // U[-1, 1)
const Domain kPositive{.low = 0.2, .high = 2.0};               // log, sqrt, pow with fractional exponent
const Domain kNonZero{.low = -2.0, .high = 2.0, .avoid = {0.0}, .keep_away = 0.3};  // relu, abs, division
const Domain kClampSafe{.low = -2.0, .high = 2.0, .avoid = {-0.5, 0.5}, .keep_away = 0.1};

// A fixed kBool mask of `shape`: elements alternate true/false in row-major order.
Tensor mask(const Shape& shape) {
  Tensor m = empty(shape, {.dtype = kBool});
  for (std::int64_t i = 0; i < m.numel(); ++i) m.data_ptr<bool>()[i] = i % 2 == 0;
  return m;
}

std::vector<OpCase> op_table() {
  using namespace xgrad::indexing;
  return {
      // --- arithmetic: tensor-tensor, tensor-scalar, scalar-tensor ---
      {"add", [](const In& x) { return x[0] + x[1]; }, {{2, 3}, {2, 3}}},
      {"sub", [](const In& x) { return x[0] - x[1]; }, {{2, 3}, {2, 3}}},
      {"mul", [](const In& x) { return x[0] * x[1]; }, {{2, 3}, {2, 3}}},
      {"div", [](const In& x) { return x[0] / x[1]; }, {{2, 3}, {2, 3}}, kNonZero},
      {"add scalar", [](const In& x) { return x[0] + 1.5; }, {{2, 3}}},
      {"sub scalar", [](const In& x) { return x[0] - 1.5; }, {{2, 3}}},
      {"mul scalar", [](const In& x) { return x[0] * -2.5; }, {{2, 3}}},
      {"div scalar", [](const In& x) { return x[0] / 4.0; }, {{2, 3}}},
      {"scalar add", [](const In& x) { return 1.5 + x[0]; }, {{2, 3}}},
      {"scalar sub", [](const In& x) { return 1.5 - x[0]; }, {{2, 3}}},
      {"scalar mul", [](const In& x) { return -2.5 * x[0]; }, {{2, 3}}},
      {"scalar div", [](const In& x) { return 3.0 / x[0]; }, {{2, 3}}, kNonZero},
      {"neg", [](const In& x) { return -x[0]; }, {{2, 3}}},
      // --- broadcasting in each direction ---
      {"add broadcast b to a", [](const In& x) { return x[0] + x[1]; }, {{2, 3, 4}, {4}}},
      {"add broadcast a to b", [](const In& x) { return x[0] + x[1]; }, {{3, 1}, {2, 3, 4}}},
      {"mul broadcast both", [](const In& x) { return x[0] * x[1]; }, {{3, 1}, {1, 4}}},
      {"sub broadcast both ranks", [](const In& x) { return x[0] - x[1]; }, {{2, 1, 4}, {3, 1}}},
      {"div broadcast both", [](const In& x) { return x[0] / x[1]; }, {{1, 3}, {2, 1}}, kNonZero},
      {"mul 0-dim", [](const In& x) { return x[0] * x[1]; }, {{}, {2, 3}}},
      // --- unary ---
      {"pow 2", [](const In& x) { return x[0].pow(2.0); }, {{2, 3}}},
      {"pow 3", [](const In& x) { return pow(x[0], 3.0); }, {{2, 3}}},
      {"pow -1.5", [](const In& x) { return x[0].pow(-1.5); }, {{2, 3}}, kPositive},
      {"pow 0.5", [](const In& x) { return x[0].pow(0.5); }, {{2, 3}}, kPositive},
      {"pow 0", [](const In& x) { return x[0].pow(0.0); }, {{2, 3}}},
      {"exp", [](const In& x) { return x[0].exp(); }, {{2, 3}}},
      {"log", [](const In& x) { return x[0].log(); }, {{2, 3}}, kPositive},
      {"tanh", [](const In& x) { return x[0].tanh(); }, {{2, 3}}},
      {"sigmoid", [](const In& x) { return x[0].sigmoid(); }, {{2, 3}}, Domain{.low = -8, .high = 8}},
      {"relu", [](const In& x) { return x[0].relu(); }, {{3, 4}}, kNonZero},
      {"sqrt", [](const In& x) { return x[0].sqrt(); }, {{2, 3}}, kPositive},
      {"abs", [](const In& x) { return x[0].abs(); }, {{3, 4}}, kNonZero},
      // maximum/minimum: a in [-2, -1) or [1, 2) vs b in [-1, 1): never tied.
      {"maximum", [](const In& x) { return maximum(x[0] * 3.0, x[1]); }, {{2, 3}, {2, 3}}, kNonZero},
      {"minimum", [](const In& x) { return minimum(x[0] * 3.0, x[1]); }, {{2, 3}, {2, 3}}, kNonZero},
      {"maximum broadcast", [](const In& x) { return maximum(x[0] * 3.0, x[1]); }, {{2, 1}, {3}}, kNonZero},
      {"minimum broadcast", [](const In& x) { return minimum(x[0], x[1] * 3.0); }, {{3}, {2, 1}}, kNonZero},
      {"clamp", [](const In& x) { return clamp(x[0], -0.5, 0.5); }, {{3, 4}}, kClampSafe},
      // --- matmul ---
      {"matmul 1-D . 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{4}, {4}}},
      {"matmul 2-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 3}, {3, 4}}},
      {"matmul 1-D x 2-D", [](const In& x) { return matmul(x[0], x[1]); }, {{3}, {3, 2}}},
      {"matmul 2-D x 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 3}, {3}}},
      {"matmul batched", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 2, 3}, {2, 3, 2}}},
      {"matmul broadcast batch", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 1, 2, 3}, {3, 3, 2}}},
      {"matmul batched x 2-D", [](const In& x) { return x[0].matmul(x[1]); }, {{2, 2, 3}, {3, 2}}},
      {"matmul 1-D x batched", [](const In& x) { return matmul(x[0], x[1]); }, {{3}, {2, 3, 2}}},
      {"matmul batched x 1-D", [](const In& x) { return matmul(x[0], x[1]); }, {{2, 2, 3}, {3}}},
      // --- reductions ---
      {"sum all", [](const In& x) { return x[0].sum(); }, {{2, 3, 4}}},
      {"sum dim 0", [](const In& x) { return x[0].sum({0}); }, {{2, 3, 4}}},
      {"sum dim 1", [](const In& x) { return x[0].sum({1}); }, {{2, 3, 4}}},
      {"sum dim 2", [](const In& x) { return x[0].sum({2}); }, {{2, 3, 4}}},
      {"sum dim -1 keepdim", [](const In& x) { return x[0].sum({-1}, true); }, {{2, 3, 4}}},
      {"sum dims 0,2", [](const In& x) { return x[0].sum({0, 2}); }, {{2, 3, 4}}},
      {"sum dims 2,0 keepdim", [](const In& x) { return x[0].sum({2, 0}, true); }, {{2, 3, 4}}},
      {"sum 0-dim", [](const In& x) { return x[0].sum(); }, {{}}},
      {"mean all", [](const In& x) { return x[0].mean(); }, {{2, 3, 4}}},
      {"mean dim 0", [](const In& x) { return x[0].mean({0}); }, {{2, 3, 4}}},
      {"mean dim 1 keepdim", [](const In& x) { return x[0].mean({1}, true); }, {{2, 3, 4}}},
      {"mean dim 2", [](const In& x) { return x[0].mean({2}); }, {{2, 3, 4}}},
      {"mean dims 0,1", [](const In& x) { return x[0].mean({0, 1}); }, {{2, 3, 4}}},
      {"mean dims 1,2 keepdim", [](const In& x) { return x[0].mean({1, 2}, true); }, {{2, 3, 4}}},
      // random draws are tie-free almost surely; the table seeds the generator
      {"max dim 0", [](const In& x) { return std::get<0>(x[0].max(0)); }, {{3, 4}}},
      {"max dim 1", [](const In& x) { return std::get<0>(x[0].max(1)); }, {{3, 4}}},
      {"max dim -1 keepdim", [](const In& x) { return std::get<0>(max(x[0], -1, true)); }, {{2, 3, 4}}},
      {"max dim 1 of 3-D", [](const In& x) { return std::get<0>(max(x[0], 1)); }, {{2, 3, 4}}},
      // --- shapes ---
      {"reshape", [](const In& x) { return x[0].reshape({3, 2, 2}); }, {{2, 6}}},
      {"reshape -1", [](const In& x) { return x[0].reshape({-1, 4}); }, {{2, 3, 4}}},
      {"view", [](const In& x) { return x[0].view({6}); }, {{2, 3}}},
      {"flatten", [](const In& x) { return x[0].flatten(); }, {{2, 3, 4}}},
      {"flatten 1..2", [](const In& x) { return x[0].flatten(1, 2); }, {{2, 3, 4}}},
      {"transpose", [](const In& x) { return x[0].transpose(0, 1); }, {{2, 3}}},
      {"transpose 3-D", [](const In& x) { return x[0].transpose(-1, 0); }, {{2, 3, 4}}},
      {"permute", [](const In& x) { return permute(x[0], {2, 0, 1}); }, {{2, 3, 4}}},
      {"unsqueeze", [](const In& x) { return x[0].unsqueeze(1); }, {{2, 3}}},
      {"unsqueeze -1", [](const In& x) { return x[0].unsqueeze(-1); }, {{2, 3}}},
      {"squeeze all", [](const In& x) { return x[0].squeeze(); }, {{1, 3, 1}}},
      {"squeeze dim", [](const In& x) { return x[0].squeeze(2); }, {{1, 3, 1}}},
      {"narrow", [](const In& x) { return x[0].narrow(1, 1, 2); }, {{2, 4}}},
      {"narrow negative start", [](const In& x) { return narrow(x[0], 0, -2, 2); }, {{3, 2}}},
      {"slice", [](const In& x) { return x[0].slice(1, 1, 4); }, {{2, 5}}},
      {"slice step 2", [](const In& x) { return x[0].slice(0, 0, 5, 2); }, {{5, 3}}},
      {"slice step 3 negative", [](const In& x) { return slice(x[0], -1, -6, 100, 3); }, {{2, 7}}},
      {"cat dim 0", [](const In& x) { return cat({x[0], x[1]}, 0); }, {{2, 3}, {1, 3}}},
      {"cat dim 1 three", [](const In& x) { return cat({x[0], x[1], x[2]}, 1); }, {{2, 1}, {2, 3}, {2, 2}}},
      {"cat dim -1 3-D", [](const In& x) { return cat({x[0], x[1]}, -1); }, {{2, 2, 1}, {2, 2, 3}}},
      {"pad last", [](const In& x) { return pad(x[0], {1, 2}); }, {{2, 3}}},
      {"pad last two value", [](const In& x) { return pad(x[0], {1, 0, 2, 1}, 3.5); }, {{2, 3}}},
      {"pad crop", [](const In& x) { return pad(x[0], {-1, -1}); }, {{2, 4}}},
      {"pad mixed crop and pad", [](const In& x) { return pad(x[0], {2, -1, -1, 1}); }, {{3, 4}}},
      {"broadcast_to", [](const In& x) { return broadcast_to(x[0], {2, 3, 4}); }, {{3, 1}}},
      {"broadcast_to new dims", [](const In& x) { return broadcast_to(x[0], {2, 4}); }, {{4}}},
      {"min dim 1", [](const In& x) { return std::get<0>(x[0].min(1)); }, {{3, 4}}},
      {"min dim 0 keepdim", [](const In& x) { return std::get<0>(min(x[0], 0, true)); }, {{3, 4}}},
      // --- selections by mask (constant masks: the mask itself has no gradient) ---
      {"where", [](const In& x) { return where(mask({2, 3}), x[0], x[1]); }, {{2, 3}, {2, 3}}},
      {"where broadcast", [](const In& x) { return where(mask({2, 1}), x[0], x[1]); }, {{2, 3}, {3}}},
      {"where scalar", [](const In& x) { return where(mask({2, 3}), x[0], 0.5); }, {{2, 3}}},
      {"where scalar first", [](const In& x) { return where(mask({3}), -1, x[0]); }, {{2, 3}}},
      {"where from a comparison", [](const In& x) { return where(x[0].detach() > 0, x[0], x[0] * x[1]); }, {{2, 3}, {2, 3}}, kNonZero},
      {"masked_fill", [](const In& x) { return x[0].masked_fill(mask({2, 3}), -1.5); }, {{2, 3}}},
      {"masked_fill broadcast mask", [](const In& x) { return masked_fill(x[0], mask({3}), 2.0); }, {{2, 3}}},
      // --- stacking and indexing (repeated indices accumulate their gradients) ---
      {"stack dim 0", [](const In& x) { return stack({x[0], x[1]}); }, {{2, 3}, {2, 3}}},
      {"stack dim -1", [](const In& x) { return stack({x[0], x[1], x[0]}, -1); }, {{2, 3}, {2, 3}}},
      {"index_select dim 1 repeats", [](const In& x) { return x[0].index_select(1, testing::int64_values({2, 0, 2})); }, {{2, 4}}},
      {"index_select dim 0", [](const In& x) { return index_select(x[0], 0, testing::int64_values({1})); }, {{3, 2}}},
      {"gather dim 1", [](const In& x) { return x[0].gather(1, testing::int64_values({2, 0, 0, 1, 1, 3}).reshape({2, 3})); }, {{2, 4}}},
      {"gather dim 0 smaller", [](const In& x) { return gather(x[0], 0, testing::int64_values({2, 2, 0}).reshape({1, 3})); }, {{3, 4}}},
      {"index integer and slice", [](const In& x) { return x[0].index({Slice(1, None), 0}); }, {{3, 4}}},
      {"index step, None, Ellipsis", [](const In& x) { return x[0].index({None, Ellipsis, Slice(None, None, 2)}); }, {{2, 3, 5}}},
      {"index negative integer", [](const In& x) { return x[0].index({-1}); }, {{3, 4}}},
      {"index bool mask", [](const In& x) { return x[0].index({mask({2, 3})}); }, {{2, 3, 2}}},
      {"index bool mask on dim 1", [](const In& x) { return x[0].index({Slice(), mask({3})}); }, {{2, 3}}},
      {"index int64 tensor", [](const In& x) { return x[0].index({Ellipsis, testing::int64_values({-1, 0, -1}).reshape({3, 1})}); }, {{2, 4}}},
      {"flip", [](const In& x) { return x[0].flip({0, -1}); }, {{2, 3, 4}}},
      {"roll dims", [](const In& x) { return x[0].roll({1, -5}, {0, 1}); }, {{3, 4}}},
      {"roll flat", [](const In& x) { return roll(x[0], {2}); }, {{2, 3}}},
      // --- in place, recorded (the clone keeps the leaf out of it) ---
      {"add_ tensor", [](const In& x) { Tensor t = x[0].clone(); t.add_(x[1]); return t; }, {{2, 3}, {2, 3}}},
      {"add_ tensor alpha broadcast", [](const In& x) { Tensor t = x[0].clone(); t.add_(x[1], -2.5); return t; }, {{2, 3}, {3}}},
      {"sub_ scalar", [](const In& x) { Tensor t = x[0] * 1.0; t.sub_(1.5); return t; }, {{2, 3}}},
      {"mul_ tensor", [](const In& x) { Tensor t = x[0].clone(); t.mul_(x[1]); return t * t; }, {{2, 3}, {2, 3}}},
      {"mul_ itself", [](const In& x) { Tensor t = x[0].clone(); t.mul_(t); return t; }, {{2, 3}}},
      {"div_ tensor", [](const In& x) { Tensor t = x[0].clone(); t /= x[1]; return t; }, {{2, 3}, {2, 3}}, kNonZero},
      {"div_ scalar", [](const In& x) { Tensor t = x[0] * 1.0; t /= 4; return t.tanh(); }, {{2, 3}}},
      {"+= -= *= chained", [](const In& x) { Tensor t = x[0] + 0.0; t += x[1]; t *= x[0]; t -= 2; return t; }, {{2, 3}, {2, 3}}},
      {"clamp_", [](const In& x) { Tensor t = x[0].clone(); t.clamp_(-0.5, 0.5); return t; }, {{3, 4}}, kClampSafe},
      {"masked_fill_", [](const In& x) { Tensor t = x[0].clone(); t.masked_fill_(mask({2, 3}), 0.25); return t; }, {{2, 3}}},
      {"in place into a fresh tensor", [](const In& x) { Tensor t = zeros({2, 3}, {.dtype = kFloat64}); t += x[0]; return t; }, {{2, 3}}},
      // --- conversions ---
      // float64 -> float32 -> float64 rounds to float32: a looser check below.
      {"clone", [](const In& x) { return x[0].clone(); }, {{2, 3}}},
      {"to float64 (no-op)", [](const In& x) { return x[0].to(kFloat64) * 2.0; }, {{2, 3}}},
      // --- composites ---
      {"x * x (used twice)", [](const In& x) { return x[0] * x[0]; }, {{2, 3}}},
      {"diamond", [](const In& x) { Tensor h = x[0].tanh(); return h * h.exp() + h; }, {{2, 3}}},
  };
}

}  // namespace

namespace {
// Runs `check` (gradcheck or gradgradcheck) on every row, each from the same seed.
void check_every_row(const std::function<autograd::GradcheckResult(const autograd::GradcheckFn&, const std::vector<Tensor>&,
                                                                     autograd::GradcheckOptions)>& check) {
  for (const OpCase& op : op_table()) {
    CAPTURE(op.name);
    manual_seed(42);
    std::vector<Tensor> inputs;
    for (const Shape& shape : op.shapes) inputs.push_back(testing::make_input(shape, op.domain));
    try {
      const autograd::GradcheckResult result = check(op.fn, inputs, {});
      CHECK_MESSAGE(result.passed, op.name, ": ", result.message);
    } catch (const std::exception& e) {
      FAIL_CHECK(op.name, " threw: ", e.what());
    }
  }
}
}  // namespace

TEST_CASE("gradcheck: every differentiable op in the table") { check_every_row(autograd::gradcheck); }

TEST_CASE("gradgradcheck: every differentiable op in the table") { check_every_row(autograd::gradgradcheck); }

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
