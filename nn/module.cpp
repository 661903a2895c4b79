#include "nn/module.hpp"

#include <algorithm>
#include <ostream>
#include <set>

#include "autograd/anomaly.hpp"
#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"

namespace xgrad::nn {

namespace detail {

// Hooks are held by shared_ptr so a call can run a snapshot of them: a hook that
// removes itself (or another) while running must not destroy the function object
// that is executing.
struct ForwardHooks {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const ForwardPreHook>>> pre;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const ForwardHook>>> post;
  std::uint64_t next_id = 1;
};

}  // namespace detail

namespace {

template <class Hook>
std::vector<std::shared_ptr<const Hook>> snapshot(const std::vector<std::pair<std::uint64_t, std::shared_ptr<const Hook>>>& hooks) {
  std::vector<std::shared_ptr<const Hook>> out;
  out.reserve(hooks.size());
  for (const auto& entry : hooks) out.push_back(entry.second);
  return out;
}

}  // namespace

namespace {
// Takes hook `id` off `hooks`, if the module still exists.
RemovableHandle handle_for(const std::shared_ptr<detail::ForwardHooks>& hooks, std::uint64_t id) {
  return RemovableHandle([weak = std::weak_ptr<detail::ForwardHooks>(hooks), id] {
    if (std::shared_ptr<detail::ForwardHooks> alive = weak.lock()) {
      auto erase = [&](auto& list) { std::erase_if(list, [&](const auto& entry) { return entry.first == id; }); };
      erase(alive->pre);
      erase(alive->post);
    }
  });
}
}  // namespace

RemovableHandle Module::add_forward_pre_hook(ForwardPreHook hook) {
  XGRAD_CHECK(hook != nullptr, "{}: register_forward_pre_hook: the hook is empty", type_name());
  if (!hooks_) hooks_ = std::make_shared<detail::ForwardHooks>();
  const std::uint64_t id = hooks_->next_id++;
  hooks_->pre.emplace_back(id, std::make_shared<const ForwardPreHook>(std::move(hook)));
  return handle_for(hooks_, id);
}

RemovableHandle Module::add_forward_hook(ForwardHook hook) {
  XGRAD_CHECK(hook != nullptr, "{}: register_forward_hook: the hook is empty", type_name());
  if (!hooks_) hooks_ = std::make_shared<detail::ForwardHooks>();
  const std::uint64_t id = hooks_->next_id++;
  hooks_->post.emplace_back(id, std::make_shared<const ForwardHook>(std::move(hook)));
  return handle_for(hooks_, id);
}

Tensor Module::forward(const Tensor&) {
  fail("{}: this module does not implement forward(const Tensor&)", type_name());
}

Tensor Module::operator()(const Tensor& input) {
  if (!autograd::is_anomaly_enabled()) return call_with_hooks(input);
  autograd::AnomalyScope scope(type_name());
  return call_with_hooks(input);
}

Tensor Module::call_with_hooks(const Tensor& input) {
  if (!hooks_ || (hooks_->pre.empty() && hooks_->post.empty())) return forward(input);
  Tensor x = input;
  for (const auto& hook : snapshot(hooks_->pre)) {
    Tensor replacement = (*hook)(*this, x);
    if (replacement.defined()) x = std::move(replacement);
  }
  Tensor y = forward(x);
  for (const auto& hook : snapshot(hooks_->post)) {
    Tensor replacement = (*hook)(*this, x, y);
    if (replacement.defined()) y = std::move(replacement);
  }
  return y;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  XGRAD_CHECK(!name.empty() && name.find('.') == std::string::npos,
              "{}: {} name '{}' must be non-empty and contain no '.'", type_name(), what, name);
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& entry) { return entry.first == name; });
  };
  XGRAD_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
              "{}: cannot register {} '{}': the name is already taken", type_name(), what, name);
}

Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  if (tensor.defined()) {
    XGRAD_CHECK(tensor.is_leaf(), "{}: parameter '{}' must be a leaf tensor (use detach())", type_name(), name);
    tensor.requires_grad_(requires_grad);
  }
  parameters_.emplace_back(std::move(name), std::make_unique<Tensor>(std::move(tensor)));
  return *parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name(name, "buffer");
  buffers_.emplace_back(std::move(name), std::make_unique<Tensor>(std::move(tensor)));
  return *buffers_.back().second;
}

void Module::add_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  XGRAD_CHECK(module != nullptr, "{}: cannot register module '{}': it is null", type_name(), name);
  children_.emplace_back(std::move(name), std::move(module));
}

Tensor* Module::find_parameter(const std::string& name) {
  for (auto& [key, tensor] : parameters_)
    if (key == name) return tensor.get();
  return nullptr;
}

