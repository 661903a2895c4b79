// Losses: fused loops for the common cases (mse_loss, class-index nll_loss and cross_entropy),
// recorded ops for label smoothing and probability targets, which PyTorch also composes.
#include "nn/functional/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/functional/detail.hpp"
#include "nn/functional/softmax.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using detail::check_input;
using detail::check_same_dtype;
using detail::recording_backward;

namespace {

// Scale of each element's loss in the reduced result.
double reduction_scale(const std::string& reduction, std::int64_t count) {
  return reduction == "mean" ? 1.0 / static_cast<double>(count) : 1.0;
}

void check_reduction(const std::string& reduction, const char* op) {
  XGRAD_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none",
              "{}: reduction must be \"mean\", \"sum\" or \"none\", got \"{}\"", op, reduction);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, LossOptions options) {
  check_input(input, "mse_loss", "input");
  check_input(target, "mse_loss", "target");
  check_reduction(options.reduction, "mse_loss");
  XGRAD_CHECK(input.shape() == target.shape(), "mse_loss: input shape {} and target shape {} differ", input.shape(),
              target.shape());
  check_same_dtype(input, target, "mse_loss", "target");
  const std::int64_t n = input.numel();
  const bool none = options.reduction == "none";
  Tensor out = make_uninitialized(none ? input.shape() : Shape{}, input.dtype(), "mse_loss");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    const T* t = target.data_ptr<T>();
    T* y = out.data_ptr<T>();
    if (none) {
      for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - t[i]) * (x[i] - t[i]);
      return;
    }
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] - t[i]) * static_cast<double>(x[i] - t[i]);
    y[0] = static_cast<T>(sum * reduction_scale(options.reduction, n));
  });
  const double scale = none ? 1.0 : reduction_scale(options.reduction, n);
  return record("MseLossBackward", out, {input, target},
                [saved_input = SavedTensor(input), saved_target = SavedTensor(target), none,
                 scale](const Tensor& g, const NeedsGrad& needs) {
                  // d((x - t)^2)/dx = 2 (x - t) = -d/dt
                  const Tensor x = saved_input.get(), t = saved_target.get();
                  if (recording_backward()) {
                    const Tensor grad = (x - t) * (2 * scale) * g;  // g: one per element ("none") or one value
                    return std::vector<Tensor>{needs[0] ? grad : Tensor(), needs[1] ? -grad : Tensor()};
                  }
                  Tensor grad = make_uninitialized(x.shape(), x.dtype(), "mse_loss_backward");
                  dispatch(x.dtype(), [&](auto tag) {
                    using T = decltype(tag);
                    const T* xv = x.data_ptr<T>();
                    const T* tv = t.data_ptr<T>();
                    const T* gv = g.data_ptr<T>();
                    T* gi = grad.data_ptr<T>();
                    const T k = static_cast<T>(2 * scale);
                    for (std::int64_t i = 0; i < x.numel(); ++i) gi[i] = k * (xv[i] - tv[i]) * gv[none ? i : 0];
                  });
                  Tensor grad_t = needs[1] ? make_uninitialized(x.shape(), x.dtype(), "mse_loss_backward") : Tensor();
                  if (needs[1]) {
                    dispatch(x.dtype(), [&](auto tag) {
                      using T = decltype(tag);
                      for (std::int64_t i = 0; i < x.numel(); ++i) grad_t.data_ptr<T>()[i] = -grad.data_ptr<T>()[i];
                    });
                  }
                  return std::vector<Tensor>{needs[0] ? grad : Tensor(), grad_t};
                });
}

namespace {

// The layout of a classification input (N, C, d...) or (C) with its class-index target
// (N, d...) or (), the validated class of every sample (-1: ignored), and the class weights.
struct Classes {
  std::int64_t N = 1, C = 1, inner = 1;
  Shape loss_shape;  // the target's shape: what reduction="none" returns
  std::shared_ptr<std::vector<std::int64_t>> target;
  std::shared_ptr<std::vector<double>> class_weight;  // C weights, or empty for all ones
  double total_weight = 0;  // sum of the counted samples' class weights: "mean" divides by it, as PyTorch

