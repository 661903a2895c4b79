// Fuzzes nn::functional::pad1d over every mode ("zeros", "constant", "reflect", "replicate",
// "circular", and a misspelt one), inputs of rank 0 to 3 and widths from 0 to INT64_MAX (and
// negatives). Every input either throws xgrad::Error or gives exactly what PyTorch's definition of
// the mode says, element by element, and its gradient: each input element collects the output
// gradients of the positions that copy it. Values are small multiples of 1/4 (sums are exact).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "fuzz_support.hpp"
#include "nn/functional.hpp"

namespace {

using namespace xgrad;
using i128 = __int128;

[[noreturn]] void mismatch(const char* what, std::int64_t at, double got, double expected) {
  std::fprintf(stderr, "fuzz_pad1d: %s differs at flat index %lld: got %.9g, expected %.9g\n", what,
               static_cast<long long>(at), got, expected);
  std::abort();
}

// The input position output position j copies (-1: a zero), by PyTorch's definition of each mode.
std::int64_t source(std::int64_t j, std::int64_t length, std::int64_t left, const std::string& mode) {
  const std::int64_t i = j - left;
  if (mode == "zeros" || mode == "constant") return i >= 0 && i < length ? i : -1;
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* const modes[] = {"zeros", "constant", "reflect", "replicate", "circular", "mirror"};
  fuzz::ByteReader in(data, size);
  const std::string mode = modes[in.u8() % 6];
  const Dtype dtype = in.u8() % 2 == 0 ? kFloat32 : kFloat64;
  const int rank = in.u8() % 4;
  Shape shape;
  for (int d = 0; d < rank; ++d) shape.push_back(in.size_like(d == rank - 1 ? 40 : 3));
  const std::int64_t left = in.size_like(50), right = in.size_like(50);

  for (std::int64_t extent : shape)
    if (extent < 0 || extent > 64) return 0;
  // A representable but huge output would be allocated: skip it (absurd ones must be an error).
  i128 rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= shape[d];
  const i128 out_length = rank > 0 ? static_cast<i128>(shape.back()) + left + right : 0;
  if (rows * out_length > (1 << 20) && rows * out_length <= (static_cast<i128>(1) << 40)) return 0;

  Tensor input = empty(shape, {.dtype = dtype});
  fill(input, in);
  input.requires_grad_();
  Tensor output;
  try {
    output = nn::functional::pad1d(input, left, right, mode);
  } catch (const Error&) {
    return 0;
  }

  // It worked, so the arguments were valid for the mode.
  const std::int64_t length = rank > 0 ? shape.back() : 0;
  const bool valid = rank >= 1 && mode != "mirror" && left >= 0 && right >= 0 &&
                     (mode == "zeros" || mode == "constant" || length > 0) &&
                     (mode != "reflect" || (left < length && right < length)) &&
                     (mode != "circular" || (left <= length && right <= length));
  if (!valid) {
    std::fprintf(stderr, "fuzz_pad1d: accepted mode %s with padding (%lld, %lld) of length %lld\n", mode.c_str(),
                 static_cast<long long>(left), static_cast<long long>(right), static_cast<long long>(length));
    std::abort();
  }
  Shape expected_shape = shape;
  expected_shape.back() = static_cast<std::int64_t>(out_length);
  if (output.shape() != expected_shape) std::abort();
  const std::int64_t n_rows = static_cast<std::int64_t>(rows), out_len = static_cast<std::int64_t>(out_length);

  Tensor grad_output = empty(output.shape(), {.dtype = dtype});
  fill(grad_output, in);
  output.backward(grad_output);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data_ptr<T>();
    const T* y = output.data_ptr<T>();
    const T* g = grad_output.data_ptr<T>();
    std::vector<T> grad(static_cast<std::size_t>(input.numel()), T(0));
    for (std::int64_t r = 0; r < n_rows; ++r) {
      for (std::int64_t j = 0; j < out_len; ++j) {
        const std::int64_t s = source(j, length, left, mode);
        const T expected = s < 0 ? T(0) : x[r * length + s];
        if (y[r * out_len + j] != expected) mismatch("output", r * out_len + j, y[r * out_len + j], expected);
        if (s >= 0) grad[static_cast<std::size_t>(r * length + s)] += g[r * out_len + j];
      }
    }
    const T* gi = input.grad().data_ptr<T>();
    for (std::int64_t i = 0; i < input.numel(); ++i)
      if (gi[i] != grad[static_cast<std::size_t>(i)]) mismatch("grad", i, gi[i], grad[static_cast<std::size_t>(i)]);
  });
  return 0;
}
