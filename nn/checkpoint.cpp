// Module::save/load and the training checkpoints, on the tensor file of
// core/serialization/tensor_file.hpp.
#include "nn/checkpoint.hpp"

#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

#include "core/file_io.hpp"
#include "core/serialization/formats.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"

namespace xgrad::nn {

namespace {

// Throws unless `state` has exactly the module's names, shapes and dtypes.
void check_module_state(const Module& module, const StateDict& state, const std::string& path, std::string_view op) {
  const StateDict own = module.state_dict();
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : state) {
    seen.insert(name);
    const std::string& key = name;  // clang 14 cannot capture a structured binding in a lambda
    auto it = std::find_if(own.begin(), own.end(), [&](const auto& entry) { return entry.first == key; });
    if (it == own.end()) {
      problems.push_back(fmt::format("unexpected entry '{}'", name));
    } else if (tensor.shape() != it->second.shape() || tensor.dtype() != it->second.dtype()) {
      problems.push_back(fmt::format("'{}' is {} {} in the file but {} {} in the module", name, tensor.dtype(),
                                     tensor.shape(), it->second.dtype(), it->second.shape()));
    }
  }
  for (const auto& [name, tensor] : own) {
    if (seen.count(name) == 0) problems.push_back(fmt::format("missing entry '{}'", name));
  }
  if (problems.empty()) return;
  const bool training_checkpoint = std::any_of(state.begin(), state.end(), [](const auto& entry) {
    return entry.first.rfind("optimizer.", 0) == 0;
  });
  fail("{}: '{}' does not match {} ({}){}; nothing was changed", op, path, module.type_name(), fmt::join(problems, "; "),
       training_checkpoint ? " (it looks like a save_checkpoint file: use nn::load_checkpoint)" : "");
}

// Entries of `state` starting with `prefix`, with the prefix removed.
StateDict section(const StateDict& state, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, tensor] : state) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), tensor);
  }
  return out;
}

}  // namespace

void Module::save(const std::string& path) const { xgrad::detail::write_weight_file(path, state_dict(), "Module::save"); }

void Module::load(const std::string& path) {
  with_file_errors("Module::load", path, [&] {
    const StateDict state = xgrad::detail::read_weight_file(path, "Module::load");
    check_module_state(*this, state, path, "Module::load");
    load_state_dict(state);
  });
}

void save_checkpoint(const std::string& path, const Module& module, const optim::Optimizer& optimizer,
                     const optim::LRScheduler* scheduler) {
  with_file_errors("save_checkpoint", path, [&] {
    StateDict all;
    for (auto& [name, tensor] : module.state_dict()) all.emplace_back("model." + name, tensor);
    for (auto& [name, tensor] : optimizer.state_dict()) all.emplace_back("optimizer." + name, tensor);
    if (scheduler != nullptr) {
      for (auto& [name, tensor] : scheduler->state_dict()) all.emplace_back("scheduler." + name, tensor);
    }
    save_tensors(path, all, "save_checkpoint");
  });
}

namespace {

// load_checkpoint without the error translation.
void load_checkpoint_checked(const std::string& path, Module& module, optim::Optimizer& optimizer,
                             optim::LRScheduler* scheduler) {
  const StateDict state = load_tensors(path, "load_checkpoint");
  for (const auto& [name, tensor] : state) {
    XGRAD_CHECK(name.rfind("model.", 0) == 0 || name.rfind("optimizer.", 0) == 0 || name.rfind("scheduler.", 0) == 0,
                "load_checkpoint: '{}' has entry '{}', which is not from save_checkpoint (use Module::load for "
                "Module::save files); nothing was changed",
                path, name);
  }
  const StateDict model_state = section(state, "model.");
  const StateDict optimizer_state = section(state, "optimizer.");
  const StateDict scheduler_state = section(state, "scheduler.");
  XGRAD_CHECK(scheduler_state.empty() || scheduler != nullptr,
              "load_checkpoint: '{}' holds a scheduler's state; pass the scheduler to load it; nothing was changed",
              path);
  XGRAD_CHECK(!scheduler_state.empty() || scheduler == nullptr,
              "load_checkpoint: '{}' holds no scheduler state but a scheduler was given; nothing was changed", path);
  // Validate everything, then change everything.
  check_module_state(module, model_state, path, "load_checkpoint");
  try {
    optimizer.check_state_dict(optimizer_state);
    if (scheduler != nullptr) scheduler->check_state_dict(scheduler_state);
  } catch (const Error& error) {
    fail("load_checkpoint: '{}': {}", path, error.what());
  }
  module.load_state_dict(model_state);
  optimizer.load_state_dict(optimizer_state);
  if (scheduler != nullptr) scheduler->load_state_dict(scheduler_state);
}

}  // namespace

void load_checkpoint(const std::string& path, Module& module, optim::Optimizer& optimizer,
                     optim::LRScheduler* scheduler) {
  with_file_errors("load_checkpoint", path, [&] { load_checkpoint_checked(path, module, optimizer, scheduler); });
}

}  // namespace xgrad::nn
