#pragma once
// Shared by the benchmarks: the Conv1d shapes, and timing helpers (medians, alternated
// runs, CPU time, load average).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <thread>
#include <vector>

#include "core/parallel.hpp"
#include "nn/kernels/conv1d_kernels.hpp"

namespace xgrad::bench {

// One benchmark shape: (N, C_in -> C_out, L, kernel, stride, padding, dilation, groups).
struct Shape {
  const char* name;
  int64_t batch, in_channels, out_channels, length, kernel, stride, padding, dilation, groups;
  nn::kernels::Conv1dGeometry geometry() const {
    return {batch, in_channels, out_channels, length, kernel, stride, dilation, groups, padding, padding};
  }
  int64_t out_length() const { return geometry().out_length(); }
};

inline constexpr Shape shapes[] = {
    {"seed", 20, 16, 33, 50, 3, 2, 0, 1, 1},
    {"latency", 1, 32, 32, 128, 3, 1, 1, 1, 1},
    {"audio front-end", 16, 1, 32, 8000, 80, 4, 0, 1, 1},
    {"mid", 32, 64, 64, 4096, 3, 1, 1, 1, 1},
    {"wide", 8, 256, 256, 1024, 5, 1, 2, 1, 1},
    {"depthwise", 8, 256, 256, 4096, 9, 1, 4, 1, 256},
    {"dilated grouped", 8, 128, 128, 2048, 3, 1, 4, 4, 4},
};

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

inline double geomean(const std::vector<double>& values) {
  double log_sum = 0;
  for (double v : values) log_sum += std::log(v);
  return values.empty() ? 0 : std::exp(log_sum / double(values.size()));
}

inline double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

inline void print_load_average(const char* when) {
  if (FILE* file = std::fopen("/proc/loadavg", "r")) {
    char text[128] = {};
    if (std::fgets(text, sizeof text, file)) std::printf("load average %s: %s", when, text);
    std::fclose(file);
  }
}

struct Timing {
  double wall_ms, cpu_ms;  // medians per call
};

// Times the functions alternately (a, b, a, b, ...) until each has min_seconds of samples and at
// least 7 of them; returns each one's median wall and process-CPU milliseconds. With more than one
// thread, an untimed 10 ms pause follows every call that took over 2 ms: LibTorch's OpenMP workers
// spin for a few milliseconds after each parallel region (libgomp's default GOMP_SPINCOUNT) and
// would take the second core from whichever library runs next. Short calls get no pause (both
// libraries' pools would fall asleep, and each call would pay for waking them).
inline std::vector<Timing> alternate_medians(const std::vector<std::function<void()>>& functions, double min_seconds) {
  const size_t count = functions.size();
  const bool pause = xgrad::get_num_threads() > 1;
  const size_t max_samples = pause ? 300 : 2000;
  std::vector<std::vector<double>> wall(count), cpu(count);
  for (const auto& f : functions) f(), f();  // warm up: caches, pools, allocators
  double total = 0;
  while (total < min_seconds * double(count) || wall[0].size() < 7) {
    for (size_t i = 0; i < count; ++i) {
      const double cpu_start = process_cpu_seconds();
      const auto start = std::chrono::steady_clock::now();
      functions[i]();
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      cpu[i].push_back((process_cpu_seconds() - cpu_start) * 1e3);
      wall[i].push_back(elapsed * 1e3);
      total += elapsed;
      if (pause && elapsed > 2e-3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (wall[0].size() >= max_samples) break;
  }
  std::vector<Timing> result;
  for (size_t i = 0; i < count; ++i) result.push_back({median(wall[i]), median(cpu[i])});
  return result;
}

}  // namespace xgrad::bench
