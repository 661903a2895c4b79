// softmax and log_softmax along one dim: one pass per lane forward, the fused backward per lane,
// and a recorded backward under create_graph.
#include "nn/functional/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
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
using detail::recording_backward;

namespace {

// The layout of a reduction along `dim`: outer x extent x inner. A lane is the `extent` elements
// base + k * inner (k < extent) that one softmax normalizes together.
struct Lanes {
  std::int64_t outer = 1, extent = 1, inner = 1;

  // Calls f(base) for every lane.
  template <class F>
  void for_each(F f) const {
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) f(o * extent * inner + i);
  }
};

Lanes lanes_along(const Tensor& t, std::int64_t dim, const char* op) {
  Lanes lanes;
  const std::int64_t d = normalize_dim(dim, t.dim(), op);  // a 0-dim tensor takes -1 or 0 (one lane of one)
  if (t.dim() == 0) return lanes;
  for (std::int64_t i = 0; i < d; ++i) lanes.outer *= t.size(i);
  lanes.extent = t.size(d);
  for (std::int64_t i = d + 1; i < t.dim(); ++i) lanes.inner *= t.size(i);
  return lanes;
}

// The dims a lane runs along, for sum(): {dim}, or none for a 0-dim tensor (its one element).
std::vector<std::int64_t> lane_dims(const Tensor& t, std::int64_t dim) {
  if (t.dim() == 0) return {};
  return {dim < 0 ? dim + t.dim() : dim};  // lanes_along has checked it
}

// The shift that keeps exp(x - shift) finite along a lane: its largest element, or 0 when that is
// +-Inf (Inf - Inf would be NaN); a NaN stays NaN, so that it spreads through the lane as in PyTorch.
template <class T>
T lane_shift(const T* x, std::int64_t base, const Lanes& s) {
  T max = -std::numeric_limits<T>::infinity();
  for (std::int64_t k = 0; k < s.extent; ++k) max = std::max(max, x[base + k * s.inner]);
  return std::isfinite(max) || std::isnan(max) ? max : T(0);
}

// sum_k a[base + k * inner] * b[...] in double (b = nullptr: sum of a).
template <class T>
double lane_sum(const T* a, const T* b, std::int64_t base, const Lanes& s) {
  double sum = 0;
  for (std::int64_t k = 0; k < s.extent; ++k)
    sum += b ? a[base + k * s.inner] * b[base + k * s.inner] : a[base + k * s.inner];
  return sum;
}

// The shared shape of softmax and log_softmax: y = lane_forward(x) along each lane, and a
// backward that runs lane_backward(g, y) per lane, or builds recorded(g, y, lane dims) from
// recorded ops under create_graph. The lane functions are generic over the element type.
template <class LaneForward, class LaneBackward, class Recorded>
Tensor normalize_lanes(const Tensor& input, std::int64_t dim, const char* op, const char* node,
                       LaneForward lane_forward, LaneBackward lane_backward, Recorded recorded) {
  check_input(input, op, "input");
  const Lanes s = lanes_along(input, dim, op);
  Tensor out = make_uninitialized(input.shape(), input.dtype(), op);
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    s.for_each([&](std::int64_t base) { lane_forward(x, y, base, s); });
  });
  return record(node, out, {input},
                [saved = SavedTensor::output(out), s, lane = lane_dims(input, dim), lane_backward, recorded,
                 backward_op = std::string(op) + "_backward"](const Tensor& g, const NeedsGrad&) {
                  const Tensor y = saved.get();
                  if (recording_backward()) return std::vector<Tensor>{recorded(g, y, lane)};
                  Tensor grad = make_uninitialized(g.shape(), g.dtype(), backward_op);
                  dispatch(g.dtype(), [&](auto tag) {
                    using T = decltype(tag);
                    const T* gv = g.data_ptr<T>();
                    const T* yv = y.data_ptr<T>();
                    T* gi = grad.data_ptr<T>();
                    s.for_each([&](std::int64_t base) { lane_backward(gv, yv, gi, base, s); });
                  });
                  return std::vector<Tensor>{grad};
                });
}

}  // namespace

Tensor log_softmax(const Tensor& input, std::int64_t dim) {
  return normalize_lanes(
      input, dim, "log_softmax", "LogSoftmaxBackward",
      [](const auto* x, auto* y, std::int64_t base, const Lanes& s) {
        using T = std::remove_pointer_t<decltype(y)>;
        const T max = lane_shift(x, base, s);
        double sum = 0;
        for (std::int64_t k = 0; k < s.extent; ++k) sum += std::exp(static_cast<double>(x[base + k * s.inner] - max));
        const T shift = max + static_cast<T>(std::log(sum));
        for (std::int64_t k = 0; k < s.extent; ++k) y[base + k * s.inner] = x[base + k * s.inner] - shift;
      },
      // y = x - logsumexp(x):  dx_k = g_k - softmax_k sum_j g_j
      [](const auto* gv, const auto* yv, auto* gi, std::int64_t base, const Lanes& s) {
        using T = std::remove_pointer_t<decltype(gi)>;
        const T total = static_cast<T>(lane_sum<T>(gv, nullptr, base, s));
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner)
          gi[at] = gv[at] - std::exp(yv[at]) * total;
      },
      [](const Tensor& g, const Tensor& y, const std::vector<std::int64_t>& lane) {
        return g - exp(y) * sum(g, lane, true);
      });
}

Tensor softmax(const Tensor& input, std::int64_t dim) {
  return normalize_lanes(
      input, dim, "softmax", "SoftmaxBackward",
      [](const auto* x, auto* y, std::int64_t base, const Lanes& s) {
        using T = std::remove_pointer_t<decltype(y)>;
        const T max = lane_shift(x, base, s);
        double sum = 0;
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) sum += (y[at] = std::exp(x[at] - max));
        const T inv = static_cast<T>(1.0 / sum);
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) y[at] *= inv;
      },
      // y = softmax(x):  dx_k = y_k (g_k - sum_j g_j y_j)
      [](const auto* gv, const auto* yv, auto* gi, std::int64_t base, const Lanes& s) {
        const auto d = static_cast<std::remove_pointer_t<decltype(gi)>>(lane_sum(gv, yv, base, s));
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) gi[at] = yv[at] * (gv[at] - d);
      },
      [](const Tensor& g, const Tensor& y, const std::vector<std::int64_t>& lane) {
        return y * (g - sum(g * y, lane, true));
      });
}

}  // namespace xgrad::nn::functional
