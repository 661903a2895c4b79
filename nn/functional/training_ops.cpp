// Training layers and losses as dedicated loops: forward, then the backward
// lambda right below it with the derivative it implements. Backward lambdas save
// inputs and outputs as SavedTensor (so an in-place change is an error, not a
// silent wrong gradient) plus what only the op sees (argmax indices, masks,
// batch statistics). A backward runs its fused loop, except under create_graph,
// where it is built from recorded ops so that it can be differentiated again.
#include "nn/functional/training_ops.hpp"

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
#include "core/random.hpp"
#include "core/storage.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;

namespace {

// True inside a backward run with create_graph (the engine turns grad mode on
// only then): a backward must then compute with recorded ops, so that its result
// is differentiable; otherwise it runs its fused loop.
bool recording_backward() { return autograd::is_grad_enabled(); }

void check_input(const Tensor& t, const char* op, const char* what) {
  XGRAD_CHECK(t.defined(), "{}: {} is an undefined tensor", op, what);
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* what) {
  XGRAD_CHECK(!b.defined() || a.dtype() == b.dtype(), "{}: {} is {} but the input is {}; convert one with .to()", op,
              what, b.dtype(), a.dtype());
}

// A pooling input (N, C, L) or (C, L) seen as `rows` rows of `length`.
struct PoolRows {
  std::int64_t rows;
  std::int64_t length;
  Shape leading;  // the shape without L
};

PoolRows pool_rows(const Tensor& input, const char* op) {
  check_input(input, op, "input");
  XGRAD_CHECK(input.dim() == 2 || input.dim() == 3, "{}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {}",
              op, input.shape());
  const Shape& shape = input.shape();
  Shape leading(shape.begin(), shape.end() - 1);
  std::int64_t rows = 1;
  for (std::int64_t extent : leading) rows *= extent;
  XGRAD_CHECK(rows > 0, "{}: expected non-empty batch and channel dims, got shape {}", op, shape);
  return {rows, shape.back(), leading};
}

Shape with_length(Shape leading, std::int64_t length) {
  leading.push_back(length);
  return leading;
}

// PyTorch's pooling_output_shape: floor or ceil, and in ceil mode the last window must start
// inside the input or the left padding. The padded length must fit in 64 bits (else xgrad::Error);
// everything else is arranged so that it cannot overflow for any kernel, stride or dilation: a
// window whose extent dilation * (kernel - 1) + 1 exceeds the padded length gives no output.
std::int64_t pooled_length(const char* op, std::int64_t length, std::int64_t kernel, std::int64_t stride,
                           std::int64_t padding, std::int64_t dilation, bool ceil_mode) {
  const std::int64_t padded =
      checked_add(length, checked_mul(2, padding, op, "2 * padding"), op, "the padded length (length + 2 * padding)");
  if (padded < 1 || (kernel > 1 && dilation > (padded - 1) / (kernel - 1))) return 0;
  const std::int64_t span = padded - 1 - dilation * (kernel - 1);  // >= 0, and no overflow
  std::int64_t out = span / stride + 1;
  if (ceil_mode && span % stride != 0) {
    ++out;
    // The last window must start at (out - 1) * stride < length + padding.
    const std::int64_t limit = length + padding;  // <= padded: fits
    if (out - 1 >= limit / stride + (limit % stride != 0)) --out;
  }
  return out;
}

void check_pool_options(const char* op, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                        std::int64_t dilation) {
  XGRAD_CHECK(kernel > 0, "{}: kernel_size must be positive, got {}", op, kernel);
  XGRAD_CHECK(stride > 0, "{}: stride must be positive, got {}", op, stride);
  XGRAD_CHECK(dilation > 0, "{}: dilation must be positive, got {}", op, dilation);
  XGRAD_CHECK(padding >= 0 && padding <= kernel / 2,
              "{}: padding should be at most half of kernel size, but got padding={} and kernel_size={}", op, padding,
              kernel);
}

// The taps j < kernel of a window starting at `start` (dilation apart) that fall inside [0, length):
// j in [first, end). Computed, not searched, so a huge kernel or padding costs nothing (the loop
// over them is bounded by the length, not by kernel_size), and start + j * dilation never overflows.
struct Taps {
  std::int64_t first, end;
};
Taps taps_inside(std::int64_t start, std::int64_t length, std::int64_t kernel, std::int64_t dilation) {
  // start >= -padding and length - start <= length + padding: both fit; a / b rounded up as
  // a / b + (a % b != 0), which cannot overflow for any dilation.
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return a / b + (a % b != 0); };
  const std::int64_t first = start >= 0 ? 0 : ceil_div(-start, dilation);
  const std::int64_t end = start >= length ? 0 : std::min(kernel, ceil_div(length - start, dilation));
  return {first, std::max(first, end)};
}

