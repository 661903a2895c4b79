// nn::utils::clip_grad_norm_ / clip_grad_value_ against PyTorch 1.13's numbers,
// Module::modules / named_modules / apply, and BatchNorm1d's int64
// num_batches_tracked through Module::to and checkpoints.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
using doctest::Contains;
using testing::values;

namespace {

struct ClipCase {
  Dtype dtype;
  double norm_type;
  double total;                 // torch.nn.utils.clip_grad_norm_(..., 1.5, norm_type)
  std::vector<double> grad_a;   // a.grad afterwards
  std::vector<double> grad_b;
};

// From tests' PyTorch run: a.grad = [[0.3, -1.7], [2.2, 0.9]], b.grad = [-0.6, 1.1, 0.05], c has no grad.
const std::vector<ClipCase> kClipCases = {
    {kFloat32, 2.0, 3.1941351890563965,
     {0.1408831626176834, -0.7983379364013672, 1.033143162727356, 0.42264947295188904},
     {-0.2817663252353668, 0.516571581363678, 0.023480527102947235}},
    {kFloat32, 1.0, 6.849999904632568,
     {0.06569342315196991, -0.37226274609565735, 0.48175176978111267, 0.19708026945590973},
     {-0.13138684630393982, 0.24087588489055634, 0.010948903858661652}},
    {kFloat32, 3.0, 2.614130735397339,
     {0.17214129865169525, -0.9754673838615417, 1.2623695135116577, 0.5164238810539246},
     {-0.3442825973033905, 0.6311847567558289, 0.028690217062830925}},
    {kFloat32, INFINITY, 2.200000047683716,
     {0.20454537868499756, -1.1590903997421265, 1.4999994039535522, 0.6136360764503479},
     {-0.4090907573699951, 0.7499997019767761, 0.03409089520573616}},
    {kFloat64, 2.0, 3.1941352507368874,
     {0.14088315734689932, -0.7983378916324295, 1.033143153877262, 0.422649472040698},
     {-0.28176631469379865, 0.516571576938631, 0.023480526224483225}},
    {kFloat64, 1.0, 6.8500000000000005,
     {0.06569342106665385, -0.37226271937770516, 0.481751754488795, 0.19708026319996158},
     {-0.1313868421333077, 0.2408758772443975, 0.010948903511108977}},
    {kFloat64, 3.0, 2.6141304124196645,
     {0.17214130776366585, -0.9754674106607731, 1.262369590266883, 0.5164239232909976},
     {-0.3442826155273317, 0.6311847951334415, 0.028690217960610977}},
    {kFloat64, INFINITY, 2.2,
     {0.20454536157029016, -1.1590903822316443, 1.499999318182128, 0.6136360847108705},
     {-0.4090907231405803, 0.749999659091064, 0.03409089359504836}},
};

void check_near(const std::vector<double>& got, const std::vector<double>& expected, Dtype dtype) {
  REQUIRE(got.size() == expected.size());
  const double rtol = dtype == kFloat32 ? 2.5e-7 : 1e-15;  // one float32 ulp, float64 round-off
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK_MESSAGE(std::abs(got[i] - expected[i]) <= rtol * std::abs(expected[i]), "element ", i, ": ", got[i], " vs ",
                  expected[i]);
  }
}

}  // namespace

TEST_CASE("clip_grad_norm_: PyTorch's total norm and scaling for p = 1, 2, 3, inf") {
  for (const ClipCase& c : kClipCases) {
    CAPTURE(c.norm_type);
    CAPTURE(c.dtype);
    Tensor a = zeros({2, 2}, {.dtype = c.dtype, .requires_grad = true});
    Tensor b = zeros({3}, {.dtype = c.dtype, .requires_grad = true});
    Tensor unused = zeros({1}, {.dtype = c.dtype, .requires_grad = true});
    a.mutable_grad() = testing::from_values({0.3, -1.7, 2.2, 0.9}, false, c.dtype).reshape({2, 2});
    b.mutable_grad() = testing::from_values({-0.6, 1.1, 0.05}, false, c.dtype);
    const double total = nn::utils::clip_grad_norm_({a, b, unused}, 1.5, c.norm_type);
    check_near({total}, {c.total}, c.dtype);
    check_near(values(a.grad()), c.grad_a, c.dtype);
    check_near(values(b.grad()), c.grad_b, c.dtype);
    CHECK_FALSE(unused.grad().defined());
  }
}

