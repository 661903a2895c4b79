#include "nn/batchnorm.hpp"

#include "autograd/grad_mode.hpp"
#include "core/creation.hpp"
#include "nn/functional/batch_norm.hpp"
#include "nn/python_format.hpp"

namespace xgrad::nn {

namespace {
std::int64_t checked_num_features(std::int64_t n) {
  XGRAD_CHECK(n > 0, "BatchNorm1d: num_features must be positive, got {}", n);
  return n;
}
}  // namespace

BatchNorm1d::BatchNorm1d(std::int64_t n, BatchNorm1dOptions opts)
    : num_features(checked_num_features(n)),
      options(opts),
      weight(register_parameter("weight", opts.affine ? empty({n}, {.dtype = opts.dtype}) : Tensor())),
      bias(register_parameter("bias", opts.affine ? empty({n}, {.dtype = opts.dtype}) : Tensor())),
      running_mean(register_buffer("running_mean", opts.track_running_stats ? empty({n}, {.dtype = opts.dtype}) : Tensor())),
      running_var(register_buffer("running_var", opts.track_running_stats ? empty({n}, {.dtype = opts.dtype}) : Tensor())),
      num_batches_tracked(
          register_buffer("num_batches_tracked", opts.track_running_stats ? empty({}, {.dtype = kInt64}) : Tensor())) {
  XGRAD_CHECK(opts.eps >= 0, "BatchNorm1d: eps must be non-negative, got {}", opts.eps);
  XGRAD_CHECK(!opts.momentum || (*opts.momentum >= 0 && *opts.momentum <= 1),
              "BatchNorm1d: momentum must be in [0, 1] (or nullopt), got {}", opts.momentum.value_or(0));
  reset_parameters();
}

void BatchNorm1d::reset_running_stats() {
  if (!options.track_running_stats) return;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNorm1d::reset_parameters() {
  NoGradGuard no_grad;
  reset_running_stats();
  if (options.affine) {
    weight.fill_(1.0);
    bias.zero_();
  }
}

Tensor BatchNorm1d::forward(const Tensor& input) {
  XGRAD_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3),
              "BatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L), got {}",
              input.defined() ? fmt::format("shape {}", input.shape()) : "an undefined tensor");
  XGRAD_CHECK(input.size(1) == num_features, "BatchNorm1d: expected {} channels (num_features), got input of shape {}",
              num_features, input.shape());
  double factor = 0.0;
  if (is_training() && options.track_running_stats) {
    // Counts only batches that are valid: the functional op validates first.
    XGRAD_CHECK(input.numel() / num_features > 1,
                "BatchNorm1d: expected more than 1 value per channel when training, got input size {}", input.shape());
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    factor = options.momentum ? *options.momentum : 1.0 / num_batches_tracked.item<double>();
  }
  const bool use_running = !is_training() || options.track_running_stats;
  return functional::batch_norm(input, use_running ? running_mean : Tensor(), use_running ? running_var : Tensor(),
                                weight, bias,
                                {.training = is_training() || !running_mean.defined(), .momentum = factor,
                                 .eps = options.eps});
}

std::string BatchNorm1d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features,
                     detail::python_float(options.eps),
                     options.momentum ? detail::python_float(*options.momentum) : "None",
                     options.affine ? "True" : "False", options.track_running_stats ? "True" : "False");
}

}  // namespace xgrad::nn