void Module::collect(const std::string& prefix, bool recurse, Collect what,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  // Pre-order walk, iteratively (deep nets must not recurse on the C++ stack):
  // each module's parameters, then its buffers, then its children, as PyTorch.
  // named_parameters/named_buffers list a tensor shared by several modules once
  // (under its first name), so an optimizer never steps a tied weight twice;
  // state_dict keeps every name, like PyTorch's.
  const bool parameters = what != Collect::Buffers, buffers = what != Collect::Parameters;
  const bool unique = what != Collect::StateDictEntries;
  std::set<const TensorImpl*> seen;
  std::vector<std::pair<std::string, const Module*>> stack = {{prefix, this}};
  while (!stack.empty()) {
    // Not a structured binding: the lambda below uses `path`, and clang 14 cannot capture bindings.
    const std::string path = stack.back().first;
    const Module* module = stack.back().second;
    stack.pop_back();
    auto add = [&](const auto& list) {
      for (const auto& [name, tensor] : list) {
        if (!tensor->defined() || (unique && !seen.insert(tensor->impl()).second)) continue;
        out.emplace_back(path + name, *tensor);
      }
    };
    if (parameters) add(module->parameters_);
    if (buffers) add(module->buffers_);
    if (!recurse) break;
    for (auto it = module->children_.rbegin(); it != module->children_.rend(); ++it) {
      stack.emplace_back(path + it->first + ".", it->second.get());
    }
  }
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, Collect::Parameters, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, Collect::Buffers, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters(recurse)) out.push_back(tensor);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  // Pre-order, iteratively; a module registered in several places is listed once, under its first name.
  std::vector<std::pair<std::string, Module*>> out;
  std::set<const Module*> seen;
  std::vector<std::pair<std::string, Module*>> stack = {{"", this}};
  while (!stack.empty()) {
    auto [name, module] = stack.back();
    stack.pop_back();
    if (!seen.insert(module).second) continue;
    out.emplace_back(name, module);
    for (auto it = module->children_.rbegin(); it != module->children_.rend(); ++it) {
      stack.emplace_back(name.empty() ? it->first : name + "." + it->first, it->second.get());
    }
  }
  return out;
}

std::vector<Module*> Module::modules() {
  std::vector<Module*> out;
  for (auto& [name, module] : named_modules()) out.push_back(module);
  return out;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  XGRAD_CHECK(static_cast<bool>(fn), "{}: apply: the function is empty", type_name());
  // Post-order (children first, then the module), iteratively: each entry is a
  // module and the index of its next child to visit.
  std::vector<std::pair<Module*, std::size_t>> stack = {{this, 0}};
  while (!stack.empty()) {
    auto& [module, next] = stack.back();
    if (next < module->children_.size()) {
      Module* child = module->children_[next++].second.get();
      stack.emplace_back(child, 0);
    } else {
      Module* done = module;
      stack.pop_back();
      fn(*done);
    }
  }
  return *this;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  autograd::zero_grad(parameters(), set_to_none);
}

void Module::to(Dtype dtype) {
  XGRAD_CHECK(is_floating_point(dtype), "{}: to() converts modules to a floating-point dtype, got {}", type_name(),
              dtype);
  NoGradGuard no_grad;
  std::vector<std::pair<std::string, Tensor>> all = named_parameters();
  for (auto& entry : named_buffers()) all.push_back(entry);
  for (auto& [name, tensor] : all) {
    // Integer buffers (BatchNorm1d's num_batches_tracked) keep their dtype, as in PyTorch.
    if (tensor.dtype() == dtype || !is_floating_point(tensor.dtype())) continue;
    // Swap the storage under the same TensorImpl: every handle sees the new dtype.
    Tensor converted = tensor.to(dtype);
    tensor.impl()->storage = converted.impl()->storage;
    Tensor& grad = tensor.mutable_grad();
    if (grad.defined()) grad = grad.to(dtype).detach();
  }
}

StateDict Module::state_dict() const {
  StateDict out;
  collect("", true, Collect::StateDictEntries, out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict own = state_dict();
  std::vector<std::string> problems;
  std::set<std::string> seen;
  std::vector<std::pair<Tensor, Tensor>> copies;  // destination, source
  for (const auto& [name, source] : state) {
    XGRAD_CHECK(seen.insert(name).second, "load_state_dict: entry '{}' appears twice", name);
    // (clang 14 cannot capture a structured binding in a lambda: compare through a plain reference.)
    const std::string& key = name;
    auto it = std::find_if(own.begin(), own.end(), [&](const auto& entry) { return entry.first == key; });
    if (it == own.end()) {
      if (strict) problems.push_back(fmt::format("unexpected key '{}'", name));
      continue;
    }
    if (!source.defined()) {
      problems.push_back(fmt::format("'{}' is an undefined tensor", name));
    } else if (source.shape() != it->second.shape()) {
      problems.push_back(fmt::format("'{}' has shape {} in the state dict but {} in the module", name, source.shape(),
                                     it->second.shape()));
    } else if (source.dtype() != it->second.dtype()) {
      problems.push_back(fmt::format("'{}' has dtype {} in the state dict but {} in the module", name, source.dtype(),
                                     it->second.dtype()));
    } else {
      copies.emplace_back(it->second, source);
    }
  }
  if (strict) {
    for (const auto& [name, tensor] : own)
      if (seen.count(name) == 0) problems.push_back(fmt::format("missing key '{}'", name));
  }
  XGRAD_CHECK(problems.empty(), "load_state_dict: cannot load into {} ({}); nothing was changed", type_name(),
              fmt::join(problems, "; "));
  NoGradGuard no_grad;
  for (auto& [destination, source] : copies) destination.copy_(source);
}

std::string Module::repr() const {
  // PyTorch's layout: "Name(extra)" for a leaf module; children on their own
  // lines as "(name): child", indented by two spaces per level.
  std::string out = type_name() + "(";
  const std::string extra = extra_repr();
  if (children_.empty()) return out + extra + ")";
  if (!extra.empty()) out += "\n  " + extra;
  for (const auto& [name, child] : children_) {
    std::string child_repr = child->repr();
    std::string indented;
    for (char c : child_repr) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    out += "\n  (" + name + "): " + indented;
  }
  return out + "\n)";
}

std::ostream& operator<<(std::ostream& out, const Module& module) { return out << module.repr(); }

}  // namespace xgrad::nn
