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
  double best_wall_ms;     // the fastest call: what the code does when the shared host leaves it alone
};

// Sleeps until no thread of this process is spinning: 5 ms slices until one costs the process
// under 0.5 ms of CPU time (at most 200 ms). LibTorch's OpenMP workers spin for ~25 ms after each
// parallel region here (libgomp's default GOMP_SPINCOUNT); xgrad's workers spin ~40 us.
inline void wait_for_idle_threads() {
  for (int slice = 0; slice < 40; ++slice) {
    const double start = process_cpu_seconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (process_cpu_seconds() - start < 0.5e-3) return;
  }
}

// Times the functions alternately until each has min_seconds of samples and at least 7 of them;
// returns each one's median wall and process-CPU milliseconds per call.
// At 1 thread the functions alternate call by call (a, b, a, b, ...). With more threads they take
// turns. A turn runs one function back to back: untimed for its first 3 ms (at least one call),
// then timed for at least 5 ms; then it waits, untimed, until no thread spins
// (wait_for_idle_threads). Without the wait, LibTorch's spinning OpenMP workers would hold the
// second core through xgrad's next calls; without the untimed start, each turn would be timed
// while the idle cores clock back up (a 0.15 ms call takes ~0.3 ms for the first ~2 ms of a turn
// here). So each library is timed as in a training loop: its own pool warm, the cores busy, and
// the other library's threads asleep.
inline std::vector<Timing> alternate_medians(const std::vector<std::function<void()>>& functions, double min_seconds) {
  const size_t count = functions.size();
  const bool turns = xgrad::get_num_threads() > 1;
  const double warm_seconds = turns ? 3e-3 : 0, turn_seconds = turns ? 5e-3 : 0;
  const size_t max_samples = 2000;
  std::vector<std::vector<double>> wall(count), cpu(count);
  for (const auto& f : functions) f(), f();  // warm up: caches, pools, allocators
  auto seconds_since = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double total = 0;
  while (total < min_seconds * double(count) || wall[0].size() < 7) {
    for (size_t i = 0; i < count; ++i) {
      if (turns) {
        const auto warm_start = std::chrono::steady_clock::now();
        do functions[i]();
        while (seconds_since(warm_start) < warm_seconds);
      }
      double turn = 0;
      do {
        const double cpu_start = process_cpu_seconds();
        const auto start = std::chrono::steady_clock::now();
        functions[i]();
        const double elapsed = seconds_since(start);
        cpu[i].push_back((process_cpu_seconds() - cpu_start) * 1e3);
        wall[i].push_back(elapsed * 1e3);
        turn += elapsed;
      } while (turn < turn_seconds && wall[i].size() < max_samples);
      total += turn;
      if (turns) wait_for_idle_threads();
    }
    if (wall[0].size() >= max_samples) break;
  }
  std::vector<Timing> result;
  for (size_t i = 0; i < count; ++i)
    result.push_back({median(wall[i]), median(cpu[i]), *std::min_element(wall[i].begin(), wall[i].end())});
  return result;
}

}  // namespace xgrad::bench
