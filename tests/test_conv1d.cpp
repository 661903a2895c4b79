// nn::Conv1d: option forms, parameters, printing, every construction and
// forward error, state_dict round trip, unbatched and empty-batch inputs.
#include <doctest/doctest.h>

#include <string>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/random.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "support/testing.hpp"

using namespace xgrad;

namespace {

using xgrad::testing::contains;
using xgrad::testing::error_of;

#define CHECK_ERROR_CONTAINS(expression, part)               \
  do {                                                       \
    const std::string message = error_of([&] { (void)(expression); }); \
    INFO("message: ", message);                              \
    CHECK(contains(message, part));                          \
  } while (false)

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.to(kFloat64), y = b.to(kFloat64);
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (x.data_ptr<double>()[i] != y.data_ptr<double>()[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("Conv1d: the seed example") {
  manual_seed(0);
  const Tensor input = randn({20, 16, 50});
  nn::Conv1d m(16, 33, 3, {.stride = 2});
  const Tensor output = m(input);
  CHECK(output.shape() == Shape{20, 33, 24});
  CHECK(output.dtype() == kFloat32);
  CHECK(fmt::format("{}", m) == "Conv1d(16, 33, kernel_size=(3,), stride=(2,))");
  CHECK(same_values(m.forward(input), output));
  output.sum().backward();
  CHECK(m.weight.grad().shape() == Shape{33, 16, 3});
  CHECK(m.bias.grad().shape() == Shape{33});
}

TEST_CASE("Conv1d: every option form compiles and means what it says") {
  CHECK(nn::Conv1d(4, 8, 3, {.padding = 0}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,))");
  CHECK(nn::Conv1d(4, 8, 3, {.padding = 1}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=(1,))");
  CHECK(nn::Conv1d(4, 8, 3, {.padding = {1}}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=(1,))");
  CHECK(nn::Conv1d(4, 8, 4, {.padding = "same"}).repr() == "Conv1d(4, 8, kernel_size=(4,), stride=(1,), padding=same)");
  CHECK(nn::Conv1d(4, 8, 3, {.padding = std::string("valid")}).repr() ==
        "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=valid)");
  CHECK(nn::Conv1d(16, 33, {3}, {.stride = {2}}).repr() == "Conv1d(16, 33, kernel_size=(3,), stride=(2,))");
  CHECK(nn::Conv1d(4, 8, 3, {.dilation = 2}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), dilation=(2,))");
  CHECK(nn::Conv1d(4, 8, 3, {.groups = 4}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), groups=4)");
  CHECK(nn::Conv1d(4, 8, 3, {.bias = false}).repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), bias=False)");
  CHECK(nn::Conv1d(4, 8, 3, {.padding = 2, .padding_mode = "reflect"}).repr() ==
        "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=(2,), padding_mode=reflect)");
  CHECK(nn::Conv1d(4, 8, 3, {.padding_mode = "replicate"}).repr() ==
        "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding_mode=replicate)");
  CHECK(nn::Conv1d(4, 8, 5,
                   {.stride = 3, .padding = 2, .dilation = 3, .groups = 2, .bias = false, .padding_mode = "circular"})
            .repr() ==
        "Conv1d(4, 8, kernel_size=(5,), stride=(3,), padding=(2,), dilation=(3,), groups=2, bias=False, "
        "padding_mode=circular)");
  CHECK(nn::Conv1d(4, 8, 3,
                   {.stride = 1, .padding = 0, .dilation = 1, .groups = 1, .bias = true, .padding_mode = "zeros",
                    .device = "cpu", .dtype = kFloat32})
            .repr() == "Conv1d(4, 8, kernel_size=(3,), stride=(1,))");
  // Printed as a child, indented like PyTorch.
  struct Net : nn::Module {
    std::shared_ptr<nn::Conv1d> conv = register_module("conv", std::make_shared<nn::Conv1d>(1, 2, 3));
    std::string type_name() const override { return "Net"; }
  };
  CHECK(Net().repr() == "Net(\n  (conv): Conv1d(1, 2, kernel_size=(3,), stride=(1,))\n)");
}

TEST_CASE("Conv1d: parameters, shapes and dtype") {
  nn::Conv1d m(6, 9, 5, {.groups = 3, .dtype = kFloat64});
  CHECK(m.weight.shape() == Shape{9, 2, 5});
  CHECK(m.bias.shape() == Shape{9});
  CHECK(m.weight.dtype() == kFloat64);
  CHECK(m.weight.requires_grad());
  CHECK(m.bias.requires_grad());
  CHECK(m.weight.is_leaf());
  const auto named = m.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].first == "weight");
  CHECK(named[1].first == "bias");
  CHECK(named[0].second.impl() == m.weight.impl());  // the member and the registry share one tensor
  CHECK(m.in_channels() == 6);
  CHECK(m.out_channels() == 9);
  CHECK(m.kernel_size() == 5);
  CHECK(m.groups() == 3);

  nn::Conv1d no_bias(2, 3, 1, {.bias = false});
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.parameters().size() == 1);
  CHECK(no_bias.state_dict().size() == 1);
  CHECK(no_bias(randn({2, 4})).shape() == Shape{3, 4});
}

TEST_CASE("Conv1d: output length follows the formula") {
  manual_seed(1);
  for (std::int64_t length : {1, 2, 5, 8, 13})
    for (std::int64_t kernel : {1, 2, 3})
      for (std::int64_t stride : {1, 2, 3})
        for (std::int64_t padding : {0, 1, 2})
          for (std::int64_t dilation : {1, 2}) {
            const std::int64_t padded = length + 2 * padding, extent = dilation * (kernel - 1) + 1;
            if (padded < extent) continue;
            nn::Conv1d m(2, 3, kernel, {.stride = stride, .padding = padding, .dilation = dilation});
            const std::int64_t expected = (length + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
            CHECK(m(randn({1, 2, length})).shape() == Shape{1, 3, expected});
          }
  // "same" keeps the length for every kernel, dilation and padding mode.
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"})
    for (std::int64_t kernel : {1, 2, 3, 4, 5})
      for (std::int64_t dilation : {1, 2, 3}) {
        nn::Conv1d m(2, 3, kernel, {.padding = "same", .dilation = dilation, .padding_mode = mode});
        CHECK(m(randn({2, 2, 13})).shape() == Shape{2, 3, 13});
      }
}

TEST_CASE("Conv1d: unbatched input gives an unbatched output equal to the batched one") {
  manual_seed(2);
  for (const char* mode : {"zeros", "reflect"}) {
    nn::Conv1d m(3, 4, 3, {.stride = 2, .padding = 1, .padding_mode = mode});
    const Tensor x = randn({3, 9});
    const Tensor y = m(x);
    CHECK(y.shape() == Shape{4, 5});
    CHECK(same_values(y, m(x.unsqueeze(0)).squeeze(0)));
  }
}

TEST_CASE("Conv1d: an empty batch gives an empty output and zero weight gradients") {
  nn::Conv1d m(2, 3, 3, {.padding = 1});
  const Tensor x = zeros({0, 2, 5}, {.requires_grad = true});
  const Tensor y = m(x);
  CHECK(y.shape() == Shape{0, 3, 5});
  y.sum().backward();
  CHECK(x.grad().shape() == Shape{0, 2, 5});
  REQUIRE(m.weight.grad().defined());
  CHECK(same_values(m.weight.grad(), zeros({3, 2, 3})));
  CHECK(same_values(m.bias.grad(), zeros({3})));
}

TEST_CASE("Conv1d: construction validates every option, all at once") {
  CHECK_ERROR_CONTAINS(nn::Conv1d(0, 4, 3), "in_channels must be positive, got 0");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, -1, 3), "out_channels must be positive, got -1");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 0), "kernel_size must be positive, got 0");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, {3, 3}), "kernel_size must be a number or a one-element tuple, got (3, 3)");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, {}), "kernel_size must be a number or a one-element tuple, got ()");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.stride = 0}), "stride must be positive, got 0");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.stride = -2}), "stride must be positive, got -2");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.stride = {1, 2}}), "stride must be a number or a one-element tuple, got (1, 2)");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.padding = -1}), "padding must be non-negative, got -1");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.padding = {1, 1}}), "padding must be a number, a one-element tuple");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.padding = {}}), "padding must be a number, a one-element tuple");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.padding = "full"}),
                       "invalid padding string 'full', should be one of 'same', 'valid'");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.stride = 2, .padding = "same"}),
                       "padding='same' is not supported for strided convolutions (stride=2)");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.dilation = 0}), "dilation must be positive, got 0");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.dilation = {2, 2}}), "dilation must be a number or a one-element tuple");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.groups = 0}), "groups must be positive, got 0");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 6, 3, {.groups = 3}), "in_channels=4 must be divisible by groups=3");
  CHECK_ERROR_CONTAINS(nn::Conv1d(6, 4, 3, {.groups = 3}), "out_channels=4 must be divisible by groups=3");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.padding_mode = "mirror"}),
                       "padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'mirror'");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.device = "cuda"}), "cuda");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.device = "tpu:0"}), "tpu");
  CHECK_ERROR_CONTAINS(nn::Conv1d(4, 4, 3, {.dtype = static_cast<Dtype>(7)}), "dtype must be float32 or float64");
  // Several problems: one error that lists them all and names the layer.
  const std::string all = error_of([] { nn::Conv1d(0, 4, 3, {.stride = 0, .padding = -2, .groups = 0}); });
  CHECK(contains(all, "Conv1d(0, 4, kernel_size=3)"));
  CHECK(contains(all, "in_channels must be positive"));
  CHECK(contains(all, "stride must be positive"));
  CHECK(contains(all, "padding must be non-negative"));
  CHECK(contains(all, "groups must be positive"));
}

