// Helpers shared by the training tests (layers, losses, optim, checkpoints):
// fixture paths and closeness checks over raw pointers (no xtensor in these TUs).
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/io.hpp"
#include "core/tensor.hpp"

namespace training_tests {

inline std::string fixture(const std::string& relative) {
  return std::string(XGRAD_FIXTURES_DIR) + "/training/" + relative;
}

inline xgrad::Tensor load_fixture(const std::string& relative) { return xgrad::load_npy(fixture(relative)); }

// Largest |actual - expected| / (atol + rtol |expected|) over all elements
// (<= 1 means close); shapes must match.
inline double closeness(const xgrad::Tensor& actual, const xgrad::Tensor& expected, double rtol, double atol) {
  REQUIRE(actual.defined());
  REQUIRE(expected.defined());
  REQUIRE(actual.shape() == expected.shape());
  const xgrad::Tensor a = actual.detach().to(xgrad::kFloat64), e = expected.detach().to(xgrad::kFloat64);
  const double* av = a.data_ptr<double>();
  const double* ev = e.data_ptr<double>();
  double worst = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(av[i]) && std::isnan(ev[i])) continue;
    const double score = std::abs(av[i] - ev[i]) / (atol + rtol * std::abs(ev[i]));
    worst = std::isfinite(score) ? std::max(worst, score) : INFINITY;
  }
  return worst;
}

// Tolerances for comparing with PyTorch in each dtype.
struct Tolerance {
  double rtol, atol;
};
inline Tolerance tolerance_for(xgrad::Dtype dtype) {
  return dtype == xgrad::kFloat64 ? Tolerance{1e-10, 1e-12} : Tolerance{2e-5, 2e-6};
}

#define CHECK_CLOSE_TO(actual, expected, tol, what)                                 \
  do {                                                                              \
    INFO((what));                                                                   \
    CHECK(::training_tests::closeness((actual), (expected), (tol).rtol, (tol).atol) <= 1.0); \
  } while (false)

inline bool bitwise_equal(const xgrad::Tensor& a, const xgrad::Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const auto bytes = static_cast<std::size_t>(a.numel()) * xgrad::element_size(a.dtype());
  return std::memcmp(a.impl()->storage->data(), b.impl()->storage->data(), bytes) == 0;
}

}  // namespace training_tests
