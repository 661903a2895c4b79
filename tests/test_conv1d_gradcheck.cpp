// Gradcheck (float64, central differences) of conv1d's input, weight and bias
// gradients over the grid of tests/fixtures/conv1d/cases.txt, of pad1d in every
// mode, and of every combination of requested gradients; gradgradcheck of the
// same (second derivatives) and of first derivatives (third derivatives).
#include <doctest/doctest.h>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
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

// One tensor of all the values of `tensors`, flattened and concatenated.
Tensor flat_cat(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> flat;
  for (const Tensor& t : tensors) flat.push_back(t.reshape({t.numel()}));
  return cat(flat, 0);
}

// in -> d<fn(in), u>/d(in), with create_graph, flattened: gradgradcheck of this
// map checks the third derivatives of fn. Every input must require grad.
autograd::GradcheckFn first_derivative(autograd::GradcheckFn fn, Tensor u) {
  return [fn = std::move(fn), u = std::move(u)](const std::vector<Tensor>& in) {
    autograd::GradModeGuard grad_mode(true);  // gradcheck evaluates under NoGradGuard
    return flat_cat(autograd::grad({fn(in)}, in, {u}, {.create_graph = true}));
  };
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

TEST_CASE("conv1d gradgradcheck: input, weight and bias over the grid") {
  manual_seed(11);
  for (bool reference : {false, true}) {
    nn::functional::detail::set_conv1d_use_reference(reference);
    for (const Case& c : conv1d_cases::load_cases()) {
      if (c.name == "seed") continue;  // too large for a dense Jacobian; covered by parity
      INFO(c.name, reference ? " (reference kernels)" : " (fast kernels)");
      const auto result = autograd::gradgradcheck(
          [&c](const std::vector<Tensor>& in) { return c.functional(in[0], in[1], c.bias ? in[2] : Tensor()); },
          random_arguments(c));
      CHECK_MESSAGE(result.passed, result.message);
    }
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}

TEST_CASE("conv1d gradgradcheck: every second derivative of a subset of the inputs") {
  // Inputs that do not require grad are constants of the double backward: each
  // recorded backward op must then skip (and not save for) the missing ones.
  manual_seed(12);
  const nn::functional::Conv1dFuncOptions options{.stride = 2, .padding = 1, .dilation = 2, .groups = 2};
  for (int mask = 1; mask < 8; ++mask) {
    INFO("requires_grad mask ", mask);
    std::vector<Tensor> args = {randn({2, 4, 9}, {.dtype = kFloat64}), randn({6, 2, 3}, {.dtype = kFloat64}),
                                randn({6}, {.dtype = kFloat64})};
    for (int i = 0; i < 3; ++i) args[i].requires_grad_((mask >> i) & 1);
    const auto result = autograd::gradgradcheck(
        [&](const std::vector<Tensor>& in) { return nn::functional::conv1d(in[0], in[1], in[2], options).tanh(); }, args);
    CHECK_MESSAGE(result.passed, result.message);
  }
}

TEST_CASE("conv1d gradgradcheck: through nn::Conv1d in every padding mode") {
  // The module's parameters are swapped for the checked tensors (handles, not
  // copies), so the check reaches weight and bias through the module's own forward.
  manual_seed(13);
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    for (nn::Padding padding : {nn::Padding(2), nn::Padding("same"), nn::Padding("valid")}) {
      nn::Conv1d m(4, 6, 4, {.padding = padding, .dilation = 2, .groups = 2, .padding_mode = mode, .dtype = kFloat64});
      INFO(m.repr());
      const auto result = autograd::gradgradcheck(
          [&m](const std::vector<Tensor>& in) {
            m.weight = in[1];
            m.bias = in[2];
            return m(in[0]).tanh();
          },
          {randn({2, 4, 7}, {.dtype = kFloat64, .requires_grad = true}),
           randn({6, 2, 4}, {.dtype = kFloat64, .requires_grad = true}),
           randn({6}, {.dtype = kFloat64, .requires_grad = true})});
      CHECK_MESSAGE(result.passed, result.message);
    }
  }
}

TEST_CASE("conv1d third derivatives: gradgradcheck of a first derivative") {
  // d<net(x), u>/d(x, w1, w2, b2) for net = conv1d(tanh(conv1d(x, w1)), w2, b2)
  // is checked to second order: the backward ops' own backwards are checked too.
  manual_seed(14);
  const Tensor u = randn({2, 2, 3}, {.dtype = kFloat64});
  const autograd::GradcheckFn net = [](const std::vector<Tensor>& in) {
    const Tensor hidden = nn::functional::conv1d(in[0], in[1], Tensor(), {.padding = 1}).tanh();
    return nn::functional::conv1d(hidden, in[2], in[3], {.stride = 2, .dilation = 2, .groups = 2});
  };
  for (bool reference : {false, true}) {
    const std::string kernels = reference ? "reference kernels" : "fast kernels";
    INFO(kernels);
    nn::functional::detail::set_conv1d_use_reference(reference);
    const auto result = autograd::gradgradcheck(first_derivative(net, u),
                                                {randn({2, 3, 9}, {.dtype = kFloat64, .requires_grad = true}),
                                                 randn({4, 3, 3}, {.dtype = kFloat64, .requires_grad = true}),
                                                 randn({2, 2, 3}, {.dtype = kFloat64, .requires_grad = true}),
                                                 randn({2}, {.dtype = kFloat64, .requires_grad = true})});
    CHECK_MESSAGE(result.passed, result.message);
  }
  nn::functional::detail::set_conv1d_use_reference(false);
}

TEST_CASE("pad1d gradgradcheck and third derivatives in every mode") {
  manual_seed(15);
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    INFO(mode);
    for (auto [left, right] : {std::pair<std::int64_t, std::int64_t>{0, 0}, {1, 2}, {3, 0}, {4, 4}}) {
      INFO("padding (", left, ", ", right, ")");
      const autograd::GradcheckFn padded = [&](const std::vector<Tensor>& in) {
        return nn::functional::pad1d(in[0], left, right, mode).tanh();
      };
      const Tensor x = randn({2, 5}, {.dtype = kFloat64, .requires_grad = true});
      const auto second = autograd::gradgradcheck(padded, {x});
      CHECK_MESSAGE(second.passed, second.message);
      const auto third = autograd::gradgradcheck(first_derivative(padded, randn({2, 5 + left + right}, {.dtype = kFloat64})), {x});
      CHECK_MESSAGE(third.passed, third.message);
    }
  }
}

