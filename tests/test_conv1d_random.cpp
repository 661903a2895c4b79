// Randomized end-to-end check of the whole conv1d op: for random valid
// configurations (every option, padding mode, unbatched and empty batches), the
// op through the fast kernels agrees with the op through the reference kernels
// in output and all three gradients, in float32 and float64.
#include <doctest/doctest.h>

#include <random>

#include "core/creation.hpp"
#include "core/random.hpp"
#include "nn/conv1d.hpp"
#include "test_conv1d_cases.hpp"

using namespace xgrad;

namespace {

struct Run {
  Tensor output, grad_input, grad_weight, grad_bias;
};

Run run(nn::Conv1d& m, const Tensor& input, const Tensor& grad_output, bool reference) {
  nn::functional::detail::set_conv1d_use_reference(reference);
  m.zero_grad();
  const Tensor x = input.detach().clone().requires_grad_(true);
  const Tensor y = m(x);
  y.backward(grad_output);
  nn::functional::detail::set_conv1d_use_reference(false);
  return {y, x.grad(), m.weight.grad(), m.bias.defined() ? m.bias.grad() : Tensor()};
}

}  // namespace

TEST_CASE("conv1d random configurations: fast kernels agree with the reference kernels") {
  std::mt19937_64 rng(2024);
  auto pick = [&](std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(rng);
  };
  const char* modes[] = {"zeros", "zeros", "reflect", "replicate", "circular"};
  manual_seed(13);
  int tested = 0;
  while (tested < 300) {
    const std::int64_t groups = pick(1, 4);
    const std::int64_t in_channels = groups * pick(1, 3), out_channels = groups * pick(1, 3);
    const std::int64_t kernel = pick(1, 7), dilation = pick(1, 4), length = pick(1, 40);
    const std::int64_t batch = pick(-1, 3);  // -1: unbatched
    const int padding_kind = static_cast<int>(pick(0, 3));
    const std::string mode = modes[pick(0, 4)];
    const std::int64_t stride = padding_kind == 1 ? 1 : pick(1, 8);
    const std::int64_t pad = pick(0, 6);
    const nn::Padding padding = padding_kind == 1 ? nn::Padding("same") : padding_kind == 2 ? nn::Padding("valid") : nn::Padding(pad);
    const std::int64_t total = padding_kind == 1 ? dilation * (kernel - 1) : padding_kind == 2 ? 0 : 2 * pad;
    // Skip configurations that are errors (those are tested elsewhere).
    if (length + total < dilation * (kernel - 1) + 1) continue;
    if (mode == "reflect" && total - total / 2 >= length) continue;
    if (mode == "circular" && total - total / 2 > length) continue;
    const Dtype dtype = pick(0, 1) ? kFloat32 : kFloat64;
    nn::Conv1d m(in_channels, out_channels, kernel,
                 {.stride = stride, .padding = padding, .dilation = dilation, .groups = groups, .bias = pick(0, 1) == 1,
                  .padding_mode = mode, .dtype = dtype});
    const Shape input_shape = batch < 0 ? Shape{in_channels, length} : Shape{batch, in_channels, length};
    const Tensor input = randn(input_shape, {.dtype = dtype});
    const Tensor probe = m(input);
    const Tensor grad_output = randn(probe.shape(), {.dtype = dtype});
    INFO(m.repr(), " input ", input_shape, " ", dtype);
    const Run fast = run(m, input, grad_output, false);
    const Run reference = run(m, input, grad_output, true);
    const double tolerance = dtype == kFloat32 ? 1e-5 : 1e-12;
    for (auto [a, b, what] : {std::tuple{fast.output, reference.output, "output"},
                              std::tuple{fast.grad_input, reference.grad_input, "grad_input"},
                              std::tuple{fast.grad_weight, reference.grad_weight, "grad_weight"},
                              std::tuple{fast.grad_bias, reference.grad_bias, "grad_bias"}}) {
      INFO(what);
      REQUIRE(a.defined() == b.defined());
      if (!a.defined()) continue;
      const auto d = conv1d_cases::difference(a, b);
      CHECK(d.max_error <= tolerance * std::max(1.0, d.scale));
    }
    ++tested;
  }
}