// Rows of `row_elements` per parallel_for chunk: enough work (~32K elements) to pay for a wake-up.
std::int64_t rows_grain(std::int64_t row_elements) {
  return std::max<std::int64_t>(1, (std::int64_t{1} << 15) / std::max<std::int64_t>(row_elements, 1));
}

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

// Scale of each element's loss in the reduced result.
double reduction_scale(const std::string& reduction, std::int64_t count) {
  return reduction == "mean" ? 1.0 / static_cast<double>(count) : 1.0;
}

void check_reduction(const std::string& reduction, const char* op) {
  XGRAD_CHECK(reduction == "mean" || reduction == "sum" || reduction == "none",
              "{}: reduction must be \"mean\", \"sum\" or \"none\", got \"{}\"", op, reduction);
}

}  // namespace

// ---------------------------------------------------------------- linear

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  check_input(input, "linear", "input");
  check_input(weight, "linear", "weight");
  XGRAD_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got shape {}", weight.shape());
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

// ---------------------------------------------------------------- pooling

namespace {

// Windows i < count of max_pool1d with stride == kernel == K, each wholly inside the row, the first
// starting at xs (position `first` of the row): the maximum (the first of equal ones) and where it is.
// Branch-free over windows, so the compiler vectorizes across them (this file is compiled with
// -fno-trapping-math, which lets it if-convert the float compares). Returns false if a window may
// hold a NaN (its sum is NaN: a NaN, or +Inf with -Inf), and the caller redoes them one by one.
template <int K, class T>
bool max_windows(const T* xs, std::int64_t count, std::int32_t first, T* y, std::int32_t* idx) {
  int nan = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    T best = xs[i * K], sum = best;
    std::int32_t arg = 0;
    for (int k = 1; k < K; ++k) {
      const T v = xs[i * K + k];
      sum += v;
      const bool greater = v > best;
      best = greater ? v : best;
      arg = greater ? k : arg;
    }
    y[i] = best;
    idx[i] = first + static_cast<std::int32_t>(i) * K + arg;
    nan |= sum != sum;
  }
  return nan == 0;
}

// max_windows for the kernel sizes it is compiled for (MaxPool1d(k) with its default stride k);
// null for others.
template <class T>
auto max_windows_for(std::int64_t kernel) -> bool (*)(const T*, std::int64_t, std::int32_t, T*, std::int32_t*) {
  switch (kernel) {
    case 2: return max_windows<2, T>;
    case 3: return max_windows<3, T>;
    case 4: return max_windows<4, T>;
    default: return nullptr;
  }
}

// The adjoint of max_pool1d at its argmax: each window's g goes to the element it took (zero
// elsewhere). Linear in g with a fixed index pattern, so its second derivative in x is zero; its
// own backward, recorded only under create_graph, gathers the elements back (max_pool1d_gather).
Tensor max_pool1d_scatter(const Tensor& g, const Shape& shape, const std::shared_ptr<std::int32_t>& argmax,
                          std::int64_t rows, std::int64_t length, std::int64_t out_length);

