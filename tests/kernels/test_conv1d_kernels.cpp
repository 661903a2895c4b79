// The Conv1d kernels: the reference against hand-computed cases (so the oracle itself is checked),
// then the fast kernels against the reference over a grid of geometries, on every instruction set
// this CPU supports, in float and double, with 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

using xgrad::nn::kernels::Conv1dGeometry;
namespace kernels = xgrad::nn::kernels;

namespace {

template <class T>
std::vector<T> random_values(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> values(static_cast<size_t>(count));
  for (T& v : values) v = static_cast<T>(uniform(rng));
  return values;
}

int64_t input_size(const Conv1dGeometry& g) { return g.batch * g.in_channels * g.in_length; }
int64_t weight_size(const Conv1dGeometry& g) { return g.out_channels * (g.in_channels / g.groups) * g.kernel_size; }
int64_t output_size(const Conv1dGeometry& g) { return g.batch * g.out_channels * g.out_length(); }

std::string describe(const Conv1dGeometry& g) {
  return "N=" + std::to_string(g.batch) + " C_in=" + std::to_string(g.in_channels) + " C_out=" + std::to_string(g.out_channels) +
         " L=" + std::to_string(g.in_length) + " K=" + std::to_string(g.kernel_size) + " stride=" + std::to_string(g.stride) +
         " dilation=" + std::to_string(g.dilation) + " groups=" + std::to_string(g.groups) + " pad=(" + std::to_string(g.pad_left) +
         "," + std::to_string(g.pad_right) + ") L_out=" + std::to_string(g.out_length());
}

// |actual - expected| <= tolerance * max(1, max |expected|): the sums differ only in rounding order,
// whose error scales with the size of the terms, not of each (possibly cancelled) result.
template <class Values, class T>
void check_close(const Values& actual, const std::vector<T>& expected, const char* what) {
  const double tolerance = sizeof(T) == 4 ? 1e-5 : 1e-12;
  double scale = 1.0;
  for (T e : expected) scale = std::max(scale, std::abs(static_cast<double>(e)));
  double worst = 0.0;
  size_t worst_index = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double error = std::abs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
    if (!(error <= worst)) worst = error, worst_index = i;  // also catches NaN
  }
  INFO(what << ": worst error " << worst << " at " << worst_index << " (scale " << scale << ")");
  CHECK(worst <= tolerance * scale);
}

// Random operands of one geometry, drawn in this order.
template <class T>
struct Operands {
  std::vector<T> input, weight, bias, grad_output;
  Operands(const Conv1dGeometry& g, std::mt19937& rng)
      : input(random_values<T>(input_size(g), rng)),
        weight(random_values<T>(weight_size(g), rng)),
        bias(random_values<T>(g.out_channels, rng)),
        grad_output(random_values<T>(output_size(g), rng)) {}
};

// Runs all four fast kernels and compares them with the reference.
template <class T>
void check_fast_against_reference(const Conv1dGeometry& g, std::mt19937& rng, bool with_bias) {
  const Operands<T> operands(g, rng);
  const auto& [input, weight, bias, grad_output] = operands;
  const T* bias_or_null = with_bias ? bias.data() : nullptr;
  // Poisoned outputs: the kernels must overwrite every element.
  const T poison = std::nan("");

  std::vector<T> expected(static_cast<size_t>(output_size(g))), actual(expected.size(), poison);
  kernels::conv1d_forward_reference(g, input.data(), weight.data(), bias_or_null, expected.data());
  kernels::conv1d_forward(g, input.data(), weight.data(), bias_or_null, actual.data());
  check_close(actual, expected, "forward");

  std::vector<T> expected_input(input.size()), actual_input(input.size(), poison);
  kernels::conv1d_backward_input_reference(g, grad_output.data(), weight.data(), expected_input.data());
  kernels::conv1d_backward_input(g, grad_output.data(), weight.data(), actual_input.data());
  check_close(actual_input, expected_input, "backward input");

  std::vector<T> expected_weight(weight.size()), actual_weight(weight.size(), poison);
  kernels::conv1d_backward_weight_reference(g, grad_output.data(), input.data(), expected_weight.data());
  kernels::conv1d_backward_weight(g, grad_output.data(), input.data(), actual_weight.data());
  check_close(actual_weight, expected_weight, "backward weight");

  std::vector<T> expected_bias(bias.size()), actual_bias(bias.size(), poison);
  kernels::conv1d_backward_bias_reference(g, grad_output.data(), expected_bias.data());
  kernels::conv1d_backward_bias(g, grad_output.data(), actual_bias.data());
  check_close(actual_bias, expected_bias, "backward bias");
}

