// optim::SGD and the lr schedulers: trajectories and values against PyTorch
// (tests/fixtures/training/sgd, scheduler), constructor errors, skipping
// parameters without gradients, zero_grad, state round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/linear.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/sgd.hpp"
#include "test_layers_support.hpp"

using namespace xgrad;
using training_tests::load_fixture;

namespace {

// The generator's problem: loss = sum(c0 * p0^2) + sum(tanh(c1 * p1)), p0 (3, 4), p1 (5).
struct Problem {
  Tensor p0, p1, c0, c1;
  Problem() {
    const Tensor all = load_fixture("sgd/inputs.npy");
    p0 = all.slice(0, 0, 12).reshape({3, 4}).detach().requires_grad_();
    p1 = all.slice(0, 12, 17).detach().requires_grad_();
    c0 = all.slice(0, 17, 29).reshape({3, 4});
    c1 = all.slice(0, 29, 34);
  }
  Tensor loss() const { return (c0 * p0 * p0).sum() + (c1 * p1).tanh().sum(); }
  Tensor flat() const { return cat({p0.detach().reshape({12}), p1.detach()}); }
};

struct SgdConfig {
  const char* name;
  optim::SGDOptions options;
};

}  // namespace

TEST_CASE("SGD follows PyTorch's trajectory for every option combination (float64)") {
  const std::vector<SgdConfig> configs = {
      {"plain", {.lr = 0.1}},
      {"momentum", {.lr = 0.1, .momentum = 0.9}},
      {"dampening", {.lr = 0.1, .momentum = 0.9, .dampening = 0.3}},
      {"nesterov", {.lr = 0.05, .momentum = 0.8, .nesterov = true}},
      {"weight_decay", {.lr = 0.1, .weight_decay = 0.05}},
      {"momentum_wd_dampening_maximize",
       {.lr = 0.02, .momentum = 0.7, .dampening = 0.1, .weight_decay = 0.01, .maximize = true}},
      {"nesterov_wd_maximize", {.lr = 0.03, .momentum = 0.5, .weight_decay = 0.02, .nesterov = true, .maximize = true}},
  };
  for (const SgdConfig& config : configs) {
    INFO(std::string(config.name));
    Problem problem;
    optim::SGD optimizer({problem.p0, problem.p1}, config.options);
    const Tensor expected = load_fixture(std::string("sgd/") + config.name + ".npy");  // (steps + 1, 17)
    for (std::int64_t step = 1; step < expected.size(0); ++step) {
      optimizer.zero_grad();
      problem.loss().backward();
      optimizer.step();
      CHECK_CLOSE_TO(problem.flat(), expected.slice(0, step, step + 1).reshape({17}), (training_tests::Tolerance{1e-13, 1e-14}),
                     "after step " + std::to_string(step));
    }
  }
}

TEST_CASE("SGD with StepLR follows PyTorch's trajectory") {
  Problem problem;
  optim::SGD optimizer({problem.p0, problem.p1}, {.lr = 0.1, .momentum = 0.9});
  optim::StepLR scheduler(optimizer, 2, 0.5);
  const Tensor expected = load_fixture("sgd/momentum_steplr.npy");
  for (std::int64_t step = 1; step < expected.size(0); ++step) {
    optimizer.zero_grad();
    problem.loss().backward();
    optimizer.step();
    scheduler.step();
    CHECK_CLOSE_TO(problem.flat(), expected.slice(0, step, step + 1).reshape({17}), (training_tests::Tolerance{1e-13, 1e-14}),
                   "after step " + std::to_string(step));
  }
}

TEST_CASE("SGD constructor errors match PyTorch's") {
  Tensor p = zeros({2}, {.requires_grad = true});
  auto make = [&](optim::SGDOptions options) { optim::SGD sgd({p}, options); };
  CHECK_THROWS_WITH_AS(make({.lr = -0.1}), "SGD: Invalid learning rate: -0.1", Error);
  CHECK_THROWS_WITH_AS(make({.lr = 0.1, .momentum = -0.5}), "SGD: Invalid momentum value: -0.5", Error);
  CHECK_THROWS_WITH_AS(make({.lr = 0.1, .weight_decay = -1}), "SGD: Invalid weight_decay value: -1", Error);
  CHECK_THROWS_AS(make({.lr = 0.1, .nesterov = true}), Error);
  CHECK_THROWS_AS(make({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}), Error);
  CHECK_THROWS_WITH_AS(make({.momentum = 0.9}), doctest::Contains("learning rate is required"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({}, {.lr = 0.1}), "SGD: optimizer got an empty parameter list", Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p * 2.0}, {.lr = 0.1}), doctest::Contains("non-leaf"), Error);
  CHECK_NOTHROW(make({.lr = 0.1, .momentum = 0.9, .nesterov = true}));
}

TEST_CASE("SGD keeps one learning rate: lr(), options().lr, step and the state agree after every change") {
  Tensor p = ones({2}, {.requires_grad = true});
  optim::SGD sgd({p}, {.lr = 0.5});
  CHECK(sgd.lr() == 0.5);
  sgd.set_lr(0.25);
  CHECK(sgd.lr() == 0.25);
  CHECK(*sgd.options().lr == 0.25);
  CHECK_THROWS_WITH_AS(sgd.set_lr(-1.0), "SGD: Invalid learning rate: -1", Error);
  CHECK_THROWS_WITH_AS(sgd.set_lr(INFINITY), "SGD: Invalid learning rate: inf", Error);
  CHECK(sgd.lr() == 0.25);  // a refused value changes nothing
  p.mutable_grad() = ones({2});
  sgd.step();
  CHECK(p.data_ptr<float>()[0] == doctest::Approx(0.75));  // the step reads the rate set_lr stored

  nn::StateDict state = sgd.state_dict();
  optim::SGD other({p}, {.lr = 0.1});
  other.load_state_dict(state);
  CHECK(other.lr() == 0.25);
  CHECK(*other.options().lr == 0.25);
  for (auto& [name, tensor] : state) {
    if (name == "lr") tensor = scalar_tensor(-2.0, {.dtype = kFloat64});
  }
  CHECK_THROWS_WITH_AS(other.load_state_dict(state), doctest::Contains("'lr' is -2"), Error);
  CHECK(other.lr() == 0.25);
}