// The adjoint of max_pool1d_scatter: window o of row r reads the element it took (0 when none).
Tensor max_pool1d_gather(const Tensor& gg, const Shape& out_shape, const std::shared_ptr<std::int32_t>& argmax,
                         std::int64_t rows, std::int64_t length, std::int64_t out_length) {
  Tensor picked = make_uninitialized(out_shape, gg.dtype(), "max_pool1d_backward");
  dispatch(gg.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* from = gg.data_ptr<T>();
    T* to = picked.data_ptr<T>();
    const std::int32_t* idx = argmax.get();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t o = 0; o < out_length; ++o) {
        const std::int32_t pos = idx[r * out_length + o];
        to[r * out_length + o] = pos >= 0 ? from[r * length + pos] : T(0);
      }
  });
  return record("MaxPool1dBackward", picked, {gg},
                [shape = gg.shape(), argmax, rows, length, out_length](const Tensor& g, const NeedsGrad&) {
                  return std::vector<Tensor>{max_pool1d_scatter(g, shape, argmax, rows, length, out_length)};
                });
}

Tensor max_pool1d_scatter(const Tensor& g, const Shape& shape, const std::shared_ptr<std::int32_t>& argmax,
                          std::int64_t rows, std::int64_t length, std::int64_t out_length) {
  Tensor grad = make_uninitialized(shape, g.dtype(), "max_pool1d_backward");
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gv = g.data_ptr<T>();
    T* gi = grad.data_ptr<T>();
    const std::int32_t* idx = argmax.get();
    parallel_for(rows, rows_grain(length), [&](std::int64_t row_begin, std::int64_t row_end) {
      for (std::int64_t r = row_begin; r < row_end; ++r) {
        std::fill_n(gi + r * length, length, T(0));
        for (std::int64_t o = 0; o < out_length; ++o) {
          const std::int32_t pos = idx[r * out_length + o];
          if (pos >= 0) gi[r * length + pos] += gv[r * out_length + o];
        }
      }
    });
  });
  return record("MaxPool1dBackwardBackward", grad, {g},
                [out_shape = g.shape(), argmax, rows, length, out_length](const Tensor& gg, const NeedsGrad&) {
                  return std::vector<Tensor>{max_pool1d_gather(gg, out_shape, argmax, rows, length, out_length)};
                });
}

}  // namespace

