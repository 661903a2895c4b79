// nn::Module: the base of every layer, with the names LibTorch users know.
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Conv1d> conv = register_module("conv", std::make_shared<nn::Conv1d>(1, 8, 3));
//     Tensor scale = register_parameter("scale", ones({1}));
//     Tensor forward(const Tensor& x) override { return conv->forward(x) * scale; }
//     std::string type_name() const override { return "Net"; }
//   };
//
// Parameters and buffers are Tensor handles shared with the module's members, so
// `m.weight` and `m.named_parameters()` always see the same tensor.
//
// Forward hooks, as PyTorch's register_forward_pre_hook / register_forward_hook:
//
//   auto handle = conv->register_forward_hook([](nn::Module& m, const Tensor& in, const Tensor& out) {
//     fmt::print("{}: {} -> {}\n", m.type_name(), in.shape(), out.shape());   // returns void: keeps out
//   });
//   handle.remove();
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string_view>
#include <type_traits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/hooks.hpp"
#include "core/state_dict.hpp"
#include "core/tensor.hpp"

namespace xgrad::nn {

// The tensor files below nn (core/state_dict.hpp) share this type.
using StateDict = xgrad::StateDict;

class Module;

// A forward pre-hook sees the module and its input before forward; a defined
// result replaces the input, an undefined one (Tensor()) keeps it.
using ForwardPreHook = std::function<Tensor(Module& module, const Tensor& input)>;
// A forward hook sees the module, the input forward got (after the pre-hooks) and
// forward's output; a defined result replaces the output, an undefined one keeps it.
using ForwardHook = std::function<Tensor(Module& module, const Tensor& input, const Tensor& output)>;

class Module;

namespace detail {
struct ForwardHooks;  // a module's hook lists, shared with its handles through weak references
// Throws (naming `op` and `path`) unless `state` has exactly the module's names, shapes and
// dtypes: Module::load and optim::load_checkpoint validate a whole file before loading any of it.
void check_module_state(const Module& module, const StateDict& state, const std::string& path, std::string_view op);
}

// register_forward_pre_hook / register_forward_hook return an xgrad::RemovableHandle
// (core/hooks.hpp): it holds only a weak reference to the module's hooks.

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. Modules with one tensor in and one out override this; the
  // base throws xgrad::Error naming the module type.
  virtual Tensor forward(const Tensor& input);
  // Calls the forward pre-hooks, forward, then the forward hooks (inside an
  // anomaly-detection scope naming this module). Call children through it too
  // (Sequential does) so that their hooks run.
  Tensor operator()(const Tensor& input);

  // Hooks run by operator() (not by a direct forward() call), each kind in
  // registration order, each seeing the previous one's replacement. A hook may
  // return Tensor (undefined: keep) or void (keep). Each call iterates over the
  // hooks registered when its loop starts, as PyTorch does: a hook removed during
  // the call still runs in that loop, one added during the call runs from the
  // next call on. Registering or removing while another thread calls this module
  // is not supported; different modules in different threads are independent.
  template <class F>
    requires std::invocable<F&, Module&, const Tensor&>
  RemovableHandle register_forward_pre_hook(F hook) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&>>) {
      return add_forward_pre_hook([hook = std::move(hook)](Module& module, const Tensor& input) mutable {
        hook(module, input);
        return Tensor();
      });
    } else {
      return add_forward_pre_hook(ForwardPreHook(std::move(hook)));
    }
  }
  template <class F>
    requires std::invocable<F&, Module&, const Tensor&, const Tensor&>
  RemovableHandle register_forward_hook(F hook) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&, const Tensor&>>) {
      return add_forward_hook(
          [hook = std::move(hook)](Module& module, const Tensor& input, const Tensor& output) mutable {
            hook(module, input, output);
            return Tensor();
          });
    } else {
      return add_forward_hook(ForwardHook(std::move(hook)));
    }
  }

  // Registration: returns the stored handle (parameters get requires_grad).
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  Tensor& register_buffer(std::string name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    add_child(std::move(name), module);
    return module;
  }

  // Queries, recursing into children unless recurse = false.
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // This module and every module below it, pre-order, each once (PyTorch's
  // modules()/named_modules(): "" names the root, children are dotted,
  // "features.0"). Pointers into the tree, valid while this module lives.
  std::vector<Module*> modules();
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Calls fn on every child (recursively, children first) and then on this module,
  // as PyTorch's apply (e.g. to initialize weights); returns *this.
  Module& apply(const std::function<void(Module&)>& fn);

  // Mode: train (default) or eval; applies to every child.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Clears every parameter's gradient: undefined (set_to_none) or zero-filled.
  void zero_grad(bool set_to_none = true);

  // Converts every floating-point parameter and buffer to the floating-point
  // `dtype` in place (the handles held by members and optimizers stay valid);
  // int64 and bool buffers keep their dtype.
  void to(Dtype dtype);

  // Parameters and buffers by dotted name.
  StateDict state_dict() const;
  // Copies values from `state` into this module. strict (the default): every
  // name must be present, none unexpected, shapes and dtypes must match; on any
  // mismatch throws xgrad::Error listing the problems and changes nothing.
  void load_state_dict(const StateDict& state, bool strict = true);

  // state_dict() to a weight file and back, the format chosen by the extension
  // (.pt/.pth, .npz, .safetensors, anything else xgrad's tensor file; see
  // core/serialization/state_dict_file.hpp). load validates the whole file against
  // this module first: a truncated, corrupted or mismatched file throws
  // xgrad::Error and changes nothing.
  void save(const std::string& path) const;
  void load(const std::string& path);

  // Printing like PyTorch's repr: "Conv1d(16, 33, kernel_size=(3,), stride=(2,))",
  // children indented one per line.
  virtual std::string type_name() const = 0;
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;

 protected:
  void add_child(std::string name, std::shared_ptr<Module> module);
  // Replaces a registered parameter's tensor (used by reset-style re-creation);
  // the name must exist.
  Tensor* find_parameter(const std::string& name);

 private:
  RemovableHandle add_forward_pre_hook(ForwardPreHook hook);
  RemovableHandle add_forward_hook(ForwardHook hook);
  Tensor call_with_hooks(const Tensor& input);
  void check_new_name(const std::string& name, const char* what) const;
  enum class Collect { Parameters, Buffers, StateDictEntries };
  void collect(const std::string& prefix, bool recurse, Collect what, std::vector<std::pair<std::string, Tensor>>& out) const;

  bool training_ = true;
  // Parameter and buffer tensors live in std::unique_ptr boxes so the references
  // returned by register_* stay valid as more are added.
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> parameters_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  // Created by the first registration: a module without hooks pays one null check per call.
  std::shared_ptr<detail::ForwardHooks> hooks_;
};

std::ostream& operator<<(std::ostream& out, const Module& module);

}  // namespace xgrad::nn

template <class M>
  requires std::is_base_of_v<xgrad::nn::Module, M>
struct fmt::formatter<M> : fmt::formatter<std::string_view> {
  auto format(const M& module, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(module.repr(), ctx);
  }
};
