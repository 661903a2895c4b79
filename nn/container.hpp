// nn::Sequential (modules applied in order, children named "0", "1", ...) and
// nn::Flatten, as torch.nn.
//
//   nn::Sequential net({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(),
//                       std::make_shared<nn::Linear>(8, 2)});
//   net.push_back(std::make_shared<nn::Tanh>());
//   Tensor y = net(x);
//   auto first = net.at<nn::Linear>(0);     // typed access; net[0] is a std::shared_ptr<Module>
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);
  // nn::Sequential net(std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>());
  template <class First, class... Rest>
    requires(std::is_base_of_v<Module, First> && (std::is_base_of_v<Module, Rest> && ...))
  explicit Sequential(std::shared_ptr<First> first, std::shared_ptr<Rest>... rest) {
    push_back(std::move(first));
    (push_back(std::move(rest)), ...);
  }

  // Appends a module as child "<size()>".
  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  // Negative indices count from the end, as Python's; out of range throws xgrad::Error.
  const std::shared_ptr<Module>& operator[](std::int64_t index) const;
  template <class M>
  std::shared_ptr<M> at(std::int64_t index) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[index]);
    XGRAD_CHECK(typed != nullptr, "Sequential: module {} is a {}, not the requested type", index,
                (*this)[index]->type_name());
    return typed;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

  // Applies every module in order, each through its operator() so its hooks run
  // (the input when empty).
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Flattens dims start_dim..end_dim into one: (N, C, L) -> (N, C * L) by default.
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t first = 1, std::int64_t last = -1) : start_dim(first), end_dim(last) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;
  std::int64_t start_dim, end_dim;
};

}  // namespace xgrad::nn
