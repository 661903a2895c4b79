#include "nn/utils.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"

namespace xgrad::nn::utils {

namespace {

// The norm_type-norm of all elements of g, accumulated in double (PyTorch's CPU
// accumulation type for float) and rounded to g's dtype as torch.norm returns it.
double grad_norm(const Tensor& g, double p) {
  return dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = g.data_ptr<T>();
    const std::int64_t n = g.numel();
    double result = 0.0;
    if (std::isinf(p)) {
      for (std::int64_t i = 0; i < n; ++i) {
        const double a = std::abs(static_cast<double>(data[i]));
        result = std::isnan(a) || std::isnan(result) ? NAN : std::max(result, a);
      }
    } else {
      double sum = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double a = std::abs(static_cast<double>(data[i]));
        sum += p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
      }
      result = p == 2.0 ? std::sqrt(sum) : p == 1.0 ? sum : std::pow(sum, 1.0 / p);
    }
    return static_cast<double>(static_cast<T>(result));
  });
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  XGRAD_CHECK(norm_type > 0 && !std::isnan(norm_type),
              "clip_grad_norm_: norm_type must be positive (or INFINITY), got {}", norm_type);
  XGRAD_CHECK(!std::isnan(max_norm), "clip_grad_norm_: max_norm is NaN");
  std::vector<Tensor> grads;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    XGRAD_CHECK(parameters[i].defined(), "clip_grad_norm_: parameter {} is an undefined tensor", i);
    if (parameters[i].grad().defined()) grads.push_back(parameters[i].grad());
  }
  if (grads.empty()) return 0.0;
  // The total: the same norm over the per-gradient norms (torch.norm(torch.stack(norms))),
  // in float64 if any gradient is, else float32.
  const bool any_double = std::any_of(grads.begin(), grads.end(), [](const Tensor& g) { return g.dtype() == kFloat64; });
  Tensor norms = empty({static_cast<std::int64_t>(grads.size())}, {.dtype = any_double ? kFloat64 : kFloat32});
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const double n = grad_norm(grads[i], norm_type);
    if (any_double) {
      norms.data_ptr<double>()[i] = n;
    } else {
      norms.data_ptr<float>()[i] = static_cast<float>(n);
    }
  }
  const double total = grad_norm(norms, norm_type);
  XGRAD_CHECK(!error_if_nonfinite || std::isfinite(total),
              "clip_grad_norm_: the total norm of order {} of the gradients of {} parameters is {}; set "
              "error_if_nonfinite = false to clip anyway",
              norm_type, grads.size(), total);
  NoGradGuard no_grad;
  // clip_coef = max_norm / (total + 1e-6), clamped to at most 1, in the total's dtype (as PyTorch).
  dispatch(norms.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T coef = std::min(static_cast<T>(max_norm) / (static_cast<T>(total) + static_cast<T>(1e-6)), T(1));
    for (Tensor& g : grads) {
      Tensor alias = g.detach();
      alias.mul_(static_cast<double>(coef));
    }
  });
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  XGRAD_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be non-negative, got {}", clip_value);
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    XGRAD_CHECK(parameters[i].defined(), "clip_grad_value_: parameter {} is an undefined tensor", i);
    if (!parameters[i].grad().defined()) continue;
    Tensor alias = parameters[i].grad().detach();
    alias.clamp_(-clip_value, clip_value);
  }
}

}  // namespace xgrad::nn::utils
