// Conv1d kernel benchmark: xgrad's fast kernels against LibTorch (oneDNN) on the project's shapes.
// For each shape and thread count it times forward and forward+backward (input, weight and bias
// gradients), alternating the two libraries rep by rep on the same data, checks they agree, and
// prints a markdown table of medians.
// Usage: xgrad_conv1d_bench [min seconds per measurement] [shape name filter] [thread counts, e.g. 12] [breakdown]
// With `breakdown`, it also prints each backward kernel alone (input, weight gradients), both libraries.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <xsimd/memory/xsimd_aligned_allocator.hpp>

#include "bench/bench_support.hpp"
#include "core/parallel.hpp"
#include "nn/kernels/conv1d_dispatch.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

#ifdef XGRAD_BENCH_WITH_TORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#endif

double measure_fma_peak_gflops(const char** isa);

namespace {

using xgrad::nn::kernels::Conv1dGeometry;
namespace kernels = xgrad::nn::kernels;

using xgrad::bench::Shape;
using xgrad::bench::shapes;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Median wall milliseconds of each function, run alternately (bench_support.hpp); the fastest
// call of each into `best` when given.
std::vector<double> alternate_medians(const std::vector<std::function<void()>>& functions, double min_seconds,
                                      std::vector<double>* best = nullptr) {
  std::vector<double> medians;
  for (const xgrad::bench::Timing& timing : xgrad::bench::alternate_medians(functions, min_seconds)) {
    medians.push_back(timing.wall_ms);
    if (best) best->push_back(timing.best_wall_ms);
  }
  return medians;
}

// STREAM-like triad a[i] = b[i] + s c[i] over three 64 MiB arrays, split over the thread pool;
// GB/s counting the three arrays (the median of 7 passes after a warm-up).
double triad_gbps() {
  const int64_t n = int64_t{1} << 24;
  std::vector<float> a(n, 0.f), b(n, 1.f), c(n, 2.f);
  std::vector<double> seconds;
  for (int pass = 0; pass < 8; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    xgrad::parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) a[i] = b[i] + 3.f * c[i];
    });
    if (pass > 0) seconds.push_back(seconds_since(start));
  }
  return 3.0 * double(n) * sizeof(float) / xgrad::bench::median(seconds) * 1e-9;
}

double max_relative_error(const float* actual, const float* expected, int64_t count) {
  double scale = 1e-30, worst = 0;
  for (int64_t i = 0; i < count; ++i) scale = std::max(scale, double(std::abs(expected[i])));
  for (int64_t i = 0; i < count; ++i) worst = std::max(worst, double(std::abs(actual[i] - expected[i])));
  return worst / scale;
}

}  // namespace

