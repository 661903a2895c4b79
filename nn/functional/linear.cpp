// linear: one matmul-and-bias pass forward, its backward beside it.
#include "nn/functional/linear.hpp"

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

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using detail::check_input;
using detail::check_same_dtype;
using detail::recording_backward;

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  check_input(input, "linear", "input");
  check_input(weight, "linear", "weight");
  XGRAD_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got shape {}",
              weight.shape());
  XGRAD_CHECK(input.dim() >= 1, "linear: input must have at least one dim (*, in_features), got a 0-dim tensor");
  const std::int64_t out_features = weight.size(0), in_features = weight.size(1);
  XGRAD_CHECK(input.shape().back() == in_features,
              "linear: input shape {} has {} features in its last dim, but weight {} expects {}", input.shape(),
              input.shape().back(), weight.shape(), in_features);
  check_same_dtype(input, weight, "linear", "weight");
  check_same_dtype(input, bias, "linear", "bias");
  XGRAD_CHECK(!bias.defined() || bias.shape() == Shape{out_features},
              "linear: bias must have shape [{}] (out_features), got {}", out_features,
              bias.defined() ? bias.shape() : Shape{});
  Shape out_shape = input.shape();
  out_shape.back() = out_features;
  Tensor out = make_uninitialized(out_shape, input.dtype(), "linear");
  const std::int64_t rows = in_features == 0 ? out.numel() / std::max<std::int64_t>(out_features, 1)
                                             : input.numel() / in_features;
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    const T* w = weight.data_ptr<T>();
    T* y = out.data_ptr<T>();
    // W^T once, so the inner loop streams contiguous rows (and vectorizes).
    std::vector<T> wt(static_cast<std::size_t>(in_features * out_features));
    for (std::int64_t o = 0; o < out_features; ++o)
      for (std::int64_t i = 0; i < in_features; ++i) wt[i * out_features + o] = w[o * in_features + i];
    for (std::int64_t r = 0; r < rows; ++r) {
      T* y_row = y + r * out_features;
      if (bias.defined()) {
        std::copy_n(bias.data_ptr<T>(), out_features, y_row);
      } else {
        std::fill_n(y_row, out_features, T(0));
      }
      for (std::int64_t i = 0; i < in_features; ++i) {
        const T a = x[r * in_features + i];
        const T* wt_row = wt.data() + i * out_features;
        for (std::int64_t o = 0; o < out_features; ++o) y_row[o] += a * wt_row[o];
      }
    }
  });
  return record("LinearBackward", out, {input, weight, bias},
                [x = SavedTensor(input), w = SavedTensor(weight), input_shape = input.shape(), rows, in_features,
                 out_features](const Tensor& g, const NeedsGrad& needs) {
                  // y = x W^T + b:  dx = g W,  dW = g^T x,  db = sum_rows g
                  // (x is read only for dW and W only for dx, as PyTorch saves them)
                  const Tensor xv = needs[1] ? x.get() : Tensor();
                  const Tensor wv = needs[0] ? w.get() : Tensor();
                  if (recording_backward()) {
                    const Tensor g_rows = g.reshape({rows, out_features});
                    return std::vector<Tensor>{
                        needs[0] ? matmul(g_rows, wv).reshape(input_shape) : Tensor(),
                        needs[1] ? matmul(g_rows.transpose(0, 1), xv.reshape({rows, in_features})) : Tensor(),
                        needs[2] ? sum(g_rows, {0}) : Tensor()};
                  }
                  Tensor grad_x = needs[0] ? zeros(input_shape, {.dtype = g.dtype()}) : Tensor();
                  Tensor grad_w = needs[1] ? zeros({out_features, in_features}, {.dtype = g.dtype()}) : Tensor();
                  Tensor grad_b = needs[2] ? zeros({out_features}, {.dtype = g.dtype()}) : Tensor();
                  dispatch(g.dtype(), [&](auto tag) {
                    using T = decltype(tag);
                    const T* gv = g.data_ptr<T>();
                    const T* xp = needs[1] ? xv.data_ptr<T>() : nullptr;
                    const T* wp = needs[0] ? wv.data_ptr<T>() : nullptr;
                    for (std::int64_t r = 0; r < rows; ++r) {
                      const T* g_row = gv + r * out_features;
                      for (std::int64_t o = 0; o < out_features; ++o) {
                        const T a = g_row[o];
                        if (needs[0]) {
                          T* gx_row = grad_x.data_ptr<T>() + r * in_features;
                          const T* w_row = wp + o * in_features;
                          for (std::int64_t i = 0; i < in_features; ++i) gx_row[i] += a * w_row[i];
                        }
                        if (needs[1]) {
                          const T* x_row = xp + r * in_features;
                          T* gw_row = grad_w.data_ptr<T>() + o * in_features;
                          for (std::int64_t i = 0; i < in_features; ++i) gw_row[i] += a * x_row[i];
                        }
                        if (needs[2]) grad_b.data_ptr<T>()[o] += a;
                      }
                    }
                  });
                  return std::vector<Tensor>{grad_x, grad_w, grad_b};
                });
}

}  // namespace xgrad::nn::functional
