// A picture of the recorded graph: Graphviz DOT text of the ops that produced a
// tensor, like torchviz's make_dot and micrograd's draw_dot.
//
//   Tensor loss = model(x).sum();
//   std::ofstream("graph.dot") << autograd::to_dot(loss, model.named_parameters());
//   // then: dot -Tpng graph.dot -o graph.png   (Debian: apt-get install graphviz)
//
// What it draws, top (inputs) to bottom (the root):
// - one box per recorded op node, labelled with its grad_fn name ("MulBackward"), and the
//   shape and dtype of the tensor it produced;
// - one box per leaf tensor that requires grad, labelled with its name in `named_parameters`
//   (matched by identity, not by value) or "leaf", and its shape and dtype;
// - the root tensor itself, labelled "output" (a root with no graph is the only box, labelled
//   like a leaf);
// - one arrow per input edge, from the input to the op that consumed it: an op that uses the
//   same tensor twice (x * x) gets two arrows from it. Inputs that don't require grad (a
//   constant, a buffer) have no edge in the graph and are not drawn.
// The walk is iterative and visits each node once, so shared subexpressions appear once and a
// graph of a million ops does not overflow the stack.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

// DOT text of the graph that produced `root`. Throws xgrad::Error if root is undefined.
std::string to_dot(const Tensor& root);
// As above, naming the leaves that are one of `named_parameters` (e.g. Module::named_parameters()).
std::string to_dot(const Tensor& root, const std::vector<std::pair<std::string, Tensor>>& named_parameters);

}  // namespace xgrad::autograd
