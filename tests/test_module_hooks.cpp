// nn::Module forward hooks (register_forward_pre_hook / register_forward_hook and
// RemovableHandle), with PyTorch 1.13's semantics: hooks run in registration order
// around forward when the module is called, a returned tensor replaces the input
// (pre-hooks) or the output (forward hooks), and each loop runs over the hooks
// registered when it starts.
#include <xgrad.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/testing.hpp"

using namespace xgrad;
using testing::values;

namespace {

// forward(x) = 2x: replacements before and after it are distinguishable.
struct Double : nn::Module {
  int forward_calls = 0;
  Tensor forward(const Tensor& input) override {
    ++forward_calls;
    return input * 2.0;
  }
  std::string type_name() const override { return "Double"; }
};

}  // namespace

TEST_CASE("module hooks: pre-hooks, forward, forward hooks run in registration order") {
  Double m;
  std::vector<std::string> calls;
  m.register_forward_pre_hook([&](nn::Module&, const Tensor&) { calls.push_back("pre 1"); });
  m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { calls.push_back("post 1"); });
  m.register_forward_pre_hook([&](nn::Module&, const Tensor&) { calls.push_back("pre 2"); });
  m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { calls.push_back("post 2"); });
  const Tensor y = m(testing::from_values({1.0, 2.0}, false));
  CHECK(calls == std::vector<std::string>{"pre 1", "pre 2", "post 1", "post 2"});
  CHECK(m.forward_calls == 1);
  CHECK(values(y) == std::vector<double>{2.0, 4.0});  // hooks returning void change nothing

  calls.clear();
  m.forward(y);  // forward() itself runs no hooks, as in PyTorch
  CHECK(calls.empty());
}

TEST_CASE("module hooks: the module passed to a hook is the one called") {
  Double m;
  const nn::Module* seen_pre = nullptr;
  const nn::Module* seen_post = nullptr;
  m.register_forward_pre_hook([&](nn::Module& module, const Tensor&) { seen_pre = &module; });
  m.register_forward_hook([&](nn::Module& module, const Tensor&, const Tensor&) { seen_post = &module; });
  m(testing::from_values({1.0}, false));
  CHECK(seen_pre == &m);
  CHECK(seen_post == &m);
}

TEST_CASE("module hooks: a defined result replaces the input or the output, an undefined one keeps it") {
  Double m;
  std::vector<std::vector<double>> hook_inputs, hook_outputs;
  // Pre-hooks chain: x -> x + 1 -> (kept) -> 10 * (x + 1).
  m.register_forward_pre_hook([](nn::Module&, const Tensor& x) { return x + 1.0; });
  m.register_forward_pre_hook([](nn::Module&, const Tensor&) { return Tensor(); });
  m.register_forward_pre_hook([](nn::Module&, const Tensor& x) { return x * 10.0; });
  // Forward hooks see the input forward got and the output so far.
  m.register_forward_hook([&](nn::Module&, const Tensor& input, const Tensor& output) {
    hook_inputs.push_back(values(input));
    hook_outputs.push_back(values(output));
    return output - 1.0;
  });
  m.register_forward_hook([&](nn::Module&, const Tensor& input, const Tensor& output) {
    hook_inputs.push_back(values(input));
    hook_outputs.push_back(values(output));
    return Tensor();
  });
  const Tensor x = testing::from_values({1.0, 2.0});
  const Tensor y = m(x);
  // forward sees 10 * (x + 1) = {20, 30} and returns {40, 60}; the first forward hook subtracts 1.
  CHECK(hook_inputs == std::vector<std::vector<double>>{{20.0, 30.0}, {20.0, 30.0}});
  CHECK(hook_outputs == std::vector<std::vector<double>>{{40.0, 60.0}, {39.0, 59.0}});
  CHECK(values(y) == std::vector<double>{39.0, 59.0});
  // Replacements are recorded ops like any other: d/dx (2 * 10 * (x + 1) - 1) = 20.
  y.sum().backward();
  CHECK(values(x.grad()) == std::vector<double>{20.0, 20.0});
}

TEST_CASE("module hooks: remove() unregisters, removing twice, a default handle, or a copy is harmless") {
  Double m;
  int pre_calls = 0, post_calls = 0;
  RemovableHandle pre = m.register_forward_pre_hook([&](nn::Module&, const Tensor&) { ++pre_calls; });
  RemovableHandle post = m.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++post_calls; });
  const Tensor x = testing::from_values({1.0}, false);
  m(x);
  CHECK(pre_calls == 1);
  CHECK(post_calls == 1);
  RemovableHandle copy = pre;
  pre.remove();
  m(x);
  CHECK(pre_calls == 1);
  CHECK(post_calls == 2);
  pre.remove();
  copy.remove();  // the same hook, already gone
  RemovableHandle().remove();
  m(x);
  CHECK(post_calls == 3);
  post.remove();
  m(x);
  CHECK(pre_calls == 1);
  CHECK(post_calls == 3);
  CHECK(m.forward_calls == 4);
}