template <class T>
void check_backward_weight_against_reference(const Conv1dGeometry& g, std::mt19937& rng) {
  const auto input = random_values<T>(input_size(g), rng);
  const auto grad_output = random_values<T>(output_size(g), rng);
  std::vector<T> expected(static_cast<size_t>(weight_size(g))), actual(expected.size(), T(std::nan("")));
  kernels::conv1d_backward_weight_reference(g, grad_output.data(), input.data(), expected.data());
  kernels::conv1d_backward_weight(g, grad_output.data(), input.data(), actual.data());
  check_close(actual, expected, "backward weight");
}

// The geometry grid: every group layout x kernel size 1..9 x stride 1..4 x dilation 1..3, with
// batch, channel counts, padding and output length cycling through awkward values (1, odd, not a
// multiple of any vector width, pad_left != pad_right, out_length 1 and short tails).
std::vector<Conv1dGeometry> geometry_grid() {
  struct Layout { int64_t groups, in_per_group, out_per_group; };
  const Layout layouts[] = {{1, 1, 1}, {1, 3, 7}, {1, 5, 9}, {1, 17, 13}, {2, 3, 5}, {2, 4, 2},
                            {5, 1, 1}, {8, 1, 1}, {6, 1, 2}, {3, 1, 3}};  // last four: depthwise, with multiplier
  const int64_t out_lengths[] = {1, 2, 3, 7, 13, 17, 33, 70};
  const int64_t pads[][2] = {{0, 0}, {1, 2}, {2, 1}, {0, 3}, {4, 4}, {3, 0}};
  std::vector<Conv1dGeometry> grid;
  int64_t counter = 0;
  for (const Layout& layout : layouts)
    for (int64_t kernel = 1; kernel <= 9; ++kernel)
      for (int64_t stride = 1; stride <= 4; ++stride)
        for (int64_t dilation = 1; dilation <= 3; ++dilation, ++counter) {
          Conv1dGeometry g{};
          g.batch = 1 + counter % 3;
          g.groups = layout.groups;
          g.in_channels = layout.groups * layout.in_per_group;
          g.out_channels = layout.groups * layout.out_per_group;
          g.kernel_size = kernel;
          g.stride = stride;
          g.dilation = dilation;
          g.pad_left = pads[counter % 6][0];
          g.pad_right = pads[(counter / 6) % 6][1];
          const int64_t out_length = out_lengths[(counter * 5) % 8];
          const int64_t span = dilation * (kernel - 1) + 1;
          // The smallest input giving out_length, plus 0..stride-1 unused trailing positions.
          g.in_length = (out_length - 1) * stride + span - g.pad_left - g.pad_right + counter % stride;
          if (g.in_length < 1) g.in_length = 1;
          if (g.out_length() < 1) continue;
          grid.push_back(g);
        }
  // Kernel 80 once (the audio front-end), and a few bigger shapes that fill whole register tiles.
  grid.push_back({2, 1, 6, 400, 80, 4, 1, 1, 0, 0});
  grid.push_back({2, 19, 37, 300, 3, 1, 1, 1, 1, 1});
  grid.push_back({1, 40, 40, 200, 5, 2, 2, 1, 3, 2});
  grid.push_back({3, 24, 24, 150, 9, 1, 1, 24, 4, 4});
  grid.push_back({2, 16, 16, 129, 3, 1, 4, 4, 4, 4});
  // Channel counts large enough that the reductions are split into chunks continued in the output.
  grid.push_back({1, 200, 12, 60, 9, 2, 1, 1, 3, 4});
  grid.push_back({2, 12, 200, 60, 9, 2, 1, 1, 3, 4});
  grid.push_back({2, 130, 130, 50, 5, 1, 1, 1, 2, 2});
  // Matrix-product backward weight: several column and row tiles, a tail of each, several length blocks.
  grid.push_back({3, 53, 11, 1100, 3, 1, 1, 1, 1, 1});
  grid.push_back({2, 60, 60, 700, 4, 2, 3, 2, 2, 5});
  grid.push_back({3, 2, 9, 900, 37, 3, 1, 1, 5, 2});  // long kernel: tap products, several length blocks
  // A long output: dot products over two length blocks (4096 and a tail of 406).
  grid.push_back({2, 3, 5, 4503, 3, 1, 1, 1, 1, 0});
  // Many input channels: the forward packs its input in several column blocks (12 here, float32).
  grid.push_back({1, 256, 8, 2000, 3, 1, 1, 1, 1, 1});
  // Weights of 45 KiB in float32 and 90 KiB in float64, on either side of the 64 KiB that picks the
  // L2 budget of a column block (at 1 thread): three blocks each way, forward and backward input.
  grid.push_back({1, 48, 48, 1200, 5, 1, 1, 1, 2, 2});
  // Many output channels, stride 3, dilation 2: backward input packs several blocks of positions.
  grid.push_back({1, 16, 256, 3000, 5, 3, 2, 1, 4, 3});
  return grid;
}

