// Module::save/load: a module's state_dict in a weight file (core/serialization).
#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

#include "core/file_io.hpp"
#include "core/serialization/formats.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

namespace detail {

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
       training_checkpoint ? " (it looks like a save_checkpoint file: use optim::load_checkpoint)" : "");
}

}  // namespace detail

void Module::save(const std::string& path) const { xgrad::detail::write_weight_file(path, state_dict(), "Module::save"); }

void Module::load(const std::string& path) {
  with_file_errors("Module::load", path, [&] {
    const StateDict state = xgrad::detail::read_weight_file(path, "Module::load");
    detail::check_module_state(*this, state, path, "Module::load");
    load_state_dict(state);
  });
}

}  // namespace xgrad::nn
