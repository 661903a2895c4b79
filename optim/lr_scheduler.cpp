#include "optim/lr_scheduler.hpp"

#include <cmath>
#include <numbers>

#include "core/creation.hpp"

namespace xgrad::optim {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::step() {
  ++last_epoch_;
  last_lr_ = compute_lr();
  optimizer_.set_lr(last_lr_);
}

nn::StateDict LRScheduler::state_dict() const {
  return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), {.dtype = kFloat64})},
          {"base_lr", scalar_tensor(base_lr_, {.dtype = kFloat64})}};
}

void LRScheduler::check_state_dict(const nn::StateDict& state) const {
  bool epoch = false, base = false;
  for (const auto& [name, tensor] : state) {
    XGRAD_CHECK(name == "last_epoch" || name == "base_lr", "LRScheduler: unexpected state entry '{}'", name);
    XGRAD_CHECK(tensor.defined() && tensor.dim() == 0 && tensor.dtype() == kFloat64,
                "LRScheduler: state entry '{}' must be a 0-dim float64 tensor", name);
    const double value = tensor.item<double>();
    XGRAD_CHECK(std::isfinite(value) && value >= 0, "LRScheduler: state entry '{}' is {}", name, value);
    if (name == "last_epoch") {
      XGRAD_CHECK(value == std::floor(value) && value < 9.0e15, "LRScheduler: last_epoch {} is not an epoch number",
                  value);
      epoch = true;
    } else {
      base = true;
    }
  }
  XGRAD_CHECK(epoch && base, "LRScheduler: state needs both 'last_epoch' and 'base_lr'");
}

void LRScheduler::load_state_dict(const nn::StateDict& state) {
  check_state_dict(state);
  for (const auto& [name, tensor] : state) {
    if (name == "last_epoch") last_epoch_ = static_cast<std::int64_t>(tensor.item<double>());
    if (name == "base_lr") base_lr_ = tensor.item<double>();
  }
  last_lr_ = optimizer_.lr();
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  XGRAD_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}

double StepLR::compute_lr() const {
  const double lr = optimizer_.lr();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lr;
  return lr * gamma_;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  XGRAD_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got {}", T_max);
}

double CosineAnnealingLR::compute_lr() const {
  // PyTorch's chainable form, term for term (its values differ from the closed
  // form in the last bits, and we match PyTorch).
  constexpr double pi = std::numbers::pi;
  const double lr = optimizer_.lr();
  const double t = static_cast<double>(last_epoch_), T = static_cast<double>(T_max_);
  if (last_epoch_ == 0) return lr;
  // Python's % is a floor modulo: (last_epoch - 1 - T_max) % (2 T_max) == 0. In 128 bits: 2 T_max
  // and last_epoch - 1 - T_max overflow 64 bits for T_max near INT64_MAX, which Python accepts.
  const __int128 period = 2 * static_cast<__int128>(T_max_);
  const __int128 phase = ((static_cast<__int128>(last_epoch_) - 1 - T_max_) % period + period) % period;
  if (phase == 0) return lr + (base_lr_ - eta_min_) * (1 - std::cos(pi / T)) / 2;
  return (1 + std::cos(pi * t / T)) / (1 + std::cos(pi * (t - 1) / T)) * (lr - eta_min_) + eta_min_;
}

}  // namespace xgrad::optim