TEST_CASE("clip_grad_norm_: below the limit nothing changes, edge cases and misuse") {
  Tensor a = zeros({3}, {.requires_grad = true});
  a.mutable_grad() = testing::from_values({0.1, -0.2, 0.05}, false, kFloat32);
  const std::vector<double> before = values(a.grad());
  CHECK(nn::utils::clip_grad_norm_({a}, 10.0) == doctest::Approx(0.22912879288196564).epsilon(1e-7));
  CHECK(values(a.grad()) == before);  // coefficient clamped to 1
  CHECK(nn::utils::clip_grad_norm_({zeros({2}, {.requires_grad = true})}, 1.0) == 0.0);  // no gradients
  CHECK(nn::utils::clip_grad_norm_({}, 1.0) == 0.0);
  Tensor n = zeros({2}, {.dtype = kFloat64, .requires_grad = true});
  n.mutable_grad() = testing::from_values({std::nan(""), 1.0}, false);
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({n}, 1.0, 2.0, true),
                       Contains("clip_grad_norm_: the total norm of order 2 of the gradients of 1 parameters is nan"), Error);
  CHECK(std::isnan(values(n.grad())[0]));
  CHECK(values(n.grad())[1] == 1.0);  // nothing was scaled
  CHECK(std::isnan(nn::utils::clip_grad_norm_({n}, 1.0)));
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({a}, 1.0, 0.0), Contains("clip_grad_norm_: norm_type must be positive"), Error);
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_norm_({Tensor()}, 1.0), Contains("clip_grad_norm_: parameter 0 is an undefined tensor"),
                       Error);
  // A gradient that was saved for backward sees the clip as an in-place write (version bump).
  const std::uint64_t version = a.grad().impl()->storage->version();
  nn::utils::clip_grad_norm_({a}, 0.01);
  CHECK(a.grad().impl()->storage->version() == version + 1);
}