TEST_CASE("Conv1d: forward validates the input") {
  nn::Conv1d m(4, 2, 3);
  CHECK(error_of([&] { m(randn({2, 5, 10})); }) ==
        "conv1d: expected input with 4 channels (groups=1, weight [2, 4, 3]), got input [2, 5, 10]");
  CHECK_ERROR_CONTAINS(m(randn({5, 10})), "expected input with 4 channels (groups=1, weight [2, 4, 3]), got input [5, 10]");
  CHECK_ERROR_CONTAINS(m(randn({10})), "expected a 2-D (unbatched) or 3-D (batched) input, got input of shape [10]");
  CHECK_ERROR_CONTAINS(m(randn({1, 2, 4, 10})), "got input of shape [1, 2, 4, 10]");
  CHECK_ERROR_CONTAINS(m(randn({2, 4, 0})), "expected an input of positive length, got input [2, 4, 0]");
  CHECK_ERROR_CONTAINS(m(randn({2, 4, 2})),
                       "the padded input length 2 (length 2 + padding 0 + 0) is shorter than the kernel extent 3");
  CHECK_ERROR_CONTAINS(m(randn({2, 4, 10}, {.dtype = kFloat64})), "input is float64 but weight is float32");
  CHECK_ERROR_CONTAINS(m(Tensor()), "undefined");

  nn::Conv1d grouped(4, 6, 3, {.groups = 2});
  CHECK_ERROR_CONTAINS(grouped(randn({1, 2, 8})), "expected input with 4 channels (groups=2, weight [6, 2, 3]), got input [1, 2, 8]");

  nn::Conv1d dilated(1, 1, 3, {.padding = 1, .dilation = 3});
  CHECK_ERROR_CONTAINS(dilated(randn({1, 1, 4})), "shorter than the kernel extent 7 (kernel_size=3, dilation=3)");

  nn::Conv1d reflect(1, 1, 3, {.padding = 4, .padding_mode = "reflect"});
  CHECK_ERROR_CONTAINS(reflect(randn({1, 1, 4})), "reflect padding (4, 4) must be less than the input length 4");
  CHECK(reflect(randn({1, 1, 5})).shape() == Shape{1, 1, 11});
  nn::Conv1d circular(1, 1, 3, {.padding = 5, .padding_mode = "circular"});
  CHECK_ERROR_CONTAINS(circular(randn({1, 1, 4})), "circular padding (5, 5) must be at most the input length 4");
  CHECK(circular(randn({1, 1, 5})).shape() == Shape{1, 1, 13});
  nn::Conv1d replicate(2, 1, 5, {.padding_mode = "replicate"});
  CHECK_ERROR_CONTAINS(replicate(randn({1, 3, 6})), "expected input with 2 channels");
  CHECK_ERROR_CONTAINS(replicate(randn({1, 2, 0})), "expected an input of positive length");
  CHECK_ERROR_CONTAINS(replicate(randn({1, 2, 4})), "shorter than the kernel extent 5");
}

