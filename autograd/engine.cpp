#include "autograd/engine.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "autograd/anomaly.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"

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
  return grad.sum(dims, /*keepdim=*/true).reshape(shape);
}

void zero_grad(std::vector<Tensor> tensors, bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& tensor : tensors) {
    std::lock_guard lock(detail::graph_mutex(tensor.impl()));
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

// The callbacks of the backward pass running on this thread (null outside one).
// A pass started inside a hook or callback gets its own list.
thread_local std::vector<std::function<void()>>* pass_callbacks = nullptr;

class PassCallbacksScope {
 public:
  PassCallbacksScope() : previous_(pass_callbacks) { pass_callbacks = &callbacks_; }
  ~PassCallbacksScope() { pass_callbacks = previous_; }
  PassCallbacksScope(const PassCallbacksScope&) = delete;
  PassCallbacksScope& operator=(const PassCallbacksScope&) = delete;
  // Runs the queued callbacks, including those they queue themselves.
  void run() {
    for (std::size_t i = 0; i < callbacks_.size(); ++i) {
      std::function<void()> callback = std::move(callbacks_[i]);
      callback();
    }
    callbacks_.clear();
  }

 private:
  std::vector<std::function<void()>> callbacks_;
  std::vector<std::function<void()>>* previous_;
};

// True when `shape` is what broadcasting `shape` against something gives `from`.
bool reduces_to(const Shape& from, const Shape& shape) {
  if (from.size() < shape.size()) return false;
  const std::size_t lead = from.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != from[lead + i] && shape[i] != 1) return false;
  }
  return true;
}

// A gradient a backward function returned, checked against the input it is for
// and summed back over broadcast dims. Errors name the op: for a user-defined
// op, the user's.
Tensor checked_gradient(const Node& node, std::size_t index, Tensor grad) {
  const InputInfo& info = node.inputs[index];
  XGRAD_CHECK(grad.dtype() == info.dtype, "{}: backward returned a {} gradient for input {}, which is {} (shape {})",
              node.name, grad.dtype(), index, info.dtype, info.shape);
  if (grad.shape() != info.shape) {
    XGRAD_CHECK(reduces_to(grad.shape(), info.shape),
                "{}: backward returned a gradient of shape {} for input {}, which has shape {}", node.name,
                grad.shape(), index, info.shape);
    grad = sum_to_shape(grad, info.shape);
  }
  return grad;
}

// g with each hook applied in order (an undefined result keeps g).
Tensor apply_hooks(const std::vector<std::pair<std::uint64_t, GradHook>>& hooks, Tensor g, const std::string& what) {
  for (const auto& [id, hook] : hooks) {
    Tensor replaced = hook(g);
    if (!replaced.defined()) continue;
    XGRAD_CHECK(replaced.shape() == g.shape() && replaced.dtype() == g.dtype(),
                "register_hook: a hook on {} returned a gradient of shape {} ({}), expected shape {} ({})", what,
                replaced.shape(), replaced.dtype(), g.shape(), g.dtype());
    g = replaced;
  }
  return g;
}

// Adds `grad` into `accumulated` (which may be undefined). Taken by value and
// moved: a gradient nobody else holds can become a leaf's .grad() without a copy.
void add_into(Tensor& accumulated, Tensor grad) {
  accumulated = accumulated.defined() ? accumulated.add(grad) : std::move(grad);
}

// Adds a finished gradient into a leaf's .grad(), under the leaf's lock: two
// threads may backward into one shared leaf. Without create_graph the stored
// gradient is a buffer nobody else holds (an optimizer updates it in place);
// with it, the gradient keeps its graph.
void accumulate_into_leaf(TensorImpl& leaf, const Tensor& grad, bool create_graph) {
  std::lock_guard lock(detail::graph_mutex(&leaf));
  if (leaf.grad.defined()) {
    leaf.grad = create_graph ? leaf.grad.add(grad) : leaf.grad.add(grad).detach();
    return;
  }
  // The caller's handle is the only one: the buffer can be adopted without a copy.
  const bool exclusive = grad.impl_ptr().use_count() == 1 && grad.impl()->storage.use_count() == 1;
  if (create_graph) {
    leaf.grad = exclusive ? grad : grad.clone();  // a recorded clone keeps the graph
  } else {
    leaf.grad = exclusive ? grad.detach() : grad.clone().detach();
  }
}

// One leaf the pass reaches: how many edges still have to report, and the sum so far.
struct LeafState {
  std::shared_ptr<TensorImpl> impl;
  int pending = 0;
  Tensor grad;
};

// What a pass does with the gradients that reach its targets.
struct Targets {
  bool accumulate = true;                                    // backward(): into every leaf's .grad()
  std::unordered_map<const TensorImpl*, std::size_t> leaves; // grad(): leaf inputs, by position
  std::unordered_map<const Node*, std::size_t> nodes;        // grad(): non-leaf inputs, by their grad_fn
  std::vector<Tensor> captured;
};