TEST_CASE("clip_grad_value_: clamps every gradient into [-clip, clip]") {
  Tensor a = zeros({3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = zeros({2}, {.dtype = kFloat64, .requires_grad = true});
  a.mutable_grad() = testing::from_values({0.3, -1.7, 2.2}, false);
  nn::utils::clip_grad_value_({a, b}, 1.0);
  CHECK(values(a.grad()) == std::vector<double>{0.3, -1.0, 1.0});
  CHECK_FALSE(b.grad().defined());
  CHECK_THROWS_WITH_AS(nn::utils::clip_grad_value_({a}, -1.0), Contains("clip_grad_value_: clip_value must be non-negative, got -1"),
                       Error);
}

TEST_CASE("Module: modules, named_modules (PyTorch's names) and apply (children first)") {
  auto inner = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::ReLU>());
  auto shared = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential model(inner, shared, shared);  // the same module twice: listed once
  auto named = model.named_modules();
  std::vector<std::string> names;
  for (auto& [name, module] : named) names.push_back(name);
  CHECK(names == std::vector<std::string>{"", "0", "0.0", "0.1", "1"});
  CHECK(named[0].second == &model);
  CHECK(named[2].second->type_name() == "Linear");
  CHECK(model.modules().size() == 5);
  CHECK(model.modules()[4] == shared.get());
  // apply: post-order; a module reachable twice is visited twice, as in PyTorch.
  std::vector<std::string> order;
  nn::Module& same = model.apply([&](nn::Module& m) { order.push_back(m.type_name()); });
  CHECK(&same == &model);
  CHECK(order == std::vector<std::string>{"Linear", "ReLU", "Sequential", "Linear", "Linear", "Sequential"});
  // The usual use: initialize every Linear's weight.
  model.apply([](nn::Module& m) {
    if (auto* linear = dynamic_cast<nn::Linear*>(&m)) {
      NoGradGuard no_grad;
      linear->weight.fill_(0.5);
    }
  });
  for (auto& [name, p] : model.named_parameters())
    if (name.ends_with("weight")) CHECK(values(p) == std::vector<double>(static_cast<std::size_t>(p.numel()), 0.5));
  CHECK_THROWS_WITH_AS(model.apply(nullptr), Contains("Sequential: apply: the function is empty"), Error);
  // named_buffers lists BatchNorm's buffers with dotted names.
  nn::Sequential with_bn(std::make_shared<nn::BatchNorm1d>(2));
  std::vector<std::string> buffers;
  for (auto& [name, t] : with_bn.named_buffers()) buffers.push_back(name);
  CHECK(buffers == std::vector<std::string>{"0.running_mean", "0.running_var", "0.num_batches_tracked"});
}

TEST_CASE("BatchNorm1d: num_batches_tracked is an int64 buffer, kept by to() and checkpoints") {
  nn::BatchNorm1d bn(3);
  CHECK(bn.num_batches_tracked.dtype() == kInt64);
  CHECK(bn.num_batches_tracked.shape() == Shape{});
  bn(randn({4, 3}));
  bn(randn({4, 3}));
  CHECK(bn.num_batches_tracked.item<std::int64_t>() == 2);
  bn.to(kFloat64);
  CHECK(bn.running_mean.dtype() == kFloat64);
  CHECK(bn.num_batches_tracked.dtype() == kInt64);  // integer buffers keep their dtype, as in PyTorch
  CHECK_THROWS_WITH_AS(bn.to(kInt64), Contains("BatchNorm1d: to() converts modules to a floating-point dtype, got int64"),
                       Error);
  // The cumulative moving average divides by the exact count.
  nn::BatchNorm1d cumulative(1, {.momentum = std::nullopt, .dtype = kFloat64});
  cumulative(testing::from_values({1, 3}, false).reshape({2, 1}));  // mean 2, unbiased var 2
  cumulative(testing::from_values({5, 5}, false).reshape({2, 1}));  // mean 5, var 0
  CHECK(values(cumulative.running_mean)[0] == doctest::Approx(3.5));  // (2 + 5) / 2
  CHECK(values(cumulative.running_var)[0] == doctest::Approx(1.0));   // (2 + 0) / 2
  // Checkpoints store int64 (and bool) entries exactly.
  const std::string path = (std::filesystem::temp_directory_path() / "xgrad_test_bn_int64.ckpt").string();
  bn.save(path);
  nn::BatchNorm1d restored(3, {.dtype = kFloat64});
  restored.load(path);
  CHECK(restored.num_batches_tracked.dtype() == kInt64);
  CHECK(restored.num_batches_tracked.item<std::int64_t>() == 2);
  nn::StateDict tensors = {{"labels", testing::int64_values({-1, std::numeric_limits<std::int64_t>::max()})},
                           {"mask", testing::bool_values({true, false, true})}};
  xgrad::save_tensors(path, tensors);
  nn::StateDict back = xgrad::load_tensors(path);
  REQUIRE(back.size() == 2);
  CHECK(back[0].second.dtype() == kInt64);
  CHECK(back[0].second.data_ptr<std::int64_t>()[1] == std::numeric_limits<std::int64_t>::max());
  CHECK(back[1].second.dtype() == kBool);
  CHECK(values(back[1].second) == std::vector<double>{1, 0, 1});
  // A module whose count was saved as float32 (by an older xgrad) is a clear mismatch, not a silent cast.
  xgrad::save_tensors(path, {{"weight", ones({3})}, {"bias", zeros({3})}, {"running_mean", zeros({3})},
                          {"running_var", ones({3})}, {"num_batches_tracked", full({}, 2.0)}});
  nn::BatchNorm1d fresh(3);
  CHECK_THROWS_WITH_AS(fresh.load(path), Contains("'num_batches_tracked' is float32 [] in the file but int64 [] in the module"),
                       Error);
  std::filesystem::remove(path);
}