// 64-byte aligned storage, as xgrad's tensors have (non-temporal stores need vector-aligned rows).
template <class T>
using AlignedVector = std::vector<T, xsimd::aligned_allocator<T, 64>>;

// Forward and backward input into aligned outputs, starting `offset` elements past an aligned
// address (0: rows whose length is a multiple of the vector start aligned and are streamed; 1:
// none is), against the reference.
template <class T>
void check_streamed_against_reference(const Conv1dGeometry& g, std::mt19937& rng, int64_t offset) {
  const Operands<T> operands(g, rng);
  const auto& [input, weight, bias, grad_output] = operands;
  const T poison = std::nan("");
  std::vector<T> expected(static_cast<size_t>(output_size(g)));
  AlignedVector<T> actual(expected.size() + 1, poison);
  kernels::conv1d_forward_reference(g, input.data(), weight.data(), bias.data(), expected.data());
  kernels::conv1d_forward(g, input.data(), weight.data(), bias.data(), actual.data() + offset);
  actual.erase(actual.begin(), actual.begin() + offset), actual.resize(expected.size());
  check_close(actual, expected, "forward");

  std::vector<T> expected_input(input.size());
  AlignedVector<T> actual_input(input.size() + 1, poison);
  kernels::conv1d_backward_input_reference(g, grad_output.data(), weight.data(), expected_input.data());
  kernels::conv1d_backward_input(g, grad_output.data(), weight.data(), actual_input.data() + offset);
  actual_input.erase(actual_input.begin(), actual_input.begin() + offset), actual_input.resize(input.size());
  check_close(actual_input, expected_input, "backward input");
}

// The instruction sets to test on this machine, each forced in turn ("avx512-on-avx2" runs the
// AVX-512 tiles' logic on CPUs without AVX-512).
std::vector<std::string> supported_isas() {
  std::vector<std::string> isas;
  for (const char* isa : {"generic", "avx2", "avx512-on-avx2", "avx512"})
    if (kernels::conv1d_isa_supported(isa)) isas.push_back(isa);
  return isas;
}

struct IsaGuard {
  std::string saved = kernels::conv1d_kernel_isa();
  ~IsaGuard() { kernels::set_conv1d_kernel_isa(saved.c_str()); }
};

}  // namespace

