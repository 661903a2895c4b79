// The graph. Each op that sees an input requiring grad records a Node on its
// output. A node holds the op's backward function (a lambda written right below
// the op's forward, capturing detached inputs and saved values, never the output)
// and one edge per input pointing at that input's producer: another node, or a
// leaf tensor whose .grad() receives the gradient. Edges point from outputs to
// inputs only, so there are no ownership cycles.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> node;        // the input was produced by this node, or
  std::shared_ptr<TensorImpl> leaf;  // the input is this leaf (accumulates .grad())
  bool needs_grad() const { return node != nullptr || leaf != nullptr; }
};

// needs[i] tells the backward function whether input i wants a gradient, so it
// can skip work nobody asked for (tinygrad's needs_input_grad).
using NeedsGrad = std::vector<bool>;
// Maps the gradient of the output to one gradient per input. An undefined
// tensor means "zero" (or "not needed"). A gradient may have the broadcast
// shape of the forward computation: the engine sums it back to the input's shape.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const NeedsGrad& needs)>;

struct InputInfo {
  Shape shape;
  Dtype dtype;
};

struct Node {
  const char* name = "";              // "MulBackward", shown as grad_fn
  BackwardFn backward;                // released (empty) after a backward without retain_graph
  std::vector<Edge> next;             // one per input
  std::vector<InputInfo> inputs;      // shapes and dtypes the gradients must have
  bool released = false;
  std::string anomaly_context;        // where it was recorded; set only under detect_anomaly

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees the chain of producers iteratively (a 1,000,000-op chain must not
  // overflow the stack by recursive shared_ptr destruction).
  ~Node();
};

// True when grad mode is on and some input requires grad: the op must record.
bool needs_graph(std::initializer_list<const Tensor*> inputs);
bool needs_graph(const std::vector<Tensor>& inputs);

// Records `name` on `output` when needs_graph(inputs); returns output (now with
// grad_fn and requires_grad) so an op can end with `return record(...)`.
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward);

}  // namespace xgrad::autograd
