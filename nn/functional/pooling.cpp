// Pooling as dedicated loops: forward, then the backward lambda right below it with the
// derivative it implements. max_pool1d saves its argmax; the backwards are linear in the output
// gradient, and their own backwards (for create_graph) are the matching gathers and pools.
// Compiled with -fno-trapping-math (CMakeLists.txt): it lets the compiler if-convert the float
// compares of max_pool1d's windows, so they vectorize.
#include "nn/functional/pooling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "core/parallel.hpp"
#include "core/storage.hpp"
#include "nn/functional/detail.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using detail::check_input;
using detail::rows_grain;
using detail::recording_backward;

namespace {

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

}  // namespace

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

// The NaN-aware running argmax of max_pool1d: x[pos] replaces (best_value, best) when it is the
// first tap (best < 0), larger, or NaN, so equal maxima keep the first and the window's last NaN
// wins, as PyTorch.
template <class T>
void take_if_max(const T* x, std::int64_t pos, T& best_value, std::int64_t& best) {
  const T v = x[pos];
  if (best < 0 || v > best_value || std::isnan(v)) {
    best_value = v;
    best = pos;
  }
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
          // element) unless the window holds a NaN, which the NaN-aware loop below handles.
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
        }
        // A window at the edge, dilated, or holding a NaN: its taps one by one.
        const Taps taps = taps_inside(start, L, kernel_size, dilation);
        for (std::int64_t j = taps.first; j < taps.end; ++j) take_if_max(x, start + j * dilation, best_value, best);
        y[r * out_length + o] = best_value;
        idx[r * out_length + o] = static_cast<std::int32_t>(best);
      };
      std::int64_t o = 0;
      if (windows) {
        for (; o < first_inside; ++o) window(o);
        constexpr std::int64_t block = 256;
        while (o < end_inside) {
          const std::int64_t count = std::min(block, end_inside - o), start = o * stride - padding;
          if (!windows(x + start, count, static_cast<std::int32_t>(start), y + r * out_length + o,
                       idx + r * out_length + o))
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
  const std::int64_t out_length =
      pooled_length("avg_pool1d", p.length, kernel_size, stride, padding, 1, options.ceil_mode);
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
                  return std::vector<Tensor>{
                      avg_pool1d_spread(g, shape, rows, length, out_length, kernel_size, resolved)};
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

}  // namespace xgrad::nn::functional