TEST_CASE("reference forward matches a hand-computed case with stride, padding, dilation and bias") {
  // x = [1 2 3 4 5], w = [1 0 -1], bias 0.5, pad (1, 2), dilation 1, stride 2:
  // padded x = [0 1 2 3 4 5 0 0]; outputs at 0, 2, 4: (0-2)+.5, (2-4)+.5, (4-0)+.5; L_out = (5+3-2-1)/2+1 = 3.
  const Conv1dGeometry g{1, 1, 1, 5, 3, 2, 1, 1, 1, 2};
  REQUIRE(g.out_length() == 3);
  const double x[] = {1, 2, 3, 4, 5}, w[] = {1, 0, -1}, b[] = {0.5};
  double y[3];
  kernels::conv1d_forward_reference(g, x, w, b, y);
  CHECK(y[0] == -1.5);
  CHECK(y[1] == -1.5);
  CHECK(y[2] == 4.5);

  // Dilation 2, no padding: y[l] = x[l] - x[l+4] for l = 0 -> 1 - 5.
  const Conv1dGeometry dilated{1, 1, 1, 5, 3, 1, 2, 1, 0, 0};
  REQUIRE(dilated.out_length() == 1);
  kernels::conv1d_forward_reference(dilated, x, w, static_cast<const double*>(nullptr), y);
  CHECK(y[0] == -4.0);
}

TEST_CASE("reference forward handles groups and channel sums") {
  // 2 groups, 2 in channels, 2 out channels, K = 1: each output channel scales its own input channel.
  const Conv1dGeometry g{1, 2, 2, 3, 1, 1, 1, 2, 0, 0};
  const float x[] = {1, 2, 3, 10, 20, 30}, w[] = {2, -1};
  float y[6];
  kernels::conv1d_forward_reference(g, x, w, static_cast<const float*>(nullptr), y);
  const float expected[] = {2, 4, 6, -10, -20, -30};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == expected[i]);
  // 1 group, 2 in channels, 1 out channel, K = 2: y[l] = x0[l] + x0[l+1] + 2*x1[l] - x1[l+1].
  const Conv1dGeometry dense{1, 2, 1, 3, 2, 1, 1, 1, 0, 0};
  const float wd[] = {1, 1, 2, -1};
  kernels::conv1d_forward_reference(dense, x, wd, static_cast<const float*>(nullptr), y);
  CHECK(y[0] == 1 + 2 + 20 - 20);
  CHECK(y[1] == 2 + 3 + 40 - 30);
}

TEST_CASE("reference backward kernels match hand-computed gradients") {
  // x = [1 2 3 4 5], w = [1 0 -1], stride 2, pad (1, 2): outputs read padded positions {0,1,2}, {2,3,4}, {4,5,6},
  // i.e. input indices {-,0,1}, {1,2,3}, {3,4,-}.
  const Conv1dGeometry g{1, 1, 1, 5, 3, 2, 1, 1, 1, 2};
  const double x[] = {1, 2, 3, 4, 5}, w[] = {1, 0, -1}, dy[] = {1, 10, 100};
  double dx[5], dw[3], db[1];
  kernels::conv1d_backward_input_reference(g, dy, w, dx);
  // dx[i] = sum over (l, k) reading i of w[k] dy[l]: x0 <- (l0,k1); x1 <- (l0,k2),(l1,k0); x2 <- (l1,k1);
  // x3 <- (l1,k2),(l2,k0); x4 <- (l2,k1).
  const double expected_dx[] = {0, -1 + 10, 0, -10 + 100, 0};
  for (int i = 0; i < 5; ++i) CHECK(dx[i] == expected_dx[i]);
  kernels::conv1d_backward_weight_reference(g, dy, x, dw);
  // dw[k] = sum_l dy[l] x[2l + k - 1]: k0: 0*1 + 2*10 + 4*100; k1: 1 + 30 + 500; k2: 2 + 40 + 0.
  CHECK(dw[0] == 420);
  CHECK(dw[1] == 531);
  CHECK(dw[2] == 42);
  kernels::conv1d_backward_bias_reference(g, dy, db);
  CHECK(db[0] == 111);
}

