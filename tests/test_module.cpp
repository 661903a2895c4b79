// nn::Module: registration, dotted names in registration order, children,
// train/eval, zero_grad, to(dtype), state_dict/load_state_dict and the repr,
// each checked against what PyTorch 1.13 does for the same module tree.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/conv1d.hpp"
#include "nn/module.hpp"
#include "support/testing.hpp"

using namespace xgrad;

namespace {

using xgrad::testing::contains;
using xgrad::testing::error_of;


std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : named) names.push_back(name);
  return names;
}

// A container like nn.Sequential: children named "0", "1", ...
struct Sequential : nn::Module {
  explicit Sequential(std::vector<std::shared_ptr<nn::Module>> modules) {
    for (std::size_t i = 0; i < modules.size(); ++i) register_module(std::to_string(i), modules[i]);
  }
  std::string type_name() const override { return "Sequential"; }
};

// A leaf with a parameter and a buffer, like BatchNorm's running statistics.
struct Norm : nn::Module {
  Tensor weight = register_parameter("weight", ones({2}));
  Tensor running_mean = register_buffer("running_mean", zeros({2}));
  std::string type_name() const override { return "Norm"; }
  std::string extra_repr() const override { return "2"; }
};

// PyTorch: class M(nn.Module) with a, buf, features = Sequential(Conv1d(1, 2, 3), Norm), b.
struct Model : nn::Module {
  Tensor a = register_parameter("a", zeros({1}));
  Tensor buf = register_buffer("buf", zeros({2}));
  std::shared_ptr<Sequential> features = register_module(
      "features", std::make_shared<Sequential>(std::vector<std::shared_ptr<nn::Module>>{
                      std::make_shared<nn::Conv1d>(1, 2, 3), std::make_shared<Norm>()}));
  Tensor b = register_parameter("b", zeros({1}));
  std::string type_name() const override { return "M"; }
  std::string extra_repr() const override { return "hello=1"; }
};

}  // namespace

TEST_CASE("Module: named_parameters, state_dict and children in PyTorch's order") {
  Model m;
  CHECK(names_of(m.named_parameters()) ==
        std::vector<std::string>{"a", "b", "features.0.weight", "features.0.bias", "features.1.weight"});
  CHECK(names_of(m.named_parameters(false)) == std::vector<std::string>{"a", "b"});
  CHECK(m.parameters().size() == 5);
  CHECK(m.parameters()[2].impl() == std::static_pointer_cast<nn::Conv1d>(m.features->children()[0])->weight.impl());
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"buf", "features.1.running_mean"});
  // PyTorch's state_dict: each module's parameters, then its buffers, then its children.
  CHECK(names_of(m.state_dict()) == std::vector<std::string>{"a", "b", "buf", "features.0.weight", "features.0.bias",
                                                             "features.1.weight", "features.1.running_mean"});
  REQUIRE(m.children().size() == 1);
  CHECK(m.children()[0] == m.features);
  CHECK(m.features->children().size() == 2);
  CHECK(m.named_children()[0].first == "features");
}

TEST_CASE("Module: repr like PyTorch's, nested modules indented") {
  Model m;
  CHECK(m.repr() ==
        "M(\n"
        "  hello=1\n"
        "  (features): Sequential(\n"
        "    (0): Conv1d(1, 2, kernel_size=(3,), stride=(1,))\n"
        "    (1): Norm(2)\n"
        "  )\n"
        ")");
  CHECK(Sequential({}).repr() == "Sequential()");
  CHECK(fmt::format("{}", *m.features) == m.features->repr());
}

TEST_CASE("Module: registration errors") {
  Norm n;
  CHECK(contains(error_of([&] { n.register_parameter("weight", zeros({1})); }), "the name is already taken"));
  CHECK(contains(error_of([&] { n.register_buffer("weight", zeros({1})); }), "the name is already taken"));
  CHECK(contains(error_of([&] { n.register_parameter("a.b", zeros({1})); }), "must be non-empty and contain no '.'"));
  CHECK(contains(error_of([&] { n.register_parameter("", zeros({1})); }), "must be non-empty"));
  CHECK(contains(error_of([&] { n.register_module("child", std::shared_ptr<Norm>()); }), "it is null"));
  const Tensor leaf = ones({2}, {.requires_grad = true});
  CHECK(contains(error_of([&] { n.register_parameter("derived", leaf * 2.0); }), "must be a leaf tensor"));
  CHECK(contains(error_of([&] { n.forward(ones({2})); }), "Norm: this module does not implement forward"));
  // An undefined parameter (PyTorch's None) is registered but not listed.
  n.register_parameter("absent", Tensor());
  CHECK(names_of(n.named_parameters()) == std::vector<std::string>{"weight"});
}

