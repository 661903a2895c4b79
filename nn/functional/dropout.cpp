// dropout: a kept-element mask drawn once, applied forward and backward.
#include "nn/functional/dropout.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/random.hpp"
#include "nn/functional/detail.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using detail::check_input;
using detail::recording_backward;

Tensor dropout(const Tensor& input, double p, bool training) {
  check_input(input, "dropout", "input");
  XGRAD_CHECK(p >= 0.0 && p <= 1.0, "dropout: dropout probability has to be between 0 and 1, but got {}", p);
  if (!training || p == 0.0) return input;
  const std::int64_t n = input.numel();
  auto keep = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(n));
  if (p < 1.0) {
    std::vector<float> u(static_cast<std::size_t>(n));
    random::fill_uniform(u.data(), n, 0.0, 1.0);
    const auto keep_probability = static_cast<float>(1.0 - p);
    for (std::int64_t i = 0; i < n; ++i) (*keep)[i] = u[i] < keep_probability ? 1 : 0;
  }
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Tensor out = make_uninitialized(input.shape(), input.dtype(), "dropout");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    const T s = static_cast<T>(scale);
    for (std::int64_t i = 0; i < n; ++i) y[i] = (*keep)[i] ? x[i] * s : T(0);
  });
  return record("DropoutBackward", out, {input}, [keep, scale](const Tensor& g, const NeedsGrad&) {
    // y = mask x / (1 - p):  dx = mask g / (1 - p)
    if (recording_backward()) {
      Tensor scaled_mask = make_uninitialized(g.shape(), g.dtype(), "dropout_backward");
      dispatch(g.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* m = scaled_mask.data_ptr<T>();
        for (std::int64_t i = 0; i < g.numel(); ++i) m[i] = (*keep)[i] ? static_cast<T>(scale) : T(0);
      });
      return std::vector<Tensor>{g * scaled_mask};
    }
    Tensor grad = make_uninitialized(g.shape(), g.dtype(), "dropout_backward");
    dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* gv = g.data_ptr<T>();
      T* gi = grad.data_ptr<T>();
      const T s = static_cast<T>(scale);
      for (std::int64_t i = 0; i < g.numel(); ++i) gi[i] = (*keep)[i] ? gv[i] * s : T(0);
    });
    return std::vector<Tensor>{grad};
  });
}

}  // namespace xgrad::nn::functional
