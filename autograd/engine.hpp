// The backward engine: orders the graph from its roots topologically (iteratively,
// with an explicit stack), runs each node once after all its consumers, sums the
// gradients each node and leaf receives, sums broadcast gradients back to each
// input's shape, checks every gradient's shape and dtype, runs hooks, and
// accumulates into leaves (backward) or returns the gradients (grad).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

// Computes the gradients of `roots` (seeded by `grads`; an undefined seed means
// ones, for a one-element root) and accumulates them into the leaves' .grad()
// (PyTorch's torch.autograd.backward). Tensor::backward calls it with one root.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {}, BackwardOptions options = {});

struct GradOptions {
  std::optional<bool> retain_graph = std::nullopt;  // unset: create_graph's value
  bool create_graph = false;         // record the backward, so the results are differentiable
  bool allow_unused = false;         // an input the outputs do not depend on gets an undefined tensor, not an error
};

// The gradients of `outputs` with respect to `inputs`, returned (one per input,
// shaped like it), never accumulated into any .grad() (torch.autograd.grad).
// grad_outputs seeds each output (empty, or undefined entries: ones, for
// one-element outputs).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, GradOptions options = {});

// Runs `callback` once the backward pass that is running on this thread has
// finished, after every gradient was accumulated and every hook ran (PyTorch's
// Variable._execution_engine.queue_callback). Callbacks run in the order they
// were queued, on this thread, and may queue more; an exception from one ends
// the pass's backward() with it. A pass that throws drops its callbacks. Called
// outside a backward pass (not from a hook or a backward function), it throws.
// Why: a hook sees one tensor; work that needs all of a pass's gradients (a
// data-parallel all-reduce's final wait) needs the end of the pass.
void queue_callback(std::function<void()> callback);

// Clears the gradients of `tensors`: undefined (set_to_none, PyTorch's default)
// or zero-filled in place. Module::zero_grad and Optimizer::zero_grad use it.
void zero_grad(std::vector<Tensor> tensors, bool set_to_none = true);

// Sums `grad` (shaped like a broadcast result) down to `shape`.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

}  // namespace xgrad::autograd
