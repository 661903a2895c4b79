// Fuzzes max_pool1d, avg_pool1d and adaptive_avg_pool1d over random shapes and every option
// (kernel_size, stride or its default, padding, dilation, ceil_mode, count_include_pad,
// output_size), absurd ones included (2^62, INT64_MAX, negatives). Every input either throws
// xgrad::Error or gives exactly what the definition says: the output length by PyTorch's formula
// (in 128 bits here), each window's maximum (NaN wins: the window's last one) or mean, and the
// gradients routed the same way. Values are small multiples of 1/4, with NaN or +-Inf planted.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include "core/creation.hpp"
#include "fuzz_support.hpp"
#include "nn/functional.hpp"

namespace {

using namespace xgrad;
namespace F = nn::functional;
using i128 = __int128;

[[noreturn]] void mismatch(const char* what, std::int64_t at, double got, double expected) {
  std::fprintf(stderr, "fuzz_pooling: %s differs at flat index %lld: got %.9g, expected %.9g\n", what,
               static_cast<long long>(at), got, expected);
  std::abort();
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// PyTorch's pooling_output_shape, exactly (no overflow in 128 bits); -1 when the padded length
// does not fit in 64 bits (xgrad must refuse it).
i128 expected_length(i128 length, i128 kernel, i128 stride, i128 padding, i128 dilation, bool ceil_mode) {
  const i128 padded = length + 2 * padding;
  if (padded > std::numeric_limits<std::int64_t>::max()) return -1;
  const i128 span = padded - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  i128 out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  if (ceil_mode && (out - 1) * stride >= length + padding) --out;
  return out;
}

void fill(Tensor& t, fuzz::ByteReader& in) {
  dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = t.data_ptr<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const std::uint8_t byte = in.u8();
      if (byte >= 250) {
        data[i] = byte == 250 ? std::numeric_limits<T>::quiet_NaN()
                              : (byte < 253 ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity());
      } else {
        data[i] = static_cast<T>(static_cast<int>(byte % 17) - 8) / 4;
      }
    }
  });
}

// The checks, for one dtype. x: (rows, L) viewed flat; y: (rows, out).
template <class T>
void check_max(const Tensor& input, const Tensor& output, const Tensor& grad_output, std::int64_t rows, std::int64_t L,
               std::int64_t out, i128 kernel, i128 stride, i128 padding, i128 dilation) {
  const T* x = input.data_ptr<T>();
  const T* y = output.data_ptr<T>();
  const T* g = grad_output.data_ptr<T>();
  std::vector<T> grad(static_cast<std::size_t>(rows * L), T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      const i128 start = o * stride - padding;
      std::int64_t best = -1;
      T best_value = -std::numeric_limits<T>::infinity();
      for (std::int64_t p = 0; p < L; ++p) {  // the taps start + j * dilation, j < kernel, inside the row
        const i128 offset = p - start;
        if (offset < 0 || offset % dilation != 0 || offset / dilation >= kernel) continue;
        const T v = x[r * L + p];
        if (best < 0 || v > best_value || std::isnan(v)) {
          best = p;
          best_value = v;
        }
      }
      if (!same(y[r * out + o], best_value)) mismatch("max_pool1d output", r * out + o, y[r * out + o], best_value);
      if (best >= 0) grad[static_cast<std::size_t>(r * L + best)] += g[r * out + o];
    }
  }
  const T* gi = input.grad().data_ptr<T>();
  for (std::int64_t i = 0; i < rows * L; ++i)
    if (!same(gi[i], grad[static_cast<std::size_t>(i)])) mismatch("max_pool1d grad", i, gi[i], grad[static_cast<std::size_t>(i)]);
}

template <class T>
void check_avg(const Tensor& input, const Tensor& output, const Tensor& grad_output, std::int64_t rows, std::int64_t L,
               std::int64_t out, i128 kernel, i128 stride, i128 padding, bool count_include_pad) {
  const T* x = input.data_ptr<T>();
  const T* y = output.data_ptr<T>();
  const T* g = grad_output.data_ptr<T>();
  std::vector<T> grad(static_cast<std::size_t>(rows * L), T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      // PyTorch's avg_pool: [start, min(start + kernel, L + padding)) counted with its padding,
      // then clipped to the input.
      const i128 start = o * stride - padding;
      const i128 end = std::min<i128>(start + kernel, L + padding);
      const i128 first = std::max<i128>(start, 0), last = std::min<i128>(end, L);
      const i128 divisor = count_include_pad ? end - start : last - first;
      T expected = T(0);
      if (first < last) {
        double sum = 0;
        for (i128 p = first; p < last; ++p) sum += x[r * L + static_cast<std::int64_t>(p)];
        expected = static_cast<T>(sum / static_cast<double>(divisor));
        const T share = g[r * out + o] / static_cast<T>(divisor);
        for (i128 p = first; p < last; ++p) grad[static_cast<std::size_t>(r * L + static_cast<std::int64_t>(p))] += share;
      }
      if (!same(y[r * out + o], expected)) mismatch("avg_pool1d output", r * out + o, y[r * out + o], expected);
    }
  }
  const T* gi = input.grad().data_ptr<T>();
  for (std::int64_t i = 0; i < rows * L; ++i)
    if (!same(gi[i], grad[static_cast<std::size_t>(i)])) mismatch("avg_pool1d grad", i, gi[i], grad[static_cast<std::size_t>(i)]);
}

