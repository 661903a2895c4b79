#include "autograd/gradcheck.hpp"

#include <cmath>
#include <ostream>

#include <random>

#include "autograd/engine.hpp"
#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"

namespace xgrad::autograd {

std::ostream& operator<<(std::ostream& out, const GradcheckResult& result) {
  return out << (result.passed ? "gradcheck passed" : result.message);
}

namespace {

// A function of several outputs, checked as if they were concatenated flat (gradgradcheck's
// gradients): the flat index runs over the outputs in order. Lists, not cat, keep gradcheck
// on the autograd floor, below the ops.
using OutputsFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

std::vector<double> values_of(const std::vector<Tensor>& outputs) {
  std::vector<double> values;
  for (const Tensor& t : outputs) {
    const double* data = t.data_ptr<double>();
    values.insert(values.end(), data, data + t.numel());
  }
  return values;
}

GradcheckResult check_jacobian(const OutputsFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
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

  const std::vector<Tensor> ys = fn(xs);
  std::int64_t outputs = 0;
  for (const Tensor& y : ys) {
    XGRAD_CHECK(y.defined(), "gradcheck: the function returned an undefined tensor");
    XGRAD_CHECK(y.dtype() == kFloat64, "gradcheck: the function returned {} (shape {}); it must return float64",
                y.dtype(), y.shape());
    outputs += y.numel();
  }

  // analytical[i][k * outputs + j] = d y_j / d x_i[k], one backward per output element.
  std::vector<std::vector<double>> analytical(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].requires_grad()) analytical[i].assign(static_cast<std::size_t>(xs[i].numel() * outputs), 0.0);
  }
  std::int64_t offset = 0;  // flat index of ys's first element among all outputs
  for (const Tensor& y : ys) {
    for (std::int64_t e = 0; e < y.numel() && y.requires_grad(); ++e) {
      const std::int64_t j = offset + e;
      for (Tensor& x : xs) x.mutable_grad() = Tensor();
      Tensor seed = zeros(y.shape(), {.dtype = kFloat64});
      seed.data_ptr<double>()[e] = 1.0;
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
    offset += y.numel();
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

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  return check_jacobian([&fn](const std::vector<Tensor>& xs) { return std::vector<Tensor>{fn(xs)}; }, inputs, options);
}

GradcheckResult gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  XGRAD_CHECK(!inputs.empty(), "gradgradcheck: expected at least one input");
  std::vector<std::size_t> differentiable;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    XGRAD_CHECK(inputs[i].defined(), "gradgradcheck: input {} is an undefined tensor", i);
    XGRAD_CHECK(inputs[i].dtype() == kFloat64,
                "gradgradcheck: input {} (shape {}) is {}; finite differences need float64 inputs (use .to(kFloat64))",
                i, inputs[i].shape(), inputs[i].dtype());
    if (inputs[i].requires_grad()) differentiable.push_back(i);
  }
  XGRAD_CHECK(!differentiable.empty(), "gradgradcheck: no input requires grad, so there is no gradient to check");
  Tensor y = [&] {
    std::vector<Tensor> probe;
    for (const Tensor& input : inputs) probe.push_back(input.detach().clone().requires_grad_(input.requires_grad()));
    return fn(probe);
  }();
  XGRAD_CHECK(y.defined() && y.dtype() == kFloat64, "gradgradcheck: the function must return a defined float64 tensor");

  // v: the output gradient, fixed and away from zero so no term cancels by accident.
  Tensor v = empty(y.shape(), {.dtype = kFloat64});
  std::mt19937_64 generator(0x5eed);
  std::uniform_real_distribution<double> draw(0.5, 1.5);
  for (std::int64_t k = 0; k < v.numel(); ++k) v.data_ptr<double>()[k] = (k % 2 == 0 ? 1.0 : -1.0) * draw(generator);
  v.requires_grad_(true);

  std::vector<Tensor> extended = inputs;
  extended.push_back(v);
  const std::size_t count = inputs.size();
  auto first_order = [fn, differentiable, count](const std::vector<Tensor>& in) {
    // Gradients are needed at the perturbed points too, which gradcheck
    // evaluates under NoGradGuard.
    GradModeGuard grad_mode(true);
    const std::vector<Tensor> xs(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(count));
    const Tensor out = fn(xs);
    std::vector<Tensor> wrt;
    for (std::size_t i : differentiable) wrt.push_back(xs[i]);
    std::vector<Tensor> flat;
    if (!out.requires_grad()) {  // the function does not depend on any input
      for (const Tensor& x : wrt) flat.push_back(zeros({x.numel()}, {.dtype = kFloat64}));
      return flat;
    }
    const std::vector<Tensor> grads =
        grad({out}, wrt, {in[count]}, {.create_graph = true, .allow_unused = true});
    for (std::size_t j = 0; j < wrt.size(); ++j) {
      flat.push_back(grads[j].defined() ? grads[j].reshape({wrt[j].numel()}) : zeros({wrt[j].numel()}, {.dtype = kFloat64}));
    }
    return flat;
  };
  GradcheckResult result = check_jacobian(first_order, extended, {.eps = options.eps, .atol = options.atol,
                                                              .rtol = options.rtol, .raise = false});
  result.message.replace(0, std::string("gradcheck").size(), "gradgradcheck");
  if (!result.passed && options.raise) throw Error(result.message);
  return result;
}

}  // namespace xgrad::autograd
