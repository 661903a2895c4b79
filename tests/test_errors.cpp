// Misuse of everything but the differentiable ops (whose misuses are rows of the op table,
// tests/support/op_table.cpp): creation, tensor queries, in-place setters, autograd, nn::Module,
// nn::Conv1d, nn::init and file I/O. Each throws xgrad::Error whose message names the function
// and the offending values; a failed call changes nothing.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using doctest::Contains;
using testing::check_misuses;
using testing::values;

namespace {

struct NoForward : nn::Module {
  std::string type_name() const override { return "NoForward"; }
};

}  // namespace

TEST_CASE("errors: xgrad::Error is a std::invalid_argument") {
  CHECK_THROWS_AS(ones({2}) + ones({3}), std::invalid_argument);
}

TEST_CASE("errors: negative shape and element-count overflow") {
  CHECK_THROWS_WITH_AS(zeros({2, -1}), Contains("zeros: shape [2, -1] has a negative dimension"), Error);
  CHECK_THROWS_WITH_AS(ones({-3}), Contains("ones: shape [-3] has a negative dimension"), Error);
  CHECK_THROWS_WITH_AS(empty({-1}), Contains("empty: shape [-1]"), Error);
  CHECK_THROWS_WITH_AS(randn({4, -2}), Contains("randn: shape [4, -2]"), Error);
  const std::int64_t big = std::int64_t{1} << 40;
  CHECK_THROWS_WITH_AS(zeros({big, big}), Contains("zeros: shape [1099511627776, 1099511627776] has more elements than"),
                       Error);
  CHECK_THROWS_WITH_AS(rand({big, big, 0, -1}), Contains("negative dimension"), Error);
  // Fits in 64 bits but not in memory: refused before allocating.
  CHECK_THROWS_WITH_AS(empty({big, 1024}), Contains("empty: shape [1099511627776, 1024]"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).reshape({big, big}), Contains("reshape"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).reshape({big, big, -1}), Contains("reshape: shape [1099511627776, 1099511627776, -1] has more elements"),
                       Error);
}

TEST_CASE("errors: item() on a non-scalar") {
  CHECK_THROWS_WITH_AS(ones({2, 3}).item<float>(), Contains("item: expected a tensor with one element, got shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(ones({0}).item<double>(), Contains("item"), Error);
  CHECK(ones({1, 1}).item<double>() == 1.0);
}

TEST_CASE("errors: backward misuse") {
  Tensor x = ones({2, 3}, {.requires_grad = true});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), Contains("backward: grad can be implicitly created only for one-element outputs; got shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({3, 2})), Contains("backward: gradient has shape [3, 2] but the tensor has shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({2, 3}, {.dtype = kFloat64})), Contains("gradient has dtype float64"), Error);
  CHECK_THROWS_WITH_AS(ones({}).backward(), Contains("backward: the tensor does not require grad"), Error);
  {
    NoGradGuard no_grad;
    Tensor z = (x * 2.0).sum();
    CHECK_THROWS_WITH_AS(z.backward(), Contains("does not require grad"), Error);
  }
  CHECK_THROWS_WITH_AS(Tensor().backward(), Contains("backward: called on an undefined tensor"), Error);
  // Nothing above touched x.grad().
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("errors: second backward through a freed graph") {
  Tensor x = ones({3}, {.requires_grad = true});
  Tensor loss = (x * x).sum();
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), Contains("backward: trying to backward through the graph a second time"), Error);
  CHECK_THROWS_WITH_AS(loss.backward(), Contains("SumBackward"), Error);
  // The first backward's result is intact.
  CHECK(x.grad().sum().item<double>() == 6.0);
}

TEST_CASE("errors: unknown and unavailable devices") {
  CHECK_THROWS_WITH_AS(Device("cuda"), Contains("Device: device 'cuda' is not available in this build"), Error);
  CHECK_THROWS_WITH_AS(Device("cuda:1"), Contains("'cuda:1' is not available"), Error);
  CHECK_THROWS_WITH_AS(Device("mps"), Contains("not available"), Error);
  CHECK_THROWS_WITH_AS(Device("foo"), Contains("Device: unknown device 'foo'"), Error);
  CHECK_THROWS_WITH_AS(zeros({2}, {.device = "cuda"}), Contains("not available in this build"), Error);
  CHECK(Device("cpu").str() == "cpu");
  CHECK(Device("cpu:0") == Device("cpu"));
}

