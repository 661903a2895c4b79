#include "autograd/graphviz.hpp"

#include <cstddef>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograd/node.hpp"

namespace xgrad::autograd {

namespace {

// The only places that read a Node's fields, so a change in how the graph stores
// them is a change here.
std::string op_name(const Node& node) { return std::string(node.name); }
const Node* producer(const Edge& edge) { return edge.node.get(); }
const TensorImpl* leaf(const Edge& edge) { return edge.leaf.get(); }
// Shape and dtype of input i as the op saw it; null when the node didn't record it.
const InputInfo* input_info(const Node& node, std::size_t i) {
  return i < node.inputs.size() ? &node.inputs[i] : nullptr;
}

// A DOT double-quoted string holds any text once '"' and '\' are escaped; line
// breaks become DOT's "\n" and other control characters spaces, so a label stays
// one line of the file.
void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
}

std::string describe(const Shape& shape, Dtype dtype) {
  return fmt::format("[{}] {}", fmt::join(shape, ", "), dtype);
}

// Builds the DOT text: node statements and edge statements in discovery order.
class DotWriter {
 public:
  void node(std::string_view id, std::string_view title, const std::string& details, std::string_view color) {
    nodes_ += "  ";
    nodes_ += id;
    nodes_ += " [label=\"";
    append_escaped(nodes_, title);
    if (!details.empty()) {
      nodes_ += "\\n";
      append_escaped(nodes_, details);
    }
    nodes_ += "\", fillcolor=";
    nodes_ += color;
    nodes_ += "];\n";
  }
  void edge(std::string_view from, std::string_view to) {
    edges_ += "  ";
    edges_ += from;
    edges_ += " -> ";
    edges_ += to;
    edges_ += ";\n";
  }
  std::string finish() const {
    return "digraph xgrad {\n"
           "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n" +
           nodes_ + edges_ + "}\n";
  }

 private:
  std::string nodes_, edges_;
};

// torchviz's colours: parameters light blue, the output green, ops grey.
constexpr std::string_view kOpColor = "lightgrey", kLeafColor = "lightblue", kOutputColor = "darkolivegreen1";
constexpr std::string_view kOutputId = "output";

}  // namespace

std::string to_dot(const Tensor& root) { return to_dot(root, {}); }

std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& named_parameters) {
  XGRAD_CHECK(root.defined(), "to_dot: the root tensor is undefined");
  std::unordered_map<const TensorImpl*, std::string_view> names;  // the first name of a tied tensor wins
  for (const auto& [name, tensor] : named_parameters) {
    if (tensor.defined()) names.try_emplace(tensor.impl(), name);
  }
  auto leaf_title = [&](const TensorImpl* impl) -> std::string_view {
    auto it = names.find(impl);
    return it != names.end() ? it->second : std::string_view("leaf");
  };

  DotWriter dot;
  const std::string root_details = describe(root.shape(), root.dtype());
  const std::shared_ptr<Node> root_node = root.grad_fn();
  if (!root_node) {
    dot.node(kOutputId, leaf_title(root.impl()), root_details, kOutputColor);
    return dot.finish();
  }

  std::unordered_map<const Node*, std::string> op_ids;
  std::unordered_map<const TensorImpl*, std::string> leaf_ids;
  std::vector<std::pair<const Node*, const std::string*>> stack;  // nodes whose inputs are still to draw
  // Declares a node the first time it is reached (its output described by the
  // edge that reached it) and queues it; returns its DOT id.
  auto visit_op = [&](const Node* node, const std::string& details) -> const std::string& {
    auto [it, first_visit] = op_ids.try_emplace(node, "");
    if (first_visit) {
      it->second = fmt::format("op{}", op_ids.size());
      dot.node(it->second, op_name(*node), details, kOpColor);
      stack.emplace_back(node, &it->second);
    }
    return it->second;
  };
  auto visit_leaf = [&](const TensorImpl* impl, const std::string& details) -> const std::string& {
    auto [it, first_visit] = leaf_ids.try_emplace(impl, "");
    if (first_visit) {
      it->second = fmt::format("leaf{}", leaf_ids.size());
      dot.node(it->second, leaf_title(impl), details, kLeafColor);
    }
    return it->second;
  };

  dot.node(kOutputId, "output", root_details, kOutputColor);
  dot.edge(visit_op(root_node.get(), root_details), kOutputId);
  while (!stack.empty()) {
    auto [node, id] = stack.back();
    stack.pop_back();
    for (std::size_t i = 0; i < node->next.size(); ++i) {
      const Edge& edge = node->next[i];
      const InputInfo* info = input_info(*node, i);
      const std::string details = info ? describe(info->shape, info->dtype) : std::string();
      if (const Node* input = producer(edge)) {
        dot.edge(visit_op(input, details), *id);
      } else if (const TensorImpl* impl = leaf(edge)) {
        dot.edge(visit_leaf(impl, details), *id);
      }
    }
  }
  return dot.finish();
}

}  // namespace xgrad::autograd