Tensor max_pool1d(const Tensor& input, std::int64_t kernel_size, MaxPool1dOptions options) {
  const std::int64_t stride = options.stride.value_or(kernel_size);
  const std::int64_t padding = options.padding, dilation = options.dilation;
  check_pool_options("max_pool1d", kernel_size, stride, padding, dilation);
  const PoolRows p = pool_rows(input, "max_pool1d");
  const std::int64_t out_length =
      pooled_length("max_pool1d", p.length, kernel_size, stride, padding, dilation, options.ceil_mode);
  XGRAD_CHECK(out_length >= 1,
              "max_pool1d: input of shape {} is too short for kernel_size={}, dilation={}, padding={} (output length "
              "would be {})",
              input.shape(), kernel_size, dilation, padding, out_length);
  XGRAD_CHECK(p.length < std::numeric_limits<std::int32_t>::max(), "max_pool1d: length {} is too long", p.length);
  Tensor out = make_uninitialized(with_length(p.leading, out_length), input.dtype(), "max_pool1d");
  // argmax[r * out_length + o]: the position in row r that window o took (-1: none). Kept in a
  // Storage of as many 4-byte elements, so that its memory is recycled like the tensors' own.
  static_assert(sizeof(float) == sizeof(std::int32_t));
  auto argmax_storage = std::make_shared<Storage>(Dtype::Float32, p.rows * out_length);
  auto argmax = std::shared_ptr<std::int32_t>(argmax_storage, static_cast<std::int32_t*>(argmax_storage->data()));
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    std::int32_t* idx = argmax.get();
    const std::int64_t L = p.length;
    // Windows [first_inside, end_inside) lie inside the row; with stride == kernel (and no
    // dilation) they go through max_windows, a block at a time.
    const auto windows = dilation == 1 && stride == kernel_size ? max_windows_for<T>(kernel_size) : nullptr;
    const std::int64_t first_inside = std::min(out_length, padding / stride + (padding % stride != 0));
    const std::int64_t last_start = L - kernel_size + padding;  // of an inside window, before / stride
    const std::int64_t end_inside =
        last_start < 0 ? first_inside : std::clamp<std::int64_t>(last_start / stride + 1, first_inside, out_length);
    parallel_for(p.rows, rows_grain(L), [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      const T* x = in + r * L;
      // Window o, one at a time, NaN-aware.
      auto window = [&](std::int64_t o) {
        const std::int64_t start = o * stride - padding;
        std::int64_t best = -1;
        T best_value = -std::numeric_limits<T>::infinity();
        if (dilation == 1 && start >= 0 && kernel_size <= L - start) {
          // Interior window: no bounds checks, and no branches on the data (a compare-and-select per
          // element) unless the window holds a NaN, which the loop below handles as before.
          T fast_value = x[start];
          std::int64_t fast_best = start;
          bool has_nan = fast_value != fast_value;
          for (std::int64_t pos = start + 1; pos < start + kernel_size; ++pos) {
            const T v = x[pos];
            has_nan |= v != v;
            const bool greater = v > fast_value;
            fast_value = greater ? v : fast_value;
            fast_best = greater ? pos : fast_best;
          }
          if (!has_nan) {
            y[r * out_length + o] = fast_value;
            idx[r * out_length + o] = static_cast<std::int32_t>(fast_best);
            return;
          }
          best = start;
          best_value = x[start];
          for (std::int64_t pos = start + 1; pos < start + kernel_size; ++pos) {
            const T v = x[pos];
            if (v > best_value || std::isnan(v)) {  // as PyTorch: the window's last NaN wins
              best_value = v;
              best = pos;
            }
          }
        } else {
          const Taps taps = taps_inside(start, L, kernel_size, dilation);
          for (std::int64_t j = taps.first; j < taps.end; ++j) {
            const std::int64_t pos = start + j * dilation;
            const T v = x[pos];
            if (best < 0 || v > best_value || std::isnan(v)) {
              best_value = v;
              best = pos;
            }
          }
        }
        y[r * out_length + o] = best_value;
        idx[r * out_length + o] = static_cast<std::int32_t>(best);
      };
      std::int64_t o = 0;
      if (windows) {
        for (; o < first_inside; ++o) window(o);
        constexpr std::int64_t block = 256;
        while (o < end_inside) {
          const std::int64_t count = std::min(block, end_inside - o), start = o * stride - padding;
          if (!windows(x + start, count, static_cast<std::int32_t>(start), y + r * out_length + o, idx + r * out_length + o))
            for (std::int64_t j = o; j < o + count; ++j) window(j);
          o += count;
        }
      }
      for (; o < out_length; ++o) window(o);
    }
    });
  });
  return record("MaxPool1dBackward", out, {input},
                [shape = input.shape(), argmax, rows = p.rows, length = p.length, out_length](const Tensor& g,
                                                                                              const NeedsGrad&) {
                  // Each window's gradient goes to the element it took.
                  return std::vector<Tensor>{max_pool1d_scatter(g, shape, argmax, rows, length, out_length)};
                });
}

namespace {

// Window o of avg_pool1d: [start, end) inside the input and its divisor.
struct AvgWindow {
  std::int64_t start, end, divisor;
};

AvgWindow avg_window(std::int64_t o, std::int64_t L, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                     bool count_include_pad) {
  // o * stride < the padded length (pooled_length checked it fits), and start + kernel is taken
  // as start + min(kernel, L + padding - start) so that a huge kernel cannot overflow.
  std::int64_t start = o * stride - padding;
  std::int64_t end = start + std::min(kernel, L + padding - start);
  const std::int64_t pool_size = end - start;
  start = std::max<std::int64_t>(start, 0);
  end = std::min(end, L);
  return {start, end, count_include_pad ? pool_size : end - start};
}

// The adjoint of avg_pool1d: each window's g / divisor goes to every element of the window.
// Linear in g, independent of x; its own adjoint is avg_pool1d itself (recorded only under
// create_graph). `options` has its stride resolved.
Tensor avg_pool1d_spread(const Tensor& g, const Shape& shape, std::int64_t rows, std::int64_t length,
                         std::int64_t out_length, std::int64_t kernel_size, const AvgPool1dOptions& options) {
  const std::int64_t stride = *options.stride, padding = options.padding;
  const bool include_pad = options.count_include_pad;
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gv = g.data_ptr<T>();
    T* gi = grad.data_ptr<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t o = 0; o < out_length; ++o) {
        const AvgWindow w = avg_window(o, length, kernel_size, stride, padding, include_pad);
        if (w.start >= w.end) continue;
        const T share = gv[r * out_length + o] / static_cast<T>(w.divisor);
        for (std::int64_t pos = w.start; pos < w.end; ++pos) gi[r * length + pos] += share;
      }
    }
  });
  return record("AvgPool1dBackwardBackward", grad, {g}, [kernel_size, options](const Tensor& gg, const NeedsGrad&) {
    return std::vector<Tensor>{avg_pool1d(gg, kernel_size, options)};
  });
}