void check_seed(const Tensor& root, const Tensor& seed, std::size_t index, const char* op) {
  XGRAD_CHECK(root.defined(), "{}: output {} is an undefined tensor", op, index);
  XGRAD_CHECK(root.requires_grad(),
              "{}: the tensor does not require grad and has no grad_fn (shape {}); "
              "did you create it under NoGradGuard or forget requires_grad?",
              op, root.shape());
  if (!seed.defined()) {
    XGRAD_CHECK(root.numel() == 1,
                "{}: grad can be implicitly created only for one-element outputs; got shape {} "
                "(pass a gradient of that shape: y.backward(grad))",
                op, root.shape());
    return;
  }
  XGRAD_CHECK(seed.shape() == root.shape(), "{}: gradient has shape {} but the tensor has shape {}", op, seed.shape(),
              root.shape());
  XGRAD_CHECK(seed.dtype() == root.dtype(), "{}: gradient has dtype {} but the tensor has dtype {}", op, seed.dtype(),
              root.dtype());
}

// The pass shared by backward() and grad().
void run(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds_in, bool retain_graph, bool create_graph,
         Targets& targets, const char* op) {
  XGRAD_CHECK(!roots.empty(), "{}: no outputs to differentiate", op);
  XGRAD_CHECK(seeds_in.empty() || seeds_in.size() == roots.size(), "{}: got {} gradients for {} outputs", op,
              seeds_in.size(), roots.size());
  std::vector<Tensor> seeds(roots.size());
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor seed = seeds_in.empty() ? Tensor() : seeds_in[i];
    check_seed(roots[i], seed, i, op);
    // A caller's seed is never adopted as a .grad() (an optimizer's in-place
    // update would change the caller's tensor); ones are made fresh.
    seeds[i] = seed.defined() ? (create_graph ? seed : seed.detach())
                              : ones(roots[i].shape(), {.dtype = roots[i].dtype()});
  }

  GradModeGuard grad_mode(create_graph);  // gradients are recorded only under create_graph
  PassCallbacksScope callbacks;

  // Count, for each reachable node and leaf, how many edges will report to it.
  std::unordered_map<Node*, int> pending;
  std::unordered_map<const TensorImpl*, LeafState> leaves;
  std::unordered_map<Node*, Tensor> grads;
  std::vector<Node*> stack;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    Node* node = roots[i].grad_fn().get();
    if (node == nullptr) {
      LeafState& leaf = leaves[roots[i].impl()];
      leaf.impl = roots[i].impl_ptr();
      add_into(leaf.grad, std::move(seeds[i]));
      continue;
    }
    add_into(grads[node], std::move(seeds[i]));
    if (pending.try_emplace(node, 0).second) stack.push_back(node);
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->next) {
      if (edge.node) {
        auto [it, first_visit] = pending.try_emplace(edge.node.get(), 0);
        ++it->second;
        if (first_visit) stack.push_back(edge.node.get());
      } else if (edge.leaf) {
        LeafState& leaf = leaves[edge.leaf.get()];
        leaf.impl = edge.leaf;
        ++leaf.pending;
      }
    }
  }

  // Topological order (Kahn's, consumers first): a node runs once every consumer
  // has reported, whether or not it sent a gradient.
  std::vector<Node*> order;
  order.reserve(pending.size());
  {
    std::unordered_map<Node*, int> remaining = pending;
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) {  // the first root runs first
      Node* node = it->grad_fn().get();
      if (node != nullptr && remaining[node] == 0 && std::find(stack.begin(), stack.end(), node) == stack.end()) {
        stack.push_back(node);
      }
    }
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      order.push_back(node);
      for (const Edge& edge : node->next) {
        if (edge.node && --remaining[edge.node.get()] == 0) stack.push_back(edge.node.get());
      }
    }
  }

  // grad(): run only the nodes that lead to an input.
  std::unordered_set<const Node*> needed;
  if (!targets.accumulate) {
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const Node* node = *it;
      for (const Edge& edge : node->next) {
        if ((edge.node && (needed.count(edge.node.get()) != 0 || targets.nodes.count(edge.node.get()) != 0)) ||
            (edge.leaf && targets.leaves.count(edge.leaf.get()) != 0)) {
          needed.insert(node);
          break;
        }
      }
    }
  }

  // A leaf whose every edge has reported: hooks, then .grad() (or the result).
  auto finish_leaf = [&](LeafState& leaf) {
    if (!leaf.grad.defined()) return;
    Tensor grad = std::move(leaf.grad);
    if (!targets.accumulate) {
      if (auto it = targets.leaves.find(leaf.impl.get()); it != targets.leaves.end()) {
        targets.captured[it->second] = std::move(grad);
      }
      return;
    }
    std::vector<std::pair<std::uint64_t, GradHook>> hooks;
    std::vector<std::pair<std::uint64_t, PostAccumulateGradHook>> post_hooks;
    {
      std::lock_guard lock(detail::graph_mutex(leaf.impl.get()));
      hooks = leaf.impl->grad_hooks;
      post_hooks = leaf.impl->post_accumulate_grad_hooks;
    }
    if (!hooks.empty()) grad = apply_hooks(hooks, std::move(grad), "a leaf");
    accumulate_into_leaf(*leaf.impl, grad, create_graph);
    grad = Tensor();
    Tensor handle(leaf.impl);
    for (auto& [id, hook] : post_hooks) hook(handle);
  };
  for (auto& [impl, leaf] : leaves) {
    if (leaf.pending == 0) finish_leaf(leaf);  // a root that is a leaf
  }

  std::vector<Node*> ran;
  for (Node* node : order) {
    Tensor grad_output = std::move(grads[node]);
    grads.erase(node);
    if (!targets.accumulate) {
      if (auto it = targets.nodes.find(node); it != targets.nodes.end()) targets.captured[it->second] = grad_output;
    }
    const bool runs = grad_output.defined() && (targets.accumulate || needed.count(node) != 0);
    std::vector<Tensor> input_grads;
    if (runs) {
      XGRAD_CHECK(!node->released && node->backward,
                  "backward: trying to backward through the graph a second time (through {}); its saved "
                  "values were freed after the first backward. Pass {{.retain_graph = true}} to the first "
                  "backward if you need to backward twice",
                  node->name);
      std::vector<std::pair<std::uint64_t, GradHook>> hooks;
      {
        std::lock_guard lock(detail::graph_mutex(node));
        hooks = node->output_hooks;
      }
      if (!hooks.empty()) {
        grad_output = apply_hooks(hooks, std::move(grad_output), fmt::format("the output of {}", node->name));
      }
      NeedsGrad needs(node->next.size());
      for (std::size_t i = 0; i < node->next.size(); ++i) {
        const Edge& edge = node->next[i];
        needs[i] = targets.accumulate ? edge.needs_grad()
                                      : (edge.node && (needed.count(edge.node.get()) || targets.nodes.count(edge.node.get()))) ||
                                            (edge.leaf && targets.leaves.count(edge.leaf.get()));
      }
      {
        detail::RunningNodeGuard running(node);
        input_grads = node->backward(grad_output, needs);
      }
      XGRAD_CHECK(input_grads.size() == node->next.size(), "{}: backward returned {} gradients for {} inputs",
                  node->name, input_grads.size(), node->next.size());
      ran.push_back(node);
    }
    for (std::size_t i = 0; i < node->next.size(); ++i) {
      const Edge& edge = node->next[i];
      Tensor input_grad;
      if (runs && edge.needs_grad() && input_grads[i].defined()) {
        input_grad = checked_gradient(*node, i, std::move(input_grads[i]));
        if (is_anomaly_enabled()) {
          check_finite(input_grad, fmt::format("the gradient that {} returned for its input {} ({})", node->name, i,
                                               node->anomaly_context.empty()
                                                   ? "recorded before detect_anomaly was enabled"
                                                   : node->anomaly_context));
        }
      }
      if (edge.leaf) {
        LeafState& leaf = leaves[edge.leaf.get()];
        if (input_grad.defined()) add_into(leaf.grad, std::move(input_grad));
        if (--leaf.pending == 0) finish_leaf(leaf);
      } else if (edge.node && input_grad.defined()) {
        add_into(grads[edge.node.get()], std::move(input_grad));
      }
    }
  }

  if (!retain_graph) {
    for (Node* node : ran) {
      node->backward = nullptr;
      node->released = true;
    }
  }
  callbacks.run();
}

}  // namespace

