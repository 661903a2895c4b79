// Checkpoints of a training run: model + optimizer (+ lr scheduler) in one
// tensor file (core/serialization/tensor_file.hpp), checked completely before
// anything is loaded.
//
//   optim::save_checkpoint("run.ckpt", model, optimizer);            // model + optimizer
//   optim::save_checkpoint("run.ckpt", model, optimizer, &scheduler); // + lr scheduler
//   optim::load_checkpoint("run.ckpt", model, optimizer, &scheduler);
//
// A resumed run (load_checkpoint, then the same steps) is bitwise identical to
// an uninterrupted one: the model's parameters and buffers, the optimizer's
// state (lr, momentum buffers) and the scheduler's epoch are all saved, under
// the names "model.<name>", "optimizer.<name>", "scheduler.<name>".
#pragma once

#include <string>

#include "core/serialization/tensor_file.hpp"
#include "nn/module.hpp"

namespace xgrad::optim {

class Optimizer;
class LRScheduler;

// Model + optimizer (+ scheduler when given) in one file.
void save_checkpoint(const std::string& path, const nn::Module& module, const Optimizer& optimizer,
                     const LRScheduler* scheduler = nullptr);
// Validates the file against all receivers, then loads into all of them (or
// into none). The scheduler must be given iff it was saved.
void load_checkpoint(const std::string& path, nn::Module& module, Optimizer& optimizer,
                     LRScheduler* scheduler = nullptr);

}  // namespace xgrad::optim
