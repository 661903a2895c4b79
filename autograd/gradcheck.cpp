#include "autograd/gradcheck.hpp"

#include <cmath>
#include <ostream>

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"

namespace xgrad::autograd {

std::ostream& operator<<(std::ostream& out, const GradcheckResult& result) {
  return out << (result.passed ? "gradcheck passed" : result.message);
}

namespace {

std::vector<double> values_of(const Tensor& t) {
  const double* data = t.data_ptr<double>();
  return std::vector<double>(data, data + t.numel());
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  XGRAD_CHECK(!inputs.empty(), "gradcheck: expected at least one input");
  XGRAD_CHECK(options.eps > 0, "gradcheck: eps must be positive, got {}", options.eps);
  bool any_requires_grad = false;
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    XGRAD_CHECK(input.defined(), "gradcheck: input {} is an undefined tensor", i);
    XGRAD_CHECK(input.dtype() == kFloat64,
                "gradcheck: input {} (shape {}) is {}; finite differences need float64 inputs (use .to(kFloat64))", i,
                input.shape(), input.dtype());
    // Private leaf copies, so the caller's tensors and their .grad() stay untouched.
    Tensor x = input.detach().clone();
    x.requires_grad_(input.requires_grad());
    any_requires_grad = any_requires_grad || input.requires_grad();
    xs.push_back(x);
  }
  XGRAD_CHECK(any_requires_grad, "gradcheck: no input requires grad, so there is no gradient to check");

  const Tensor y = fn(xs);
  XGRAD_CHECK(y.defined(), "gradcheck: the function returned an undefined tensor");
  XGRAD_CHECK(y.dtype() == kFloat64, "gradcheck: the function returned {} (shape {}); it must return float64", y.dtype(),
              y.shape());
  const std::int64_t outputs = y.numel();

  // analytical[i][k * outputs + j] = d y_j / d x_i[k], one backward per output element.
  std::vector<std::vector<double>> analytical(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].requires_grad()) analytical[i].assign(static_cast<std::size_t>(xs[i].numel() * outputs), 0.0);
  }
  if (y.requires_grad()) {
    for (std::int64_t j = 0; j < outputs; ++j) {
      for (Tensor& x : xs) x.mutable_grad() = Tensor();
      Tensor seed = zeros(y.shape(), {.dtype = kFloat64});
      seed.data_ptr<double>()[j] = 1.0;
      y.backward(seed, {.retain_graph = true});
      for (std::size_t i = 0; i < xs.size(); ++i) {
        const Tensor& g = xs[i].grad();
        if (!xs[i].requires_grad() || !g.defined()) continue;
        XGRAD_CHECK(g.shape() == xs[i].shape(), "gradcheck: gradient of input {} has shape {}, expected {}", i, g.shape(),
                    xs[i].shape());
        const double* gv = g.data_ptr<double>();
        for (std::int64_t k = 0; k < xs[i].numel(); ++k) analytical[i][k * outputs + j] = gv[k];
      }
    }
  }

  GradcheckResult result;
  double worst = -1;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) continue;
    double* data = xs[i].data_ptr<double>();
    for (std::int64_t k = 0; k < xs[i].numel(); ++k) {
      const double original = data[k];
      data[k] = original + options.eps;
      const std::vector<double> plus = values_of(fn(xs));
      data[k] = original - options.eps;
      const std::vector<double> minus = values_of(fn(xs));
      data[k] = original;
      for (std::int64_t j = 0; j < outputs; ++j) {
        const double numerical = (plus[j] - minus[j]) / (2 * options.eps);
        const double exact = analytical[i][k * outputs + j];
        const double error = std::abs(exact - numerical);
        const double allowed = options.atol + options.rtol * std::abs(numerical);
        const double score = std::isfinite(error) ? error / allowed : INFINITY;
        if (score > worst) {
          worst = score;
          result.input = static_cast<std::int64_t>(i);
          result.input_index = k;
          result.output_index = j;
          result.analytical = exact;
          result.numerical = numerical;
        }
      }
    }
  }
  result.passed = worst <= 1.0;
  result.message = fmt::format(
      "gradcheck {}: worst element is d(output[{}])/d(input {}[{}]): analytical {:.10g}, numerical {:.10g} "
      "(difference {:.3g}, allowed {:.3g} = atol {} + rtol {} * |numerical|)",
      result.passed ? "passed" : "failed", result.output_index, result.input, result.input_index, result.analytical,
      result.numerical, std::abs(result.analytical - result.numerical),
      options.atol + options.rtol * std::abs(result.numerical), options.atol, options.rtol);
  if (!result.passed && options.raise) throw Error(result.message);
  return result;
}

}  // namespace xgrad::autograd
