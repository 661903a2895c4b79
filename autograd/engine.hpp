// The backward engine: walks the graph from a root in reverse topological order
// (iteratively, with an explicit stack), accumulates gradients, sums broadcast
// gradients back to each input's shape and checks every gradient's shape.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

// root.backward(grad, options) calls this. grad undefined means ones (root must
// have one element).
void run_backward(const Tensor& root, const Tensor& grad, BackwardOptions options);

// Clears the gradients of `tensors`: undefined (set_to_none, PyTorch's default)
// or zero-filled in place. Module::zero_grad and Optimizer::zero_grad use it.
void zero_grad(std::vector<Tensor> tensors, bool set_to_none = true);

// Sums `grad` (shaped like a broadcast result) down to `shape`.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

}  // namespace xgrad::autograd