TEST_CASE("SGD skips parameters without a gradient, zero_grad clears or zeroes") {
  nn::Linear used(3, 2), unused(3, 2);
  std::vector<Tensor> params = used.parameters();
  for (const Tensor& p : unused.parameters()) params.push_back(p);
  optim::SGD optimizer(params, {.lr = 0.5, .momentum = 0.9});
  const Tensor before_used = used.weight.detach().clone(), before_unused = unused.weight.detach().clone();
  used(ones({4, 3})).sum().backward();
  optimizer.step();
  CHECK_FALSE(training_tests::bitwise_equal(used.weight, before_used));
  CHECK(training_tests::bitwise_equal(unused.weight, before_unused));
  CHECK(optimizer.state_dict().size() == 3);  // lr + the two momentum buffers of `used`

  optimizer.zero_grad(false);
  REQUIRE(used.weight.grad().defined());
  CHECK(used.weight.grad().abs().sum().item<double>() == 0.0);
  optimizer.zero_grad();
  CHECK_FALSE(used.weight.grad().defined());
}

TEST_CASE("SGD updates float32 parameters in place (handles stay valid)") {
  nn::Linear layer(2, 1);
  Tensor w = layer.weight;  // another handle to the same parameter
  optim::SGD optimizer(layer.parameters(), {.lr = 1.0});
  const double before = w.sum().item<double>();
  layer(ones({1, 2})).sum().backward();  // d/dw = 1 for each weight
  optimizer.step();
  CHECK(w.sum().item<double>() == doctest::Approx(before - 2.0));
  CHECK(layer.weight.dtype() == kFloat32);
}

TEST_CASE("SGD state round trip continues the same trajectory") {
  Problem a, b;
  optim::SGD first({a.p0, a.p1}, {.lr = 0.1, .momentum = 0.9});
  for (int i = 0; i < 2; ++i) {
    first.zero_grad();
    a.loss().backward();
    first.step();
  }
  b.p0.impl()->storage = a.p0.detach().clone().impl()->storage;
  b.p1.impl()->storage = a.p1.detach().clone().impl()->storage;
  optim::SGD second({b.p0, b.p1}, {.lr = 0.7, .momentum = 0.9});
  second.load_state_dict(first.state_dict());
  CHECK(second.lr() == 0.1);
  for (int i = 0; i < 3; ++i) {
    for (auto* run : {&a, &b}) run->p0.mutable_grad() = Tensor(), run->p1.mutable_grad() = Tensor();
    a.loss().backward();
    b.loss().backward();
    first.step();
    second.step();
  }
  CHECK(training_tests::bitwise_equal(a.flat(), b.flat()));

  nn::StateDict wrong = {{"lr", scalar_tensor(0.1, {.dtype = kFloat64})}, {"momentum_buffer.0", zeros({5}, {.dtype = kFloat64})}};
  CHECK_THROWS_WITH_AS(second.load_state_dict(wrong), doctest::Contains("momentum_buffer.0"), Error);
  CHECK_THROWS_WITH_AS(second.load_state_dict({}), doctest::Contains("missing entry 'lr'"), Error);
  CHECK(second.lr() == 0.1);
}

TEST_CASE("StepLR and CosineAnnealingLR give PyTorch's values exactly") {
  struct Run {
    const char* fixture;
    double lr;
    std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer&)> make;
  };
  const std::vector<Run> runs = {
      {"step_lr_3_0.5", 0.1, [](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, 3, 0.5); }},
      {"step_lr_1_0.9", 0.3, [](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, 1, 0.9); }},
      {"cosine_5_0.01", 0.1, [](optim::Optimizer& o) { return std::make_unique<optim::CosineAnnealingLR>(o, 5, 0.01); }},
      {"cosine_7_0", 0.05, [](optim::Optimizer& o) { return std::make_unique<optim::CosineAnnealingLR>(o, 7); }},
  };
  for (const Run& run : runs) {
    INFO(std::string(run.fixture));
    Tensor p = zeros({1}, {.requires_grad = true});
    optim::SGD optimizer({p}, {.lr = run.lr});
    auto scheduler = run.make(optimizer);
    const Tensor expected = load_fixture(std::string("scheduler/") + run.fixture + ".npy");
    const double* values = expected.data_ptr<double>();
    CHECK(scheduler->get_last_lr().at(0) == values[0]);
    for (std::int64_t epoch = 1; epoch < expected.numel(); ++epoch) {
      optimizer.step();
      scheduler->step();
      INFO("epoch ", epoch);
      CHECK(scheduler->get_last_lr().at(0) == values[epoch]);
      CHECK(optimizer.lr() == values[epoch]);
    }
  }
}

TEST_CASE("schedulers validate their arguments") {
  Tensor p = zeros({1}, {.requires_grad = true});
  optim::SGD optimizer({p}, {.lr = 0.1});
  CHECK_THROWS_AS(optim::StepLR(optimizer, 0), Error);
  CHECK_THROWS_AS(optim::CosineAnnealingLR(optimizer, 0), Error);
}