int main(int argc, char** argv) {
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  const double min_seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  const std::string shape_filter = argc > 2 ? argv[2] : "";
  const std::string thread_counts = argc > 3 ? argv[3] : "12";
  const bool breakdown = argc > 4 && std::string(argv[4]) == "breakdown";
  const char* peak_isa = "";
  const double peak = measure_fma_peak_gflops(&peak_isa);
  std::printf("xgrad kernels: %s; measured single-core fp32 FMA peak (%s): %.1f GFLOP/s\n\n", kernels::conv1d_kernel_isa(), peak_isa,
              peak);
  xgrad::bench::print_load_average("before");
  std::printf("\n");
#ifdef XGRAD_BENCH_WITH_TORCH
  std::printf("| shape | threads | torch fwd ms | xgrad fwd ms | fwd ratio | torch fwd+bwd ms | xgrad fwd+bwd ms | fwd+bwd ratio "
              "| xgrad fwd GFLOP/s | fwd %% peak | fwd %% peak, best call | xgrad fwd+bwd GFLOP/s | fwd+bwd %% peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
#else
  std::printf("| shape | threads | xgrad fwd ms | xgrad fwd+bwd ms | fwd GFLOP/s | fwd %% peak | fwd %% peak, best call | fwd+bwd GFLOP/s "
              "| fwd+bwd %% peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
#endif
  std::vector<double> forward_ratios[3], training_ratios[3];
  bool all_agree = true;
  for (int threads : {1, 2}) {
    if (thread_counts.find(char('0' + threads)) == std::string::npos) continue;
    xgrad::set_num_threads(threads);
#ifdef XGRAD_BENCH_WITH_TORCH
    at::set_num_threads(threads);
#endif
    const double bandwidth = triad_gbps();
    for (const Shape& shape : shapes) {
      if (std::string(shape.name).find(shape_filter) == std::string::npos) continue;
      const Conv1dGeometry g = shape.geometry();
      const int64_t out_length = g.out_length();
      const int64_t input_size = g.batch * g.in_channels * g.in_length;
      const int64_t weight_size = g.out_channels * (g.in_channels / g.groups) * g.kernel_size;
      const int64_t output_size = g.batch * g.out_channels * out_length;
      std::mt19937 rng(42);
      std::uniform_real_distribution<float> uniform(-1.f, 1.f);
      // 64-byte aligned, as xgrad's and LibTorch's tensors are.
      using Buffer = std::vector<float, xsimd::aligned_allocator<float, 64>>;
      auto random = [&](int64_t n) {
        Buffer v(static_cast<size_t>(n));
        for (float& x : v) x = uniform(rng);
        return v;
      };
      const auto input = random(input_size), weight = random(weight_size), bias = random(g.out_channels), grad_output = random(output_size);
      Buffer output(output_size), grad_input(input_size), grad_weight(weight_size), grad_bias(g.out_channels);

      auto xgrad_forward = [&] { kernels::conv1d_forward(g, input.data(), weight.data(), bias.data(), output.data()); };
      auto xgrad_training = [&] {
        kernels::conv1d_forward(g, input.data(), weight.data(), bias.data(), output.data());
        kernels::conv1d_backward_input(g, grad_output.data(), weight.data(), grad_input.data());
        kernels::conv1d_backward_weight(g, grad_output.data(), input.data(), grad_weight.data());
        kernels::conv1d_backward_bias(g, grad_output.data(), grad_bias.data());
      };
      const double flops = 2.0 * double(output_size) * double(g.in_channels / g.groups * g.kernel_size);
      const double training_flops = 3 * flops + double(output_size);
#ifdef XGRAD_BENCH_WITH_TORCH
      auto blob = [](const Buffer& v, at::IntArrayRef sizes) {
        return at::from_blob(const_cast<float*>(v.data()), sizes, at::kFloat).clone();
      };
      const at::Tensor x = blob(input, {g.batch, g.in_channels, g.in_length});
      const at::Tensor w = blob(weight, {g.out_channels, g.in_channels / g.groups, g.kernel_size});
      const at::Tensor b = blob(bias, {g.out_channels});
      const at::Tensor dy = blob(grad_output, {g.batch, g.out_channels, out_length});
      at::Tensor y, dx, dw, db;
      auto torch_forward = [&] { y = at::conv1d(x, w, b, {shape.stride}, {shape.padding}, {shape.dilation}, shape.groups); };
      auto torch_training = [&] {
        y = at::conv1d(x, w, b, {shape.stride}, {shape.padding}, {shape.dilation}, shape.groups);
        std::tie(dx, dw, db) = at::convolution_backward(dy, x, w, at::IntArrayRef{g.out_channels}, {shape.stride}, {shape.padding},
                                                        {shape.dilation}, false, {0}, shape.groups, {true, true, true});
      };
      std::vector<double> forward_best;
      const auto forward_ms = alternate_medians({torch_forward, xgrad_forward}, min_seconds, &forward_best);
      const auto training_ms = alternate_medians({torch_training, xgrad_training}, min_seconds);
      if (breakdown) {  // each backward kernel alone: where the forward+backward time goes
        auto torch_backward = [&](std::array<bool, 3> mask) {
          return [&, mask] {
            std::tie(dx, dw, db) = at::convolution_backward(dy, x, w, at::IntArrayRef{g.out_channels}, {shape.stride}, {shape.padding},
                                                            {shape.dilation}, false, {0}, shape.groups, mask);
          };
        };
        auto xgrad_input = [&] { kernels::conv1d_backward_input(g, grad_output.data(), weight.data(), grad_input.data()); };
        auto xgrad_weight = [&] { kernels::conv1d_backward_weight(g, grad_output.data(), input.data(), grad_weight.data()); };
        const auto input_ms = alternate_medians({torch_backward({true, false, false}), xgrad_input}, min_seconds);
        const auto weight_ms = alternate_medians({torch_backward({false, true, false}), xgrad_weight}, min_seconds);
        std::printf("| (%s, %d thread%s: backward input torch %.3f ms, xgrad %.3f ms (%.1f GFLOP/s); backward weight torch %.3f ms, "
                    "xgrad %.3f ms (%.1f GFLOP/s)) |\n",
                    shape.name, threads, threads > 1 ? "s" : "", input_ms[0], input_ms[1], flops / input_ms[1] * 1e-6, weight_ms[0],
                    weight_ms[1], flops / weight_ms[1] * 1e-6);
        torch_training();
        xgrad_training();
      }
      // The last runs of both left their results in place: compare them.
      const double errors[] = {
          max_relative_error(output.data(), y.contiguous().data_ptr<float>(), output_size),
          max_relative_error(grad_input.data(), dx.contiguous().data_ptr<float>(), input_size),
          max_relative_error(grad_weight.data(), dw.contiguous().data_ptr<float>(), weight_size),
          max_relative_error(grad_bias.data(), db.contiguous().data_ptr<float>(), g.out_channels)};
      for (double e : errors)
        if (!(e < 1e-4)) {
          all_agree = false;
          std::printf("MISMATCH on %s: relative errors %g %g %g %g\n", shape.name, errors[0], errors[1], errors[2], errors[3]);
          break;
        }
      const double forward_ratio = forward_ms[0] / forward_ms[1], training_ratio = training_ms[0] / training_ms[1];
      forward_ratios[threads].push_back(forward_ratio);
      training_ratios[threads].push_back(training_ratio);
      std::printf("| %s | %d | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.1f | %.0f%% | %.0f%% | %.1f | %.0f%% |\n", shape.name, threads,
                  forward_ms[0], forward_ms[1], forward_ratio, training_ms[0], training_ms[1], training_ratio, flops / forward_ms[1] * 1e-6,
                  100 * flops / forward_ms[1] * 1e-6 / (peak * threads), 100 * flops / forward_best[1] * 1e-6 / (peak * threads),
                  training_flops / training_ms[1] * 1e-6,
                  100 * training_flops / training_ms[1] * 1e-6 / (peak * threads));
#else
      std::vector<double> forward_best;
      const auto forward_ms = alternate_medians({xgrad_forward}, min_seconds, &forward_best);
      const auto training_ms = alternate_medians({xgrad_training}, min_seconds);
      std::printf("| %s | %d | %.3f | %.3f | %.1f | %.0f%% | %.0f%% | %.1f | %.0f%% |\n", shape.name, threads, forward_ms[0], training_ms[0],
                  flops / forward_ms[0] * 1e-6, 100 * flops / forward_ms[0] * 1e-6 / (peak * threads),
                  100 * flops / forward_best[0] * 1e-6 / (peak * threads),
                  training_flops / training_ms[0] * 1e-6, 100 * training_flops / training_ms[0] * 1e-6 / (peak * threads));
#endif
      if (g.groups == g.in_channels) {  // memory-bound: report the traffic against the measured bandwidth
        const double forward_bytes = double(input_size + output_size + weight_size) * sizeof(float);
        // backward: input gradient reads dy, writes dx; weight gradient reads dy and x; bias reads dy.
        const double training_bytes = forward_bytes + double(4 * output_size + 2 * input_size) * sizeof(float);
        const double forward_ms_xgrad = forward_ms.back(), training_ms_xgrad = training_ms.back();
        std::printf("| (%s, %d thread%s: forward %.1f GB/s, fwd+bwd %.1f GB/s; triad bandwidth %.1f GB/s: %.0f%% and %.0f%%) |\n",
                    shape.name, threads, threads > 1 ? "s" : "", forward_bytes / forward_ms_xgrad * 1e-6,
                    training_bytes / training_ms_xgrad * 1e-6, bandwidth, 100 * forward_bytes / forward_ms_xgrad * 1e-6 / bandwidth,
                    100 * training_bytes / training_ms_xgrad * 1e-6 / bandwidth);
      }
      std::fflush(stdout);
    }
  }
#ifdef XGRAD_BENCH_WITH_TORCH
  std::printf("\nGeometric mean of LibTorch/xgrad time ratios (> 1: xgrad faster):\n");
  for (int threads : {1, 2}) {
    if (forward_ratios[threads].empty()) continue;
    std::printf("  %d thread%s: forward %.2f, forward+backward %.2f\n", threads, threads > 1 ? "s" : "",
                xgrad::bench::geomean(forward_ratios[threads]), xgrad::bench::geomean(training_ratios[threads]));
  }
  std::printf("Results %s LibTorch's.\n", all_agree ? "agree with" : "DO NOT agree with");
#endif
  xgrad::bench::print_load_average("after");
  return all_agree ? 0 : 1;
}