  double weight_of(std::int64_t k) const { return class_weight->empty() ? 1.0 : (*class_weight)[k]; }
};

// The class dim of a classification input: 0 for (C), 1 otherwise.
std::int64_t class_dim_of(const Tensor& input) { return input.dim() == 1 ? 0 : 1; }

void check_classification_input(const Tensor& input, const char* op) {
  check_input(input, op, "input");
  XGRAD_CHECK(input.dim() >= 1, "{}: input must be (C), (N, C) or (N, C, d1, ...), got a 0-dim tensor", op);
  XGRAD_CHECK(is_floating_point(input.dtype()),
              "{}: input must be float32 or float64 (log-probabilities or logits), got {}", op, input.dtype());
  XGRAD_CHECK(input.size(class_dim_of(input)) > 0, "{}: input of shape {} has no classes", op, input.shape());
}

// weight: undefined, or one value per class in the input's dtype.
void check_class_weight(const Tensor& weight, const Tensor& input, const char* op) {
  if (!weight.defined()) return;
  const std::int64_t C = input.size(class_dim_of(input));
  XGRAD_CHECK(weight.dim() == 1 && weight.numel() == C,
              "{}: weight tensor should be defined either for all {} classes or no classes but got weight tensor of "
              "shape: {}",
              op, C, weight.shape());
  check_same_dtype(input, weight, op, "weight");
}

// The class weights seen along the class dim of `input` ((C) -> (1, C, 1, ...)), for broadcasting.
Tensor along_class_dim(const Tensor& weight, const Tensor& input) {
  Shape shape(static_cast<std::size_t>(input.dim()), 1);
  shape[static_cast<std::size_t>(class_dim_of(input))] = weight.numel();
  return weight.reshape(shape);
}

Classes classes_of(const Tensor& input, const Tensor& target, const Tensor& weight, std::int64_t ignore_index,
                   const char* op) {
  check_classification_input(input, op);
  check_input(target, op, "target");
  check_class_weight(weight, input, op);
  // As PyTorch: with class indices, the loss has no derivative in the weights.
  XGRAD_CHECK(!weight.defined() || !weight.requires_grad() || !autograd::is_grad_enabled(),
              "{}: weight requires grad, but the loss is not differentiable with respect to weight when the target "
              "holds class indices",
              op);
  Classes c;
  Shape expected;
  if (input.dim() == 1) {
    c.C = input.size(0);
  } else {
    c.N = input.size(0);
    c.C = input.size(1);
    expected.push_back(c.N);
    for (std::int64_t d = 2; d < input.dim(); ++d) {
      c.inner *= input.size(d);
      expected.push_back(input.size(d));
    }
  }
  XGRAD_CHECK(target.dtype() == kInt64,
              "{}: class-index targets must be int64 (kInt64), got a {} target of shape {}; convert it with "
              ".to(kInt64)",
              op, target.dtype(), target.shape());
  XGRAD_CHECK(target.shape() == expected,
              "{}: target must have shape {} for input of shape {} (class indices, one per sample), got {}", op,
              expected, input.shape(), target.shape());
  c.loss_shape = expected;
  c.class_weight = std::make_shared<std::vector<double>>();
  if (weight.defined()) {
    c.class_weight->resize(static_cast<std::size_t>(c.C));
    dispatch(weight.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* w = weight.data_ptr<T>();
      for (std::int64_t k = 0; k < c.C; ++k) (*c.class_weight)[k] = static_cast<double>(w[k]);
    });
  }
  c.target = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(target.numel()));
  const std::int64_t* t = target.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < target.numel(); ++i) {
    const std::int64_t k = t[i];
    if (k == ignore_index) {
      (*c.target)[i] = -1;
      continue;
    }
    XGRAD_CHECK(k >= 0 && k < c.C, "{}: Target {} is out of bounds: expected a class index in [0, {}) (at index {})",
                op, k, c.C, i);
    (*c.target)[i] = k;
    c.total_weight += c.weight_of(k);
  }
  return c;
}

