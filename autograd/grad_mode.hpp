// Grad mode: whether ops record nodes. Per thread, like PyTorch's.
#pragma once

namespace xgrad {

namespace autograd {
bool is_grad_enabled();
void set_grad_enabled(bool enabled);
}  // namespace autograd

// Stops recording in its scope (RAII), restoring the previous mode on exit:
//   { NoGradGuard no_grad; param.copy_(...); }
class NoGradGuard {
 public:
  NoGradGuard() : previous_(autograd::is_grad_enabled()) { autograd::set_grad_enabled(false); }
  ~NoGradGuard() { autograd::set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace xgrad