TEST_CASE("conv1d backward: recorded as convolutions only under create_graph") {
  manual_seed(16);
  const Tensor x = randn({2, 4, 9}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor w = randn({6, 2, 3}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor b = randn({6}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor g = randn({2, 6, 5}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = nn::functional::conv1d(x, w, b, {.stride = 2, .padding = 1, .groups = 2});
  const std::vector<Tensor> plain = autograd::grad({y}, {x, w, b}, {g}, {.retain_graph = true});
  const std::vector<Tensor> recorded = autograd::grad({y}, {x, w, b}, {g}, {.create_graph = true});
  const std::vector<std::string> names = {"Conv1dBackwardInput", "Conv1dBackwardWeight", "SumBackward"};
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("input ", i);
    CHECK_FALSE(plain[i].requires_grad());
    CHECK(recorded[i].grad_fn_name() == names[i]);
    CHECK(conv1d_cases::difference(recorded[i], plain[i]).max_error == 0);
  }
}

TEST_CASE("conv1d backward: an input or weight changed in place after the forward is caught") {
  manual_seed(17);
  const Tensor g = randn({2, 6, 9}, {.dtype = kFloat64});
  {
    Tensor x = randn({2, 4, 9}, {.dtype = kFloat64});
    const Tensor w = randn({6, 4, 3}, {.dtype = kFloat64, .requires_grad = true});
    const Tensor y = nn::functional::conv1d(x, w, Tensor(), {.padding = 1});
    x.fill_(1.0);
    CHECK_THROWS_WITH_AS(y.backward(g), doctest::Contains("Conv1dBackward: input 0 (float64 [2, 4, 9])"), Error);
  }
  {
    const Tensor x = randn({2, 4, 9}, {.dtype = kFloat64, .requires_grad = true});
    Tensor w = randn({6, 4, 3}, {.dtype = kFloat64, .requires_grad = true});
    const Tensor y = nn::functional::conv1d(x, w, Tensor(), {.padding = 1});
    {
      NoGradGuard no_grad;
      w.fill_(1.0);
    }
    CHECK_THROWS_WITH_AS(y.backward(g), doctest::Contains("Conv1dBackward: input 1 (float64 [6, 4, 3])"), Error);
  }
}
