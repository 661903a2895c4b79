// Training checkpoints (model + optimizer + scheduler) on the tensor file of
// core/serialization/tensor_file.hpp.
#include "optim/checkpoint.hpp"

#include <string_view>
#include <vector>

#include "core/file_io.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"

namespace xgrad::optim {

namespace {

// Entries of `state` starting with `prefix`, with the prefix removed.
StateDict section(const StateDict& state, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, tensor] : state) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), tensor);
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& module, const Optimizer& optimizer,
                     const LRScheduler* scheduler) {
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
void load_checkpoint_checked(const std::string& path, nn::Module& module, Optimizer& optimizer,
                             LRScheduler* scheduler) {
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
  nn::detail::check_module_state(module, model_state, path, "load_checkpoint");
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

void load_checkpoint(const std::string& path, nn::Module& module, Optimizer& optimizer,
                     LRScheduler* scheduler) {
  with_file_errors("load_checkpoint", path, [&] { load_checkpoint_checked(path, module, optimizer, scheduler); });
}

}  // namespace xgrad::optim
