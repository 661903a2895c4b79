// Tensor's autograd members (declared in core/tensor.hpp): defined on this floor because
// they read grad_fn nodes, grad mode and the engine, which sit above core.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/tensor.hpp"

namespace xgrad {

Tensor& Tensor::requires_grad_(bool requires_grad) {
  const TensorImpl& impl = checked_impl("requires_grad_");
  XGRAD_CHECK(impl.grad_fn == nullptr || requires_grad,
              "requires_grad_: you can only change requires_grad of leaf tensors; this one was made by {} "
              "(use detach() to get a leaf)",
              impl.grad_fn->name);
  XGRAD_CHECK(!requires_grad || is_floating_point(impl.storage->dtype()),
              "requires_grad_: only floating-point tensors can require gradients, this one is {} (shape {})",
              impl.storage->dtype(), impl.shape);
  impl_->requires_grad = requires_grad;
  return *this;
}

std::string Tensor::grad_fn_name() const {
  const TensorImpl& impl = checked_impl("grad_fn");
  return impl.grad_fn ? impl.grad_fn->name : "";
}

void Tensor::backward(const Tensor& grad, BackwardOptions options) const {
  checked_impl("backward");
  autograd::backward({*this}, {grad}, options);
}

namespace {
std::uint64_t next_hook_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1);
}

// Removes the entry with `id` from a hook list, under the owner's lock.
template <class Owner, class List>
std::function<void()> hook_remover(const std::shared_ptr<Owner>& owner, List Owner::*list, std::uint64_t id) {
  return [weak = std::weak_ptr<Owner>(owner), list, id] {
    if (auto alive = weak.lock()) {
      std::lock_guard lock(autograd::detail::graph_mutex(alive.get()));
      auto& hooks = (*alive).*list;
      hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [id](const auto& entry) { return entry.first == id; }),
                  hooks.end());
    }
  };
}
}  // namespace

RemovableHandle Tensor::register_hook(GradHook hook) const {
  const TensorImpl& impl = checked_impl("register_hook");
  XGRAD_CHECK(impl.requires_grad,
              "register_hook: cannot register a hook on a tensor that does not require grad (shape {})", impl.shape);
  XGRAD_CHECK(static_cast<bool>(hook), "register_hook: the hook is empty");
  const std::uint64_t id = next_hook_id();
  if (impl.grad_fn) {
    // A non-leaf's gradient is what its grad_fn receives: the hook lives there.
    std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
    impl.grad_fn->output_hooks.emplace_back(id, std::move(hook));
    return RemovableHandle(hook_remover(impl.grad_fn, &autograd::Node::output_hooks, id));
  }
  std::lock_guard lock(autograd::detail::graph_mutex(impl_.get()));
  impl_->grad_hooks.emplace_back(id, std::move(hook));
  return RemovableHandle(hook_remover(impl_, &TensorImpl::grad_hooks, id));
}

void Tensor::retain_grad() const {
  const TensorImpl& impl = checked_impl("retain_grad");
  XGRAD_CHECK(impl.requires_grad, "retain_grad: cannot retain the gradient of a tensor that does not require grad (shape {})",
              impl.shape);
  if (!impl.grad_fn) return;  // leaves keep theirs
  std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
  if (impl.grad_fn->retained_output.lock() == impl_) return;
  impl.grad_fn->retained_output = impl_;
  // A hook in registration order (PyTorch 1.13's rule): it sees the gradient as
  // the hooks registered before it left it, in backward() and grad() alike.
  impl.grad_fn->output_hooks.emplace_back(next_hook_id(), [weak = std::weak_ptr<TensorImpl>(impl_)](const Tensor& g) {
    if (auto target = weak.lock()) {
      std::lock_guard grad_lock(autograd::detail::graph_mutex(target.get()));
      if (!target->grad.defined()) {
        target->grad = autograd::is_grad_enabled() ? g.clone() : g.detach().clone();
      } else {
        target->grad = target->grad.add(g);
      }
    }
    return Tensor();
  });
}

bool Tensor::retains_grad() const {
  const TensorImpl& impl = checked_impl("retains_grad");
  if (!impl.grad_fn) return false;
  std::lock_guard lock(autograd::detail::graph_mutex(impl.grad_fn.get()));
  return impl.grad_fn->retained_output.lock() == impl_;
}

RemovableHandle Tensor::register_post_accumulate_grad_hook(PostAccumulateGradHook hook) const {
  const TensorImpl& impl = checked_impl("register_post_accumulate_grad_hook");
  XGRAD_CHECK(impl.grad_fn == nullptr && impl.requires_grad,
              "register_post_accumulate_grad_hook: only leaf tensors that require grad accumulate a gradient; this "
              "one {}",
              impl.grad_fn ? fmt::format("was made by {}", impl.grad_fn->name) : std::string("does not require grad"));
  XGRAD_CHECK(static_cast<bool>(hook), "register_post_accumulate_grad_hook: the hook is empty");
  const std::uint64_t id = next_hook_id();
  std::lock_guard lock(autograd::detail::graph_mutex(impl_.get()));
  impl_->post_accumulate_grad_hooks.emplace_back(id, std::move(hook));
  return RemovableHandle(hook_remover(impl_, &TensorImpl::post_accumulate_grad_hooks, id));
}

}  // namespace xgrad