// Window o of adaptive_avg_pool1d over L elements: [floor(o L / out), ceil((o + 1) L / out)).
struct AdaptiveWindow {
  std::int64_t start, end;
};

AdaptiveWindow adaptive_window(std::int64_t o, std::int64_t L, std::int64_t output_size) {
  return {(o * L) / output_size, ((o + 1) * L + output_size - 1) / output_size};
}

// The adjoint of adaptive_avg_pool1d (as avg_pool1d_spread); its own adjoint is the op itself.
Tensor adaptive_avg_pool1d_spread(const Tensor& g, const Shape& shape, std::int64_t rows, std::int64_t L,
                                  std::int64_t output_size) {
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  dispatch(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* gv = g.data_ptr<T>();
    T* gi = grad.data_ptr<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t o = 0; o < output_size; ++o) {
        const AdaptiveWindow w = adaptive_window(o, L, output_size);
        const T share = gv[r * output_size + o] / static_cast<T>(w.end - w.start);
        for (std::int64_t pos = w.start; pos < w.end; ++pos) gi[r * L + pos] += share;
      }
    }
  });
  return record("AdaptiveAvgPool1dBackwardBackward", grad, {g}, [output_size](const Tensor& gg, const NeedsGrad&) {
    return std::vector<Tensor>{adaptive_avg_pool1d(gg, output_size)};
  });
}

}  // namespace

Tensor avg_pool1d(const Tensor& input, std::int64_t kernel_size, AvgPool1dOptions options) {
  const std::int64_t stride = options.stride.value_or(kernel_size);
  const std::int64_t padding = options.padding;
  check_pool_options("avg_pool1d", kernel_size, stride, padding, 1);
  const PoolRows p = pool_rows(input, "avg_pool1d");
  const std::int64_t out_length = pooled_length("avg_pool1d", p.length, kernel_size, stride, padding, 1, options.ceil_mode);
  XGRAD_CHECK(out_length >= 1,
              "avg_pool1d: input of shape {} is too short for kernel_size={}, padding={} (output length would be {})",
              input.shape(), kernel_size, padding, out_length);
  Tensor out = make_uninitialized(with_length(p.leading, out_length), input.dtype(), "avg_pool1d");
  const bool include_pad = options.count_include_pad;
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    for (std::int64_t r = 0; r < p.rows; ++r) {
      const T* x = in + r * p.length;
      for (std::int64_t o = 0; o < out_length; ++o) {
        const AvgWindow w = avg_window(o, p.length, kernel_size, stride, padding, include_pad);
        if (w.start >= w.end) {
          y[r * out_length + o] = T(0);
          continue;
        }
        double sum = 0;
        for (std::int64_t pos = w.start; pos < w.end; ++pos) sum += x[pos];
        y[r * out_length + o] = static_cast<T>(sum / static_cast<double>(w.divisor));
      }
    }
  });
  return record("AvgPool1dBackward", out, {input},
                [shape = input.shape(), rows = p.rows, length = p.length, out_length, kernel_size,
                 resolved = AvgPool1dOptions{.stride = stride, .padding = padding, .ceil_mode = options.ceil_mode,
                                             .count_include_pad = include_pad}](const Tensor& g, const NeedsGrad&) {
                  // d(mean of window)/dx = 1/divisor for each x in the window
                  return std::vector<Tensor>{avg_pool1d_spread(g, shape, rows, length, out_length, kernel_size, resolved)};
                });
}

