// functional::conv1d: validation, then the op (forward kernel call and its
// backward lambda right below it). The loops themselves live in nn/kernels/.
#include <algorithm>
#include <atomic>
#include <new>
#include <limits>

#include "autograd/node.hpp"
#include "core/creation.hpp"
#include "core/ops.hpp"
#include "nn/functional.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

namespace xgrad::nn::functional {

using autograd::NeedsGrad;
using autograd::record;
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

// The op on a batched input x: (N, C_in, L) -> (N, C_out, L_out), all arguments validated.
// An empty batch goes to the reference kernels too: the fast ones size their workspace by the
// length, which an empty batch does not bound (a (0, C, 2^45) input holds nothing).
Tensor conv1d_batched(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dGeometry& g) {
  const bool reference = detail::conv1d_use_reference() || padding_dominates(g) || g.batch == 0;
  Tensor out = make_tensor({g.batch, g.out_channels, g.out_length()}, x.dtype(), "conv1d");
  dispatch(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const auto forward = reference ? kernels::conv1d_forward_reference<T> : kernels::conv1d_forward<T>;
    try {
      forward(g, x.data_ptr<T>(), weight.data_ptr<T>(), data_or_null<T>(bias), out.data_ptr<T>());
    } catch (const std::bad_alloc&) {
      fail("conv1d: out of memory for the kernels' workspace (input {}, weight {})", x.shape(), weight.shape());
    }
  });
  // The input is saved only when the weight's gradient may be asked for (it is
  // the only gradient that reads it).
  Tensor saved_input = weight.requires_grad() ? x.detach() : Tensor();
  return record("Conv1dBackward", out, {x, weight, bias},
                [saved_input, weight = weight.detach(), g, reference](const Tensor& grad_output, const NeedsGrad& needs) {
                  // out[n,o,l] = b[o] + sum_{c,k} w[o,c,k] * x[n, c_g, l*s + k*d - p_left], so
                  //   dL/dx[n,c_g,i] = sum over (o,l,k) hitting i of w[o,c,k] * g[n,o,l]   (a transposed convolution)
                  //   dL/dw[o,c,k]   = sum_{n,l} g[n,o,l] * x[n, c_g, l*s + k*d - p_left]   (a correlation with g)
                  //   dL/db[o]       = sum_{n,l} g[n,o,l]
                  std::vector<Tensor> grads(3);
                  try {
                    dispatch(grad_output.dtype(), [&](auto zero) {
                      using T = decltype(zero);
                      const T* go = grad_output.data_ptr<T>();
                      if (needs[0]) {
                        grads[0] = make_tensor({g.batch, g.in_channels, g.in_length}, grad_output.dtype(), "conv1d");
                        const auto backward_input =
                            reference ? kernels::conv1d_backward_input_reference<T> : kernels::conv1d_backward_input<T>;
                        backward_input(g, go, weight.data_ptr<T>(), grads[0].data_ptr<T>());
                      }
                      if (needs[1]) {
                        grads[1] = make_tensor(weight.shape(), grad_output.dtype(), "conv1d");
                        const auto backward_weight =
                            reference ? kernels::conv1d_backward_weight_reference<T> : kernels::conv1d_backward_weight<T>;
                        backward_weight(g, go, saved_input.data_ptr<T>(), grads[1].data_ptr<T>());
                      }
                      if (needs[2]) {
                        grads[2] = make_tensor({g.out_channels}, grad_output.dtype(), "conv1d");
                        const auto backward_bias =
                            reference ? kernels::conv1d_backward_bias_reference<T> : kernels::conv1d_backward_bias<T>;
                        backward_bias(g, go, grads[2].data_ptr<T>());
                      }
                    });
                  } catch (const std::bad_alloc&) {
                    fail("conv1d: out of memory for the backward kernels' workspace (input [{}, {}, {}], weight {})",
                         g.batch, g.in_channels, g.in_length, weight.shape());
                  }
                  return grads;
                });
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv1dFuncOptions& options) {
  XGRAD_CHECK(input.defined(), "conv1d: the input is an undefined tensor");
  XGRAD_CHECK(weight.defined(), "conv1d: the weight is an undefined tensor");
  XGRAD_CHECK(weight.dim() == 3, "conv1d: expected a 3-D weight (out_channels, in_channels / groups, kernel_size), got weight {}",
              weight.shape());
  const std::int64_t out_channels = weight.size(0), in_per_group = weight.size(1), kernel_size = weight.size(2);
  XGRAD_CHECK(out_channels > 0 && in_per_group > 0 && kernel_size > 0, "conv1d: weight {} has an empty dimension",
              weight.shape());

  std::vector<std::string> problems;
  const detail::Conv1dParams p = detail::resolve_conv1d_params(options.stride, options.padding, options.dilation,
                                                               options.groups, kernel_size, problems);
  XGRAD_CHECK(problems.empty(), "conv1d: {}", fmt::join(problems, "; "));

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
  detail::check_kernel_fits(length, p, kernel_size, input.shape());

  const bool batched = input.dim() == 3;
  const Tensor x = batched ? input : input.unsqueeze(0);
  // Any stride longer than the padded input leaves one output position; clamping
  // it there gives the same result and keeps the kernels' workspaces (which grow
  // with the stride) bounded by the input's size.
  const std::int64_t span = length + p.pad_left + p.pad_right - p.dilation * (kernel_size - 1);
  const Conv1dGeometry geometry{.batch = x.size(0),
                                .in_channels = channels,
                                .out_channels = out_channels,
                                .in_length = length,
                                .kernel_size = kernel_size,
                                .stride = std::min(p.stride, std::max<std::int64_t>(span, 1)),
                                .dilation = p.dilation,
                                .groups = p.groups,
                                .pad_left = p.pad_left,
                                .pad_right = p.pad_right};
  const Tensor out = conv1d_batched(x, weight, bias, geometry);
  return batched ? out : out.squeeze(0);
}

}  // namespace xgrad::nn::functional
