// functional::conv1d: validation, then the op (forward kernel call and its
// backward lambda right below it) and its two backward ops (input and weight
// gradients), each recorded with a backward made of the others so that every
// order of derivative runs on the same kernels. The loops live in nn/kernels/.
#include <algorithm>
#include <array>
#include <atomic>
#include <new>
#include <limits>

#include "autograd/grad_mode.hpp"
#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/functional.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
using autograd::SavedTensor;
using kernels::Conv1dGeometry;

namespace detail {

namespace {
std::atomic<bool> use_reference_kernels{false};
}  // namespace

void set_conv1d_use_reference(bool use_reference) { use_reference_kernels = use_reference; }
bool conv1d_use_reference() { return use_reference_kernels; }

std::string tuple_string(const std::vector<std::int64_t>& values) {
  if (values.size() == 1) return fmt::format("{}", values[0]);
  return fmt::format("({})", fmt::join(values, ", "));
}

namespace {
// A positive number given as a number or a one-element tuple; 1 (and a problem) otherwise.
std::int64_t resolve_positive(const char* option, const IntOrTuple1& value, std::vector<std::string>& problems) {
  if (value.values.size() != 1) {
    problems.push_back(
        fmt::format("{} must be a number or a one-element tuple, got {}", option, tuple_string(value.values)));
    return 1;
  }
  if (value.values[0] <= 0) {
    problems.push_back(fmt::format("{} must be positive, got {}", option, value.values[0]));
    return 1;
  }
  return value.values[0];
}
}  // namespace

Conv1dParams resolve_conv1d_params(const IntOrTuple1& stride, const Padding& padding, const IntOrTuple1& dilation,
                                   std::int64_t groups, std::int64_t kernel_size, std::vector<std::string>& problems) {
  Conv1dParams params;
  params.stride = resolve_positive("stride", stride, problems);
  params.dilation = resolve_positive("dilation", dilation, problems);
  if (groups <= 0) {
    problems.push_back(fmt::format("groups must be positive, got {}", groups));
  } else {
    params.groups = groups;
  }
  if (padding.is_string) {
    if (padding.name == "valid") {
      // no padding
    } else if (padding.name == "same") {
      if (params.stride != 1) {
        problems.push_back(
            fmt::format("padding='same' is not supported for strided convolutions (stride={})", params.stride));
      }
      // The output keeps the input length when the padding totals the kernel's
      // extent minus one; an odd total puts the extra element on the right (as PyTorch).
      std::int64_t total = 0;
      if (__builtin_mul_overflow(params.dilation, std::max<std::int64_t>(kernel_size, 1) - 1, &total)) {
        problems.push_back(fmt::format("padding='same' needs dilation * (kernel_size - 1) = {} * {} elements, too many",
                                       params.dilation, kernel_size - 1));
      }
      params.pad_left = total / 2;
      params.pad_right = total - params.pad_left;
    } else {
      problems.push_back(fmt::format("invalid padding string '{}', should be one of 'same', 'valid'", padding.name));
    }
  } else if (padding.values.size() != 1) {
    problems.push_back(fmt::format("padding must be a number, a one-element tuple, 'valid' or 'same', got {}",
                                   tuple_string(padding.values)));
  } else if (padding.values[0] < 0) {
    problems.push_back(fmt::format("padding must be non-negative, got {}", padding.values[0]));
  } else {
    params.pad_left = params.pad_right = padding.values[0];
  }
  return params;
}

namespace {

// Throws xgrad::Error unless the kernel's extent d(k-1)+1 fits in the padded length
// (computed without overflow for any option values).
void check_kernel_fits(std::int64_t length, const Conv1dParams& p, std::int64_t kernel_size, const Shape& input_shape) {
  // In 128 bits: absurd paddings or dilations must give an error, not an overflow.
  const __int128 padded = static_cast<__int128>(length) + p.pad_left + p.pad_right;
  const __int128 extent = static_cast<__int128>(p.dilation) * (kernel_size - 1) + 1;
  XGRAD_CHECK(padded <= std::numeric_limits<std::int64_t>::max() / 2,
              "conv1d: padding ({}, {}) of input {} is too large", p.pad_left, p.pad_right, input_shape);
  XGRAD_CHECK(padded >= extent,
              "conv1d: the padded input length {} (length {} + padding {} + {}) is shorter than the kernel extent {} "
              "(kernel_size={}, dilation={}), input {}",
              static_cast<std::int64_t>(padded), length, p.pad_left, p.pad_right, extent, kernel_size, p.dilation,
              input_shape);
}

}  // namespace

}  // namespace detail

