#include "nn/container.hpp"

#include <string>

#include "ops/ops.hpp"

namespace xgrad::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& module : modules) push_back(module);
}

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& module : modules) push_back(module);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  XGRAD_CHECK(module != nullptr, "Sequential: cannot add module {}: it is null", modules_.size());
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

const std::shared_ptr<Module>& Sequential::operator[](std::int64_t index) const {
  const auto n = static_cast<std::int64_t>(modules_.size());
  XGRAD_CHECK(index >= -n && index < n, "Sequential: index {} is out of range for {} modules", index, n);
  return modules_[static_cast<std::size_t>(index < 0 ? index + n : index)];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& module : modules_) x = (*module)(x);  // through operator(): the child's hooks run
  return x;
}

Tensor Flatten::forward(const Tensor& input) { return xgrad::flatten(input, start_dim, end_dim); }

std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim); }

}  // namespace xgrad::nn
