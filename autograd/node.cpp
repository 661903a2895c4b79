#include "autograd/node.hpp"

#include "autograd/anomaly.hpp"
#include "autograd/grad_mode.hpp"

namespace xgrad::autograd {

Node::~Node() {
  // Drop saved tensors first, then unlink producers one at a time: a producer
  // that only this chain owns has its own edges moved onto the stack before it
  // dies, so each destructor below runs with nothing left to recurse into.
  backward = nullptr;
  std::vector<std::shared_ptr<Node>> stack;
  for (Edge& edge : next) {
    if (edge.node) {
      stack.push_back(std::move(edge.node));
    }
  }
  while (!stack.empty()) {
    std::shared_ptr<Node> node = std::move(stack.back());
    stack.pop_back();
    if (node.use_count() == 1) {
      node->backward = nullptr;
      for (Edge& edge : node->next) {
        if (edge.node) {
          stack.push_back(std::move(edge.node));
        }
      }
    }
  }
}

bool needs_graph(std::initializer_list<const Tensor*> inputs) {
  if (!is_grad_enabled()) {
    return false;
  }
  for (const Tensor* input : inputs) {
    if (input->defined() && input->requires_grad()) {
      return true;
    }
  }
  return false;
}

bool needs_graph(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) {
    return false;
  }
  for (const Tensor& input : inputs) {
    if (input.defined() && input.requires_grad()) {
      return true;
    }
  }
  return false;
}

Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_graph(inputs)) {
    return output;
  }
  auto node = std::make_shared<Node>();
  node->name = name;
  if (is_anomaly_enabled()) {
    node->anomaly_context = current_anomaly_context();
    check_finite(output, fmt::format("the forward output of {} ({})", name, node->anomaly_context));
  }
  node->backward = std::move(backward);
  node->next.reserve(inputs.size());
  node->inputs.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    Edge edge;
    if (input.defined() && input.requires_grad()) {
      if (input.grad_fn()) {
        edge.node = input.grad_fn();
      } else {
        edge.leaf = input.impl_ptr();
      }
    }
    node->next.push_back(std::move(edge));
    node->inputs.push_back(input.defined() ? InputInfo{input.shape(), input.dtype()} : InputInfo{{}, kFloat32});
  }
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::move(node);
  return output;
}

}  // namespace xgrad::autograd
