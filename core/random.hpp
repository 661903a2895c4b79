// The global random generator behind rand/randn/uniform_/normal_ and parameter
// init. mt19937_64 is fully specified by the C++ standard and the conversions
// to uniform and normal values are ours (not std::*_distribution, whose
// algorithms differ between standard libraries), so manual_seed(s) gives the
// same numbers on any platform.
#pragma once

#include <cstdint>

namespace xgrad {

// Reseeds the global generator: every later random draw is reproducible.
void manual_seed(std::uint64_t seed);

namespace random {
// Fills out[0..n) with U[low, high). Thread-safe (one global stream, locked).
void fill_uniform(float* out, std::int64_t n, double low, double high);
void fill_uniform(double* out, std::int64_t n, double low, double high);
// Fills out[0..n) with N(mean, std^2), by the Box-Muller transform.
void fill_normal(float* out, std::int64_t n, double mean, double std);
void fill_normal(double* out, std::int64_t n, double mean, double std);
// A raw 64-bit draw (for shuffling, dropout masks, ...).
std::uint64_t next_u64();
}  // namespace random

}  // namespace xgrad
