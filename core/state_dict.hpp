// StateDict: named tensors, the unit every weight file format reads and writes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad {

// Named tensors with dotted names ("features.0.weight") in PyTorch's order: each
// module's parameters, then its buffers, then its children's, in registration order.
// A vector, not a map, because order is part of the contract (PyTorch's OrderedDict).
using StateDict = std::vector<std::pair<std::string, Tensor>>;

}  // namespace xgrad
