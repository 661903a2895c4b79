#include "core/random.hpp"

#include <cmath>
#include <mutex>
#include <numbers>
#include <random>

namespace xgrad {

namespace {

struct GlobalGenerator {
  std::mutex mutex;
  std::mt19937_64 engine{0x5eed};
};

GlobalGenerator& generator() {
  static GlobalGenerator instance;
  return instance;
}

// 53 random bits into [0, 1).
double unit_double(std::mt19937_64& engine) { return static_cast<double>(engine() >> 11) * 0x1.0p-53; }

template <class T>
void fill_uniform_impl(T* out, std::int64_t n, double low, double high) {
  GlobalGenerator& g = generator();
  std::lock_guard lock(g.mutex);
  for (std::int64_t i = 0; i < n; ++i) {
    T value = static_cast<T>(low + (high - low) * unit_double(g.engine));
    // Rounding to float can land exactly on `high`; keep the interval half-open.
    if (value >= static_cast<T>(high) && high > low) {
      value = std::nextafter(static_cast<T>(high), static_cast<T>(low));
    }
    out[i] = value;
  }
}

template <class T>
void fill_normal_impl(T* out, std::int64_t n, double mean, double std) {
  GlobalGenerator& g = generator();
  std::lock_guard lock(g.mutex);
  for (std::int64_t i = 0; i < n; i += 2) {
    // Box-Muller: u1 in (0, 1] so the log is finite.
    const double u1 = 1.0 - unit_double(g.engine);
    const double u2 = unit_double(g.engine);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    out[i] = static_cast<T>(mean + std * radius * std::cos(angle));
    if (i + 1 < n) {
      out[i + 1] = static_cast<T>(mean + std * radius * std::sin(angle));
    }
  }
}

}  // namespace

void manual_seed(std::uint64_t seed) {
  GlobalGenerator& g = generator();
  std::lock_guard lock(g.mutex);
  g.engine.seed(seed);
}

namespace random {
void fill_uniform(float* out, std::int64_t n, double low, double high) { fill_uniform_impl(out, n, low, high); }
void fill_uniform(double* out, std::int64_t n, double low, double high) { fill_uniform_impl(out, n, low, high); }
void fill_normal(float* out, std::int64_t n, double mean, double std) { fill_normal_impl(out, n, mean, std); }
void fill_normal(double* out, std::int64_t n, double mean, double std) { fill_normal_impl(out, n, mean, std); }
std::uint64_t next_u64() {
  GlobalGenerator& g = generator();
  std::lock_guard lock(g.mutex);
  return g.engine();
}
}  // namespace random

}  // namespace xgrad