// Reduces per-sample losses (target layout, 0 for ignored samples) by `reduction`.
template <class T>
void reduce_losses(const std::vector<double>& losses, const Classes& c, const std::string& reduction, T* out) {
  if (reduction == "none") {
    for (std::size_t i = 0; i < losses.size(); ++i) out[i] = static_cast<T>(losses[i]);
    return;
  }
  double sum = 0;
  for (double v : losses) sum += v;
  // mean over zero counted weight is 0/0 = nan, as PyTorch.
  out[0] = static_cast<T>(reduction == "mean" ? sum / c.total_weight : sum);
}

// The gradient's factor for sample i of class k: its class weight times g[i] for "none",
// g / total_weight for "mean", g for "sum".
template <class T>
double sample_scale(const T* g, std::int64_t i, std::int64_t k, const Classes& c, const std::string& reduction) {
  const double scale = reduction == "none"   ? static_cast<double>(g[i])
                       : reduction == "mean" ? static_cast<double>(g[0]) / c.total_weight
                                             : static_cast<double>(g[0]);
  return scale * c.weight_of(k);
}

// Constants for a recorded classification backward, shaped like the input: the one-hot targets
// (1 at each counted sample's target class), and each sample's weight in the reduced loss (0 when
// ignored, its class weight, over total_weight for "mean") with the class dim kept as 1.
Tensor one_hot_targets(const Classes& c, const Shape& input_shape, Dtype dtype) {
  Tensor out = zeros(input_shape, {.dtype = dtype});
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_ptr<T>();
    for (std::int64_t n = 0; n < c.N; ++n)
      for (std::int64_t i = 0; i < c.inner; ++i) {
        const std::int64_t k = (*c.target)[n * c.inner + i];
        if (k >= 0) o[(n * c.C + k) * c.inner + i] = T(1);
      }
  });
  return out;
}

Tensor sample_weights(const Classes& c, const Shape& input_shape, const std::string& reduction, Dtype dtype) {
  Shape shape = input_shape;
  shape[shape.size() == 1 ? 0 : 1] = 1;
  Tensor out = make_uninitialized(shape, dtype, "loss_backward");
  const double scale = reduction == "mean" ? 1.0 / c.total_weight : 1.0;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < c.target->size(); ++i) {
      const std::int64_t k = (*c.target)[i];
      o[i] = k >= 0 ? static_cast<T>(scale * c.weight_of(k)) : T(0);
    }
  });
  return out;
}

// The output gradient broadcast against the input: "none" gives one per sample (the target's
// shape), which gets the class dim back; a reduced loss gives one value.
Tensor per_sample(const Tensor& g, const Shape& input_shape) {
  return g.dim() == 0 || input_shape.size() == 1 ? g : g.unsqueeze(1);
}

// The negative log-likelihood of class-index targets with weights, fused: logits (cross_entropy)
// or log-probabilities (nll_loss) in, one pass over them.
Tensor fused_nll_loss(const Tensor& input, const Tensor& target, const Classes& c, const std::string& reduction) {
  Tensor out = make_uninitialized(reduction == "none" ? c.loss_shape : Shape{}, input.dtype(), "nll_loss");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    std::vector<double> losses(c.target->size(), 0.0);
    for (std::int64_t n = 0; n < c.N; ++n) {
      for (std::int64_t i = 0; i < c.inner; ++i) {
        const std::int64_t k = (*c.target)[n * c.inner + i];
        if (k >= 0) losses[n * c.inner + i] = -c.weight_of(k) * static_cast<double>(x[(n * c.C + k) * c.inner + i]);
      }
    }
    reduce_losses(losses, c, reduction, out.data_ptr<T>());
  });
  return record("NllLossBackward", out, {input, target},
                [shape = input.shape(), c, reduction](const Tensor& g, const NeedsGrad&) {
                  // loss = -w[target] x[target]:  dx[target] = -w[target] (scaled by the reduction)
                  if (recording_backward()) {
                    // linear in g and independent of x: its second derivative in x is zero
                    const Tensor pick =
                        one_hot_targets(c, shape, g.dtype()) * sample_weights(c, shape, reduction, g.dtype());
                    return std::vector<Tensor>{-(pick * per_sample(g, shape)), Tensor()};
                  }
                  Tensor grad = zeros(shape, {.dtype = g.dtype()});
                  dispatch(g.dtype(), [&](auto tag) {
                    using T = decltype(tag);
                    const T* gv = g.data_ptr<T>();
                    T* gi = grad.data_ptr<T>();
                    for (std::int64_t n = 0; n < c.N; ++n) {
                      for (std::int64_t i = 0; i < c.inner; ++i) {
                        const std::int64_t k = (*c.target)[n * c.inner + i];
                        if (k >= 0)
                          gi[(n * c.C + k) * c.inner + i] =
                              static_cast<T>(-sample_scale(gv, n * c.inner + i, k, c, reduction));
                      }
                    }
                  });
                  // Targets are class indices: no gradient (as PyTorch).
                  return std::vector<Tensor>{grad, Tensor()};
                });
}

