// batch_norm as dedicated loops over each channel: forward, then the backward lambda right below
// it. Statistics and gradient sums are accumulated in double.
#include "nn/functional/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/loops.hpp"
#include "core/parallel.hpp"
#include "nn/functional/detail.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using detail::check_input;
using detail::check_same_dtype;
using detail::rows_grain;
using detail::recording_backward;

namespace {

// sum (row[l] - m)^2 in double, as detail::sum_in_double.
template <class T>
double squares_of(const T* row, std::int64_t n, double m) {
  double lanes[8] = {};
  std::int64_t l = 0;
  for (; l + 8 <= n; l += 8)
    for (int j = 0; j < 8; ++j) {
      const double d = static_cast<double>(row[l + j]) - m;
      lanes[j] += d * d;
    }
  double sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; l < n; ++l) sum += (static_cast<double>(row[l]) - m) * (static_cast<double>(row[l]) - m);
  return sum;
}

// sum g[l] and sum g[l] (x[l] - m) in double, as detail::sum_in_double.
template <class T>
void gradient_sums(const T* g, const T* x, std::int64_t n, double m, double& sum_g, double& sum_g_centered) {
  double lanes_g[8] = {}, lanes_gx[8] = {};
  std::int64_t l = 0;
  for (; l + 8 <= n; l += 8)
    for (int j = 0; j < 8; ++j) {
      const double gv = static_cast<double>(g[l + j]);
      lanes_g[j] += gv;
      lanes_gx[j] += gv * (static_cast<double>(x[l + j]) - m);
    }
  auto total = [](const double* v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); };
  double a = total(lanes_g), b = total(lanes_gx);
  for (; l < n; ++l) {
    a += static_cast<double>(g[l]);
    b += static_cast<double>(g[l]) * (static_cast<double>(x[l]) - m);
  }
  sum_g += a;
  sum_g_centered += b;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, BatchNormOptions options) {
  check_input(input, "batch_norm", "input");
  XGRAD_CHECK(input.dim() == 2 || input.dim() == 3,
              "batch_norm: expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {}", input.shape());
  const std::int64_t N = input.size(0), C = input.size(1), L = input.dim() == 3 ? input.size(2) : 1;
  const Tensor* per_channel[] = {&running_mean, &running_var, &weight, &bias};
  const char* names[] = {"running_mean", "running_var", "weight", "bias"};
  for (int k = 0; k < 4; ++k) {
    const Tensor& t = *per_channel[k];
    if (!t.defined()) continue;
    XGRAD_CHECK(t.shape() == Shape{C}, "batch_norm: {} must have shape [{}] (the input's channels, input {}), got {}",
                names[k], C, input.shape(), t.shape());
    check_same_dtype(input, t, "batch_norm", names[k]);
  }
  XGRAD_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: running_mean and running_var must be both defined or both undefined");
  const bool use_batch_stats = options.training || !running_mean.defined();
  const std::int64_t count = N * L;
  XGRAD_CHECK(!use_batch_stats || count > 1,
              "batch_norm: expected more than 1 value per channel when training, got input size {}", input.shape());
  XGRAD_CHECK(options.eps >= 0, "batch_norm: eps must be non-negative, got {}", options.eps);

  // Per-channel mean and 1/sqrt(var + eps) that normalized the input (saved for backward).
  auto mean = std::make_shared<std::vector<double>>(static_cast<std::size_t>(C));
  auto invstd = std::make_shared<std::vector<double>>(static_cast<std::size_t>(C));
  Tensor out = make_uninitialized(input.shape(), input.dtype(), "batch_norm");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    // Channels are independent: split them over the thread pool.
    parallel_for(C, rows_grain(count), [&](std::int64_t c_begin, std::int64_t c_end) {
    for (std::int64_t c = c_begin; c < c_end; ++c) {
      double m, inv;
      if (use_batch_stats) {
        double sum = 0;
        for (std::int64_t n = 0; n < N; ++n) sum += xgrad::detail::sum_in_double(x + (n * C + c) * L, L);
        m = sum / static_cast<double>(count);
        double squares = 0;
        for (std::int64_t n = 0; n < N; ++n) squares += squares_of(x + (n * C + c) * L, L, m);
        inv = 1.0 / std::sqrt(squares / static_cast<double>(count) + options.eps);
        if (running_mean.defined() && options.training) {
          // Running statistics use the unbiased variance, as PyTorch.
          Tensor running_mean_handle = running_mean, running_var_handle = running_var;  // same storage
          T* rm = running_mean_handle.data_ptr<T>();
          T* rv = running_var_handle.data_ptr<T>();
          const double unbiased = squares / static_cast<double>(count - 1);
          rm[c] = static_cast<T>(options.momentum * m + (1 - options.momentum) * rm[c]);
          rv[c] = static_cast<T>(options.momentum * unbiased + (1 - options.momentum) * rv[c]);
        }
      } else {
        m = running_mean.data_ptr<T>()[c];
        inv = 1.0 / std::sqrt(static_cast<double>(running_var.data_ptr<T>()[c]) + options.eps);
      }
      (*mean)[c] = m;
      (*invstd)[c] = inv;
      // y = x * alpha + beta with alpha = invstd * w, beta = b - mean * alpha (PyTorch's form)
      const double w = weight.defined() ? weight.data_ptr<T>()[c] : 1.0;
      const double b = bias.defined() ? bias.data_ptr<T>()[c] : 0.0;
      const T alpha = static_cast<T>(inv * w), beta = static_cast<T>(b - m * inv * w);
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = x + (n * C + c) * L;
        T* out_row = y + (n * C + c) * L;
        for (std::int64_t l = 0; l < L; ++l) out_row[l] = row[l] * alpha + beta;
      }
    }
    });
  });
  if (options.training && running_mean.defined()) {
    // The running statistics were updated in place: bump their version counters so that a backward
    // which saved them sees the change. (PyTorch 1.13 leaves them unbumped, pytorch/pytorch#13402,
    // so such a backward silently uses the new values.)
    running_mean.impl()->storage->bump_version("batch_norm");
    running_var.impl()->storage->bump_version("batch_norm");
  }
  // Per-channel tensors broadcast against the input as (1, C) or (1, C, 1); statistics reduce over `dims`.
  const Shape channel_shape = input.dim() == 3 ? Shape{1, C, 1} : Shape{1, C};
  const std::vector<std::int64_t> dims =
      input.dim() == 3 ? std::vector<std::int64_t>{0, 2} : std::vector<std::int64_t>{0};
  return record(
      "BatchNormBackward", out, {input, weight, bias, running_mean, running_var},
      [x = SavedTensor(input), w = SavedTensor(weight),
       saved_running_mean = use_batch_stats ? SavedTensor() : SavedTensor(running_mean),
       saved_running_var = use_batch_stats ? SavedTensor() : SavedTensor(running_var), mean, invstd, use_batch_stats,
       eps = options.eps, channel_shape, dims, N, C, L](const Tensor& g, const NeedsGrad& needs) {
        // xhat = (x - mean) invstd, y = w xhat + b:
        //   dw = sum g xhat, db = sum g,
        //   dx = w invstd (g - sum(g)/M - xhat sum(g xhat)/M) with batch statistics (mean, var depend on x),
        //   dx = w invstd g with running statistics.
        // Running statistics are read from mean/invstd, but checked: a change to them since the forward
        // is an error, as PyTorch.
        (void)saved_running_mean.get();
        (void)saved_running_var.get();
        const Tensor xv = x.get();
        const Tensor wv = needs[0] && w.defined() ? w.get() : Tensor();
        const double M = static_cast<double>(N * L);
        if (recording_backward()) {
          // The same formulas from recorded ops; with batch statistics, mean and invstd are recomputed
          // from x so that the graph carries their dependence on x.
          auto channel_constant = [&](const std::vector<double>& values) {
            Tensor t = make_uninitialized({C}, g.dtype(), "batch_norm_backward");
            dispatch(g.dtype(), [&](auto tag) {
              using T = decltype(tag);
              for (std::int64_t c = 0; c < C; ++c) t.data_ptr<T>()[c] = static_cast<T>(values[c]);
            });
            return t.reshape(channel_shape);
          };
          Tensor centered, inv;
          if (use_batch_stats) {
            centered = xv - xgrad::mean(xv, dims, true);
            inv = pow(xgrad::mean(centered * centered, dims, true) + eps, -0.5);
          } else {
            centered = xv - channel_constant(*mean);
            inv = channel_constant(*invstd);
          }
          const bool batch_dx = needs[0] && use_batch_stats;
          const Tensor xhat = needs[1] || batch_dx ? centered * inv : Tensor();
          const Tensor sum_g = needs[2] || batch_dx ? sum(g, dims, true) : Tensor();
          const Tensor sum_g_xhat = needs[1] || batch_dx ? sum(g * xhat, dims, true) : Tensor();
          Tensor grad_x;
          if (needs[0]) {
            const Tensor scale = wv.defined() ? inv * wv.reshape(channel_shape) : inv;
            grad_x = batch_dx ? scale * (g - sum_g / M - xhat * (sum_g_xhat / M)) : scale * g;
          }
          return std::vector<Tensor>{grad_x, needs[1] ? sum_g_xhat.reshape({C}) : Tensor(),
                                     needs[2] ? sum_g.reshape({C}) : Tensor(), Tensor(), Tensor()};
        }
        Tensor grad_x = needs[0] ? make_uninitialized(xv.shape(), xv.dtype(), "batch_norm_backward") : Tensor();
        Tensor grad_w = needs[1] ? make_uninitialized({C}, xv.dtype(), "batch_norm_backward") : Tensor();
        Tensor grad_b = needs[2] ? make_uninitialized({C}, xv.dtype(), "batch_norm_backward") : Tensor();
        dispatch(xv.dtype(), [&](auto tag) {
          using T = decltype(tag);
          const T* xp = xv.data_ptr<T>();
          const T* gv = g.data_ptr<T>();
          parallel_for(C, rows_grain(N * L), [&](std::int64_t c_begin, std::int64_t c_end) {
          for (std::int64_t c = c_begin; c < c_end; ++c) {
            const double m = (*mean)[c], inv = (*invstd)[c];
            double sum_g = 0, sum_g_xhat = 0;
            for (std::int64_t n = 0; n < N; ++n)
              gradient_sums(gv + (n * C + c) * L, xp + (n * C + c) * L, L, m, sum_g, sum_g_xhat);
            sum_g_xhat *= inv;
            if (needs[1]) grad_w.data_ptr<T>()[c] = static_cast<T>(sum_g_xhat);
            if (needs[2]) grad_b.data_ptr<T>()[c] = static_cast<T>(sum_g);
            if (!needs[0]) continue;
            const double scale = (wv.defined() ? static_cast<double>(wv.data_ptr<T>()[c]) : 1.0) * inv;
            T* gx = grad_x.data_ptr<T>();
            if (use_batch_stats) {
              const T k = static_cast<T>(scale), shift = static_cast<T>(sum_g / M);
              const T proj = static_cast<T>(sum_g_xhat / M * inv), mm = static_cast<T>(m);
              for (std::int64_t n = 0; n < N; ++n) {
                const T* row = xp + (n * C + c) * L;
                const T* g_row = gv + (n * C + c) * L;
                T* out_row = gx + (n * C + c) * L;
                for (std::int64_t l = 0; l < L; ++l) out_row[l] = k * (g_row[l] - shift - (row[l] - mm) * proj);
              }
            } else {
              const T k = static_cast<T>(scale);
              for (std::int64_t n = 0; n < N; ++n) {
                const T* g_row = gv + (n * C + c) * L;
                T* out_row = gx + (n * C + c) * L;
                for (std::int64_t l = 0; l < L; ++l) out_row[l] = k * g_row[l];
              }
            }
          }
          });
        });
        return std::vector<Tensor>{grad_x, grad_w, grad_b, Tensor(), Tensor()};
      });
}

}  // namespace xgrad::nn::functional
