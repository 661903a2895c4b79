// Shared helpers for xgrad's tests: fixtures, closeness checks with a useful
// report, gradcheck inputs from a domain, and misuse tables. Header-only and light: it
// includes only the core headers (no xtensor), so test TUs stay quick to build.
//
//   Tensor x = testing::load_fixture("core/mlp_f64_in_x");        // tests/fixtures/core/mlp_f64_in_x.npy
//   CHECK_CLOSE(actual, expected, 1e-12, 1e-12);                  // names the worst element on failure
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograd/gradcheck.hpp"
#include "core/creation.hpp"
#include "core/error.hpp"
#include "core/io.hpp"
#include "ops/ops.hpp"
#include "core/tensor.hpp"

#ifndef XGRAD_FIXTURES_DIR
#error "XGRAD_FIXTURES_DIR must point at tests/fixtures (tests/CMakeLists.txt defines it)"
#endif

namespace xgrad::testing {

// Absolute path of a fixture, e.g. fixture_path("core/npy_c_f32.npy").
inline std::string fixture_path(const std::string& relative) { return std::string(XGRAD_FIXTURES_DIR) + "/" + relative; }

// Loads tests/fixtures/<name>.npy (the ".npy" may be left out).
inline Tensor load_fixture(const std::string& name) {
  const bool has_suffix = name.size() >= 4 && name.compare(name.size() - 4, 4, ".npy") == 0;
  return load_npy(fixture_path(has_suffix ? name : name + ".npy"));
}

// All elements as double, whatever the dtype.
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> out(static_cast<std::size_t>(t.numel()));
  dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = t.data_ptr<T>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(data[i]);
  });
  return out;
}

// A 1-D float64 tensor holding `data` (a leaf that requires grad by default).
inline Tensor from_values(const std::vector<double>& data, bool requires_grad = true, Dtype dtype = kFloat64) {
  Tensor t = empty({static_cast<std::int64_t>(data.size())}, {.dtype = dtype});
  dispatch_all(dtype, [&](auto tag) {
    using T = decltype(tag);
    for (std::size_t i = 0; i < data.size(); ++i) t.data_ptr<T>()[i] = convert<T>(data[i]);
  });
  if (is_floating_point(dtype)) t.requires_grad_(requires_grad);
  return t;
}

// A 1-D int64 tensor holding `data` (indices, labels).
inline Tensor int64_values(const std::vector<std::int64_t>& data) {
  Tensor t = empty({static_cast<std::int64_t>(data.size())}, {.dtype = kInt64});
  for (std::size_t i = 0; i < data.size(); ++i) t.data_ptr<std::int64_t>()[i] = data[i];
  return t;
}

// A 1-D bool tensor holding `data` (masks).
inline Tensor bool_values(const std::vector<bool>& data) {
  Tensor t = empty({static_cast<std::int64_t>(data.size())}, {.dtype = kBool});
  for (std::size_t i = 0; i < data.size(); ++i) t.data_ptr<bool>()[i] = data[i];
  return t;
}

struct CloseResult {
  bool ok = true;
  std::string message;  // shapes, dtypes, and the worst element: index, both values, error
  explicit operator bool() const { return ok; }
};