// nll_loss(log_softmax(input), target) with class-index targets and weights, fused.
Tensor fused_cross_entropy(const Tensor& input, const Tensor& target, const Classes& c, const std::string& reduction) {
  Tensor out = make_uninitialized(reduction == "none" ? c.loss_shape : Shape{}, input.dtype(), "cross_entropy");
  // logsumexp of each sample's logits, saved for backward's softmax.
  auto lse = std::make_shared<std::vector<double>>(c.target->size());
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    std::vector<double> losses(c.target->size(), 0.0);
    for (std::int64_t n = 0; n < c.N; ++n) {
      for (std::int64_t i = 0; i < c.inner; ++i) {
        const T* row = x + n * c.C * c.inner + i;
        double max = -std::numeric_limits<double>::infinity();
        for (std::int64_t k = 0; k < c.C; ++k) max = std::max<double>(max, row[k * c.inner]);
        if (std::isinf(max)) max = 0;
        double sum = 0;
        for (std::int64_t k = 0; k < c.C; ++k) sum += std::exp(static_cast<double>(row[k * c.inner]) - max);
        const double logsumexp = max + std::log(sum);
        (*lse)[n * c.inner + i] = logsumexp;
        const std::int64_t k = (*c.target)[n * c.inner + i];
        // loss = w[target] (logsumexp(x) - x[target])
        if (k >= 0) losses[n * c.inner + i] = c.weight_of(k) * (logsumexp - static_cast<double>(row[k * c.inner]));
      }
    }
    reduce_losses(losses, c, reduction, out.data_ptr<T>());
  });
  return record("CrossEntropyLossBackward", out, {input, target},
                [saved_input = SavedTensor(input), c, lse, reduction](const Tensor& g, const NeedsGrad&) {
                  // loss = w[target] (logsumexp(x) - x[target]):  dx_k = w[target] (softmax_k - [k == target])
                  const Tensor x = saved_input.get();
                  if (recording_backward()) {
                    const Tensor p = softmax(x, class_dim_of(x));
                    const Tensor one_hot = one_hot_targets(c, x.shape(), x.dtype());
                    const Tensor weights = sample_weights(c, x.shape(), reduction, x.dtype());
                    return std::vector<Tensor>{(p - one_hot) * (weights * per_sample(g, x.shape())), Tensor()};
                  }
                  Tensor grad = zeros(x.shape(), {.dtype = g.dtype()});
                  dispatch(g.dtype(), [&](auto tag) {
                    using T = decltype(tag);
                    const T* xv = x.data_ptr<T>();
                    const T* gv = g.data_ptr<T>();
                    T* gi = grad.data_ptr<T>();
                    for (std::int64_t n = 0; n < c.N; ++n) {
                      for (std::int64_t i = 0; i < c.inner; ++i) {
                        const std::int64_t sample = n * c.inner + i;
                        const std::int64_t target_class = (*c.target)[sample];
                        if (target_class < 0) continue;
                        const double scale = sample_scale(gv, sample, target_class, c, reduction);
                        const double shift = (*lse)[sample];
                        const std::int64_t base = n * c.C * c.inner + i;
                        for (std::int64_t k = 0; k < c.C; ++k) {
                          const double p = std::exp(static_cast<double>(xv[base + k * c.inner]) - shift);
                          gi[base + k * c.inner] = static_cast<T>(scale * (p - (k == target_class ? 1.0 : 0.0)));
                        }
                      }
                    }
                  });
                  return std::vector<Tensor>{grad, Tensor()};
                });
}

