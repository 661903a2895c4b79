#include "autograd/node.hpp"

#include <array>
#include <cstdint>

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

bool needs_graph(std::span<const Tensor> inputs) {
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

Tensor record(std::string name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  XGRAD_CHECK(output.defined(), "{}: the forward returned an undefined tensor", name);
  // Integer and bool outputs (indices, comparisons, conversions to int64) have no
  // gradient, as in PyTorch: they are never part of the graph.
  if (!needs_graph(inputs) || !is_floating_point(output.dtype())) {
    return output;
  }
  XGRAD_CHECK(!output.grad_fn(),
              "{}: the output was already recorded by {}; compute a custom op's forward under NoGradGuard so "
              "that only its own backward is recorded",
              name, output.grad_fn()->name);
  XGRAD_CHECK(!(output.is_leaf() && output.requires_grad()),
              "{}: the output is a leaf that requires grad (shape {}); return a new tensor, not an input", name,
              output.shape());
  XGRAD_CHECK(static_cast<bool>(backward), "{}: the backward function is empty", name);
  auto node = std::make_shared<Node>();
  node->name = std::move(name);
  if (is_anomaly_enabled()) {
    node->anomaly_context = current_anomaly_context();
    check_finite(output, fmt::format("the forward output of {} ({})", node->name, node->anomaly_context));
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
    node->inputs.push_back(input.defined() ? InputInfo{input.shape(), input.dtype(), input.impl()}
                                           : InputInfo{{}, kFloat32, nullptr});
  }
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::move(node);
  return output;
}

namespace {
thread_local Node* running_node = nullptr;
}  // namespace

namespace detail {
std::mutex& graph_mutex(const void* owner) {
  static std::array<std::mutex, 64> mutexes;
  return mutexes[(reinterpret_cast<std::uintptr_t>(owner) >> 6) % mutexes.size()];
}

RunningNodeGuard::RunningNodeGuard(Node* node) : previous_(running_node) { running_node = node; }
RunningNodeGuard::~RunningNodeGuard() { running_node = previous_; }
}  // namespace detail

SavedTensor::SavedTensor(const Tensor& tensor) : tensor_(tensor) {
  if (tensor.defined()) version_ = tensor.impl()->storage->version();
}

SavedTensor SavedTensor::output(const Tensor& output) {
  SavedTensor saved(output.defined() ? output.detach() : output);
  saved.is_output_ = true;
  return saved;
}

Tensor SavedTensor::get() const {
  if (!tensor_.defined()) return tensor_;
  const Storage& storage = *tensor_.impl()->storage;
  const std::uint64_t now = storage.version();
  if (now != version_) {
    std::string which = "a saved tensor";
    std::string op = "backward";
    if (running_node != nullptr) {
      op = running_node->name;
      if (is_output_) {
        which = "its output";
      } else {
        for (std::size_t i = 0; i < running_node->inputs.size(); ++i) {
          if (running_node->inputs[i].identity == tensor_.impl()) {
            which = fmt::format("input {}", i);
            break;
          }
        }
      }
    }
    fail("{}: {} ({} {}), saved for backward at version {}, was modified in place (now version {}) by {}; "
         "clone it before changing it in place, or change it after backward",
         op, which, tensor_.dtype(), tensor_.shape(), version_, now, storage.last_writer());
  }
  if (is_output_ && running_node != nullptr && is_grad_enabled()) {
    // Under create_graph the output takes part in the recorded backward: give it
    // its producer back, so gradients through it reach this node's inputs.
    Tensor attached = make_tensor(tensor_.impl()->storage, tensor_.shape());
    attached.impl()->requires_grad = true;
    attached.impl()->grad_fn = running_node->shared_from_this();
    return attached;
  }
  return tensor_;
}

}  // namespace xgrad::autograd