namespace {

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// The fast kernels pack zero-padded copies of the input, so their workspace
// grows with the padding; when padding dwarfs the input (an absurd but valid
// configuration) the reference kernels, which never materialize it, are used.
bool padding_dominates(const Conv1dGeometry& g) {
  // In 128 bits: an empty batch may be 2^62 long.
  return g.pad_left + g.pad_right > static_cast<__int128>(16) * g.in_length + (std::int64_t{1} << 16);
}

// True inside a backward run with create_graph (the engine turns grad mode on
// only then): the bias gradient must then be a recorded sum, not the kernel.
bool recording_backward() { return autograd::is_grad_enabled(); }

// Runs one kernel call; the fast kernels' workspace may not fit in memory,
// which must surface as xgrad::Error.
template <class F>
void run_kernel(const char* what, const Tensor& a, const Tensor& b, F kernel) {
  try {
    kernel();
  } catch (const std::bad_alloc&) {
    fail("conv1d: out of memory for the kernels' workspace in the {} ({} and {})", what, a.shape(), b.shape());
  }
}

// The three linear maps of one convolution geometry, each a recorded op whose
// backward is built from the other two, so every order of derivative is again
// a convolution on the same kernels. `reference` is decided once, by the forward.
Tensor conv1d_batched(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dGeometry& g, bool reference);
Tensor conv1d_backward_input(const Tensor& grad_output, const Tensor& weight, const Conv1dGeometry& g, bool reference);
Tensor conv1d_backward_weight(const Tensor& grad_output, const Tensor& input, const Conv1dGeometry& g, bool reference);

// dL/db[o] = sum_{n,l} g[n,o,l]
Tensor conv1d_backward_bias(const Tensor& grad_output, const Conv1dGeometry& g, bool reference) {
  if (recording_backward()) return sum(grad_output, {0, 2});
  Tensor grad_bias = make_uninitialized({g.out_channels}, grad_output.dtype(), "conv1d");
  dispatch(grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto kernel = reference ? kernels::conv1d_backward_bias_reference<T> : kernels::conv1d_backward_bias<T>;
    kernel(g, grad_output.data_ptr<T>(), grad_bias.data_ptr<T>());
  });
  return grad_bias;
}

// The op on a batched input x: (N, C_in, L) -> (N, C_out, L_out), all arguments validated.
Tensor conv1d_batched(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dGeometry& g, bool reference) {
  Tensor out = make_uninitialized({g.batch, g.out_channels, g.out_length()}, x.dtype(), "conv1d");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto forward = reference ? kernels::conv1d_forward_reference<T> : kernels::conv1d_forward<T>;
    run_kernel("forward", x, weight,
               [&] { forward(g, x.data_ptr<T>(), weight.data_ptr<T>(), data_or_null<T>(bias), out.data_ptr<T>()); });
  });
  if (!autograd::needs_graph(std::array{x, weight, bias})) return out;
  // The input is saved only when the weight's gradient may be asked for (it is
  // the only gradient that reads it).
  return record("Conv1dBackward", out, {x, weight, bias},
                [input = weight.requires_grad() ? SavedTensor(x) : SavedTensor(), weight = SavedTensor(weight), g,
                 reference](const Tensor& grad_output, const NeedsGrad& needs) {
                  // out[n,o,l] = b[o] + sum_{c,k} w[o,c,k] * x[n, c_g, l*s + k*d - p_left], so
                  //   dL/dx[n,c_g,i] = sum over (o,l,k) hitting i of w[o,c,k] * g[n,o,l]   (a transposed convolution)
                  //   dL/dw[o,c,k]   = sum_{n,l} g[n,o,l] * x[n, c_g, l*s + k*d - p_left]   (a correlation with g)
                  //   dL/db[o]       = sum_{n,l} g[n,o,l]
                  return std::vector<Tensor>{
                      needs[0] ? conv1d_backward_input(grad_output, weight, g, reference) : Tensor(),
                      needs[1] ? conv1d_backward_weight(grad_output, input, g, reference) : Tensor(),
                      needs[2] ? conv1d_backward_bias(grad_output, g, reference) : Tensor()};
                });
}

