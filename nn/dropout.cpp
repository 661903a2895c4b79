#include "nn/dropout.hpp"

#include "nn/functional/dropout.hpp"
#include "nn/python_format.hpp"

namespace xgrad::nn {

Dropout::Dropout(double p) : p(p) {
  XGRAD_CHECK(p >= 0.0 && p <= 1.0, "Dropout: dropout probability has to be between 0 and 1, but got {}", p);
}

Tensor Dropout::forward(const Tensor& input) { return functional::dropout(input, p, is_training()); }

std::string Dropout::extra_repr() const { return fmt::format("p={}, inplace=False", detail::python_float(p)); }

}  // namespace xgrad::nn
