// optim::Optimizer: the base of xgrad's optimizers, with LibTorch's names.
//
//   optim::SGD optimizer(model.parameters(), {.lr = 0.01, .momentum = 0.9});
//   for (auto& [input, target] : batches) {
//     optimizer.zero_grad();
//     Tensor loss = nn::functional::cross_entropy(model(input), target);
//     loss.backward();
//     optimizer.step();
//   }
//
// One parameter group: every parameter shares the options. The state an
// optimizer accumulates (SGD's momentum buffers) and its learning rate (which
// schedulers change) are named tensors, so they go into checkpoints beside the
// model's (see core/serialization/tensor_file.hpp) and a resumed run continues the same trajectory.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace xgrad::optim {

class Optimizer {
 public:
  // params: leaf tensors (e.g. model.parameters()); empty or undefined is an error.
  Optimizer(std::vector<Tensor> params, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (others are skipped).
  virtual void step() = 0;
  // Clears the parameters' gradients: undefined (set_to_none, the default) or zero-filled.
  void zero_grad(bool set_to_none = true);

  const std::vector<Tensor>& parameters() const { return params_; }
  const std::string& name() const { return name_; }

  // The learning rate (what schedulers read and set).
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;

  // The optimizer's state as named tensors ("lr", "momentum_buffer.3", ...).
  virtual nn::StateDict state_dict() const = 0;
  // Throws xgrad::Error naming every problem (unknown name, wrong shape or dtype)
  // without changing anything.
  virtual void check_state_dict(const nn::StateDict& state) const = 0;
  // check_state_dict, then replaces the state.
  virtual void load_state_dict(const nn::StateDict& state) = 0;

  // The state alone, in the tensor-file format of core/serialization/tensor_file.hpp (atomic write;
  // load validates everything before changing the optimizer).
  void save(const std::string& path) const;
  void load(const std::string& path);

 protected:
  std::vector<Tensor> params_;
  std::string name_;
};

}  // namespace xgrad::optim