Tensor adaptive_avg_pool1d(const Tensor& input, std::int64_t output_size) {
  XGRAD_CHECK(output_size > 0, "adaptive_avg_pool1d: output_size must be positive, got {}", output_size);
  const PoolRows p = pool_rows(input, "adaptive_avg_pool1d");
  XGRAD_CHECK(p.length > 0, "adaptive_avg_pool1d: input of shape {} has an empty length dim", input.shape());
  // Window bounds are computed as o * L / output_size and (o + 1) * L + output_size - 1: both fit
  // when L * output_size + output_size does.
  checked_add(checked_mul(p.length, output_size, "adaptive_avg_pool1d", "length * output_size"), output_size,
              "adaptive_avg_pool1d", "length * output_size + output_size");
  Tensor out = make_uninitialized(with_length(p.leading, output_size), input.dtype(), "adaptive_avg_pool1d");
  const std::int64_t L = p.length;
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    for (std::int64_t r = 0; r < p.rows; ++r) {
      const T* x = in + r * L;
      for (std::int64_t o = 0; o < output_size; ++o) {
        const AdaptiveWindow w = adaptive_window(o, L, output_size);
        double sum = 0;
        for (std::int64_t pos = w.start; pos < w.end; ++pos) sum += x[pos];
        y[r * output_size + o] = static_cast<T>(sum / static_cast<double>(w.end - w.start));
      }
    }
  });
  return record("AdaptiveAvgPool1dBackward", out, {input},
                [shape = input.shape(), rows = p.rows, L, output_size](const Tensor& g, const NeedsGrad&) {
                  // d(mean of window)/dx = 1/window size for each x in the window
                  return std::vector<Tensor>{adaptive_avg_pool1d_spread(g, shape, rows, L, output_size)};
                });
}

// ---------------------------------------------------------------- batch norm

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, BatchNormOptions options) {
  check_input(input, "batch_norm", "input");
  XGRAD_CHECK(input.dim() == 2 || input.dim() == 3, "batch_norm: expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {}",
              input.shape());
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
  XGRAD_CHECK(!use_batch_stats || count > 1, "batch_norm: expected more than 1 value per channel when training, got input size {}",
              input.shape());
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
        for (std::int64_t n = 0; n < N; ++n) sum += detail::sum_in_double(x + (n * C + c) * L, L);
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
  const std::vector<std::int64_t> dims = input.dim() == 3 ? std::vector<std::int64_t>{0, 2} : std::vector<std::int64_t>{0};
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

// ---------------------------------------------------------------- dropout

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

// ---------------------------------------------------------------- softmax

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
  for (std::int64_t k = 0; k < s.extent; ++k) sum += b ? a[base + k * s.inner] * b[base + k * s.inner] : a[base + k * s.inner];
  return sum;
}

}  // namespace

Tensor log_softmax(const Tensor& input, std::int64_t dim) {
  check_input(input, "log_softmax", "input");
  const Lanes s = lanes_along(input, dim, "log_softmax");
  Tensor out = make_uninitialized(input.shape(), input.dtype(), "log_softmax");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    s.for_each([&](std::int64_t base) {
      const T max = lane_shift(x, base, s);
      double sum = 0;
      for (std::int64_t k = 0; k < s.extent; ++k) sum += std::exp(static_cast<double>(x[base + k * s.inner] - max));
      const T shift = max + static_cast<T>(std::log(sum));
      for (std::int64_t k = 0; k < s.extent; ++k) y[base + k * s.inner] = x[base + k * s.inner] - shift;
    });
  });
  return record("LogSoftmaxBackward", out, {input},
                [saved = SavedTensor::output(out), s, lane = lane_dims(input, dim)](const Tensor& g, const NeedsGrad&) {
    // y = x - logsumexp(x):  dx_k = g_k - softmax_k sum_j g_j
    const Tensor y = saved.get();
    if (recording_backward()) return std::vector<Tensor>{g - exp(y) * sum(g, lane, true)};
    Tensor grad = make_uninitialized(g.shape(), g.dtype(), "log_softmax_backward");
    dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* gv = g.data_ptr<T>();
      const T* yv = y.data_ptr<T>();
      T* gi = grad.data_ptr<T>();
      s.for_each([&](std::int64_t base) {
        const T total = static_cast<T>(lane_sum<T>(gv, nullptr, base, s));
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) gi[at] = gv[at] - std::exp(yv[at]) * total;
      });
    });
    return std::vector<Tensor>{grad};
  });
}

