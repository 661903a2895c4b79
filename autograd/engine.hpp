// The backward engine: orders the graph from its roots topologically (iteratively,
// with an explicit stack), runs each node once after all its consumers, sums the
// gradients each node and leaf receives, sums broadcast gradients back to each
// input's shape, checks every gradient's shape and dtype, runs hooks, and
// accumulates into leaves (backward) or returns the gradients (grad).
#pragma once

#include <optional>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

// Computes the gradients of `roots` (seeded by `grads`; an undefined seed means
// ones, for a one-element root) and accumulates them into the leaves' .grad()
// (PyTorch's torch.autograd.backward). Tensor::backward calls it with one root.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads = {}, BackwardOptions options = {});

struct GradOptions {
  std::optional<bool> retain_graph;  // unset: create_graph's value
  bool create_graph = false;         // record the backward, so the results are differentiable
  bool allow_unused = false;         // an input the outputs do not depend on gets an undefined tensor, not an error
};

// The gradients of `outputs` with respect to `inputs`, returned (one per input,
// shaped like it), never accumulated into any .grad() (torch.autograd.grad).
// grad_outputs seeds each output (empty, or undefined entries: ones, for
// one-element outputs).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, GradOptions options = {});

// Clears the gradients of `tensors`: undefined (set_to_none, PyTorch's default)
// or zero-filled in place. Module::zero_grad and Optimizer::zero_grad use it.
void zero_grad(std::vector<Tensor> tensors, bool set_to_none = true);

// Sums `grad` (shaped like a broadcast result) down to `shape`.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

}  // namespace xgrad::autograd
