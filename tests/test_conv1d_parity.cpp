// PyTorch parity: for every case of tests/fixtures/conv1d/cases.txt, in float32
// and float64, nn::Conv1d (weights loaded through load_state_dict) and the
// functional form must reproduce PyTorch 1.13's output and all three gradients
// to round-off, through both the fast and the reference kernels.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "autograd/grad_mode.hpp"
#include "test_conv1d_cases.hpp"

using namespace xgrad;
using conv1d_cases::Case;
using conv1d_cases::difference;
using conv1d_cases::load_fixture;

namespace {

// Round-off allowance relative to the largest expected magnitude: the sums here
// have at most a few hundred terms.
double tolerance(Dtype dtype) { return dtype == kFloat32 ? 2e-6 : 1e-13; }

struct Worst {
  double error = 0;  // relative to the scale
  std::string where;
  void update(double e, const std::string& w) {
    if (e > error) {
      error = e;
      where = w;
    }
  }
};

// Runs one case and checks the four results; returns the worst relative error.
void check_case(const Case& c, Dtype dtype, bool use_module, Worst& worst) {
  const Tensor input = load_fixture(c, dtype, "input").requires_grad_(true);
  const Tensor grad_output = load_fixture(c, dtype, "grad_output");
  Tensor weight, bias;
  Tensor output;
  if (use_module) {
    nn::Conv1d m(c.in_channels, c.out_channels, c.kernel_size, c.module_options(dtype));
    nn::StateDict state = {{"weight", load_fixture(c, dtype, "weight")}};
    if (c.bias) state.emplace_back("bias", load_fixture(c, dtype, "bias"));
    m.load_state_dict(state);
    weight = m.weight;
    bias = m.bias;
    output = m(input);
  } else {
    weight = load_fixture(c, dtype, "weight").requires_grad_(true);
    if (c.bias) bias = load_fixture(c, dtype, "bias").requires_grad_(true);
    output = c.functional(input, weight, bias);
  }
  output.backward(grad_output);
  std::vector<std::pair<std::string, Tensor>> results = {
      {"output", output}, {"grad_input", input.grad()}, {"grad_weight", weight.grad()}};
  if (c.bias) results.emplace_back("grad_bias", bias.grad());
  for (const auto& [what, actual] : results) {
    INFO(c.name, " ", dtype, use_module ? " module " : " functional ", what);
    REQUIRE(actual.defined());
    CHECK(actual.dtype() == dtype);
    const Tensor expected = load_fixture(c, dtype, what);
    CHECK(actual.shape() == expected.shape());
    const auto d = difference(actual, expected);
    const double relative = d.max_error / std::max(1.0, d.scale);
    CHECK(relative <= tolerance(dtype));
    worst.update(relative, fmt::format("{} {} {}", c.name, what, use_module ? "module" : "functional"));
  }
}

void run_all(bool reference_kernels) {
  nn::functional::detail::set_conv1d_use_reference(reference_kernels);
  const std::vector<Case> cases = conv1d_cases::load_cases();
  REQUIRE(cases.size() >= 30);
  for (Dtype dtype : {kFloat32, kFloat64}) {
    Worst worst;
    for (const Case& c : cases) {
      for (bool use_module : {true, false}) check_case(c, dtype, use_module, worst);
    }
    MESSAGE(fmt::format("conv1d parity ({} kernels, {}): {} cases, worst error {:.3g} x max(1, |expected|) at {}",
                        reference_kernels ? "reference" : "fast", dtype, cases.size(), worst.error, worst.where));
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}

}  // namespace

TEST_CASE("conv1d parity: module and functional match PyTorch (fast kernels)") { run_all(false); }

TEST_CASE("conv1d parity: module and functional match PyTorch (reference kernels)") { run_all(true); }

TEST_CASE("conv1d parity: the seed example's shapes") {
  const Case seed = [] {
    for (const Case& c : conv1d_cases::load_cases())
      if (c.name == "seed") return c;
    FAIL("no seed case in cases.txt");
    return Case{};
  }();
  CHECK(seed.input_shape() == Shape{20, 16, 50});
  CHECK(load_fixture(seed, kFloat32, "output").shape() == Shape{20, 33, 24});
  nn::Conv1d m(16, 33, 3, {.stride = 2});
  CHECK(m(load_fixture(seed, kFloat32, "input")).shape() == Shape{20, 33, 24});
}