// The label-smoothing term of cross_entropy with class indices, from recorded ops:
// -sum_k w_k log_softmax(x)_k per sample, 0 for ignored samples, reduced with the same
// denominator as the class term (PyTorch's cross_entropy_loss_label_smoothing).
Tensor smoothing_term(const Tensor& input, const Tensor& weight, const Classes& c, const std::string& reduction) {
  Tensor log_p = log_softmax(input, class_dim_of(input));
  if (weight.defined()) log_p = log_p * along_class_dim(weight.detach(), input);
  Tensor ignored = zeros(c.loss_shape, {.dtype = kBool});
  for (std::size_t i = 0; i < c.target->size(); ++i) ignored.data_ptr<bool>()[i] = (*c.target)[i] < 0;
  const Tensor per_sample_loss = masked_fill(-sum(log_p, {class_dim_of(input)}), ignored, 0.0);
  if (reduction == "none") return per_sample_loss;
  const Tensor total = sum(per_sample_loss);
  return reduction == "mean" ? total / c.total_weight : total;
}

// cross_entropy with class probabilities (target shaped as the input), from recorded ops, so that
// it is differentiable in the target (and the weights) too.
Tensor cross_entropy_probabilities(const Tensor& input, const Tensor& target, const CrossEntropyLossOptions& options) {
  const char* op = "cross_entropy";
  check_classification_input(input, op);
  check_same_dtype(input, target, op, "target");
  check_class_weight(options.weight, input, op);
  XGRAD_CHECK(options.ignore_index < 0,
              "cross_entropy: ignore_index is not supported for class-probability targets (float, shaped as the "
              "input), got ignore_index={}",
              options.ignore_index);
  const std::int64_t class_dim = class_dim_of(input), C = input.size(class_dim);
  const double smoothing = options.label_smoothing;
  // Smoothing mixes each target with the uniform distribution: (1 - s) target + s / C.
  const Tensor q = smoothing > 0 ? target * (1.0 - smoothing) + smoothing / static_cast<double>(C) : target;
  Tensor products = log_softmax(input, class_dim) * q;
  if (options.weight.defined()) products = products * along_class_dim(options.weight, input);
  if (options.reduction == "none") return -sum(products, {class_dim});
  const Tensor total = -sum(products);
  // "mean" divides by the number of samples (0 samples: 0/0 = nan, as PyTorch).
  return options.reduction == "mean" ? total / static_cast<double>(input.numel() / C) : total;
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, NLLLossOptions options) {
  check_reduction(options.reduction, "nll_loss");
  const Classes c = classes_of(input, target, options.weight, options.ignore_index, "nll_loss");
  return fused_nll_loss(input, target, c, options.reduction);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, CrossEntropyLossOptions options) {
  check_reduction(options.reduction, "cross_entropy");
  const double smoothing = options.label_smoothing;
  XGRAD_CHECK(smoothing >= 0.0 && smoothing <= 1.0,
              "cross_entropy: label_smoothing must be between 0.0 and 1.0, got {}", smoothing);
  check_input(input, "cross_entropy", "input");
  check_input(target, "cross_entropy", "target");
  // A float target shaped as the input holds class probabilities, as PyTorch decides.
  if (is_floating_point(target.dtype()) && target.shape() == input.shape())
    return cross_entropy_probabilities(input, target, options);
  const Classes c = classes_of(input, target, options.weight, options.ignore_index, "cross_entropy");
  const Tensor loss = fused_cross_entropy(input, target, c, options.reduction);
  if (smoothing == 0.0) return loss;
  // (1 - s) nll + (s / C) sum_k w_k (-log_softmax_k), as PyTorch.
  return loss * (1.0 - smoothing) +
         smoothing_term(input, options.weight, c, options.reduction) * (smoothing / static_cast<double>(c.C));
}

}  // namespace xgrad::nn::functional