// grad_input = the transposed convolution of grad_output with weight.
Tensor conv1d_backward_input(const Tensor& grad_output, const Tensor& weight, const Conv1dGeometry& g, bool reference) {
  Tensor grad_input = make_uninitialized({g.batch, g.in_channels, g.in_length}, grad_output.dtype(), "conv1d");
  dispatch(grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto kernel = reference ? kernels::conv1d_backward_input_reference<T> : kernels::conv1d_backward_input<T>;
    run_kernel("input gradient", grad_output, weight,
               [&] { kernel(g, grad_output.data_ptr<T>(), weight.data_ptr<T>(), grad_input.data_ptr<T>()); });
  });
  if (!autograd::needs_graph(std::array{grad_output, weight})) return grad_input;
  return record("Conv1dBackwardInput", grad_input, {grad_output, weight},
                [grad_output = weight.requires_grad() ? SavedTensor(grad_output) : SavedTensor(),
                 weight = grad_output.requires_grad() ? SavedTensor(weight) : SavedTensor(), g,
                 reference](const Tensor& gg, const NeedsGrad& needs) {
                  // grad_input = conv_transpose(grad_output, weight) is linear in each argument; by
                  // <gg, conv_transpose(go, w)> = <conv1d(gg, w), go>:
                  //   d/d grad_output = conv1d(gg, weight)                    (no bias)
                  //   d/d weight      = correlation of grad_output with gg   (backward_weight with gg as input)
                  return std::vector<Tensor>{
                      needs[0] ? conv1d_batched(gg, weight, Tensor(), g, reference) : Tensor(),
                      needs[1] ? conv1d_backward_weight(grad_output, gg, g, reference) : Tensor()};
                });
}

// grad_weight = the correlation of grad_output with the input.
Tensor conv1d_backward_weight(const Tensor& grad_output, const Tensor& input, const Conv1dGeometry& g, bool reference) {
  Tensor grad_weight = make_uninitialized({g.out_channels, g.in_channels / g.groups, g.kernel_size}, grad_output.dtype(), "conv1d");
  dispatch(grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto kernel = reference ? kernels::conv1d_backward_weight_reference<T> : kernels::conv1d_backward_weight<T>;
    run_kernel("weight gradient", grad_output, input,
               [&] { kernel(g, grad_output.data_ptr<T>(), input.data_ptr<T>(), grad_weight.data_ptr<T>()); });
  });
  if (!autograd::needs_graph(std::array{grad_output, input})) return grad_weight;
  return record("Conv1dBackwardWeight", grad_weight, {grad_output, input},
                [grad_output = input.requires_grad() ? SavedTensor(grad_output) : SavedTensor(),
                 input = grad_output.requires_grad() ? SavedTensor(input) : SavedTensor(), g,
                 reference](const Tensor& gw, const NeedsGrad& needs) {
                  // grad_weight = correlation(grad_output, x) is bilinear; by
                  // <gw, correlation(go, x)> = <go, conv1d(x, gw)> = <conv_transpose(go, gw), x>:
                  //   d/d grad_output = conv1d(x, gw)                 (no bias)
                  //   d/d x           = conv_transpose(grad_output, gw)
                  return std::vector<Tensor>{
                      needs[0] ? conv1d_batched(input, gw, Tensor(), g, reference) : Tensor(),
                      needs[1] ? conv1d_backward_input(grad_output, gw, g, reference) : Tensor()};
                });
}

}  // namespace

