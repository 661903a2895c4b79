// Inputs the fuzzers found (tests/fuzz/corpus/*/regression_*), pinned as unit tests so that the
// normal builds catch the bug again without a fuzzing run.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <xgrad.hpp>

#include "support/testing.hpp"

using namespace xgrad;
namespace F = nn::functional;

// Found by fuzz_conv1d (tests/fuzz/corpus/conv1d/regression_neg_inf_input_weight_grad_padding_lanes):
// the fast backward-weight kernel once read whole vectors past the output length, where a zero
// output gradient met a real Inf input and 0 * Inf = NaN reached weight gradients the Inf never touches.
TEST_CASE("fuzz regression: an Inf input reaches only the weight gradients it touches (fast kernels = reference)") {
  auto weight_grad = [](bool reference) {
    F::detail::set_conv1d_use_reference(reference);
    Tensor x = zeros({2, 3, 2});
    x.data_ptr<float>()[11] = -std::numeric_limits<float>::infinity();  // (n 1, c 2, l 1)
    Tensor w = ones({2, 3, 4}, {.requires_grad = true});
    F::conv1d(x, w, Tensor(), {.stride = 3, .padding = 1}).sum().backward();
    F::detail::set_conv1d_use_reference(false);
    return testing::values(w.grad());
  };
  const std::vector<double> fast = weight_grad(false), reference = weight_grad(true);
  REQUIRE(fast.size() == reference.size());
  for (std::size_t i = 0; i < fast.size(); ++i) {
    INFO("weight gradient flat index ", i, ": fast ", fast[i], ", reference ", reference[i]);
    CHECK((fast[i] == reference[i] || (std::isnan(fast[i]) && std::isnan(reference[i]))));
  }
}