TEST_CASE("module hooks: removing hooks from inside a hook does not break the loop (PyTorch's snapshot)") {
  Double m;
  std::vector<std::string> calls;
  RemovableHandle second, self;
  // The first hook removes itself and the second: both still run in this call, as in
  // PyTorch, and neither runs in the next one. The third keeps running.
  self = m.register_forward_pre_hook([&](nn::Module&, const Tensor&) {
    calls.push_back("first");
    self.remove();
    second.remove();
  });
  second = m.register_forward_pre_hook([&](nn::Module&, const Tensor&) { calls.push_back("second"); });
  m.register_forward_pre_hook([&](nn::Module&, const Tensor&) { calls.push_back("third"); });
  // A forward hook that registers another: it runs from the next call on.
  bool added = false;
  m.register_forward_hook([&](nn::Module& module, const Tensor&, const Tensor&) {
    calls.push_back("post");
    if (!added) {
      added = true;
      module.register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { calls.push_back("added"); });
    }
  });
  const Tensor x = testing::from_values({1.0}, false);
  m(x);
  CHECK(calls == std::vector<std::string>{"first", "second", "third", "post"});
  calls.clear();
  m(x);
  CHECK(calls == std::vector<std::string>{"third", "post", "added"});
}

TEST_CASE("module hooks: a handle that outlives its module removes nothing and does not crash") {
  RemovableHandle pre, post;
  std::weak_ptr<int> capture_alive;
  {
    auto m = std::make_shared<Double>();
    auto token = std::make_shared<int>(0);
    capture_alive = token;
    pre = m->register_forward_pre_hook([token](nn::Module&, const Tensor&) { ++*token; });
    post = m->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) {});
  }
  CHECK(capture_alive.expired());  // the module's hooks died with it; the handles don't keep them
  pre.remove();
  post.remove();
  pre.remove();
}

TEST_CASE("module hooks: hooks on children run when Sequential calls them, nested at any depth") {
  manual_seed(0);
  auto inner_linear = std::make_shared<nn::Linear>(3, 3);
  auto inner = std::make_shared<nn::Sequential>(inner_linear, std::make_shared<nn::ReLU>());
  auto outer_linear = std::make_shared<nn::Linear>(4, 3);
  nn::Sequential net(outer_linear, inner);
  std::vector<std::string> calls;
  auto log = [&](std::string name) {
    return [&calls, name](nn::Module& module, const Tensor& input, const Tensor& output) {
      calls.push_back(fmt::format("{} {} {} -> {}", name, module.type_name(), input.shape(), output.shape()));
    };
  };
  net.register_forward_hook(log("net"));
  outer_linear->register_forward_hook(log("0"));
  inner->register_forward_hook(log("1"));
  inner_linear->register_forward_hook(log("1.0"));
  inner->at<nn::ReLU>(1)->register_forward_pre_hook([&](nn::Module& module, const Tensor& input) {
    calls.push_back(fmt::format("1.1 pre {} {}", module.type_name(), input.shape()));
  });
  const Tensor x = randn({2, 4});
  const Tensor y = net(x);
  CHECK(calls == std::vector<std::string>{
                     "0 Linear [2, 4] -> [2, 3]",
                     "1.0 Linear [2, 3] -> [2, 3]",
                     "1.1 pre ReLU [2, 3]",
                     "1 Sequential [2, 3] -> [2, 3]",
                     "net Sequential [2, 4] -> [2, 3]",
                 });
  // A child's replacement flows on to the next child.
  inner_linear->register_forward_hook([](nn::Module&, const Tensor&, const Tensor& output) { return output * 0.0 - 1.0; });
  CHECK(values(net(x)) == std::vector<double>(6, 0.0));  // relu(-1) everywhere
}

TEST_CASE("module hooks: an empty std::function is rejected with xgrad::Error") {
  Double m;
  CHECK_THROWS_WITH_AS(m.register_forward_pre_hook(nn::ForwardPreHook()),
                       "Double: register_forward_pre_hook: the hook is empty", Error);
  CHECK_THROWS_WITH_AS(m.register_forward_hook(nn::ForwardHook()), "Double: register_forward_hook: the hook is empty",
                       Error);
}
