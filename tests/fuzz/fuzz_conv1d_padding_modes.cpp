// Fuzzes nn::Conv1d's padding modes ("zeros", "reflect", "replicate", "circular", and a misspelt
// one) with every option (stride, padding as a number, "same" or "valid", dilation, groups, bias),
// absurd values included. Every input either throws xgrad::Error or gives exactly the definition:
// the input padded by the mode (PyTorch's source position for each padded element), then the
// reference convolution without padding (zero padding: the reference kernels' own); the gradients
// likewise (the padded input's gradient folded back onto the elements each padded position copies). Values are small multiples of 1/4, so every
// sum is exact in float32 whatever order the kernels use.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "fuzz_support.hpp"
#include "nn/conv1d.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

namespace {

using namespace xgrad;
using i128 = __int128;

template <class T>
void expect_same(const T* got, const T* expected, std::int64_t n, const char* what) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (got[i] != expected[i]) {
      std::fprintf(stderr, "fuzz_conv1d_padding_modes: %s differs at flat index %lld: got %.9g, expected %.9g\n", what,
                   static_cast<long long>(i), static_cast<double>(got[i]), static_cast<double>(expected[i]));
      std::abort();
    }
  }
}

// The input position padded position j copies (-1: a zero), by PyTorch's definition of each mode.
std::int64_t source(std::int64_t j, std::int64_t length, std::int64_t left, const std::string& mode) {
  const std::int64_t i = j - left;
  if (mode == "zeros") return i >= 0 && i < length ? i : -1;
  if (mode == "replicate") return i < 0 ? 0 : (i >= length ? length - 1 : i);
  if (mode == "reflect") return i < 0 ? -i : (i >= length ? 2 * (length - 1) - i : i);
  return ((i % length) + length) % length;  // circular
}

void fill(Tensor& t, fuzz::ByteReader& in) {
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = t.data_ptr<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<T>(static_cast<int>(in.u8() % 17) - 8) / 4;
  });
}