namespace detail {

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv1dParams& p) {
  XGRAD_CHECK(input.defined(), "conv1d: the input is an undefined tensor");
  XGRAD_CHECK(weight.defined(), "conv1d: the weight is an undefined tensor");
  XGRAD_CHECK(weight.dim() == 3, "conv1d: expected a 3-D weight (out_channels, in_channels / groups, kernel_size), got weight {}",
              weight.shape());
  const std::int64_t out_channels = weight.size(0), in_per_group = weight.size(1), kernel_size = weight.size(2);
  XGRAD_CHECK(out_channels > 0 && in_per_group > 0 && kernel_size > 0, "conv1d: weight {} has an empty dimension",
              weight.shape());
  XGRAD_CHECK(input.dim() == 2 || input.dim() == 3,
              "conv1d: expected a 2-D (unbatched) or 3-D (batched) input, got input of shape {}", input.shape());
  XGRAD_CHECK(input.dtype() == weight.dtype(), "conv1d: input is {} but weight is {}; convert one with .to()",
              input.dtype(), weight.dtype());
  XGRAD_CHECK(out_channels % p.groups == 0,
              "conv1d: expected weight {} to have out_channels divisible by groups={}", weight.shape(), p.groups);
  const std::int64_t channels = input.size(-2), length = input.size(-1);
  XGRAD_CHECK(channels == in_per_group * p.groups, "conv1d: expected input with {} channels (groups={}, weight {}), got input {}",
              in_per_group * p.groups, p.groups, weight.shape(), input.shape());
  if (bias.defined()) {
    XGRAD_CHECK(bias.dim() == 1 && bias.size(0) == out_channels,
                "conv1d: expected bias of shape [{}] (weight {}), got bias {}", out_channels, weight.shape(), bias.shape());
    XGRAD_CHECK(bias.dtype() == weight.dtype(), "conv1d: bias is {} but weight is {}; convert one with .to()",
                bias.dtype(), weight.dtype());
  }
  XGRAD_CHECK(length > 0, "conv1d: expected an input of positive length, got input {}", input.shape());
  check_kernel_fits(length, p, kernel_size, input.shape());

  // Modes other than zeros pad explicitly, then convolve without padding (as PyTorch).
  const bool explicit_padding = p.padding_mode != "zeros";
  const Tensor padded = explicit_padding ? pad1d(input, p.pad_left, p.pad_right, p.padding_mode) : input;
  const std::int64_t pad_left = explicit_padding ? 0 : p.pad_left, pad_right = explicit_padding ? 0 : p.pad_right;
  const std::int64_t in_length = padded.size(-1);
  const bool batched = padded.dim() == 3;
  const Tensor x = batched ? padded : padded.unsqueeze(0);
  // Any stride longer than the padded input leaves one output position; clamping
  // it there gives the same result and keeps the kernels' workspaces (which grow
  // with the stride) bounded by the input's size.
  const std::int64_t span = in_length + pad_left + pad_right - p.dilation * (kernel_size - 1);
  const Conv1dGeometry geometry{.batch = x.size(0),
                                .in_channels = channels,
                                .out_channels = out_channels,
                                .in_length = in_length,
                                .kernel_size = kernel_size,
                                .stride = std::min(p.stride, std::max<std::int64_t>(span, 1)),
                                .dilation = p.dilation,
                                .groups = p.groups,
                                .pad_left = pad_left,
                                .pad_right = pad_right};
  // An empty batch goes to the reference kernels too: the fast ones size their workspace by the
  // length, which an empty batch does not bound (a (0, C, 2^45) input holds nothing).
  const bool reference = conv1d_use_reference() || padding_dominates(geometry) || geometry.batch == 0;
  const Tensor out = conv1d_batched(x, weight, bias, geometry, reference);
  return batched ? out : out.squeeze(0);
}

}  // namespace detail

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv1dFuncOptions& options) {
  // "same" padding reads the kernel size; a malformed weight is reported by detail::conv1d.
  const std::int64_t kernel_size = weight.defined() && weight.dim() == 3 ? weight.size(2) : 1;
  std::vector<std::string> problems;
  const detail::Conv1dParams params = detail::resolve_conv1d_params(options.stride, options.padding, options.dilation,
                                                                    options.groups, kernel_size, problems);
  XGRAD_CHECK(problems.empty(), "conv1d: {}", fmt::join(problems, "; "));
  return detail::conv1d(input, weight, bias, params);
}

}  // namespace xgrad::nn::functional
