#include "keyword_spotting/augment.hpp"

#include <algorithm>
#include <cmath>

namespace kws {

void shift(std::span<float> clip, int64_t offset) {
  auto n = static_cast<int64_t>(clip.size());
  if (offset >= n || offset <= -n) {
    std::fill(clip.begin(), clip.end(), 0.0f);
  } else if (offset > 0) {
    std::copy_backward(clip.begin(), clip.end() - offset, clip.end());
    std::fill(clip.begin(), clip.begin() + offset, 0.0f);
  } else if (offset < 0) {
    std::copy(clip.begin() - offset, clip.end(), clip.begin());
    std::fill(clip.end() + offset, clip.end(), 0.0f);
  }
}

void apply_gain_db(std::span<float> clip, float db) {
  float factor = std::pow(10.0f, db / 20.0f);
  for (float& sample : clip) sample *= factor;
}

void add_noise_at_snr(std::span<float> clip, float snr_db, std::mt19937_64& rng) {
  if (clip.empty()) return;
  double power = 0;
  for (float sample : clip) power += double(sample) * sample;
  power /= double(clip.size());
  if (power <= 0) return;
  double noise_power = power / std::pow(10.0, snr_db / 10.0);
  std::normal_distribution<float> noise(0.0f, static_cast<float>(std::sqrt(noise_power)));
  for (float& sample : clip) sample += noise(rng);
}

void random_shift(std::span<float> clip, std::mt19937_64& rng, int64_t max_shift) {
  std::uniform_int_distribution<int64_t> offset(-max_shift, max_shift);
  shift(clip, offset(rng));
}

void random_gain(std::span<float> clip, std::mt19937_64& rng, float max_db) {
  std::uniform_real_distribution<float> db(-max_db, max_db);
  apply_gain_db(clip, db(rng));
}

void random_noise(std::span<float> clip, std::mt19937_64& rng, float min_snr_db, float max_snr_db) {
  std::uniform_real_distribution<float> snr(min_snr_db, max_snr_db);
  add_noise_at_snr(clip, snr(rng), rng);
}

void augment(std::span<float> clip, std::mt19937_64& rng, const AugmentOptions& options) {
  random_shift(clip, rng, options.max_shift);
  random_gain(clip, rng, options.max_gain_db);
  std::bernoulli_distribution noisy(options.noise_probability);
  if (noisy(rng)) random_noise(clip, rng, options.min_snr_db, options.max_snr_db);
}

}  // namespace kws