Tensor softmax(const Tensor& input, std::int64_t dim) {
  check_input(input, "softmax", "input");
  const Lanes s = lanes_along(input, dim, "softmax");
  Tensor out = make_uninitialized(input.shape(), input.dtype(), "softmax");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    T* y = out.data_ptr<T>();
    s.for_each([&](std::int64_t base) {
      const T max = lane_shift(x, base, s);
      double sum = 0;
      for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) sum += (y[at] = std::exp(x[at] - max));
      const T inv = static_cast<T>(1.0 / sum);
      for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) y[at] *= inv;
    });
  });
  return record("SoftmaxBackward", out, {input},
                [saved = SavedTensor::output(out), s, lane = lane_dims(input, dim)](const Tensor& g, const NeedsGrad&) {
    // y = softmax(x):  dx_k = y_k (g_k - sum_j g_j y_j)
    const Tensor y = saved.get();
    if (recording_backward()) return std::vector<Tensor>{y * (g - sum(g * y, lane, true))};
    Tensor grad = make_uninitialized(g.shape(), g.dtype(), "softmax_backward");
    dispatch(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* gv = g.data_ptr<T>();
      const T* yv = y.data_ptr<T>();
      T* gi = grad.data_ptr<T>();
      s.for_each([&](std::int64_t base) {
        const T d = static_cast<T>(lane_sum(gv, yv, base, s));
        for (std::int64_t k = 0, at = base; k < s.extent; ++k, at += s.inner) gi[at] = yv[at] * (gv[at] - d);
      });
    });
    return std::vector<Tensor>{grad};
  });
}

// ---------------------------------------------------------------- losses

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

// The layout of a classification input (N, C, d...) or (C) with its target
// (N, d...) or (), and the validated class of every sample (-1: ignored).
struct Classes {
  std::int64_t N = 1, C = 1, inner = 1;
  Shape loss_shape;  // the target's shape: what reduction="none" returns
  std::shared_ptr<std::vector<std::int64_t>> target;
  std::int64_t counted = 0;  // samples not ignored
};

Classes classes_of(const Tensor& input, const Tensor& target, std::int64_t ignore_index, const char* op) {
  check_input(input, op, "input");
  check_input(target, op, "target");
  XGRAD_CHECK(input.dim() >= 1, "{}: input must be (C), (N, C) or (N, C, d1, ...), got a 0-dim tensor", op);
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
  XGRAD_CHECK(target.shape() == expected,
              "{}: target must have shape {} for input of shape {} (class indices, one per sample), got {}", op,
              expected, input.shape(), target.shape());
  XGRAD_CHECK(c.C > 0, "{}: input of shape {} has no classes", op, input.shape());
  c.loss_shape = expected;
  c.target = std::make_shared<std::vector<std::int64_t>>(static_cast<std::size_t>(target.numel()));
  dispatch(target.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* t = target.data_ptr<T>();
    for (std::int64_t i = 0; i < target.numel(); ++i) {
      const double value = t[i];
      XGRAD_CHECK(std::isfinite(value) && value == std::floor(value),
                  "{}: target values are class indices and must be whole numbers, got {} at index {}", op, value, i);
      if (value == static_cast<double>(ignore_index)) {
        (*c.target)[i] = -1;
        continue;
      }
      XGRAD_CHECK(value >= 0 && value < static_cast<double>(c.C),
                  "{}: Target {} is out of bounds: expected a class index in [0, {}) (at index {})", op, value, c.C, i);
      (*c.target)[i] = static_cast<std::int64_t>(value);
      ++c.counted;
    }
  });
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
  // mean over zero counted samples is 0/0 = nan, as PyTorch.
  out[0] = static_cast<T>(reduction == "mean" ? sum / static_cast<double>(c.counted) : sum);
}