void queue_callback(std::function<void()> callback) {
  XGRAD_CHECK(pass_callbacks != nullptr,
              "queue_callback: no backward pass is running on this thread; queue callbacks from a hook or a "
              "backward function");
  XGRAD_CHECK(static_cast<bool>(callback), "queue_callback: the callback is empty");
  pass_callbacks->push_back(std::move(callback));
}

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, BackwardOptions options) {
  Targets targets;
  run(roots, grads, options.retain_graph.value_or(options.create_graph), options.create_graph, targets, "backward");
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, GradOptions options) {
  XGRAD_CHECK(!inputs.empty(), "grad: no inputs to differentiate with respect to");
  Targets targets;
  targets.accumulate = false;
  targets.captured.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    XGRAD_CHECK(input.defined(), "grad: input {} is an undefined tensor", i);
    XGRAD_CHECK(input.requires_grad(), "grad: input {} (shape {}) does not require grad", i, input.shape());
    if (input.grad_fn()) {
      XGRAD_CHECK(targets.nodes.emplace(input.grad_fn().get(), i).second, "grad: input {} appears twice", i);
    } else {
      XGRAD_CHECK(targets.leaves.emplace(input.impl(), i).second, "grad: input {} appears twice", i);
    }
  }
  run(outputs, grad_outputs, options.retain_graph.value_or(options.create_graph), options.create_graph, targets,
      "grad");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    XGRAD_CHECK(targets.captured[i].defined() || options.allow_unused,
                "grad: input {} (shape {}) was not used to compute the outputs; pass {{.allow_unused = true}} to "
                "get an undefined tensor for it",
                i, inputs[i].shape());
  }
  return targets.captured;
}

}  // namespace xgrad::autograd
