// RemovableHandle: what every register_*_hook returns (PyTorch's RemovableHandle).
// remove() takes the hook off; calling it again, or after the hooked object is
// gone, does nothing. Dropping the handle without remove() keeps the hook.
#pragma once

#include <functional>
#include <utility>

namespace xgrad {

class RemovableHandle {
 public:
  RemovableHandle() = default;
  // `remover` takes the hook off; it must be safe to call after the hooked
  // object died (capture weak references).
  explicit RemovableHandle(std::function<void()> remover) : remover_(std::move(remover)) {}

  void remove() {
    if (remover_) {
      auto remover = std::move(remover_);
      remover_ = nullptr;
      remover();
    }
  }

 private:
  std::function<void()> remover_;
};

}  // namespace xgrad