// The gradient's factor for sample i: g[i] for "none", g / count for "mean".
template <class T>
double sample_scale(const T* g, std::int64_t i, const Classes& c, const std::string& reduction) {
  if (reduction == "none") return g[i];
  return reduction == "mean" ? g[0] / static_cast<double>(c.counted) : static_cast<double>(g[0]);
}

// Constants for a recorded classification backward, shaped like the input: the one-hot targets
// (1 at each counted sample's target class), and each sample's weight in the reduced loss (0 when
// ignored, 1 / counted for "mean", 1 otherwise) with the class dim kept as 1.
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
  const double counted = reduction == "mean" ? 1.0 / static_cast<double>(c.counted) : 1.0;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_ptr<T>();
    for (std::size_t i = 0; i < c.target->size(); ++i) o[i] = (*c.target)[i] >= 0 ? static_cast<T>(counted) : T(0);
  });
  return out;
}

// The output gradient broadcast against the input: "none" gives one per sample (the target's
// shape), which gets the class dim back; a reduced loss gives one value.
Tensor per_sample(const Tensor& g, const Shape& input_shape) {
  return g.dim() == 0 || input_shape.size() == 1 ? g : g.unsqueeze(1);
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, ClassificationLossOptions options) {
  check_reduction(options.reduction, "nll_loss");
  const Classes c = classes_of(input, target, options.ignore_index, "nll_loss");
  const std::string reduction = options.reduction;
  Tensor out = make_uninitialized(reduction == "none" ? c.loss_shape : Shape{}, input.dtype(), "nll_loss");
  dispatch(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    std::vector<double> losses(c.target->size(), 0.0);
    for (std::int64_t n = 0; n < c.N; ++n) {
      for (std::int64_t i = 0; i < c.inner; ++i) {
        const std::int64_t k = (*c.target)[n * c.inner + i];
        if (k >= 0) losses[n * c.inner + i] = -static_cast<double>(x[(n * c.C + k) * c.inner + i]);
      }
    }
    reduce_losses(losses, c, reduction, out.data_ptr<T>());
  });
  return record("NllLossBackward", out, {input, target},
                [shape = input.shape(), c, reduction](const Tensor& g, const NeedsGrad&) {
                  // loss = -x[target]:  dx[target] = -1 (scaled by the reduction)
                  if (recording_backward()) {
                    // linear in g and independent of x: its second derivative in x is zero
                    const Tensor pick = one_hot_targets(c, shape, g.dtype()) * sample_weights(c, shape, reduction, g.dtype());
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
                          gi[(n * c.C + k) * c.inner + i] = static_cast<T>(-sample_scale(gv, n * c.inner + i, c, reduction));
                      }
                    }
                  });
                  // Targets are class indices: no gradient (as PyTorch).
                  return std::vector<Tensor>{grad, Tensor()};
                });
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, ClassificationLossOptions options) {
  check_reduction(options.reduction, "cross_entropy");
  const Classes c = classes_of(input, target, options.ignore_index, "cross_entropy");
  const std::string reduction = options.reduction;
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
        // loss = logsumexp(x) - x[target]
        if (k >= 0) losses[n * c.inner + i] = logsumexp - static_cast<double>(row[k * c.inner]);
      }
    }
    reduce_losses(losses, c, reduction, out.data_ptr<T>());
  });
  return record("CrossEntropyLossBackward", out, {input, target},
                [saved_input = SavedTensor(input), c, lse, reduction](const Tensor& g, const NeedsGrad&) {
                  // loss = logsumexp(x) - x[target]:  dx_k = softmax_k - [k == target]
                  const Tensor x = saved_input.get();
                  if (recording_backward()) {
                    const Tensor p = softmax(x, x.dim() == 1 ? 0 : 1);
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
                        const double scale = sample_scale(gv, sample, c, reduction);
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

}  // namespace xgrad::nn::functional
