#include "autograd/engine.hpp"

#include <unordered_map>
#include <vector>

#include "autograd/anomaly.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"

namespace xgrad::autograd {

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) {
    return grad;
  }
  const Shape& from = grad.shape();
  const auto lead = static_cast<std::int64_t>(from.size()) - static_cast<std::int64_t>(shape.size());
  XGRAD_CHECK(lead >= 0, "backward: cannot sum a gradient of shape {} to shape {}", from, shape);
  std::vector<std::int64_t> dims;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(from.size()); ++i) {
    if (i < lead) {
      dims.push_back(i);
    } else if (shape[i - lead] == 1 && from[i] != 1) {
      dims.push_back(i);
    } else {
      XGRAD_CHECK(shape[i - lead] == from[i], "backward: cannot sum a gradient of shape {} to shape {}", from, shape);
    }
  }
  return sum(grad, dims, /*keepdim=*/true).reshape(shape);
}

void zero_grad(std::vector<Tensor> tensors, bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& tensor : tensors) {
    Tensor& grad = tensor.mutable_grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      grad = Tensor();
    } else {
      grad.zero_();
    }
  }
}

namespace {

// Adds `grad` into a leaf's .grad(). The first gradient is stored as is when
// nobody else holds it; otherwise it is copied, so that two leaves never share
// one gradient buffer (an optimizer may update one in place).
void accumulate_into_leaf(TensorImpl& leaf, const Tensor& grad) {
  if (!leaf.grad.defined()) {
    const bool exclusive = grad.impl_ptr().use_count() <= 2 && grad.impl()->storage.use_count() == 1;
    leaf.grad = exclusive ? grad.detach() : grad.clone().detach();
  } else {
    leaf.grad = add(leaf.grad, grad).detach();
  }
}

Tensor checked_gradient(const Node& node, std::size_t index, Tensor grad) {
  const InputInfo& info = node.inputs[index];
  if (grad.shape() != info.shape) {
    grad = sum_to_shape(grad, info.shape);
  }
  XGRAD_CHECK(grad.dtype() == info.dtype, "{}: gradient for input {} has dtype {}, expected {}", node.name, index,
              grad.dtype(), info.dtype);
  return grad;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_in, BackwardOptions options) {
  XGRAD_CHECK(root.defined(), "backward: called on an undefined tensor");
  XGRAD_CHECK(root.requires_grad(),
              "backward: the tensor does not require grad and has no grad_fn (shape {}); "
              "did you create it under NoGradGuard or forget requires_grad?",
              root.shape());
  Tensor grad = grad_in;
  if (!grad.defined()) {
    XGRAD_CHECK(root.numel() == 1,
                "backward: grad can be implicitly created only for one-element outputs; got shape {} "
                "(pass a gradient of that shape: y.backward(grad))",
                root.shape());
    grad = ones(root.shape(), {.dtype = root.dtype()});
  }
  XGRAD_CHECK(grad.shape() == root.shape(), "backward: gradient has shape {} but the tensor has shape {}",
              grad.shape(), root.shape());
  XGRAD_CHECK(grad.dtype() == root.dtype(), "backward: gradient has dtype {} but the tensor has dtype {}",
              grad.dtype(), root.dtype());

  NoGradGuard no_grad;  // gradients are computed outside the graph
  if (!root.grad_fn()) {
    // `grad` may be the caller's own tensor: never adopt it as .grad() (an
    // in-place update of the gradient would change the caller's tensor).
    accumulate_into_leaf(*root.impl(), grad_in.defined() ? grad.clone() : grad);
    return;
  }

  // Count, for each reachable node, how many consumers will send it a gradient.
  std::unordered_map<Node*, int> pending_consumers;
  {
    std::vector<Node*> stack = {root.grad_fn().get()};
    pending_consumers[stack.back()] = 0;
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (const Edge& edge : node->next) {
        if (edge.node) {
          auto [it, first_visit] = pending_consumers.try_emplace(edge.node.get(), 0);
          ++it->second;
          if (first_visit) {
            stack.push_back(edge.node.get());
          }
        }
      }
    }
  }

  // Reverse topological order: a node runs once all its consumers have sent
  // their gradients (which the engine has summed).
  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = grad;
  std::vector<Node*> ready = {root.grad_fn().get()};
  std::vector<Node*> visited;
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    visited.push_back(node);
    Tensor grad_output = std::move(grads[node]);
    grads.erase(node);
    XGRAD_CHECK(!node->released && node->backward,
                "backward: trying to backward through the graph a second time (through {}); its saved "
                "values were freed after the first backward. Pass {{.retain_graph = true}} to the first "
                "backward if you need to backward twice",
                node->name);
    NeedsGrad needs(node->next.size());
    for (std::size_t i = 0; i < node->next.size(); ++i) {
      needs[i] = node->next[i].needs_grad();
    }
    std::vector<Tensor> input_grads = node->backward(grad_output, needs);
    XGRAD_CHECK(input_grads.size() == node->next.size(), "{}: backward returned {} gradients for {} inputs",
                node->name, input_grads.size(), node->next.size());
    for (std::size_t i = 0; i < node->next.size(); ++i) {
      const Edge& edge = node->next[i];
      if (!edge.needs_grad()) {
        continue;
      }
      if (input_grads[i].defined()) {
        Tensor input_grad = checked_gradient(*node, i, std::move(input_grads[i]));
        if (is_anomaly_enabled()) {
          check_finite(input_grad, fmt::format("the gradient that {} returned for its input {} ({})", node->name, i,
                                               node->anomaly_context.empty() ? "recorded before detect_anomaly was enabled"
                                                                             : node->anomaly_context));
        }
        if (edge.leaf) {
          accumulate_into_leaf(*edge.leaf, input_grad);
        } else {
          Tensor& slot = grads[edge.node.get()];
          slot = slot.defined() ? add(slot, input_grad) : input_grad;
        }
      }
      if (edge.node && --pending_consumers[edge.node.get()] == 0) {
        // A producer whose consumers sent nothing (all undefined) has no work.
        if (grads.count(edge.node.get()) != 0) {
          ready.push_back(edge.node.get());
        } else {
          visited.push_back(edge.node.get());
        }
      }
    }
  }

  if (!options.retain_graph) {
    for (Node* node : visited) {
      node->backward = nullptr;
      node->released = true;
    }
  }
}

}  // namespace xgrad::autograd