template <class T>
void check_adaptive(const Tensor& input, const Tensor& output, const Tensor& grad_output, std::int64_t rows,
                    std::int64_t L, std::int64_t out) {
  const T* x = input.data_ptr<T>();
  const T* y = output.data_ptr<T>();
  const T* g = grad_output.data_ptr<T>();
  std::vector<T> grad(static_cast<std::size_t>(rows * L), T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t o = 0; o < out; ++o) {
      // PyTorch's adaptive windows: [floor(o L / out), ceil((o + 1) L / out)).
      const i128 start = static_cast<i128>(o) * L / out, end = ((static_cast<i128>(o) + 1) * L + out - 1) / out;
      double sum = 0;
      for (i128 p = start; p < end; ++p) sum += x[r * L + static_cast<std::int64_t>(p)];
      const T expected = static_cast<T>(sum / static_cast<double>(end - start));
      if (!same(y[r * out + o], expected)) mismatch("adaptive_avg_pool1d output", r * out + o, y[r * out + o], expected);
      const T share = g[r * out + o] / static_cast<T>(end - start);
      for (i128 p = start; p < end; ++p) grad[static_cast<std::size_t>(r * L + static_cast<std::int64_t>(p))] += share;
    }
  }
  const T* gi = input.grad().data_ptr<T>();
  for (std::int64_t i = 0; i < rows * L; ++i)
    if (!same(gi[i], grad[static_cast<std::size_t>(i)]))
      mismatch("adaptive_avg_pool1d grad", i, gi[i], grad[static_cast<std::size_t>(i)]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(data, size);
  const int op = in.u8() % 3;  // max, avg, adaptive
  const Dtype dtype = in.u8() % 2 == 0 ? kFloat32 : kFloat64;
  const bool batched = in.u8() % 4 != 0;
  const std::int64_t batch = batched ? in.size_like(3) : 1;
  const std::int64_t channels = in.size_like(3);
  const std::int64_t length = in.size_like(64);
  const std::int64_t kernel = in.size_like(9);
  const bool default_stride = in.u8() % 3 == 0;
  const std::int64_t stride = in.size_like(5);
  const std::int64_t padding = in.size_like(4);
  const std::int64_t dilation = in.size_like(4);
  const std::uint8_t flags = in.u8();
  const bool ceil_mode = flags & 1, count_include_pad = flags & 2;
  const std::int64_t output_size = in.size_like(70);

  // Shapes the fuzzer picked stay small (they are allocated before pooling sees them).
  for (std::int64_t extent : {batch, channels, length})
    if (extent < 0 || extent > 128) return 0;
  const std::int64_t rows = batch * channels;
  // An adaptive output that is representable but huge would be allocated: skip it (the cap on
  // absurd ones is in tests/test_reliability_sizes.cpp).
  if (op == 2 && output_size > 0 && static_cast<i128>(rows) * output_size > (1 << 20) &&
      static_cast<i128>(rows) * output_size <= (static_cast<i128>(1) << 40))
    return 0;

  Tensor input = empty(batched ? Shape{batch, channels, length} : Shape{channels, length}, {.dtype = dtype});
  fill(input, in);
  input.requires_grad_();

  Tensor output;
  try {
    if (op == 0) {
      F::MaxPool1dOptions options{.padding = padding, .dilation = dilation, .ceil_mode = ceil_mode};
      if (!default_stride) options.stride = stride;
      output = F::max_pool1d(input, kernel, options);
    } else if (op == 1) {
      F::AvgPool1dOptions options{.padding = padding, .ceil_mode = ceil_mode, .count_include_pad = count_include_pad};
      if (!default_stride) options.stride = stride;
      output = F::avg_pool1d(input, kernel, options);
    } else {
      output = F::adaptive_avg_pool1d(input, output_size);
    }
  } catch (const Error&) {
    return 0;
  }

  // It worked: the options were valid and the output length is PyTorch's.
  const i128 used_stride = default_stride ? kernel : stride;
  i128 out = output_size;
  if (op != 2) {
    if (kernel <= 0 || used_stride <= 0 || (op == 0 && dilation <= 0) || padding < 0 || padding > kernel / 2) std::abort();
    out = expected_length(length, kernel, used_stride, padding, op == 0 ? dilation : 1, ceil_mode);
    if (out < 1) std::abort();  // accepted an input too short (or a padded length that does not fit)
  }
  const Shape expected_shape = batched ? Shape{batch, channels, static_cast<std::int64_t>(out)}
                                       : Shape{channels, static_cast<std::int64_t>(out)};
  if (output.shape() != expected_shape) {
    std::fprintf(stderr, "fuzz_pooling: output length %lld, expected %lld\n",
                 static_cast<long long>(output.shape().back()), static_cast<long long>(out));
    std::abort();
  }
  Tensor grad_output = empty(output.shape(), {.dtype = dtype});
  fill(grad_output, in);
  output.backward(grad_output);
  const auto o = static_cast<std::int64_t>(out);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (op == 0) check_max<T>(input, output, grad_output, rows, length, o, kernel, used_stride, padding, dilation);
    if (op == 1) check_avg<T>(input, output, grad_output, rows, length, o, kernel, used_stride, padding, count_include_pad);
    if (op == 2) check_adaptive<T>(input, output, grad_output, rows, length, o);
  });
  return 0;
}