TEST_CASE("Conv1d: absurd option values give errors, not overflows") {
  constexpr std::int64_t huge = std::int64_t{1} << 62;
  CHECK_ERROR_CONTAINS(nn::Conv1d(1, 1, 3, {.padding = huge})(randn({1, 1, 4})), "is too large");
  CHECK_ERROR_CONTAINS(nn::Conv1d(1, 1, 3, {.padding = huge, .padding_mode = "replicate"})(randn({1, 1, 4})),
                       "is too large");
  CHECK_ERROR_CONTAINS(nn::Conv1d(1, 1, 3, {.dilation = huge})(randn({1, 1, 4})), "shorter than the kernel extent");
  CHECK_ERROR_CONTAINS(nn::Conv1d(1, 1, 5, {.padding = "same", .dilation = huge}), "padding='same' needs dilation");
  nn::functional::detail::set_conv1d_use_reference(true);
  const Tensor x = randn({1, 1, 4}, {.requires_grad = true});
  const Tensor y = nn::Conv1d(1, 1, 3, {.stride = huge})(x);
  CHECK(y.shape() == Shape{1, 1, 1});
  y.sum().backward();
  CHECK(x.grad().shape() == Shape{1, 1, 4});
  nn::functional::detail::set_conv1d_use_reference(false);
}

