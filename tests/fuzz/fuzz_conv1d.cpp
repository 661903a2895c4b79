// Fuzzes nn::functional::conv1d over random options and shapes (including
// absurd ones). Every input either throws xgrad::Error or gives exactly the
// reference kernels' output and gradients. Values are small multiples of 1/4 so
// that every sum is exact in float32 whatever order the fast kernels use; a NaN
// or Inf may be planted in the input to check it reaches exactly the outputs the
// reference says it does.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/creation.hpp"
#include "fuzz_support.hpp"
#include "nn/functional.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

namespace {

using namespace xgrad;

// Plant NaN / Inf / -Inf in the input (see the top).
constexpr bool kPlantNonFinite = true;

// Equal, with NaN equal to NaN; says where not (to stderr) for the crash report.
template <class T>
bool same(const T* a, const T* b, std::int64_t n, const char* what = "output") {
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) {
      std::fprintf(stderr, "fuzz_conv1d: %s differs at flat index %lld: fast %.9g, reference %.9g\n", what,
                   static_cast<long long>(i), static_cast<double>(a[i]), static_cast<double>(b[i]));
      return false;
    }
  }
  return true;
}

void fill(Tensor& t, fuzz::ByteReader& in) {
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = t.data_ptr<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<T>(static_cast<int>(in.u8() % 17) - 8) / 4;
  });
}

// Predicted output elements in 128 bits (no overflow), or -1 when there is no valid output.
__int128 predicted_output(std::int64_t batch, std::int64_t out_channels, std::int64_t length, const nn::functional::detail::Conv1dParams& p,
                          std::int64_t kernel) {
  const __int128 span = static_cast<__int128>(length) + p.pad_left + p.pad_right - static_cast<__int128>(p.dilation) * (kernel - 1) - 1;
  if (span < 0 || p.stride <= 0) return -1;
  return static_cast<__int128>(batch) * out_channels * (span / p.stride + 1);
}

void describe(const nn::kernels::Conv1dGeometry& g) {
  std::fprintf(stderr,
               "fuzz_conv1d: batch %lld, in_channels %lld, out_channels %lld, length %lld, kernel_size %lld, stride %lld, "
               "dilation %lld, groups %lld, padding (%lld, %lld)\n",
               (long long)g.batch, (long long)g.in_channels, (long long)g.out_channels, (long long)g.in_length,
               (long long)g.kernel_size, (long long)g.stride, (long long)g.dilation, (long long)g.groups,
               (long long)g.pad_left, (long long)g.pad_right);
}

