// Gradcheck (float64, central differences) of conv1d's input, weight and bias
// gradients over the grid of tests/fixtures/conv1d/cases.txt, of pad1d in every
// mode, and of every combination of requested gradients.
#include <doctest/doctest.h>

#include "autograd/gradcheck.hpp"
#include "core/creation.hpp"
#include "core/random.hpp"
#include "test_conv1d_cases.hpp"

using namespace xgrad;
using conv1d_cases::Case;

namespace {

std::vector<Tensor> random_arguments(const Case& c) {
  std::vector<Tensor> args = {
      randn(c.input_shape(), {.dtype = kFloat64, .requires_grad = true}),
      randn({c.out_channels, c.in_channels / c.groups, c.kernel_size}, {.dtype = kFloat64, .requires_grad = true})};
  if (c.bias) args.push_back(randn({c.out_channels}, {.dtype = kFloat64, .requires_grad = true}));
  return args;
}

}  // namespace

TEST_CASE("conv1d gradcheck: input, weight and bias over the grid") {
  manual_seed(7);
  for (bool reference : {false, true}) {
    nn::functional::detail::set_conv1d_use_reference(reference);
    for (const Case& c : conv1d_cases::load_cases()) {
      if (c.name == "seed") continue;  // too large for a dense Jacobian; covered by parity
      INFO(c.name, reference ? " (reference kernels)" : " (fast kernels)");
      const auto result = autograd::gradcheck(
          [&c](const std::vector<Tensor>& in) { return c.functional(in[0], in[1], c.bias ? in[2] : Tensor()); },
          random_arguments(c));
      CHECK_MESSAGE(result.passed, result.message);
    }
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}

TEST_CASE("conv1d gradcheck: through nn::Conv1d in every padding mode") {
  // The module's own parameters are not gradcheck inputs, so check d output / d input
  // through the module, whose forward composes pad1d and conv1d itself.
  manual_seed(8);
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    for (nn::Padding padding : {nn::Padding(2), nn::Padding("same"), nn::Padding("valid")}) {
      nn::Conv1d m(4, 6, 4, {.padding = padding, .dilation = 2, .groups = 2, .padding_mode = mode, .dtype = kFloat64});
      INFO(m.repr());
      const auto result = autograd::gradcheck([&m](const std::vector<Tensor>& in) { return m(in[0]); },
                                              {randn({2, 4, 7}, {.dtype = kFloat64, .requires_grad = true})});
      CHECK_MESSAGE(result.passed, result.message);
    }
  }
}

TEST_CASE("pad1d gradcheck and values in every mode") {
  manual_seed(9);
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    INFO(mode);
    for (auto [left, right] : {std::pair<std::int64_t, std::int64_t>{0, 0}, {1, 2}, {3, 0}, {4, 4}}) {
      const auto result = autograd::gradcheck(
          [&](const std::vector<Tensor>& in) { return nn::functional::pad1d(in[0], left, right, mode); },
          {randn({2, 5}, {.dtype = kFloat64, .requires_grad = true})});
      CHECK_MESSAGE(result.passed, result.message);
    }
  }
  // Values against torch.nn.functional.pad(arange(1, 5), (3, 2), mode).
  const Tensor x = arange(1, 5, 1, {.dtype = kFloat64});
  auto values = [&](const char* mode) {
    const Tensor y = nn::functional::pad1d(x, 3, 2, mode);
    return std::vector<double>(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
  };
  CHECK(values("zeros") == std::vector<double>{0, 0, 0, 1, 2, 3, 4, 0, 0});
  CHECK(values("reflect") == std::vector<double>{4, 3, 2, 1, 2, 3, 4, 3, 2});
  CHECK(values("replicate") == std::vector<double>{1, 1, 1, 1, 2, 3, 4, 4, 4});
  CHECK(values("circular") == std::vector<double>{2, 3, 4, 1, 2, 3, 4, 1, 2});
}

TEST_CASE("conv1d computes exactly the requested gradients, in any combination") {
  manual_seed(10);
  const Tensor x0 = randn({2, 4, 9}, {.dtype = kFloat64});
  const Tensor w0 = randn({6, 2, 3}, {.dtype = kFloat64});
  const Tensor b0 = randn({6}, {.dtype = kFloat64});
  const Tensor g = randn({2, 6, 5}, {.dtype = kFloat64});
  const nn::functional::Conv1dFuncOptions options{.stride = 2, .padding = 1, .groups = 2};
  // All three, as the baseline.
  std::vector<Tensor> full = {x0.clone().requires_grad_(true), w0.clone().requires_grad_(true),
                              b0.clone().requires_grad_(true)};
  nn::functional::conv1d(full[0], full[1], full[2], options).backward(g);
  for (int mask = 1; mask < 8; ++mask) {
    INFO("requires_grad mask ", mask);
    std::vector<Tensor> args = {x0.clone(), w0.clone(), b0.clone()};
    for (int i = 0; i < 3; ++i) args[i].requires_grad_((mask >> i) & 1);
    const Tensor y = nn::functional::conv1d(args[0], args[1], args[2], options);
    CHECK(y.requires_grad());
    CHECK(y.grad_fn_name() == "Conv1dBackward");
    y.backward(g);
    for (int i = 0; i < 3; ++i) {
      const bool requested = (mask >> i) & 1;
      CHECK(args[i].grad().defined() == requested);
      if (requested) CHECK(conv1d_cases::difference(args[i].grad(), full[i].grad()).max_error == 0);
    }
  }
  // Nothing requires grad: no graph.
  CHECK_FALSE(nn::functional::conv1d(x0, w0, b0, options).requires_grad());
}