TEST_CASE("errors: in-place on a leaf that requires grad, under grad mode") {
  Tensor w = ones({2, 3}, {.requires_grad = true});
  CHECK_THROWS_WITH_AS(w.copy_(zeros({2, 3})),
                       Contains("copy_: a leaf tensor that requires grad (shape [2, 3]) is being modified in place"), Error);
  CHECK_THROWS_WITH_AS(w.fill_(2.0), Contains("fill_: a leaf tensor that requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.zero_(), Contains("a leaf tensor that requires grad"), Error);
  CHECK_THROWS_WITH_AS(w.uniform_(0, 1), Contains("uniform_: a leaf tensor"), Error);
  CHECK(w.sum().item<double>() == 6.0);  // untouched
  {
    NoGradGuard no_grad;  // as optimizers and nn::init do
    w.fill_(2.0);
  }
  CHECK(w.sum().item<double>() == 12.0);
  CHECK_THROWS_WITH_AS(w.detach().requires_grad_(true).zero_(), Contains("zero_"), Error);
}

TEST_CASE("errors: in-place arguments") {
  Tensor t = zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.copy_(ones({3, 3})), Contains("copy_: shapes [3, 3] and [2, 3] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(t.copy_(ones({2, 1, 3})), Contains("copy_: source of shape [2, 1, 3] cannot be broadcast to shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(t.uniform_(1.0, 0.0), Contains("uniform_: expected low <= high, got low=1 high=0"), Error);
  CHECK_THROWS_WITH_AS(t.copy_(Tensor()), Contains("copy_: the source is an undefined tensor"), Error);
  CHECK(t.sum().item<double>() == 0.0);
}

TEST_CASE("errors: requires_grad_ on a non-leaf and undefined tensors") {
  Tensor x = ones({2}, {.requires_grad = true});
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.requires_grad_(false), Contains("requires_grad_: you can only change requires_grad of leaf tensors"),
                       Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), Contains("shape: called on an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).data_ptr<double>(), Contains("data_ptr: tensor holds float32, not float64"), Error);
}

TEST_CASE("errors: arange arguments") {
  CHECK_THROWS_WITH_AS(arange(0, 10, 0), Contains("arange: step must be finite and non-zero, got 0"), Error);
  CHECK_THROWS_WITH_AS(arange(0, INFINITY), Contains("arange: start and end must be finite"), Error);
  CHECK_THROWS_WITH_AS(arange(0, 1e300, 1e-300), Contains("arange: range"), Error);
}

TEST_CASE("errors: an allocation the machine cannot hold is an xgrad::Error, not std::bad_alloc") {
  // 2^40 float32 elements: 4 TiB, past this machine's memory and overcommit.
  CHECK_THROWS_WITH_AS(xgrad::zeros({std::int64_t{1} << 20, std::int64_t{1} << 20}),
                       doctest::Contains("out of memory allocating 4398046511104 bytes"), xgrad::Error);
}

TEST_CASE("errors: misusing a tensor creation or query function") {
  const Tensor undefined;
  const Tensor x = ones({2, 3});
  check_misuses({
      {"full with a negative extent", [] { (void)full({-2}, 1.0); }, "full"},
      {"rand with a negative extent", [] { (void)rand({-2}); }, "rand"},
      {"arange with NaN", [] { (void)arange(std::numeric_limits<double>::quiet_NaN()); }, "arange"},
      {"zeros_like of undefined", [&] { (void)zeros_like(undefined); }, "undefined"},
      {"ones_like of undefined", [&] { (void)ones_like(undefined); }, "undefined"},
      {"numel of undefined", [&] { (void)undefined.numel(); }, "undefined"},
      {"dim of undefined", [&] { (void)undefined.dim(); }, "undefined"},
      {"dtype of undefined", [&] { (void)undefined.dtype(); }, "dtype"},
      {"size out of range", [&] { (void)x.size(5); }, "size: dimension 5"},
      {"item of undefined", [&] { (void)undefined.item<double>(); }, "item"},
      {"data_ptr of undefined", [&] { (void)undefined.data_ptr<float>(); }, "data_ptr"},
      {"grad of undefined", [&] { (void)undefined.grad(); }, "grad"},
      {"requires_grad of undefined", [&] { (void)undefined.requires_grad(); }, "requires_grad"},
      {"grad_fn of undefined", [&] { (void)undefined.grad_fn(); }, "grad_fn"},
      {"is_leaf of undefined", [&] { (void)undefined.is_leaf(); }, "is_leaf"},
      {"detach of undefined", [&] { (void)undefined.detach(); }, "detach"},
      {"to_xarray of undefined", [&] { (void)undefined.to_xarray<float>(); }, "undefined"},
  });
}

TEST_CASE("errors: misusing an in-place setter changes nothing") {
  Tensor undefined;
  Tensor x = full({2, 3}, 4.0);
  check_misuses({
      {"copy_ into undefined", [&] { undefined.copy_(x); }, "copy_"},
      {"zero_ on undefined", [&] { undefined.zero_(); }, "zero_"},
      {"fill_ on undefined", [&] { undefined.fill_(1.0); }, "fill_"},
      {"normal_ with a negative std", [&] { x.normal_(0.0, -1.0); }, "normal_"},
      {"requires_grad_ on undefined", [&] { undefined.requires_grad_(); }, "requires_grad_"},
  });
  CHECK(values(x) == std::vector<double>(6, 4.0));
}

TEST_CASE("errors: misusing gradcheck and the thread count leaves gradients alone") {
  Tensor x = ones({3}, {.requires_grad = true});
  (x * 2.0).sum().backward();
  const std::vector<double> before = values(x.grad());
  check_misuses({
      {"gradcheck without inputs", [] { (void)autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {}); }, "gradcheck"},
      {"gradcheck with an undefined result",
       [] {
         (void)autograd::gradcheck([](const std::vector<Tensor>&) { return Tensor(); },
                                   {ones({2}, {.dtype = kFloat64, .requires_grad = true})});
       },
       "gradcheck"},
      {"gradcheck with eps 0",
       [] {
         (void)autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; },
                                   {ones({2}, {.dtype = kFloat64, .requires_grad = true})}, {.eps = 0});
       },
       "gradcheck"},
      {"set_num_threads(0)", [] { set_num_threads(0); }, "set_num_threads"},
      {"set_num_threads(-3)", [] { set_num_threads(-3); }, "set_num_threads"},
  });
  CHECK(values(x.grad()) == before);
}