// A stride far beyond the input leaves one output position; it must cost no
// more than a small stride (the fast kernels' workspaces grow with the stride,
// so conv1d clamps it) and give the same values as the reference kernels.
TEST_CASE("Conv1d: a huge stride gives one output position, like the reference") {
  for (std::int64_t stride : {std::int64_t{1000000000}, std::int64_t{1} << 62}) {
    CAPTURE(stride);
    const Tensor x = randn({1, 1, 4}, {.requires_grad = true});
    nn::Conv1d conv(1, 1, 3, {.stride = stride});
    const Tensor y = conv(x);
    CHECK(y.shape() == Shape{1, 1, 1});
    y.sum().backward();
    CHECK(x.grad().shape() == Shape{1, 1, 4});
    nn::functional::detail::set_conv1d_use_reference(true);
    const Tensor expected = conv(x.detach());
    nn::functional::detail::set_conv1d_use_reference(false);
    CHECK(y.item<float>() == doctest::Approx(expected.item<float>()).epsilon(1e-6));
  }
}

TEST_CASE("functional::conv1d validates its arguments") {
  const Tensor x = randn({2, 4, 10});
  const Tensor w = randn({6, 2, 3});
  namespace F = nn::functional;
  CHECK(F::conv1d(x, w, Tensor(), {.groups = 2}).shape() == Shape{2, 6, 8});
  CHECK(F::conv1d(x, w, randn({6}), {.padding = "same", .groups = 2}).shape() == Shape{2, 6, 10});
  CHECK_ERROR_CONTAINS(F::conv1d(x, w), "expected input with 2 channels (groups=1, weight [6, 2, 3]), got input [2, 4, 10]");
  CHECK_ERROR_CONTAINS(F::conv1d(x, randn({6, 4})), "expected a 3-D weight");
  CHECK_ERROR_CONTAINS(F::conv1d(x, Tensor()), "the weight is an undefined tensor");
  CHECK_ERROR_CONTAINS(F::conv1d(x, randn({0, 4, 3})), "weight [0, 4, 3] has an empty dimension");
  CHECK_ERROR_CONTAINS(F::conv1d(x, randn({5, 1, 3}), Tensor(), {.groups = 4}),
                       "expected weight [5, 1, 3] to have out_channels divisible by groups=4");
  CHECK_ERROR_CONTAINS(F::conv1d(x, w, randn({5}), {.groups = 2}), "expected bias of shape [6] (weight [6, 2, 3]), got bias [5]");
  CHECK_ERROR_CONTAINS(F::conv1d(x, w, randn({6}, {.dtype = kFloat64}), {.groups = 2}), "bias is float64 but weight is float32");
  CHECK_ERROR_CONTAINS(F::conv1d(x, w, Tensor(), {.stride = 2, .padding = "same", .groups = 2}),
                       "padding='same' is not supported for strided convolutions");
  CHECK_ERROR_CONTAINS(F::conv1d(x, w, Tensor(), {.stride = 0, .dilation = -1, .groups = 2}),
                       "stride must be positive, got 0; dilation must be positive, got -1");
  CHECK_ERROR_CONTAINS(F::conv1d(x, w, Tensor(), {.padding = "none"}), "invalid padding string 'none'");
  CHECK_ERROR_CONTAINS(F::pad1d(x, 1, 1, "mirror"), "padding_mode must be one of");
  CHECK_ERROR_CONTAINS(F::pad1d(x, -1, 1, "reflect"), "padding must be non-negative, got (-1, 1)");
  CHECK_ERROR_CONTAINS(F::pad1d(scalar_tensor(1.0), 1, 1, "reflect"), "0-dim");
}