template <class T>
void check(nn::Conv1d& conv, const Tensor& input, const Tensor& output, const Tensor& grad_output, std::int64_t batch,
           const std::string& mode) {
  const std::int64_t C = input.size(-2), L = input.size(-1);
  // The resolved padding: Conv1d::forward pads (pad_left, pad_right) by the mode, then convolves unpadded.
  std::vector<std::string> problems;
  const auto params = nn::functional::detail::resolve_conv1d_params(
      conv.options().stride, conv.options().padding, conv.options().dilation, conv.options().groups,
      conv.weight.size(2), problems);
  if (!problems.empty()) std::abort();  // Conv1d accepted options its own validation rejects
  // Zero padding stays implicit (the reference kernels take it as pad_left / pad_right: an absurd
  // padding with an absurd stride is valid and must not be materialized here either); the other
  // modes are materialized, as Conv1d does (so success means the padded input was small).
  const bool implicit = mode == "zeros";
  const std::int64_t padded_length = implicit ? L : L + params.pad_left + params.pad_right;
  std::vector<T> padded(static_cast<std::size_t>(batch * C * padded_length));
  const T* x = input.data_ptr<T>();
  for (std::int64_t r = 0; r < batch * C; ++r)
    for (std::int64_t j = 0; j < padded_length; ++j) {
      const std::int64_t s = implicit ? j : source(j, L, params.pad_left, mode);
      padded[static_cast<std::size_t>(r * padded_length + j)] = s < 0 ? T(0) : x[r * L + s];
    }
  const nn::kernels::Conv1dGeometry g{.batch = batch, .in_channels = C, .out_channels = conv.weight.size(0),
                                      .in_length = padded_length, .kernel_size = conv.weight.size(2),
                                      .stride = params.stride, .dilation = params.dilation, .groups = params.groups,
                                      .pad_left = implicit ? params.pad_left : 0,
                                      .pad_right = implicit ? params.pad_right : 0};
  const T* w = conv.weight.data_ptr<T>();
  const T* b = conv.bias.defined() ? conv.bias.data_ptr<T>() : nullptr;
  std::vector<T> expected(static_cast<std::size_t>(batch * g.out_channels * g.out_length()));
  nn::kernels::conv1d_forward_reference<T>(g, padded.data(), w, b, expected.data());
  if (output.numel() != static_cast<std::int64_t>(expected.size())) std::abort();
  expect_same(output.data_ptr<T>(), expected.data(), output.numel(), "output");

  const T* go = grad_output.data_ptr<T>();
  std::vector<T> grad_padded(padded.size()), grad_weight(static_cast<std::size_t>(conv.weight.numel()));
  nn::kernels::conv1d_backward_input_reference<T>(g, go, w, grad_padded.data());
  nn::kernels::conv1d_backward_weight_reference<T>(g, go, padded.data(), grad_weight.data());
  std::vector<T> grad_input(static_cast<std::size_t>(input.numel()), T(0));
  for (std::int64_t r = 0; r < batch * C; ++r)
    for (std::int64_t j = 0; j < padded_length; ++j) {
      const std::int64_t s = implicit ? j : source(j, L, params.pad_left, mode);
      if (s >= 0) grad_input[static_cast<std::size_t>(r * L + s)] += grad_padded[static_cast<std::size_t>(r * padded_length + j)];
    }
  expect_same(input.grad().data_ptr<T>(), grad_input.data(), input.numel(), "grad_input");
  expect_same(conv.weight.grad().data_ptr<T>(), grad_weight.data(), conv.weight.numel(), "grad_weight");
  if (conv.bias.defined()) {
    std::vector<T> grad_bias(static_cast<std::size_t>(conv.bias.numel()));
    nn::kernels::conv1d_backward_bias_reference<T>(g, go, grad_bias.data());
    expect_same(conv.bias.grad().data_ptr<T>(), grad_bias.data(), conv.bias.numel(), "grad_bias");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* const modes[] = {"zeros", "reflect", "replicate", "circular", "mirror"};
  fuzz::ByteReader in(data, size);
  const std::string mode = modes[in.u8() % 5];
  const Dtype dtype = in.u8() % 2 == 0 ? kFloat32 : kFloat64;
  const bool batched = in.u8() % 4 != 0;
  const std::int64_t batch = batched ? in.size_like(3) : 1;
  const std::int64_t groups = in.size_like(3);
  const std::int64_t in_channels = in.size_like(6);
  const std::int64_t out_channels = in.size_like(6);
  const std::int64_t length = in.size_like(48);
  const std::int64_t kernel = in.size_like(7);
  const std::int64_t stride = in.size_like(4);
  const std::int64_t dilation = in.size_like(4);
  nn::Padding padding = 0;
  switch (in.u8() % 4) {
    case 0: padding = "same"; break;
    case 1: padding = "valid"; break;
    default: padding = in.size_like(40);
  }
  const bool with_bias = in.u8() % 2 == 0;

  // Shapes stay small; a representable but huge padded input or output would be allocated: skip it.
  for (std::int64_t extent : {batch, in_channels, out_channels, length, kernel})
    if (extent < 0 || extent > 64) return 0;
  {
    const i128 pad = padding.is_string ? (padding.name == "same" ? static_cast<i128>(dilation) * kernel : 0)
                                       : 2 * static_cast<i128>(padding.values[0]);
    const i128 elements = static_cast<i128>(batch) * std::max(in_channels, out_channels) * (length + pad);
    if (elements > (1 << 20) && elements <= (static_cast<i128>(1) << 40)) return 0;
  }

  std::shared_ptr<nn::Conv1d> conv;
  try {
    conv = std::make_shared<nn::Conv1d>(in_channels, out_channels, kernel,
                                        nn::Conv1dOptions{.stride = stride, .padding = padding, .dilation = dilation,
                                                          .groups = groups, .bias = with_bias, .padding_mode = mode,
                                                          .dtype = dtype});
  } catch (const Error&) {
    return 0;
  }
  fill(conv->weight, in);
  if (with_bias) fill(conv->bias, in);
  Tensor input = empty(batched ? Shape{batch, in_channels, length} : Shape{in_channels, length}, {.dtype = dtype});
  fill(input, in);
  input.requires_grad_();
  Tensor output;
  try {
    output = (*conv)(input);
  } catch (const Error&) {
    return 0;
  }
  if (mode == "mirror") std::abort();  // an unknown mode was accepted
  Tensor grad_output = empty(output.shape(), {.dtype = dtype});
  fill(grad_output, in);
  output.backward(grad_output);
  dispatch(dtype, [&](auto tag) { check<decltype(tag)>(*conv, input, output, grad_output, batched ? batch : 1, mode); });
  return 0;
}
