// Gradient checking, public so users can test their own ops and modules:
//
//   auto result = autograd::gradcheck(
//       [](const std::vector<Tensor>& in) { return (in[0] * in[1]).tanh(); },
//       {randn({3, 4}, {.dtype = kFloat64, .requires_grad = true}),
//        randn({4}, {.dtype = kFloat64, .requires_grad = true})});
//   CHECK(result.passed);   // result.message names the worst element otherwise
//
// It compares the analytical Jacobian (one backward per output element) with
// central finite differences, (f(x + eps) - f(x - eps)) / (2 eps), for every
// element of every input that requires grad. Inputs must be float64.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad::autograd {

struct GradcheckOptions {
  double eps = 1e-6;    // finite-difference step
  double atol = 1e-5;   // an element passes when |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool raise = false;   // throw xgrad::Error with the message on failure instead of returning it
};

struct GradcheckResult {
  bool passed = true;
  // The worst element (largest error relative to its tolerance):
  std::int64_t input = -1;          // which input
  std::int64_t input_index = -1;    // flat index into that input
  std::int64_t output_index = -1;   // flat index into the output
  double analytical = 0;
  double numerical = 0;
  std::string message;              // says all of the above in a sentence
  explicit operator bool() const { return passed; }
};

std::ostream& operator<<(std::ostream& out, const GradcheckResult& result);

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

// Checks second derivatives (PyTorch's gradgradcheck): gradcheck of the map
// (inputs, v) -> d<fn(inputs), v>/d(inputs), the first-order gradients computed
// with create_graph, against a fixed random v (float64, seeded here, so the
// global generator is untouched). A gradient that does not depend on an input
// (relu's, max_pool1d's) counts as zero, which is what its second derivative is
// almost everywhere. result.input indexes the inputs and then v as the last one.
GradcheckResult gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace xgrad::autograd
