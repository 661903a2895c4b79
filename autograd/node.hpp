// The graph. Each op that sees an input requiring grad records a Node on its
// output. A node holds the op's backward function (a lambda written right below
// the op's forward, capturing detached inputs and saved values, never the output)
// and one edge per input pointing at that input's producer: another node, or a
// leaf tensor whose .grad() receives the gradient. Edges point from outputs to
// inputs only, so there are no ownership cycles.
//
// This header is also the public way to write a differentiable op of your own
// (the role of LibTorch's torch::autograd::Function): compute the forward
// without recording, then `record` it with its backward right below, saving
// what the backward needs as SavedTensor so in-place changes are caught:
//
//   Tensor softplus(const Tensor& x) {
//     Tensor y = [&] { NoGradGuard no_grad; return (x.exp() + 1.0).log(); }();
//     return autograd::record("SoftplusBackward", y, {x},
//         [x = autograd::SavedTensor(x)](const Tensor& grad, const autograd::NeedsGrad&) {
//           // d/dx log(1 + e^x) = sigmoid(x)
//           return std::vector<Tensor>{grad * x.get().sigmoid()};
//         });
//   }
//
// A backward written with xgrad ops is itself differentiable: under
// create_graph the engine records it, so the op has second derivatives too.
#pragma once

#include <functional>
#include <initializer_list>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <span>
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
  // Which tensor it was, to name a saved input in errors; compared, never dereferenced.
  const TensorImpl* identity = nullptr;
};

struct Node : std::enable_shared_from_this<Node> {
  std::string name;                   // "MulBackward", shown as grad_fn
  BackwardFn backward;                // released (empty) after a backward without retain_graph
  std::vector<Edge> next;             // one per input
  std::vector<InputInfo> inputs;      // shapes and dtypes the gradients must have
  bool released = false;
  std::string anomaly_context;        // where it was recorded; set only under detect_anomaly
  // The produced tensor's hooks (register_hook and retain_grad on a non-leaf),
  // and whose gradient retain_grad keeps (weak: the tensor owns this node).
  std::vector<std::pair<std::uint64_t, GradHook>> output_hooks;
  std::weak_ptr<TensorImpl> retained_output;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees the chain of producers iteratively (a 1,000,000-op chain must not
  // overflow the stack by recursive shared_ptr destruction).
  ~Node();
};

// True when grad mode is on and some input requires grad: the op must record.
// A span, so a caller can ask about a fixed set of inputs without allocating:
//   needs_graph(std::array{x, weight, bias})
bool needs_graph(std::span<const Tensor> inputs);

// Records `name` on `output` when needs_graph(inputs) and output is floating
// point (an int64 or bool output has no gradient); returns output (now with
// grad_fn and requires_grad) so an op can end with `return record(...)`.
// `output` must not have been recorded already (compute it under NoGradGuard).
Tensor record(std::string name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward);

// A tensor that a backward function needs (PyTorch's SavedVariable). Capture
// one per tensor in the backward lambda and read it with get() (it also
// converts to Tensor where one is expected). get() throws xgrad::Error if the
// tensor's storage was modified in place after it was saved, naming the op, the
// tensor and both versions; without that check the gradient would silently be
// computed from the new values.
class SavedTensor {
 public:
  SavedTensor() = default;
  // Saves an input of the op (or any tensor other than its output). Under
  // create_graph, get() returns it with its graph, so the backward is recorded.
  explicit SavedTensor(const Tensor& tensor);
  // Saves the op's own output (do not capture the output itself: the node would
  // own itself). Under create_graph, get() returns it attached to this node.
  static SavedTensor output(const Tensor& output);

  Tensor get() const;
  operator Tensor() const { return get(); }  // NOLINT: reads like the math in formulas
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  std::uint64_t version_ = 0;
  bool is_output_ = false;
};

namespace detail {
// The lock that guards a leaf's .grad() and hooks, or a node's hooks, keyed by
// its address (a fixed table of mutexes: two threads may backward into one leaf).
std::mutex& graph_mutex(const void* owner);

// Marks the node whose backward runs on this thread (the engine sets it): names
// saved tensors in errors and attaches saved outputs to it under create_graph.
class RunningNodeGuard {
 public:
  explicit RunningNodeGuard(Node* node);
  ~RunningNodeGuard();
  RunningNodeGuard(const RunningNodeGuard&) = delete;
  RunningNodeGuard& operator=(const RunningNodeGuard&) = delete;

 private:
  Node* previous_;
};
}  // namespace detail

}  // namespace xgrad::autograd
