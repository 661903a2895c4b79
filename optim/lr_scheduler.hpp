// Learning-rate schedulers, as torch.optim.lr_scheduler: construct one over an
// optimizer, call step() once per epoch after that epoch's optimizer steps.
//
//   optim::SGD optimizer(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   optim::StepLR scheduler(optimizer, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 100; ++epoch) {
//     train_one_epoch(model, optimizer);
//     scheduler.step();
//   }
//
// The values are PyTorch's, bit for bit: the same recursive ("chainable")
// formulas on the optimizer's current lr that scheduler.step() uses there.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/module.hpp"
#include "optim/optimizer.hpp"

namespace xgrad::optim {

class LRScheduler {
 public:
  // Remembers the optimizer's lr as the base lr (epoch 0). The scheduler keeps a
  // reference: the optimizer must outlive it.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and sets the optimizer's lr.
  void step();
  // The lr set by the last step() (one per parameter group; xgrad has one group).
  std::vector<double> get_last_lr() const { return {last_lr_}; }
  std::int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

  // "last_epoch" and "base_lr" (0-dim float64), for checkpoints; the optimizer's
  // own state holds its current lr.
  nn::StateDict state_dict() const;
  void check_state_dict(const nn::StateDict& state) const;  // throws, changes nothing
  void load_state_dict(const nn::StateDict& state);

 protected:
  // The lr for epoch last_epoch_ (already advanced), from the optimizer's current lr.
  virtual double compute_lr() const = 0;

  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t last_epoch_ = 0;
  double last_lr_;
};

// lr = lr * gamma every step_size epochs (torch.optim.lr_scheduler.StepLR).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double compute_lr() const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// Cosine annealing from the base lr to eta_min over T_max epochs (then back up,
// periodically), as torch.optim.lr_scheduler.CosineAnnealingLR:
// lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);

 protected:
  double compute_lr() const override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

}  // namespace xgrad::optim