TEST_CASE_TEMPLATE("fast kernels match the reference over the geometry grid", T, float, double) {
  IsaGuard isa_guard;
  const int saved_threads = xgrad::get_num_threads();
  const auto grid = geometry_grid();
  for (const std::string& isa : supported_isas()) {
    REQUIRE(kernels::set_conv1d_kernel_isa(isa.c_str()));
    for (int threads : {1, 2}) {
      xgrad::set_num_threads(threads);
      std::mt19937 rng(1234);
      int64_t index = 0;
      for (const Conv1dGeometry& g : grid) {
        INFO("isa " << isa << ", threads " << threads << ", " << describe(g));
        check_fast_against_reference<T>(g, rng, ++index % 2 == 0);
      }
      // Every backward-weight method on every geometry, whichever the shape would pick.
      for (auto method : {kernels::BackwardWeightMethod::dot_products, kernels::BackwardWeightMethod::channel_products,
                          kernels::BackwardWeightMethod::tap_products}) {
        kernels::set_conv1d_backward_weight_method(method);
        for (const Conv1dGeometry& g : grid) {
          INFO("isa " << isa << ", threads " << threads << ", backward-weight method " << static_cast<int>(method) << ", " << describe(g));
          check_backward_weight_against_reference<T>(g, rng);
        }
      }
      kernels::set_conv1d_backward_weight_method(kernels::BackwardWeightMethod::automatic);
    }
  }
  xgrad::set_num_threads(saved_threads);
}

// Big one-row-tile outputs are streamed past the caches (non-temporal stores of whole, aligned tile
// rows); with the threshold at 0 every such output is, so the grid exercises them at test sizes.
TEST_CASE_TEMPLATE("streamed (non-temporal) outputs match the reference", T, float, double) {
  IsaGuard isa_guard;
  const int saved_threads = xgrad::get_num_threads();
  const int64_t saved_bytes = kernels::set_conv1d_streaming_bytes(0);
  auto geometries = geometry_grid();
  // Long depthwise rows (several whole tiles, rows aligned or not), a channel multiplier, and
  // backward input whose reduction over 120 output channels is split into chunks before the
  // last one streams.
  geometries.push_back({2, 8, 8, 512, 9, 1, 1, 8, 4, 4});
  geometries.push_back({2, 8, 8, 517, 9, 1, 1, 8, 4, 4});
  geometries.push_back({1, 3, 6, 300, 5, 1, 1, 3, 2, 2});
  geometries.push_back({2, 2, 240, 300, 3, 1, 1, 2, 1, 1});
  for (const std::string& isa : supported_isas()) {
    REQUIRE(kernels::set_conv1d_kernel_isa(isa.c_str()));
    for (int threads : {1, 2}) {
      xgrad::set_num_threads(threads);
      std::mt19937 rng(99);
      for (const Conv1dGeometry& g : geometries)
        for (int64_t offset : {0, 1}) {
          INFO("isa " << isa << ", threads " << threads << ", offset " << offset << ", " << describe(g));
          check_streamed_against_reference<T>(g, rng, offset);
        }
    }
  }
  kernels::set_conv1d_streaming_bytes(saved_bytes);
  xgrad::set_num_threads(saved_threads);
}

// Regression (found by the conv1d fuzzer under ASan): with a right padding longer
// than the input, the output gradient is longer than the input span, and the fast
// backward-input kernel's packed rows were sized for the shorter one.
TEST_CASE("fast backward input handles right padding much longer than the input") {
  for (std::int64_t pad_right : {0, 5, 40, 200, 1000}) {
    for (std::int64_t stride : {1, 2, 3}) {
      for (std::int64_t kernel : {1, 3}) {
        CAPTURE(pad_right);
        CAPTURE(stride);
        CAPTURE(kernel);
        const xgrad::nn::kernels::Conv1dGeometry g{2, 3, 4, 7, kernel, stride, 1, 1, 1, pad_right};
        std::vector<double> grad_output(static_cast<std::size_t>(2 * 4 * g.out_length()));
        std::vector<double> weight(static_cast<std::size_t>(4 * 3 * kernel)), fast(2 * 3 * 7), expected(2 * 3 * 7);
        for (std::size_t i = 0; i < grad_output.size(); ++i) grad_output[i] = std::sin(0.37 * static_cast<double>(i));
        for (std::size_t i = 0; i < weight.size(); ++i) weight[i] = std::cos(0.11 * static_cast<double>(i));
        xgrad::nn::kernels::conv1d_backward_input<double>(g, grad_output.data(), weight.data(), fast.data());
        xgrad::nn::kernels::conv1d_backward_input_reference<double>(g, grad_output.data(), weight.data(), expected.data());
        for (std::size_t i = 0; i < fast.size(); ++i) CHECK(fast[i] == doctest::Approx(expected[i]).epsilon(1e-12));
      }
    }
  }
}