TEST_CASE("Module: shared parameters and modules are listed once, like PyTorch") {
  auto shared = std::make_shared<nn::Conv1d>(1, 1, 1);
  Sequential s({shared, shared});
  CHECK(names_of(s.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias"});
  CHECK(s.parameters().size() == 2);  // an optimizer must not step a tied weight twice
  CHECK(names_of(s.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
}

TEST_CASE("Module: train and eval apply to every child") {
  Model m;
  CHECK(m.is_training());
  m.eval();
  CHECK_FALSE(m.is_training());
  CHECK_FALSE(m.features->is_training());
  CHECK_FALSE(m.features->children()[1]->is_training());
  m.train();
  CHECK(m.features->children()[0]->is_training());
}

TEST_CASE("Module: zero_grad sets gradients to none or to zero") {
  nn::Conv1d m(2, 3, 3);
  m(ones({1, 2, 5})).sum().backward();
  REQUIRE(m.weight.grad().defined());
  m.zero_grad(false);
  REQUIRE(m.weight.grad().defined());
  CHECK(m.weight.grad().abs().sum().item<double>() == 0.0);
  CHECK(m.bias.grad().abs().sum().item<double>() == 0.0);
  m(ones({1, 2, 5})).sum().backward();  // accumulates into the zeroed gradient
  CHECK(m.bias.grad().sum().item<double>() == doctest::Approx(9.0));
  m.zero_grad();
  CHECK_FALSE(m.weight.grad().defined());
  CHECK_FALSE(m.bias.grad().defined());
}

TEST_CASE("Module: to(dtype) converts parameters, buffers and gradients in place") {
  Model m;
  Tensor held = m.a;  // e.g. an optimizer's handle
  m.a.mutable_grad() = ones({1});
  m.to(kFloat64);
  for (const auto& [name, tensor] : m.state_dict()) {
    INFO(name);
    CHECK(tensor.dtype() == kFloat64);
  }
  CHECK(held.dtype() == kFloat64);
  CHECK(m.a.grad().dtype() == kFloat64);
  m.to(kFloat32);
  CHECK(m.buf.dtype() == kFloat32);
}

TEST_CASE("Module: load_state_dict is strict and all-or-nothing") {
  Model source, target;
  {
    NoGradGuard no_grad;
    for (auto& [name, tensor] : source.state_dict()) tensor.fill_(3.0);
  }
  nn::StateDict state = source.state_dict();
  auto all_equal = [](const Model& m, double value) {
    for (const auto& [name, tensor] : m.state_dict())
      if (tensor.to(kFloat64).sum().item<double>() != value * static_cast<double>(tensor.numel())) return false;
    return true;
  };
  nn::StateDict broken = state;
  broken.erase(broken.begin());                              // missing 'a'
  broken.emplace_back("features.2.weight", zeros({1}));      // unexpected
  broken[1].second = zeros({5});                             // 'buf' (after the erase) with the wrong shape
  const std::string message = error_of([&] { target.load_state_dict(broken); });
  CHECK(contains(message, "missing key 'a'"));
  CHECK(contains(message, "unexpected key 'features.2.weight'"));
  CHECK(contains(message, "'buf' has shape [5] in the state dict but [2] in the module"));
  CHECK(contains(message, "nothing was changed"));
  CHECK_FALSE(all_equal(target, 3.0));
  CHECK(target.a.item<double>() == 0.0);
  nn::StateDict twice = state;
  twice.push_back(state[0]);
  CHECK(contains(error_of([&] { target.load_state_dict(twice); }), "entry 'a' appears twice"));
  target.load_state_dict(state);
  CHECK(all_equal(target, 3.0));
  // The loaded values are copies, not the source's tensors.
  CHECK(target.a.impl() != source.a.impl());
}