TEST_CASE("Conv1d: state_dict round trip and strict loading") {
  manual_seed(3);
  nn::Conv1d source(3, 4, 3, {.padding = 1});
  nn::Conv1d target(3, 4, 3, {.padding = 1});
  CHECK_FALSE(same_values(source.weight, target.weight));
  target.load_state_dict(source.state_dict());
  CHECK(same_values(source.weight, target.weight));
  CHECK(same_values(source.bias, target.bias));
  const Tensor x = randn({2, 3, 7});
  CHECK(same_values(source(x), target(x)));

  const Tensor before = target.weight.clone();
  auto unchanged = [&] { return same_values(target.weight, before); };
  nn::StateDict state = source.state_dict();
  source.weight.detach().fill_(0.5);  // the state dict holds the module's tensors, like PyTorch's

  CHECK_ERROR_CONTAINS(target.load_state_dict({state[0]}), "missing key 'bias'");
  CHECK(unchanged());
  nn::StateDict extra = state;
  extra.emplace_back("running_mean", zeros({4}));
  CHECK_ERROR_CONTAINS(target.load_state_dict(extra), "unexpected key 'running_mean'");
  CHECK(unchanged());
  CHECK_ERROR_CONTAINS(target.load_state_dict({{"weight", zeros({4, 3, 5})}, state[1]}),
                       "'weight' has shape [4, 3, 5] in the state dict but [4, 3, 3] in the module");
  CHECK(unchanged());
  CHECK_ERROR_CONTAINS(target.load_state_dict({{"weight", zeros({4, 3, 3}, {.dtype = kFloat64})}, state[1]}),
                       "'weight' has dtype float64 in the state dict but float32 in the module");
  CHECK(unchanged());
  // Non-strict: missing and unexpected keys are skipped, matching ones load.
  target.load_state_dict({state[0], {"unknown", zeros({1})}}, false);
  CHECK(same_values(target.weight, source.weight));
}

TEST_CASE("Conv1d: to(dtype) converts the parameters the members see") {
  nn::Conv1d m(2, 3, 3);
  const Tensor weight_before = m.weight.clone();
  m.to(kFloat64);
  CHECK(m.weight.dtype() == kFloat64);
  CHECK(m.bias.dtype() == kFloat64);
  CHECK(same_values(m.weight.to(kFloat32), weight_before));
  CHECK(m(randn({1, 2, 5}, {.dtype = kFloat64})).dtype() == kFloat64);
}

TEST_CASE("Conv1d: reset() re-creates and re-initializes the parameters in place of the old ones") {
  manual_seed(4);
  nn::Conv1d m(2, 3, 3);
  const Tensor first = m.weight.clone();
  manual_seed(4);
  m.reset();
  CHECK(same_values(m.weight, first));
  const auto named = m.named_parameters();
  REQUIRE(named.size() == 2);
  CHECK(named[0].second.impl() == m.weight.impl());
  CHECK(named[1].second.impl() == m.bias.impl());
}