TEST_CASE("errors: misusing nn::Module, nn::Conv1d and nn::init") {
  struct Net : nn::Module {
    Tensor w = register_parameter("w", ones({2}));
    std::string type_name() const override { return "Net"; }
  };
  Net net;
  NoForward no_forward;
  nn::Conv1d conv(4, 2, 3);
  check_misuses({
      {"forward not implemented", [&] { (void)no_forward(ones({1})); }, "NoForward"},
      {"register a parameter twice", [&] { net.register_parameter("w", ones({1})); }, "already taken"},
      {"register an empty name", [&] { net.register_parameter("", ones({1})); }, "non-empty"},
      {"register a dotted name", [&] { net.register_buffer("a.b", ones({1})); }, "no '.'"},
      {"register a non-leaf parameter", [&] { net.register_parameter("v", ones({1}, {.requires_grad = true}) * 2.0); }, "leaf"},
      {"register a null module", [&] { net.register_module("child", std::shared_ptr<nn::Conv1d>()); }, "null"},
      {"load_state_dict missing key", [&] { net.load_state_dict({}); }, "missing key 'w'"},
      {"load_state_dict wrong shape", [&] { net.load_state_dict({{"w", ones({3})}}); }, "shape"},
      {"load_state_dict wrong dtype", [&] { net.load_state_dict({{"w", ones({2}, {.dtype = kFloat64})}}); }, "dtype"},
      {"load_state_dict undefined", [&] { net.load_state_dict({{"w", Tensor()}}); }, "undefined"},
      {"load_state_dict unexpected key", [&] { net.load_state_dict({{"w", ones({2})}, {"v", ones({1})}}); }, "unexpected key"},
      {"load_state_dict repeated key", [&] { net.load_state_dict({{"w", ones({2})}, {"w", ones({2})}}); }, "twice"},
      {"Conv1d groups not dividing", [] { nn::Conv1d(4, 3, 3, {.groups = 2}); }, "groups"},
      {"Conv1d padding 'same' with stride 2", [] { nn::Conv1d(4, 4, 3, {.stride = 2, .padding = "same"}); }, "same"},
      {"Conv1d unknown padding string", [] { nn::Conv1d(4, 4, 3, {.padding = "full"}); }, "full"},
      {"Conv1d two-element kernel_size", [] { nn::Conv1d(4, 4, {3, 3}); }, "kernel_size"},
      {"Conv1d negative padding", [] { nn::Conv1d(4, 4, 3, {.padding = -1}); }, "padding"},
      {"Conv1d zero stride", [] { nn::Conv1d(4, 4, 3, {.stride = 0}); }, "stride"},
      {"Conv1d unknown padding_mode", [] { nn::Conv1d(4, 4, 3, {.padding_mode = "mirror"}); }, "mirror"},
      {"Conv1d on a cuda device", [] { nn::Conv1d(4, 4, 3, {.device = "cuda"}); }, "cuda"},
      {"Conv1d wrong channel count", [&] { (void)conv(ones({2, 5, 10})); }, "channels"},
      {"Conv1d 1-D input", [&] { (void)conv(ones({10})); }, "conv1d"},
      {"Conv1d 4-D input", [&] { (void)conv(ones({1, 2, 4, 10})); }, "conv1d"},
      {"Conv1d float64 input", [&] { (void)conv(ones({2, 4, 10}, {.dtype = kFloat64})); }, "conv1d"},
      {"Conv1d undefined input", [&] { (void)conv(Tensor()); }, "conv1d"},
      {"Conv1d reflect padding wider than the input",
       [] { (void)nn::Conv1d(1, 1, 3, {.padding = 5, .padding_mode = "reflect"})(ones({1, 1, 4})); }, "reflect"},
      {"fan of a 1-D tensor", [] { (void)nn::init::calculate_fan_in_and_fan_out(ones({3})); }, "fan"},
      {"gain of an unknown nonlinearity", [] { (void)nn::init::calculate_gain("swish"); }, "swish"},
      {"kaiming mode", [] { (void)nn::init::kaiming_uniform_(ones({2, 2}), 0.0, "fan_middle"); }, "fan_middle"},
      {"kaiming on undefined", [] { (void)nn::init::kaiming_normal_(Tensor()); }, "undefined"},
      {"xavier on a 1-D tensor", [] { (void)nn::init::xavier_uniform_(ones({3})); }, "fan"},
      {"uniform_ low > high", [] { (void)nn::init::uniform_(ones({3}), 1.0, 0.0); }, "uniform_"},
      {"normal_ negative std", [] { (void)nn::init::normal_(ones({3}), 0.0, -1.0); }, "normal_"},
      {"constant_ on undefined", [] { (void)nn::init::constant_(Tensor(), 1.0); }, "undefined"},
  });
  CHECK(values(net.w) == std::vector<double>{1.0, 1.0});  // no failed load changed anything
}

TEST_CASE("errors: misusing .npy I/O names the file") {
  check_misuses({
      {"load a missing file", [] { (void)load_npy("/nonexistent/dir/x.npy"); }, "/nonexistent/dir/x.npy"},
      {"load a directory", [] { (void)load_npy("/"); }, "load_npy"},
      {"save into a missing directory", [] { save_npy("/nonexistent/dir/x.npy", ones({2})); }, "/nonexistent/dir/x.npy"},
      {"save under a regular file", [] { save_npy("/proc/self/status/x.npy", ones({2})); }, "save_npy"},
      {"save an undefined tensor", [] { save_npy("/tmp/xgrad_undefined.npy", Tensor()); }, "save_npy"},
  });
}