template <class T>
void check_against_reference(const Tensor& input, const Tensor& weight, const Tensor& bias, const nn::kernels::Conv1dGeometry& g,
                             const Tensor& output, const Tensor& grad_output) {
  Tensor expected = empty({g.batch, g.out_channels, g.out_length()}, {.dtype = input.dtype()});
  nn::kernels::conv1d_forward_reference<T>(g, input.data_ptr<T>(), weight.data_ptr<T>(),
                                           bias.defined() ? bias.data_ptr<T>() : nullptr, expected.data_ptr<T>());
  if (output.numel() != expected.numel() || !same(output.data_ptr<T>(), expected.data_ptr<T>(), output.numel())) { describe(g); std::abort(); }

  Tensor grad_input = empty(input.shape(), {.dtype = input.dtype()});
  Tensor grad_weight = empty(weight.shape(), {.dtype = input.dtype()});
  nn::kernels::conv1d_backward_input_reference<T>(g, grad_output.data_ptr<T>(), weight.data_ptr<T>(), grad_input.data_ptr<T>());
  nn::kernels::conv1d_backward_weight_reference<T>(g, grad_output.data_ptr<T>(), input.data_ptr<T>(), grad_weight.data_ptr<T>());
  if (!same(input.grad().data_ptr<T>(), grad_input.data_ptr<T>(), input.numel(), "grad_input")) { describe(g); std::abort(); }
  if (!same(weight.grad().data_ptr<T>(), grad_weight.data_ptr<T>(), weight.numel(), "grad_weight")) { describe(g); std::abort(); }
  if (bias.defined()) {
    Tensor grad_bias = empty(bias.shape(), {.dtype = input.dtype()});
    nn::kernels::conv1d_backward_bias_reference<T>(g, grad_output.data_ptr<T>(), grad_bias.data_ptr<T>());
    if (!same(bias.grad().data_ptr<T>(), grad_bias.data_ptr<T>(), bias.numel(), "grad_bias")) { describe(g); std::abort(); }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(data, size);
  const Dtype dtype = in.u8() % 2 == 0 ? kFloat32 : kFloat64;
  const bool batched = in.u8() % 4 != 0;
  const std::int64_t batch = batched ? in.size_like(4) : 1;
  const std::int64_t groups = in.size_like(4);
  const std::int64_t in_channels = in.size_like(12);
  const std::int64_t out_channels = in.size_like(12);
  const std::int64_t length = in.size_like(96);
  const std::int64_t kernel = in.size_like(9);
  const std::int64_t stride = in.size_like(5);
  const std::int64_t dilation = in.size_like(5);
  nn::Padding padding = 0;
  switch (in.u8() % 4) {
    case 0: padding = "same"; break;
    case 1: padding = "valid"; break;
    default: padding = in.size_like(8);
  }
  const bool with_bias = in.u8() % 2 == 0;
  // Plant a NaN / Inf / -Inf at some input position (when kPlantNonFinite).
  const std::uint8_t special = kPlantNonFinite ? in.u8() : (in.u8(), 0);

  // Shapes the fuzzer picked: stay small (they are allocated before conv1d sees them).
  const std::int64_t in_per_group = groups > 0 && in_channels % groups == 0 ? in_channels / groups : in_channels;
  for (std::int64_t extent : {batch, in_channels, length, out_channels, in_per_group, kernel}) {
    if (extent < 0 || extent > 128) return 0;  // negative extents: covered by the shape checks of `empty`
  }
  // An absurd but representable output (say padding 2^30) would be a huge
  // allocation, which conv1d may rightly attempt: skip it (the 2^40-element cap
  // and allocation failures are tested in tests/test_reliability_sizes.cpp).
  {
    std::vector<std::string> problems;
    const auto p = nn::functional::detail::resolve_conv1d_params(stride, padding, dilation, groups, std::max<std::int64_t>(kernel, 1), problems);
    const __int128 outputs = problems.empty() ? predicted_output(batch, out_channels, length, p, kernel) : -1;
    if (outputs > (1 << 20) && outputs <= (static_cast<__int128>(1) << 40)) return 0;
  }

  Shape input_shape = batched ? Shape{batch, in_channels, length} : Shape{in_channels, length};
  Tensor input = empty(input_shape, {.dtype = dtype});
  Tensor weight = empty({out_channels, in_per_group, kernel}, {.dtype = dtype});
  Tensor bias = with_bias ? empty({out_channels}, {.dtype = dtype}) : Tensor();
  fill(input, in);
  fill(weight, in);
  if (with_bias) fill(bias, in);
  if (special >= 192 && input.numel() > 0) {
    const double value = special < 224 ? std::numeric_limits<double>::quiet_NaN()
                                       : (special < 240 ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity());
    const std::int64_t at = static_cast<std::int64_t>(in.u8()) % input.numel();
    dispatch(dtype, [&](auto tag) { input.data_ptr<decltype(tag)>()[at] = static_cast<decltype(tag)>(value); });
  }
  input.requires_grad_();
  weight.requires_grad_();
  if (with_bias) bias.requires_grad_();

  Tensor output;
  try {
    output = nn::functional::conv1d(input, weight, bias, {.stride = stride, .padding = padding, .dilation = dilation, .groups = groups});
  } catch (const Error&) {
    return 0;
  }
  // It worked, so the options were valid: rebuild the geometry the reference needs.
  std::vector<std::string> problems;
  const auto p = nn::functional::detail::resolve_conv1d_params(stride, padding, dilation, groups, kernel, problems);
  if (!problems.empty()) std::abort();  // conv1d accepted options its own validation rejects
  const nn::kernels::Conv1dGeometry g{.batch = batched ? batch : 1, .in_channels = in_channels, .out_channels = out_channels,
                                      .in_length = length, .kernel_size = kernel, .stride = p.stride,
                                      .dilation = p.dilation, .groups = p.groups, .pad_left = p.pad_left, .pad_right = p.pad_right};
  Tensor grad_output = empty(output.shape(), {.dtype = dtype});
  fill(grad_output, in);
  output.backward(grad_output);
  dispatch(dtype, [&](auto tag) {
    check_against_reference<decltype(tag)>(input, weight, bias, g, output, grad_output);
  });
  return 0;
}