// |actual - expected| <= atol + rtol * |expected| elementwise (like torch.allclose);
// shapes and dtypes must match exactly. NaNs match only NaNs.
inline CloseResult check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CloseResult r;
  if (!actual.defined() || !expected.defined()) {
    r.ok = actual.defined() == expected.defined();
    r.message = fmt::format("defined: actual {}, expected {}", actual.defined(), expected.defined());
    return r;
  }
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype()) {
    r.ok = false;
    r.message = fmt::format("actual is {} {}, expected {} {}", actual.dtype(), actual.shape(), expected.dtype(),
                            expected.shape());
    return r;
  }
  const std::vector<double> a = values(actual), e = values(expected);
  double worst_score = -1;
  std::size_t worst = 0;
  std::size_t failing = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double error = std::abs(a[i] - e[i]);
    const double allowed = atol + rtol * std::abs(e[i]);
    double score = error / (allowed > 0 ? allowed : 1e-300);
    if (std::isnan(a[i]) || std::isnan(e[i])) score = std::isnan(a[i]) && std::isnan(e[i]) ? 0 : INFINITY;
    if (score > 1) ++failing;
    if (score > worst_score) {
      worst_score = score;
      worst = i;
    }
  }
  r.ok = failing == 0;
  if (!a.empty()) {
    r.message = fmt::format(
        "{} of {} elements differ (rtol {}, atol {}); worst at flat index {}: actual {:.17g}, expected {:.17g}, "
        "|diff| {:.3g} (shape {}, {})",
        failing, a.size(), rtol, atol, worst, a[worst], e[worst], std::abs(a[worst] - e[worst]), actual.shape(),
        actual.dtype());
  }
  return r;
}

// Tolerances for comparing against PyTorch: round-off only.
inline double parity_rtol(Dtype dtype) { return dtype == kFloat64 ? 1e-12 : 1e-5; }
inline double parity_atol(Dtype dtype) { return dtype == kFloat64 ? 1e-12 : 1e-6; }

// Where an op's inputs are drawn from: U[low, high), optionally pushed at least
// `keep_away` from each of `avoid` (non-differentiable points like 0 for relu/abs);
// or N(0, 1) when `normal` (layers and losses, whose inputs are activations).
struct Domain {
  double low = -1.0;
  double high = 1.0;
  std::vector<double> avoid = {};
  double keep_away = 0.1;
  bool normal = false;
};

// Deterministic float64 input: U[low, high) from the seeded global generator,
// moved out of the avoided neighbourhoods. requires_grad = true.
inline Tensor make_input(const Shape& shape, const Domain& domain) {
  if (domain.normal) return randn(shape, {.dtype = kFloat64, .requires_grad = true});
  Tensor t = rand(shape, {.dtype = kFloat64});
  double* data = t.data_ptr<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double v = domain.low + (domain.high - domain.low) * data[i];
    for (double point : domain.avoid) {
      if (std::abs(v - point) < domain.keep_away) v = point + (v >= point ? domain.keep_away : -domain.keep_away);
    }
    data[i] = v;
  }
  t.requires_grad_(true);
  return t;
}

// The message of the xgrad::Error that fn throws ("<no error>" when it throws none).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message of the xgrad::Error `fn` throws; a doctest failure when it throws anything else or nothing.
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  } catch (const std::exception& other) {
    FAIL_CHECK("threw a std::exception that is not xgrad::Error: ", other.what());
    return "";
  } catch (...) {
    FAIL_CHECK("threw something that is not a std::exception");
    return "";
  }
  FAIL_CHECK("did not throw");
  return "";
}

// A misuse must throw xgrad::Error whose message contains `expected`.
struct Misuse {
  std::string name;            // what is misused, shown on failure
  std::function<void()> call;  // the misuse
  std::string expected;        // a fragment of the message: the function's name and the offending values
};

// Runs every misuse of a table; each failure names its row and shows the message.
inline void check_misuses(const std::vector<Misuse>& rows) {
  for (const Misuse& row : rows) {
    CAPTURE(row.name);
    const std::string message = error_message(row.call);
    CAPTURE(message);
    CHECK_MESSAGE(contains(message, row.expected), "expected the message to contain: ", row.expected);
  }
}

}  // namespace xgrad::testing

// CHECK_CLOSE(actual, expected, rtol, atol): a doctest CHECK whose failure names the worst element.
#define CHECK_CLOSE(actual, expected, rtol, atol)                                                      \
  do {                                                                                                 \
    const ::xgrad::testing::CloseResult close_result_ = ::xgrad::testing::check_close((actual), (expected), (rtol), (atol)); \
    CHECK_MESSAGE(close_result_.ok, #actual " vs " #expected ": ", close_result_.message);             \
  } while (false)
