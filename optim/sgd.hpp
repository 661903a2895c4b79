// optim::SGD: stochastic gradient descent with PyTorch's exact update rule
// (torch.optim.SGD), per parameter p with gradient g:
//
//   d = maximize ? -g : g
//   d = d + weight_decay * p                       (when weight_decay != 0)
//   buf = d                                        (first step, when momentum != 0)
//   buf = momentum * buf + (1 - dampening) * d     (later steps)
//   d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
//   p = p - lr * d
//
//   optim::SGD optimizer(model.parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
//
// The momentum buffers follow the parameters' dtype: after module.to(kFloat64)
// the next step converts them (PyTorch keeps a float32 buffer and rounds into it).
#pragma once

#include <optional>
#include <vector>

#include "optim/optimizer.hpp"

namespace xgrad::optim {

struct SGDOptions {
  std::optional<double> lr = std::nullopt;  // learning rate (required, >= 0)
  double momentum = 0;           // momentum factor (>= 0)
  double dampening = 0;          // dampening for momentum
  double weight_decay = 0;       // L2 penalty added to the gradient (>= 0)
  bool nesterov = false;         // Nesterov momentum (needs momentum > 0 and dampening == 0)
  bool maximize = false;         // maximize the objective instead of minimizing it
};

class SGD : public Optimizer {
 public:
  // Throws xgrad::Error like PyTorch's constructor: missing or negative lr,
  // negative momentum or weight_decay, nesterov without momentum or with dampening,
  // an empty parameter list.
  SGD(std::vector<Tensor> params, SGDOptions options);

  void step() override;

  double lr() const override { return *options_.lr; }  // set: the constructor requires it
  void set_lr(double lr) override;
  double momentum() const { return options_.momentum; }
  const SGDOptions& options() const { return options_; }

  // "lr" (0-dim float64) and "momentum_buffer.<i>" for each parameter i that has
  // a momentum buffer (shaped and typed like the parameter).
  nn::StateDict state_dict() const override;
  void check_state_dict(const nn::StateDict& state) const override;
  void load_state_dict(const nn::StateDict& state) override;

 private:
  SGDOptions options_;  // options_.lr is the learning rate, validated by set_lr
  std::vector<Tensor> momentum_buffers_;  // undefined until a parameter's first step
};

}  // namespace xgrad::optim
